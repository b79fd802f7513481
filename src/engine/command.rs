//! The messages the engine takes and gives back. They are plain serde
//! types, so the same shapes travel over the CLI's JSON, a batch stream and
//! (later) the socket.

use crate::domain::control::ControlMode;
use crate::domain::decision::Decision;
use crate::domain::worker::Heartbeat;
use crate::store::{
    assignments::Assignment, control::ControlState, events::Mirrored, runs::RunCounts,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Decide these candidates now and store the decisions.
    Evaluate {
        candidates: Vec<Value>,
    },
    /// A scheduler pass: time-revealed work, then the given backlog (or the
    /// cached one).
    Tick {
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        candidates: Option<Vec<Value>>,
    },
    /// The latest router bodies (A6), as fetched or from a file.
    SetRouter {
        bodies: Value,
    },
    Approve {
        assignment_id: String,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        expected_version: Option<i64>,
    },
    Reject {
        assignment_id: String,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        expected_version: Option<i64>,
    },
    Release {
        assignment_id: String,
        #[serde(default)]
        by: Option<String>,
        /// Set when a worker gives its lease back: it must hold it.
        #[serde(default)]
        worker_id: Option<String>,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default = "yes")]
        retry: bool,
        #[serde(default)]
        expected_version: Option<i64>,
    },
    Claim {
        assignment_id: String,
        worker_id: String,
        #[serde(default)]
        node_id: Option<String>,
        #[serde(default)]
        lease_seconds: Option<u64>,
        #[serde(default)]
        correlation_id: Option<String>,
    },
    Heartbeat(Heartbeat),
    /// A worker says it is working on an assignment it holds.
    Progress {
        assignment_id: String,
        worker_id: String,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        percent: Option<f64>,
    },
    Complete {
        assignment_id: String,
        worker_id: String,
        #[serde(default)]
        success: Option<bool>,
        #[serde(default)]
        summary: Option<String>,
    },
    Fail {
        assignment_id: String,
        worker_id: String,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default = "yes")]
        retryable: bool,
    },
    SetControl {
        mode: ControlMode,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        by: Option<String>,
    },
    IngestEvent {
        event: Value,
    },
    /// A snapshot built now, after everything queued before it.
    Snapshot,
    /// An action a client refused on its own (a read-only control room),
    /// written to the audit so every refusal is on record.
    RecordRefusal {
        actor: String,
        action: String,
        subject: Option<String>,
        reason: String,
    },
    ProcessEvents {
        #[serde(default)]
        include_processed: bool,
        #[serde(default)]
        dry_run: bool,
    },
}

fn yes() -> bool {
    true
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Evaluate { .. } => "evaluate",
            Command::Tick { .. } => "tick",
            Command::SetRouter { .. } => "set_router",
            Command::Approve { .. } => "approve",
            Command::Reject { .. } => "reject",
            Command::Release { .. } => "release",
            Command::Claim { .. } => "claim",
            Command::Heartbeat(_) => "heartbeat",
            Command::Progress { .. } => "progress",
            Command::Complete { .. } => "complete",
            Command::Fail { .. } => "fail",
            Command::SetControl { .. } => "control",
            Command::IngestEvent { .. } => "ingest_event",
            Command::RecordRefusal { .. } => "record_refusal",
            Command::Snapshot => "snapshot",
            Command::ProcessEvents { .. } => "process_events",
        }
    }
}

/// What became of one candidate in a pass.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outcome {
    pub task_id: String,
    /// `decided`, `unchanged`, `held` (the assignment is past deciding),
    /// `duplicate` (listed again in the same backlog, decided once) or
    /// `invalid` (the candidate could not be read).
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Reply {
    Outcomes(Vec<Outcome>),
    Tick(TickReport),
    Router(crate::domain::router::RouterSnapshot),
    Assignment(Box<Assignment>),
    Heartbeat(HeartbeatReport),
    Control(ControlState),
    Ingested(Ingested),
    Processed(Vec<Processed>),
    Recorded,
    Snapshot(Box<super::Snapshot>),
}
