//! The provenance graph (contract E) as rows and statements, without I/O:
//! what a batch of outbox events, and the cache's rows they touched, put in
//! Neo4j. Every statement MERGEs on E's keys, so writing a batch twice
//! changes nothing, and links to `:Task` by MATCH only: a task AssistX does
//! not hold gets no node from here. docs/graph.md draws the model.
//!
//! Events give the history (each decision, lease and operator action);
//! the cache's current rows give the state (an assignment's status, its
//! latest decision, its approval, a worker, the control mode), so the
//! graph holds what `cache rebuild` needs to bring a deleted cache back.

use crate::domain::decision::Decision;
use crate::store::approvals::Approval;
use crate::store::assignments::Assignment;
use crate::store::control::ControlState;
use crate::store::outbox::OutboxEvent;
use crate::store::workers::Worker;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The one `:AssignControl` node: this program's control state.
pub const CONTROL_ID: &str = "auto-assign";

/// The unique constraints, created at start (`IF NOT EXISTS`).
pub const CONSTRAINTS: [&str; 6] = [
    "CREATE CONSTRAINT assign_decision_id IF NOT EXISTS FOR (n:AssignDecision) REQUIRE n.decision_id IS UNIQUE",
    "CREATE CONSTRAINT assign_reason_id IF NOT EXISTS FOR (n:AssignReason) REQUIRE n.reason_id IS UNIQUE",
    "CREATE CONSTRAINT assignment_id IF NOT EXISTS FOR (n:Assignment) REQUIRE n.assignment_id IS UNIQUE",
    "CREATE CONSTRAINT assign_worker_key IF NOT EXISTS FOR (n:AssignWorker) REQUIRE n.key IS UNIQUE",
    "CREATE CONSTRAINT assign_action_id IF NOT EXISTS FOR (n:AssignAction) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT assign_control_id IF NOT EXISTS FOR (n:AssignControl) REQUIRE n.id IS UNIQUE",
];

/// A decision written again with fewer reasons loses the extra ones.
/// Statements are few and wide: each costs a round trip, and neo4rs
/// writes a large one in two segments, which Nagle's algorithm holds back
/// until the server's delayed acknowledgement (about 40 ms).
const DECISIONS: &str = "UNWIND $rows AS row \
    MERGE (d:AssignDecision {decision_id: row.decision_id}) SET d += row.props \
    WITH d, row OPTIONAL MATCH (d)-[:HAS_REASON]->(old:AssignReason) \
    WHERE old.position >= row.reasons DETACH DELETE old";
const REASONS: &str = "UNWIND $rows AS row \
    MATCH (d:AssignDecision {decision_id: row.decision_id}) \
    MERGE (r:AssignReason {reason_id: row.reason_id}) SET r += row.props \
    MERGE (d)-[:HAS_REASON]->(r)";
const DECISION_TASKS: &str = "UNWIND $rows AS row \
    MATCH (d:AssignDecision {decision_id: row.decision_id}) MATCH (t:Task {id: row.task_id}) \
    MERGE (d)-[:FOR_TASK]->(t)";
const WORKERS: &str = "UNWIND $rows AS row \
    MERGE (w:AssignWorker {key: row.key}) SET w += row.props";
/// `DECIDED_BY` points at the latest decision only.
const ASSIGNMENTS: &str = "UNWIND $rows AS row \
    MERGE (a:Assignment {assignment_id: row.assignment_id}) SET a += row.props \
    WITH a, row OPTIONAL MATCH (a)-[old:DECIDED_BY]->(o:AssignDecision) \
    WHERE o.decision_id <> row.decision_id DELETE old \
    WITH DISTINCT a, row MATCH (d:AssignDecision {decision_id: row.decision_id}) \
    MERGE (a)-[:DECIDED_BY]->(d)";
