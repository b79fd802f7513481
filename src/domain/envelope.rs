//! Event envelopes (contracts A1, A2, A7): the ones this program authors for
//! the outbox, and the loose ones it accepts from AssistX and the router.

use super::ids;
use super::time::rfc3339;
use super::truthy::json_text;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

pub const SCHEMA_VERSION: &str = "2026-06-08.v1";
pub const SOURCE: &str = "auto-assign";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Privacy {
    pub pii: bool,
    pub privacy_class: String,
    pub retention_class: String,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            pii: false,
            privacy_class: "public".into(),
            retention_class: "keep".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub rel: String,
    pub target_type: String,
    pub target_id: String,
}

/// An envelope this program writes. Field order is the contract's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: String,
    pub event_type: String,
    pub source_repo: String,
    pub source_service: String,
    pub node_id: String,
    pub occurred_at: String,
    pub idempotency_key: String,
    pub schema_version: String,
    pub subject: Subject,
    /// Kept as serialized JSON: a decision's payload is the decision's own
    /// JSON, written once and reused here.
    pub payload: Box<RawValue>,
    pub artifact_refs: Vec<Value>,
    pub metadata: Map<String, Value>,
    pub privacy: Privacy,
    pub correlation_id: String,
    pub actor: Option<Value>,
    pub links: Vec<Link>,
}

impl Envelope {
    fn authored(
        event_type: &str,
        idempotency_key: String,
        subject: Subject,
        payload: Box<RawValue>,
        correlation_id: String,
        links: Vec<Link>,
        now: DateTime<Utc>,
    ) -> Self {
        Envelope {
            event_id: ids::new_event_id(),
            event_type: event_type.into(),
            source_repo: SOURCE.into(),
            source_service: SOURCE.into(),
            node_id: SOURCE.into(),
            occurred_at: rfc3339(now),
            idempotency_key,
            schema_version: SCHEMA_VERSION.into(),
            subject,
            payload,
            artifact_refs: Vec::new(),
            metadata: Map::new(),
            privacy: Privacy::default(),
            correlation_id,
            actor: None,
            links,
        }
    }

    /// An event about a task (decisions), its payload already serialized.
    pub fn about_task(
        event_type: &str,
        key: String,
        task_id: &str,
        payload: Box<RawValue>,
        now: DateTime<Utc>,
    ) -> Self {
        let subject = Subject {
            kind: "task".into(),
            id: task_id.into(),
        };
        Self::authored(
            event_type,
            key,
            subject,
            payload,
            ids::task_correlation_id(task_id),
            vec![for_task(task_id)],
            now,
        )
    }

    /// An event about an assignment; it still correlates with its task, and
    /// its payload carries `task_id` because AssistX updates the Task node
    /// from `assignment.*` events (A7).
    pub fn about_assignment(
        event_type: &str,
        key: String,
        assignment_id: &str,
        task_id: &str,
        correlation_id: Option<String>,
        mut payload: Value,
        now: DateTime<Utc>,
    ) -> Self {
        if let Some(obj) = payload.as_object_mut() {
            obj.entry("task_id").or_insert_with(|| json!(task_id));
            obj.entry("assignment_id")
                .or_insert_with(|| json!(assignment_id));
        }
        let subject = Subject {
            kind: "assignment".into(),
            id: assignment_id.into(),
        };
        let correlation = correlation_id.unwrap_or_else(|| ids::task_correlation_id(task_id));
        Self::authored(
            event_type,
            key,
            subject,
            raw(&payload),
            correlation,
            vec![for_task(task_id)],
            now,
        )
    }

    /// An event about a node (control changes, worker heartbeats).
    pub fn about_node(
        event_type: &str,
        key: String,
        node_id: &str,
        payload: Value,
        now: DateTime<Utc>,
    ) -> Self {
        let subject = Subject {
            kind: "node".into(),
            id: node_id.into(),
        };
        Self::authored(
            event_type,
            key,
            subject,
            raw(&payload),
            ids::correlation_id("node", node_id),
            Vec::new(),
            now,
        )
    }

