//! What the engine answers: one [`Reply`] per command, sent only after the
//! change it reports is committed.

use crate::domain::decision::Decision;
use crate::engine::snapshot::{AuditRow, Explanation, OutboxDetail, OutboxRow};
use crate::store::{
    assignments::Assignment, control::ControlState, events::Mirrored, runs::RunCounts,
};
use serde::{Deserialize, Serialize};

/// What became of one candidate in a pass.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub task_id: String,
    /// `decided`, `unchanged`, `held` (the assignment is past deciding),
    /// `duplicate` (listed again in the same backlog, decided once),
    /// `deferred` (new, and the queue is full) or `invalid` (the candidate
    /// could not be read).
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TickReport {
    pub run_id: Option<i64>,
    pub dry_run: bool,
    pub counts: RunCounts,
    pub outcomes: Vec<Outcome>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeartbeatReport {
    pub node_id: String,
    pub worker_id: String,
    pub renewed: Vec<String>,
    pub started: Vec<String>,
    pub recovered_from_stale: bool,
    /// It only refreshed what the worker's next heartbeat refreshes again
    /// (the worker was known, in the same status, and nothing was renewed
    /// or started): its commit need not wait for the disk.
    #[serde(skip)]
    pub refreshed_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ingested {
    pub idempotency_key: String,
    pub mirrored: Mirrored,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed: Option<Processed>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Processed {
    pub idempotency_key: String,
    pub event_type: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The status of the decision it stored, when it decided one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<crate::domain::lifecycle::Status>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Reply {
    Outcomes(Vec<Outcome>),
    Tick(TickReport),
    Assignment(Box<Assignment>),
    Heartbeat(HeartbeatReport),
    Control(ControlState),
    Ingested(Ingested),
    Processed(Vec<Processed>),
    Recorded,
    /// Shared: every request answered by one build gets the same one.
    Snapshot(std::sync::Arc<crate::engine::Snapshot>),
    Explanation(Box<Explanation>),
    OutboxEvent(Box<OutboxDetail>),
    /// Older audit entries, newest first (the snapshot lists operator and
    /// worker actions only, and so does this).
    AuditRows(Vec<AuditRow>),
    /// Older outbox events, newest first, without their bodies.
    OutboxRows(Vec<OutboxRow>),
    /// `next` found nothing this worker may take, and says why.
    NoWork(String),
}
