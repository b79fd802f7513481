//! An explained assignment decision, in the old service's JSON shape.

use super::fleet::Rejected;
use super::lane::Lane;
use super::lifecycle::Status;
use super::time::serde_utc;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A reason text. Most are the contract's constants (borrowed), some are
/// the same for a whole pass (shared), a few are made per decision (owned):
/// scoring copies no text it does not have to.
#[derive(Debug, Clone)]
pub enum Text {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Static(s) => s,
            Text::Shared(s) => s,
            Text::Owned(s) => s,
        }
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self
    }
}

impl fmt::Display for Text {
    /// Honours width and alignment (`{:<28}`), as `str` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        **self == **other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl From<&'static str> for Text {
    fn from(text: &'static str) -> Text {
        Text::Static(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text::Owned(text)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        String::deserialize(d).map(Text::Owned)
    }
}

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
    pub context_revision: Option<std::sync::Arc<str>>,
    pub idempotency_key: String,
    pub canonical_status: Option<String>,
    pub cache_only: bool,
    #[serde(with = "serde_utc")]
    pub created_at: DateTime<Utc>,
    /// The worker chosen to run it (contract C); all empty when the engine
    /// knows no worker, so the decision is then exactly contract A4's.
    #[serde(flatten)]
    pub worker: WorkerChoice,
}

/// Which worker a recommended decision names, and every other one with
/// its reason.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkerChoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_worker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected_workers: Vec<Rejected>,
    /// Rejected workers past the listed ones, counted per reason code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unlisted_workers: BTreeMap<String, usize>,
}

impl WorkerChoice {
    /// `node/worker` of the chosen worker.
    pub fn key(&self) -> Option<String> {
        let (node, worker) = self
            .selected_node
            .as_ref()
            .zip(self.selected_worker.as_ref())?;
        Some(super::worker::worker_key(node, worker))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_of_every_kind_serialize_compare_and_pad_as_strings() {
        let texts = [
            Text::Static("abc"),
            Text::Shared(Arc::from("abc")),
            Text::Owned("abc".into()),
        ];
        for text in &texts {
            assert_eq!(serde_json::to_string(text).unwrap(), "\"abc\"");
            assert_eq!(*text, "abc");
            assert_eq!(format!("[{text:<5}]"), "[abc  ]");
            assert_eq!(text, &texts[0]);
        }
        let back: Text = serde_json::from_str("\"xyz\"").unwrap();
        assert_eq!(back, "xyz");
    }
}