    /// The A7 rules AssistX enforces, checked before an envelope is queued so
    /// a malformed one is a bug found here, not a dead letter found later.
    pub fn check(&self) -> Result<(), String> {
        let required = [
            ("event_id", &self.event_id),
            ("event_type", &self.event_type),
            ("source_repo", &self.source_repo),
            ("source_service", &self.source_service),
            ("node_id", &self.node_id),
            ("occurred_at", &self.occurred_at),
            ("idempotency_key", &self.idempotency_key),
            ("schema_version", &self.schema_version),
            ("subject.kind", &self.subject.kind),
            ("subject.id", &self.subject.id),
        ];
        if let Some((name, _)) = required.iter().find(|(_, v)| v.trim().is_empty()) {
            return Err(format!("envelope field {name} is empty"));
        }
        if !ids::is_uuid(&self.correlation_id) {
            return Err(format!(
                "correlation_id {} is not a UUID",
                self.correlation_id
            ));
        }
        if !self.payload.get().starts_with('{') {
            return Err("payload must be an object".into());
        }
        if self.event_type.starts_with("assignment.") {
            let payload: Value = serde_json::from_str(self.payload.get()).unwrap_or(Value::Null);
            let status = payload.get("status").and_then(Value::as_str);
            if json_text(payload.get("task_id")).is_none() {
                return Err(format!("{} payload needs task_id", self.event_type));
            }
            if status.is_none_or(|s| s != s.to_ascii_uppercase()) {
                return Err(format!(
                    "{} payload needs an upper-case status",
                    self.event_type
                ));
            }
        }
        Ok(())
    }
}

/// An envelope checked against A7 and serialized, once: what the outbox
/// stores and every delivery attempt sends, byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub idempotency_key: String,
    pub event_id: String,
    pub event_type: String,
    pub subject_id: String,
    pub body: String,
    /// What the outbox keeps in order: the task the payload names
    /// (`payload.task_id`), else the subject.
    pub task_key: String,
}

impl Envelope {
    /// Checks the envelope and serializes it. A refusal names the event type
    /// and the rule it broke.
    pub fn seal(self) -> Result<Sealed, String> {
        self.check()
            .map_err(|e| format!("{} envelope: {e}", self.event_type))?;
        let body = serde_json::to_string(&self)
            .map_err(|e| format!("{} envelope: {e}", self.event_type))?;
        let task_key = payload_task(&self.payload).unwrap_or_else(|| self.subject.id.clone());
        Ok(Sealed {
            idempotency_key: self.idempotency_key,
            event_id: self.event_id,
            event_type: self.event_type,
            subject_id: self.subject.id,
            body,
            task_key,
        })
    }
}

/// The task a payload names, if it is an object with a `task_id`.
fn payload_task(payload: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        task_id: Option<Value>,
    }
    let named: Named = serde_json::from_str(payload.get()).ok()?;
    json_text(named.task_id.as_ref())
}

/// A value as serialized JSON. A `Value` always serializes; the `null`
/// fallback only satisfies the types (and `check` would refuse it).
pub fn raw(value: &Value) -> Box<RawValue> {
    RawValue::from_string(value.to_string()).unwrap_or_default()
}

fn for_task(task_id: &str) -> Link {
    Link {
        rel: "FOR_TASK".into(),
        target_type: "Task".into(),
        target_id: task_id.into(),
    }
}

/// What an inbound event asks of this program (contract A2).
#[derive(Debug, Clone, PartialEq)]
pub enum InboundWork {
    /// `task.candidate.created`: evaluate this candidate.
    EvaluateTask(Value),
    /// `task.candidate.created` that names no task.
    MissingTaskId,
    /// A router snapshot changed: run a scheduler tick.
    Tick,
    /// Anything else.
    Ignored,
}

impl InboundWork {
    /// The processing action recorded per idempotency key, and its reason.
    pub fn action(&self) -> (&'static str, Option<&'static str>) {
        match self {
            InboundWork::EvaluateTask(_) => ("evaluated", None),
            InboundWork::MissingTaskId => ("skipped", Some("missing_task_id")),
            InboundWork::Tick => ("tick", None),
            InboundWork::Ignored => ("ignored", Some("no_processor_registered")),
        }
    }
}

/// An inbound envelope as accepted: only `event_type` and `idempotency_key`
/// are required; the rest is kept as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    pub event_type: String,
    pub idempotency_key: String,
    pub event_id: Option<String>,
    pub body: Value,
}