const ASSIGNMENT_TASKS: &str = "UNWIND $rows AS row \
    MATCH (a:Assignment {assignment_id: row.assignment_id}) MATCH (t:Task {id: row.task_id}) \
    MERGE (a)-[:FOR_TASK]->(t)";
/// One `LEASED_TO` per claim attempt: the history of who ran it.
const LEASES: &str = "UNWIND $rows AS row \
    MATCH (a:Assignment {assignment_id: row.assignment_id}) \
    MERGE (w:AssignWorker {key: row.worker_key}) \
    MERGE (a)-[l:LEASED_TO {attempt: row.attempt}]->(w) SET l += row.props";
const CONTROL: &str = "UNWIND $rows AS row \
    MERGE (c:AssignControl {id: row.id}) SET c += row.props";
const ASSIGNMENT_ACTIONS: &str = "UNWIND $rows AS row \
    MERGE (x:AssignAction {id: row.id}) SET x += row.props \
    WITH x, row MATCH (a:Assignment {assignment_id: row.target}) MERGE (x)-[:ON]->(a)";
const CONTROL_ACTIONS: &str = "UNWIND $rows AS row \
    MERGE (x:AssignAction {id: row.id}) SET x += row.props \
    WITH x, row MATCH (c:AssignControl {id: row.target}) MERGE (x)-[:ON]->(c)";

/// What a batch of events is about: the cache rows to read beside them.
#[derive(Debug, Default, PartialEq)]
pub struct Touched {
    pub assignments: BTreeSet<String>,
    pub workers: BTreeSet<(String, String)>,
    pub control: bool,
}

/// The cache's current rows for what a batch touched.
#[derive(Debug, Default)]
pub struct Current {
    pub assignments: Vec<Assignment>,
    pub approvals: Vec<Approval>,
    pub workers: Vec<Worker>,
    pub control: Option<ControlState>,
}

/// A batch ready to write: rows per statement, and the events that cannot
/// be read (never written, listed as refused).
#[derive(Debug, Default)]
pub struct Batch {
    decisions: Vec<Value>,
    /// The decisions' keys alone, for the statements that only link: a
    /// statement's rows are sent, and converted, once per statement.
    decision_keys: Vec<Value>,
    reasons: Vec<Value>,
    workers: Vec<Value>,
    assignments: Vec<Value>,
    assignment_keys: Vec<Value>,
    leases: Vec<Value>,
    control: Vec<Value>,
    assignment_actions: Vec<Value>,
    control_actions: Vec<Value>,
    pub refused: Vec<(i64, String)>,
}

impl Batch {
    /// The statements in the order they must run (nodes before the links
    /// that MATCH them), each with its rows; empty ones left out.
    pub fn statements(&self) -> Vec<(&'static str, &[Value])> {
        [
            (DECISIONS, &self.decisions),
            (REASONS, &self.reasons),
            (DECISION_TASKS, &self.decision_keys),
            (WORKERS, &self.workers),
            (ASSIGNMENTS, &self.assignments),
            (ASSIGNMENT_TASKS, &self.assignment_keys),
            (LEASES, &self.leases),
            (CONTROL, &self.control),
            (ASSIGNMENT_ACTIONS, &self.assignment_actions),
            (CONTROL_ACTIONS, &self.control_actions),
        ]
        .into_iter()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(cypher, rows)| (cypher, rows.as_slice()))
        .collect()
    }
}

/// An event's body, read once.
struct Read<'a> {
    event: &'a OutboxEvent,
    body: Value,
}

impl Read<'_> {
    fn payload(&self, key: &str) -> Option<&Value> {
        self.body.get("payload")?.get(key).filter(|v| !v.is_null())
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.payload(key).and_then(Value::as_str)
    }

    fn occurred_at(&self) -> &str {
        self.body
            .get("occurred_at")
            .and_then(Value::as_str)
            .unwrap_or(&self.event.created_at)
    }
}

