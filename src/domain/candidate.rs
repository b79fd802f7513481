//! AssistX backlog items normalized into one shape (contract A5).

use super::lane::{Lane, parse_lane_list};
use super::truthy::{json_bool, json_text};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Labels that make work sensitive (compared lowercased).
const SENSITIVE_LABELS: [&str; 8] = [
    "local_only",
    "private",
    "private_data",
    "secret",
    "secrets",
    "voice_auth",
    "enrollment",
    "enrollment_sample",
];

/// Labels that keep work on the local machine.
const LOCAL_ONLY_LABELS: [&str; 3] = ["local_only", "private", "secret"];

/// One task as the scorer sees it. Built only by [`Candidate::from_json`], so
/// every field already has its contract default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub task_id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// As AssistX sent it (`READY`, `REVIEW`, `ready`...): it is part of the
    /// decision's idempotency key, so it is kept verbatim.
    pub status: String,
    /// Lowercased.
    pub priority: String,
    pub queue: String,
    /// Lowercased.
    pub risk_level: String,
    pub retry_count: u32,
    pub labels: Vec<String>,
    pub sensitive_flag: bool,
    pub local_only_flag: bool,
    pub allow_cloud: bool,
    pub approval_required: bool,
    /// `None`: the default lane list applies.
    #[serde(default)]
    pub allowed_lanes: Option<Vec<Lane>>,
    /// Lowercased; consumed by the fleet layer.
    #[serde(default)]
    pub required_capabilities: Vec<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// A canonical status carried by the item itself (a Neo4j read).
    #[serde(default)]
    pub canonical_status: Option<String>,
    /// When it must be done by: raises its urgency as it nears.
    #[serde(default, with = "super::time::serde_utc::option")]
    pub deadline: Option<DateTime<Utc>>,
}

impl Candidate {
    /// Normalizes one AssistX item. The error names the field that was wrong.
    pub fn from_json(item: &Value) -> Result<Candidate, String> {
        let obj = item
            .as_object()
            .ok_or_else(|| format!("a candidate must be a JSON object, not {}", kind_of(item)))?;
        let task_id = ["task_id", "id", "uuid", "title"]
            .iter()
            .find_map(|key| json_text(obj.get(*key)))
            .ok_or("candidate has no task_id, id, uuid or title")?;

        let labels = collect_labels(obj);
        let sensitive_flag = json_bool(obj.get("sensitive")).unwrap_or(false);
        let local_only_flag = json_bool(obj.get("local_only")).unwrap_or(false);
        let mut candidate = Candidate {
            task_id,
            title: json_text(obj.get("title")),
            status: json_text(obj.get("status")).unwrap_or_else(|| "ready".into()),
            priority: lower_or(obj.get("priority"), "background"),
            queue: json_text(obj.get("queue")).unwrap_or_else(|| "backlog".into()),
            risk_level: lower_or(obj.get("risk_level"), "low"),
            retry_count: retry_count(obj.get("retry_count"))?,
            labels,
            sensitive_flag,
            local_only_flag,
            allow_cloud: json_bool(obj.get("allow_cloud")).unwrap_or(true),
            approval_required: json_bool(obj.get("approval_required")).unwrap_or(false),
            allowed_lanes: allowed_lanes(obj.get("allowed_lanes"))?,
            required_capabilities: string_list(obj.get("required_capabilities"))
                .into_iter()
                .map(|c| c.to_lowercase())
                .collect(),
            owner: json_text(obj.get("owner")),
            canonical_status: json_text(obj.get("canonical_status")),
            deadline: deadline(obj.get("deadline"))?,
        };
        if candidate.is_local_only() {
            candidate.allow_cloud = false;
        }
        Ok(candidate)
    }

    pub fn is_sensitive(&self) -> bool {
        self.sensitive_flag
            || self
                .labels
                .iter()
                .any(|l| SENSITIVE_LABELS.contains(&l.as_str()))
    }