impl InboundEvent {
    pub fn parse(body: Value) -> Result<InboundEvent, String> {
        let obj = body.as_object().ok_or("an event must be a JSON object")?;
        let field = |name: &str| match obj.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                Err(format!("event field {name} is required"))
            }
            Some(_) => Err(format!("event field {name} must be a string")),
        };
        Ok(InboundEvent {
            event_type: field("event_type")?,
            idempotency_key: field("idempotency_key")?,
            event_id: json_text(obj.get("event_id")),
            body,
        })
    }

    /// What processing this event means. The task id of a candidate comes
    /// from `payload.task_id`, else a string `subject`; AssistX's loose
    /// `{"task_id": ...}` subject and a `{kind: task, id}` subject are read
    /// too.
    pub fn work(&self) -> InboundWork {
        match self.event_type.as_str() {
            "task.candidate.created" => match self.task_id() {
                Some(task_id) => {
                    let mut candidate = match self.body.get("payload") {
                        Some(Value::Object(p)) => p.clone(),
                        _ => Map::new(),
                    };
                    candidate.insert("task_id".into(), json!(task_id));
                    InboundWork::EvaluateTask(Value::Object(candidate))
                }
                None => InboundWork::MissingTaskId,
            },
            kind if is_router_snapshot(kind) => InboundWork::Tick,
            _ => InboundWork::Ignored,
        }
    }

    fn task_id(&self) -> Option<String> {
        let payload = self.body.get("payload");
        let subject = self.body.get("subject");
        json_text(payload.and_then(|p| p.get("task_id")))
            .or_else(|| {
                subject
                    .and_then(Value::as_str)
                    .and_then(|s| json_text(Some(&json!(s))))
            })
            .or_else(|| json_text(subject.and_then(|s| s.get("task_id"))))
            .or_else(|| {
                let s = subject?;
                (s.get("kind").and_then(Value::as_str) == Some("task"))
                    .then(|| json_text(s.get("id")))
                    .flatten()
            })
    }
}