fn read(events: &[OutboxEvent]) -> (Vec<Read<'_>>, Vec<(i64, String)>) {
    let mut read = Vec::with_capacity(events.len());
    let mut refused = Vec::new();
    for event in events {
        match serde_json::from_str::<Value>(&event.body) {
            Ok(body) if body.get("payload").is_some_and(Value::is_object) => {
                read.push(Read { event, body })
            }
            Ok(_) => refused.push((event.seq, "the event has no payload object".into())),
            Err(e) => refused.push((event.seq, format!("the event is not JSON: {e}"))),
        }
    }
    (read, refused)
}

/// The cache rows a batch of events is about.
pub fn touched(events: &[OutboxEvent]) -> Touched {
    let mut touched = Touched::default();
    for e in read(events).0 {
        if let Some(id) = e.text("assignment_id") {
            touched.assignments.insert(id.to_string());
        }
        if let (Some(node), Some(worker)) = (e.text("node_id"), e.text("worker_id")) {
            touched
                .workers
                .insert((node.to_string(), worker.to_string()));
        }
        touched.control |= e.event.event_type == "assign.control.changed";
    }
    touched
}

/// The rows `events` and the cache's `current` rows put in the graph.
pub fn batch(events: &[OutboxEvent], current: &Current) -> Batch {
    let (read, refused) = read(events);
    let mut batch = Batch {
        refused,
        ..Batch::default()
    };
    // Keyed so that a decision an event announced and the assignment's
    // current one are written once, the current one winning.
    let mut decisions: BTreeMap<String, &Decision> = BTreeMap::new();
    let announced: Vec<(String, Decision)> = read
        .iter()
        .filter(|e| e.payload("decision_id").is_some())
        .filter_map(|e| {
            let decision = serde_json::from_value(e.body["payload"].clone()).ok()?;
            Some((e.event.idempotency_key.clone(), decision))
        })
        .collect();
    for (_, decision) in &announced {
        decisions.insert(decision.decision_id.clone(), decision);
    }
    for a in &current.assignments {
        decisions.insert(a.decision.decision_id.clone(), &a.decision);
    }
    for decision in decisions.values() {
        decision_rows(&mut batch, decision);
    }
    let approvals: BTreeMap<&str, &Approval> = current
        .approvals
        .iter()
        .map(|p| (p.assignment_id.as_str(), p))
        .collect();
    for a in &current.assignments {
        let props = assignment_props(a, approvals.get(a.assignment_id.as_str()));
        batch
            .assignments
            .push(json!({"assignment_id": a.assignment_id, "decision_id": a.decision.decision_id, "props": props}));
        batch.assignment_keys.push(json!({
            "assignment_id": a.assignment_id,
            "task_id": a.task_id,
            "decision_id": a.decision.decision_id,
        }));
    }
    for w in &current.workers {
        batch.workers.push(worker_row(w));
    }
    if let Some(control) = &current.control {
        batch
            .control
            .push(json!({"id": CONTROL_ID, "props": props(control)}));
    }
    for e in &read {
        history_rows(&mut batch, e);
    }
    batch
}

fn decision_rows(batch: &mut Batch, d: &Decision) {
    let mut props = props(d);
    props.remove("reasons");
    props.insert(
        "decision_json".into(),
        Value::String(serde_json::to_string(d).unwrap_or_default()),
    );
    let reasons = d
        .reasons
        .iter()
        .map(|text| json!({"kind": "reason", "code": "reason", "text": text, "lane": null}));
    let skips = d
        .skipped_lanes
        .iter()
        .map(|s| json!({"kind": "skip", "code": s.reason_code, "text": s.reason, "lane": s.lane}));
    let mut count = 0;
    for (position, mut reason) in reasons.chain(skips).enumerate() {
        reason["position"] = json!(position);
        batch.reasons.push(json!({
            "decision_id": d.decision_id,
            "reason_id": format!("{}#{position}", d.decision_id),
            "props": reason,
        }));
        count = position + 1;
    }
    batch
        .decisions
        .push(json!({"decision_id": d.decision_id, "reasons": count, "props": props}));
    batch.decision_keys.push(json!({
        "decision_id": d.decision_id,
        "task_id": d.task_id,
        "reasons": count,
    }));
}

