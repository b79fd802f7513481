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

/// What the sync edge learned, for the engine to record.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Delivery attempts and what AssistX answered.
    pub deliveries: Vec<(OutboxEvent, Verdict)>,
    /// A dependency's health as last seen.
    pub health: Option<Health>,
}