/// A router snapshot event (contract A2): it runs a tick, and with the
/// scheduler on it has the intake fetch AssistX's backlog.
pub fn is_router_snapshot(event_type: &str) -> bool {
    matches!(
        event_type,
        "router.quota_snapshot.recorded" | "router.service_snapshot.recorded"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 8, 0, 0, 0).unwrap()
    }

    /// The outbox keeps an assignment's events in order with its task's,
    /// and a node's events in order with each other.
    #[test]
    fn the_task_key_is_the_payloads_task_else_the_subject() {
        let payload = json!({"status": "CLAIMED"});
        let claimed =
            Envelope::about_assignment("assign.x", "k1".into(), "a1", "T1", None, payload, now());
        assert_eq!(claimed.seal().unwrap().task_key, "T1");
        let node = Envelope::about_node(
            "assign.control.changed",
            "k2".into(),
            "n1",
            json!({"mode": "paused"}),
            now(),
        );
        assert_eq!(node.seal().unwrap().task_key, "n1");
    }

    #[test]
    fn authored_task_event_has_contract_defaults() {
        let e = Envelope::about_task(
            "assign.assignment.recommended",
            "k".into(),
            "T1",
            raw(&json!({"task_id": "T1"})),
            now(),
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["source_repo"], "auto-assign");
        assert_eq!(v["source_service"], "auto-assign");
        assert_eq!(v["node_id"], "auto-assign");
        assert_eq!(v["schema_version"], "2026-06-08.v1");
        assert_eq!(v["subject"], json!({"kind": "task", "id": "T1"}));
        assert_eq!(v["artifact_refs"], json!([]));
        assert_eq!(v["metadata"], json!({}));
        assert_eq!(
            v["privacy"],
            json!({"pii": false, "privacy_class": "public", "retention_class": "keep"})
        );
        assert_eq!(v["correlation_id"], "42998393-fc6c-55a0-aafd-eaa9672a3d15");
        assert_eq!(v["actor"], Value::Null);
        assert_eq!(
            v["links"],
            json!([{"rel": "FOR_TASK", "target_type": "Task", "target_id": "T1"}])
        );
        assert_eq!(v["occurred_at"], "2026-06-08T00:00:00.000000Z");
        assert!(e.check().is_ok());
    }

    #[test]
    fn assignment_events_carry_task_id_and_need_upper_case_status() {
        let e = Envelope::about_assignment(
            "assignment.claimed",
            "k".into(),
            "assign_1",
            "T1",
            None,
            json!({"status": "CLAIMED"}),
            now(),
        );
        assert!(e.payload.get().contains(r#""task_id":"T1""#));
        assert_eq!(e.subject.kind, "assignment");
        assert!(e.check().is_ok());
        let bad = Envelope::about_assignment(
            "assignment.claimed",
            "k".into(),
            "assign_1",
            "T1",
            None,
            json!({"status": "claimed"}),
            now(),
        );
        assert!(bad.check().unwrap_err().contains("upper-case"));
        let none = Envelope::about_assignment(
            "assignment.failed",
            "k".into(),
            "assign_1",
            "T1",
            None,
            json!({}),
            now(),
        );
        assert!(none.check().is_err());
    }

    #[test]
    fn control_event_subject_is_an_object() {
        let e = Envelope::about_node(
            "assign.control.changed",
            "k".into(),
            "auto-assign",
            json!({"mode": "paused"}),
            now(),
        );
        assert_eq!(
            e.subject,
            Subject {
                kind: "node".into(),
                id: "auto-assign".into()
            }
        );
        assert!(e.check().is_ok());
    }

    #[test]
    fn sealing_refuses_a_malformed_envelope_and_keeps_the_bytes_it_serialized() {
        let mut bad = Envelope::about_task(
            "assign.assignment.recommended",
            "k".into(),
            "T1",
            raw(&json!({})),
            now(),
        );
        bad.correlation_id = "nope".into();
        let refusal = bad.seal().unwrap_err();
        assert!(
            refusal.contains("assign.assignment.recommended") && refusal.contains("correlation_id"),
            "{refusal}"
        );
        let good = Envelope::about_task(
            "assign.assignment.recommended",
            "k".into(),
            "T1",
            raw(&json!({})),
            now(),
        );
        let body = serde_json::to_string(&good).unwrap();
        let sealed = good.clone().seal().unwrap();
        assert_eq!(sealed.body, body);
        assert_eq!(
            (sealed.event_id, sealed.subject_id),
            (good.event_id, "T1".to_string())
        );
    }

    #[test]
    fn inbound_needs_only_type_and_key() {
        let e = InboundEvent::parse(json!({"event_type": "x.y", "idempotency_key": "k1"})).unwrap();
        assert_eq!(e.work(), InboundWork::Ignored);
        assert_eq!(
            e.work().action(),
            ("ignored", Some("no_processor_registered"))
        );
        let err = InboundEvent::parse(json!({"event_type": "x"})).unwrap_err();
        assert!(err.contains("idempotency_key"));
        let err =
            InboundEvent::parse(json!({"event_type": 5, "idempotency_key": "k"})).unwrap_err();
        assert!(err.contains("event_type must be a string"));
        assert!(InboundEvent::parse(json!([1])).is_err());
    }

    #[test]
    fn candidate_task_id_from_payload_then_subject_forms() {
        let parse = |v: Value| InboundEvent::parse(v).unwrap().work();
        let base = |extra: Value| {
            let mut v = json!({"event_type": "task.candidate.created", "idempotency_key": "k"});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        let got = parse(base(
            json!({"payload": {"task_id": "P", "priority": "batch"}, "subject": "S"}),
        ));
        assert_eq!(
            got,
            InboundWork::EvaluateTask(json!({"task_id": "P", "priority": "batch"}))
        );
        assert_eq!(
            parse(base(json!({"subject": "S"}))),
            InboundWork::EvaluateTask(json!({"task_id": "S"}))
        );
        assert_eq!(
            parse(base(json!({"subject": {"task_id": "L"}, "links": {}}))),
            InboundWork::EvaluateTask(json!({"task_id": "L"}))
        );
        assert_eq!(
            parse(base(json!({"subject": {"kind": "task", "id": "K"}}))),
            InboundWork::EvaluateTask(json!({"task_id": "K"}))
        );
        assert_eq!(
            parse(base(json!({"payload": {}}))),
            InboundWork::MissingTaskId
        );
        assert_eq!(
            InboundWork::MissingTaskId.action(),
            ("skipped", Some("missing_task_id"))
        );
    }

    #[test]
    fn router_snapshots_trigger_a_tick() {
        for t in [
            "router.quota_snapshot.recorded",
            "router.service_snapshot.recorded",
        ] {
            let e = InboundEvent::parse(json!({"event_type": t, "idempotency_key": "k"})).unwrap();
            assert_eq!(e.work(), InboundWork::Tick);
        }
    }
}