    pub fn is_local_only(&self) -> bool {
        self.local_only_flag
            || self
                .labels
                .iter()
                .any(|l| LOCAL_ONLY_LABELS.contains(&l.as_str()))
    }

    /// AssistX's `REVIEW`: a human must look before anything is recommended.
    pub fn awaits_review(&self) -> bool {
        self.status.eq_ignore_ascii_case("review")
    }

    pub fn is_high_risk(&self) -> bool {
        matches!(self.risk_level.as_str(), "high" | "critical")
    }

    /// The candidate as a backlog item again, so that a cached task can be
    /// decided anew through the same door as AssistX's (its `from_json`
    /// gives this candidate back).
    pub fn to_item(&self) -> Value {
        serde_json::json!({
            "task_id": self.task_id,
            "title": self.title,
            "status": self.status,
            "priority": self.priority,
            "queue": self.queue,
            "risk_level": self.risk_level,
            "retry_count": self.retry_count,
            "privacy_labels": self.labels,
            "sensitive": self.sensitive_flag,
            "local_only": self.local_only_flag,
            "allow_cloud": self.allow_cloud,
            "approval_required": self.approval_required,
            "allowed_lanes": self.allowed_lanes,
            "required_capabilities": self.required_capabilities,
            "owner": self.owner,
            "canonical_status": self.canonical_status,
            "deadline": self.deadline.map(super::time::rfc3339),
        })
    }
}