/// An assignment's node: its cache row (the decision as JSON text, since a
/// property holds no map) and its approval, if it had one.
fn assignment_props(a: &Assignment, approval: Option<&&Approval>) -> Map<String, Value> {
    let mut props = props(a);
    props.remove("decision");
    props.insert(
        "decision_json".into(),
        Value::String(serde_json::to_string(&a.decision).unwrap_or_default()),
    );
    props.insert("decision_id".into(), json!(a.decision.decision_id));
    if let Some(p) = approval {
        for (key, value) in [
            ("gate", Some(&p.gate)),
            ("requested_at", Some(&p.requested_at)),
            ("decision", p.decision.as_ref()),
            ("decided_by", p.decided_by.as_ref()),
            ("reason", p.reason.as_ref()),
            ("decided_at", p.decided_at.as_ref()),
            ("expires_at", p.expires_at.as_ref()),
        ] {
            props.insert(format!("approval_{key}"), json!(value));
        }
    }
    props
}

fn worker_row(w: &Worker) -> Value {
    let mut props = props(w);
    props.remove("active");
    props.insert("metrics_json".into(), json!(w.metrics.to_string()));
    props.remove("metrics");
    json!({"key": format!("{}/{}", w.node_id, w.worker_id), "props": props})
}

/// The history an event adds: a lease, or an operator's action.
fn history_rows(batch: &mut Batch, e: &Read) {
    let at = e.occurred_at();
    let key = &e.event.idempotency_key;
    let action = |kind: &str, actor: Option<&str>, target: &str| {
        json!({
            "id": key,
            "target": target,
            "props": {
                "kind": kind,
                "actor": actor,
                "reason": e.text("reason").or(e.text("approval_reason")),
                "at": at,
                "event_id": e.event.event_id,
                "mode": e.text("mode"),
            },
        })
    };
    let assignment = e.text("assignment_id").unwrap_or_default();
    match e.event.event_type.as_str() {
        "assignment.claimed" => {
            let (Some(node), Some(worker)) = (e.text("node_id"), e.text("worker_id")) else {
                return;
            };
            batch.leases.push(json!({
                "assignment_id": assignment,
                "worker_key": format!("{node}/{worker}"),
                "attempt": e.payload("attempt").and_then(Value::as_u64).unwrap_or(1),
                "props": {
                    "claimed_at": at,
                    "lease_seconds": e.payload("lease_seconds"),
                    "lease_expires_at": e.text("lease_expires_at"),
                },
            }));
        }
        "assign.assignment.approved" => {
            batch
                .assignment_actions
                .push(action("approve", e.text("approved_by"), assignment))
        }
        "assign.assignment.skipped" if e.text("reason_code") == Some("rejected_by_operator") => {
            batch
                .assignment_actions
                .push(action("reject", e.text("rejected_by"), assignment))
        }
        "assign.assignment.released" => {
            batch
                .assignment_actions
                .push(action("release", e.text("released_by"), assignment))
        }
        "assign.control.changed" => {
            batch
                .control_actions
                .push(action("control", e.text("changed_by"), CONTROL_ID))
        }
        _ => {}
    }
}

/// A row's fields as node properties: scalars and lists of scalars only
/// (what a property may hold); anything else is left out.
fn props<T: Serialize>(row: &T) -> Map<String, Value> {
    let Ok(Value::Object(map)) = serde_json::to_value(row) else {
        return Map::new();
    };
    map.into_iter()
        .filter(|(_, v)| match v {
            Value::Object(_) => false,
            Value::Array(items) => items.iter().all(|i| !i.is_object() && !i.is_array()),
            _ => true,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
