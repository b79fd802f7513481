//! An explained assignment decision, in the old service's JSON shape.

use super::lane::Lane;
use super::lifecycle::Status;
use super::time::serde_utc;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Reason texts are mostly the contract's constants: borrowed, not copied,
/// in the hot path of scoring.
pub type Text = Cow<'static, str>;

/// A lane that was not chosen, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skip {
    pub lane: Lane,
    pub reason_code: Text,
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub assignment_id: String,
    pub task_id: String,
    pub decision_id: String,
    pub status: Status,
    pub selected_lane: Lane,
    pub selected_target: Option<Text>,
    pub score: f64,
    pub approval_required: bool,
    #[serde(with = "serde_utc::option")]
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub reasons: Vec<Text>,
    pub skipped_lanes: Vec<Skip>,
    pub context_revision: Option<String>,
    pub idempotency_key: String,
    pub canonical_status: Option<String>,
    pub cache_only: bool,
    #[serde(with = "serde_utc")]
    pub created_at: DateTime<Utc>,
}

impl Decision {
    /// The outbound event type announcing this decision (contract A2).
    pub fn event_type(&self) -> &'static str {
        match self.status {
            Status::Recommended => "assign.assignment.recommended",
            Status::ApprovalRequired => "assign.assignment.approval_required",
            _ => "assign.assignment.skipped",
        }
    }

    /// The first skip's code when nothing was selected: the one-word answer
    /// to "why is this task waiting".
    pub fn block_code(&self) -> Option<&str> {
        (self.selected_lane == Lane::Blocked)
            .then(|| self.skipped_lanes.first().map(|s| s.reason_code.as_ref()))
            .flatten()
    }
}
