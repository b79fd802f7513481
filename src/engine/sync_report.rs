//! What the sync edge tells the engine: the engine's input from the edge
//! that talks to AssistX, as `Command` is its input from clients. It lives
//! here so the engine depends on nothing of the edge.

use super::snapshot::Health;
use crate::domain::delivery::Verdict;
use crate::store::graph_delivery::GraphOutcome;
use crate::store::outbox::OutboxEvent;

/// What the sync edge learned, for the engine to record.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Delivery attempts and what AssistX answered.
    pub deliveries: Vec<(OutboxEvent, Verdict)>,
    /// A dependency's health as last seen.
    pub health: Option<Health>,
    /// What a write to the provenance graph did.
    pub graph: Option<GraphOutcome>,
}
