//! The sync edge: what talks to AssistX and the auto-router. Nothing here writes the database:
//! the dispatcher reads due outbox events on a read-only connection of its
//! own, posts them, and hands every verdict to the engine, the only writer,
//! as a [`SyncReport`]. No HTTP call ever happens inside a transaction.

pub mod assistx;
pub mod dispatcher;
pub mod intake;
pub mod router;

use crate::domain::delivery::Verdict;
use crate::engine::snapshot::Health;
use crate::store::outbox::OutboxEvent;

/// An HTTP client whose every call gives up after `timeout`.
fn http_client(timeout: std::time::Duration, peer: &str) -> crate::error::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| crate::error::Error::Io {
            context: format!("cannot build the {peer} client"),
            source: std::io::Error::other(e),
        })
}

/// What the sync edge learned, for the engine to record.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Delivery attempts and what AssistX answered.
    pub deliveries: Vec<(OutboxEvent, Verdict)>,
    /// A dependency's health as last seen.
    pub health: Option<Health>,
}