/// Splits a backlog body into its items (contract A5): a list, or an object
/// whose first list under `tasks`, `candidates`, `items`, `results` or
/// `backlog` holds them. Non-object items are dropped. A single object with
/// none of those keys is one candidate.
pub fn backlog_items(body: &Value) -> Vec<&Value> {
    let list = match body {
        Value::Array(items) => Some(items),
        Value::Object(obj) => ["tasks", "candidates", "items", "results", "backlog"]
            .iter()
            .find_map(|key| obj.get(*key).and_then(Value::as_array)),
        _ => None,
    };
    match list {
        Some(items) => items.iter().filter(|item| item.is_object()).collect(),
        None if body.is_object() => vec![body],
        None => Vec::new(),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn lower_or(value: Option<&Value>, default: &str) -> String {
    json_text(value)
        .map(|s| s.to_lowercase())
        .unwrap_or_else(|| default.into())
}

/// An RFC 3339 time or epoch seconds; empty or null is none.
fn deadline(value: Option<&Value>) -> Result<Option<DateTime<Utc>>, String> {
    let bad = |v: &Value| format!("deadline must be an RFC 3339 time or epoch seconds, not {v}");
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v @ Value::String(s)) => super::time::parse_utc(s.trim())
            .map(Some)
            .ok_or_else(|| bad(v)),
        Some(v @ Value::Number(n)) => n
            .as_i64()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .map(Some)
            .ok_or_else(|| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

fn retry_count(value: Option<&Value>) -> Result<u32, String> {
    let bad = || "retry_count must be a whole number of at least 0".to_string();
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(0),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A list of strings, or one string split on `,` and `;`; trimmed, empty
/// parts dropped.
fn string_list(value: Option<&Value>) -> Vec<String> {
    let parts: Vec<String> = match value {
        Some(Value::Array(items)) => items.iter().filter_map(|v| json_text(Some(v))).collect(),
        Some(Value::String(s)) => s.split([',', ';']).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn collect_labels(obj: &Map<String, Value>) -> Vec<String> {
    let metadata_privacy = obj.get("metadata").and_then(|m| m.get("privacy"));
    let mut labels: Vec<String> = [
        obj.get("privacy_labels"),
        obj.get("privacy"),
        obj.get("privacy_label"),
        metadata_privacy,
    ]
    .into_iter()
    .flat_map(string_list)
    .map(|l| l.to_lowercase())
    .collect();
    labels.sort();
    labels.dedup();
    labels
}

fn allowed_lanes(value: Option<&Value>) -> Result<Option<Vec<Lane>>, String> {
    let names = string_list(value);
    if names.is_empty() {
        return Ok(None);
    }
    parse_lane_list(&names.join(","))
        .map(Some)
        .map_err(|e| format!("allowed_lanes: {e}"))
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_item_made_from_a_candidate_gives_it_back() {
        let item = serde_json::json!({
            "id": "T1", "title": "x", "status": "READY", "priority": "Urgent",
            "risk_level": "HIGH", "retry_count": 2, "privacy": ["private"],
            "sensitive": true, "approval_required": true, "allowed_lanes": ["local_only"],
            "required_capabilities": ["GPU"], "owner": "scott",
            "canonical_status": "READY", "deadline": "2026-12-01T10:00:00Z",
        });
        let candidate = Candidate::from_json(&item).unwrap();
        assert_eq!(
            Candidate::from_json(&candidate.to_item()).unwrap(),
            candidate
        );
    }

    use super::*;
    use serde_json::json;

    fn norm(v: Value) -> Candidate {
        Candidate::from_json(&v).unwrap()
    }

    #[test]
    fn task_id_falls_back_through_id_uuid_title() {
        assert_eq!(norm(json!({"task_id": "a", "id": "b"})).task_id, "a");
        assert_eq!(norm(json!({"id": "b", "uuid": "c"})).task_id, "b");
        assert_eq!(norm(json!({"uuid": "c", "title": "t"})).task_id, "c");
        assert_eq!(norm(json!({"title": "t"})).task_id, "t");
        assert_eq!(norm(json!({"id": 42})).task_id, "42");
    }

    #[test]
    fn missing_task_id_is_an_error() {
        let err = Candidate::from_json(&json!({"priority": "batch"})).unwrap_err();
        assert!(err.contains("task_id"), "{err}");
        assert!(Candidate::from_json(&json!("T1")).is_err());
    }

    #[test]
    fn defaults_apply() {
        let c = norm(json!({"task_id": "T1"}));
        assert_eq!(c.status, "ready");
        assert_eq!(c.priority, "background");
        assert_eq!(c.queue, "backlog");
        assert_eq!(c.risk_level, "low");
        assert_eq!(c.retry_count, 0);
        assert!(c.allow_cloud);
        assert!(!c.approval_required);
        assert_eq!(c.allowed_lanes, None);
    }

    #[test]
    fn labels_come_from_all_four_sources_trimmed_and_lowercased() {
        let c = norm(json!({
            "task_id": "T1",
            "privacy_labels": " Secret ; VOICE_AUTH, ",
            "privacy": "Private",
            "privacy_label": ["enrollment"],
            "metadata": {"privacy": "Public"}
        }));
        assert_eq!(
            c.labels,
            vec!["enrollment", "private", "public", "secret", "voice_auth"]
        );
    }

    #[test]
    fn privacy_labels_as_a_list() {
        let c = norm(json!({"task_id": "T1", "privacy_labels": ["Private_Data", " x "]}));
        assert_eq!(c.labels, vec!["private_data", "x"]);
        assert!(c.is_sensitive());
        assert!(!c.is_local_only());
    }

    #[test]
    fn boolean_like_strings() {
        let c = norm(
            json!({"task_id": "T1", "sensitive": "yes", "approval_required": "on", "local_only": "0"}),
        );
        assert!(c.sensitive_flag);
        assert!(c.approval_required);
        assert!(!c.local_only_flag);
        let c = norm(json!({"task_id": "T1", "allow_cloud": "off"}));
        assert!(!c.allow_cloud);
    }

    #[test]
    fn allow_cloud_is_false_whenever_local_only() {
        let c = norm(json!({"task_id": "T1", "allow_cloud": true, "privacy": "secret"}));
        assert!(c.is_local_only());
        assert!(!c.allow_cloud);
        let c = norm(json!({"task_id": "T1", "allow_cloud": "true", "local_only": "y"}));
        assert!(!c.allow_cloud);
    }

    #[test]
    fn sensitive_and_local_only_label_sets() {
        for label in [
            "private_data",
            "secrets",
            "voice_auth",
            "enrollment",
            "enrollment_sample",
        ] {
            let c = norm(json!({"task_id": "T", "privacy": label}));
            assert!(c.is_sensitive(), "{label}");
            assert!(!c.is_local_only(), "{label}");
        }
        for label in ["local_only", "private", "secret"] {
            let c = norm(json!({"task_id": "T", "privacy": label}));
            assert!(c.is_sensitive() && c.is_local_only(), "{label}");
        }
    }

    #[test]
    fn assistx_upper_case_status_is_kept_verbatim() {
        let c = norm(json!({"task_id": "T1", "status": "READY"}));
        assert_eq!(c.status, "READY");
        assert!(!c.awaits_review());
        assert!(norm(json!({"task_id": "T1", "status": "REVIEW"})).awaits_review());
    }

    #[test]
    fn priority_and_risk_are_lowercased() {
        let c = norm(json!({"task_id": "T1", "priority": "Critical", "risk_level": "HIGH"}));
        assert_eq!(c.priority, "critical");
        assert!(c.is_high_risk());
    }

    #[test]
    fn retry_count_accepts_numbers_and_numeric_strings_only() {
        assert_eq!(
            norm(json!({"task_id": "T", "retry_count": "2"})).retry_count,
            2
        );
        let err = Candidate::from_json(&json!({"task_id": "T", "retry_count": -1})).unwrap_err();
        assert!(err.contains("retry_count"));
        assert!(Candidate::from_json(&json!({"task_id": "T", "retry_count": "lots"})).is_err());
    }

    #[test]
    fn a_deadline_is_a_time_or_epoch_seconds_and_anything_else_names_the_field() {
        let at = |v: Value| norm(json!({"task_id": "T", "deadline": v})).deadline;
        let noon = "2026-12-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(at(json!("2026-12-01T13:00:00+01:00")), Some(noon));
        assert_eq!(at(json!(noon.timestamp())), Some(noon));
        assert_eq!(at(json!("")), None);
        let err =
            Candidate::from_json(&json!({"task_id": "T", "deadline": "tomorrow"})).unwrap_err();
        assert!(
            err.contains("deadline") && err.contains("tomorrow"),
            "{err}"
        );
    }

    #[test]
    fn unknown_allowed_lane_names_the_field() {
        let err =
            Candidate::from_json(&json!({"task_id": "T", "allowed_lanes": ["moon"]})).unwrap_err();
        assert!(
            err.contains("allowed_lanes") && err.contains("moon"),
            "{err}"
        );
        let c = norm(json!({"task_id": "T", "allowed_lanes": "local_only, free_api"}));
        assert_eq!(c.allowed_lanes, Some(vec![Lane::LocalOnly, Lane::FreeApi]));
    }

    #[test]
    fn backlog_body_shapes() {
        let list = json!([{"task_id": "a"}, 3, {"task_id": "b"}]);
        assert_eq!(backlog_items(&list).len(), 2);
        for key in ["tasks", "candidates", "items", "results", "backlog"] {
            let body = json!({ key: [{"task_id": "a"}], "count": 1 });
            assert_eq!(backlog_items(&body).len(), 1, "{key}");
        }
        // The first list in contract order wins.
        let body = json!({"backlog": [{"id": "x"}], "tasks": [{"id": "y"}, {"id": "z"}]});
        assert_eq!(backlog_items(&body).len(), 2);
        // A single object is one candidate.
        assert_eq!(backlog_items(&json!({"task_id": "a"})).len(), 1);
        assert!(backlog_items(&json!("nope")).is_empty());
    }
}
