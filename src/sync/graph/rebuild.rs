//! A deleted cache brought back from the graph (contract E's nodes, which
//! the graph writer fills from the cache's own rows) and the canonical
//! statuses AssistX keeps on each `:Task` (A8). SQLite is only a cache:
//! this is what makes that true.

use super::{Graph, GraphResult};
use crate::domain::candidate::Candidate;
use crate::domain::lifecycle::Status;
use crate::store::approvals::Approval;
use crate::store::assignments::Assignment;
use crate::store::control::ControlState;
use crate::store::restore::Rebuilt;
use crate::store::workers::Worker;
use serde_json::{Map, Value};

/// Reads everything a cache rebuild needs from the graph.
pub async fn read(graph: &Graph) -> GraphResult<Rebuilt> {
    let mut rebuilt = Rebuilt::default();
    let mut unreadable = Vec::new();
    for props in graph.all("Assignment").await? {
        match assignment_of(&props) {
            Ok((assignment, approval)) => {
                rebuilt.assignments.push(assignment);
                rebuilt.approvals.extend(approval);
            }
            Err(why) => unreadable.push(why),
        }
    }
    let ids: Vec<String> = rebuilt
        .assignments
        .iter()
        .map(|a| a.task_id.clone())
        .collect();
    let tasks = graph.tasks(&ids).await?;
    for a in &mut rebuilt.assignments {
        let task = tasks.get(&a.task_id);
        settle(
            a,
            task.and_then(|t| t.get("status")).and_then(Value::as_str),
        );
    }
    rebuilt.candidates = tasks
        .values()
        .filter_map(|task| Candidate::from_json(&crate::domain::task_node::item_of_task(task)).ok())
        .collect();
    rebuilt.workers = graph
        .all("AssignWorker")
        .await?
        .iter()
        .filter_map(|props| worker_of(props).ok())
        .collect();
    rebuilt.control = graph
        .all("AssignControl")
        .await?
        .into_iter()
        .find_map(|props| serde_json::from_value::<ControlState>(Value::Object(props)).ok());
    rebuilt.delivered = graph
        .our_envelopes()
        .await?
        .iter()
        .filter_map(|e| {
            let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
            Some((
                text("idempotency_key")?,
                text("event_id").unwrap_or_default(),
                text("event_type")?,
            ))
        })
        .collect();
    if !unreadable.is_empty() {
        tracing::warn!(count = unreadable.len(), first = %unreadable[0], "assignments in the graph that could not be read");
    }
    Ok(rebuilt)
}

/// An `:Assignment` node's properties as the cache row they came from, and
/// its approval when it had one.
pub fn assignment_of(props: &Map<String, Value>) -> Result<(Assignment, Option<Approval>), String> {
    let id = props
        .get("assignment_id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let decision: Value = props
        .get("decision_json")
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| format!("{id}: no readable decision_json"))?;
    let mut row: Map<String, Value> = props
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("approval_") && *k != "decision_json" && *k != "decision_id"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    row.insert("decision".into(), decision);
    let assignment: Assignment =
        serde_json::from_value(Value::Object(row)).map_err(|e| format!("{id}: {e}"))?;
    let text = |k: &str| {
        props
            .get(&format!("approval_{k}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let approval = match (text("gate"), text("requested_at")) {
        (Some(gate), Some(requested_at)) => Some(Approval {
            assignment_id: assignment.assignment_id.clone(),
            task_id: assignment.task_id.clone(),
            title: None,
            gate,
            requested_at,
            decision: text("decision"),
            decided_by: text("decided_by"),
            reason: text("reason"),
            decided_at: text("decided_at"),
            expires_at: text("expires_at"),
            version: assignment.version,
        }),
        _ => None,
    };
    Ok((assignment, approval))
}

/// An `:AssignWorker` node's properties as the worker's row.
fn worker_of(props: &Map<String, Value>) -> Result<Worker, serde_json::Error> {
    let mut row = props.clone();
    let metrics = row
        .remove("metrics_json")
        .and_then(|m| m.as_str().and_then(|t| serde_json::from_str(t).ok()))
        .unwrap_or_else(|| Value::Object(Map::new()));
    row.insert("metrics".into(), metrics);
    row.insert("active".into(), Value::from(0));
    row.remove("key");
    serde_json::from_value(Value::Object(row))
}

/// Brings an assignment in line with its task's canonical status where the
/// graph lags AssistX (its writes are a destination of their own): a task
/// AssistX holds DONE or FAILED is finished here too, and one AssistX put
/// back to READY no longer holds a lease here.
pub fn settle(a: &mut Assignment, canonical: Option<&str>) {
    let to = match canonical.map(str::to_ascii_uppercase).as_deref() {
        Some("DONE") if a.status != Status::Done => Some((Status::Done, false)),
        Some("FAILED") if !matches!(a.status, Status::Failed | Status::Done) => {
            Some((Status::Failed, false))
        }
        Some("READY") if a.status.holds_lease() => Some((Status::Released, true)),
        _ => None,
    };
    if let Some((status, requeue)) = to {
        a.status = status;
        a.decision.status = status;
        a.requeue = requeue;
        a.lease_expires_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::graph::provenance::{self, Current};
    use serde_json::json;

    /// An assignment as the provenance rows carry it into the graph.
    fn through_the_graph(a: &Assignment, approval: Option<&Approval>) -> Map<String, Value> {
        let current = Current {
            assignments: vec![a.clone()],
            approvals: approval.cloned().into_iter().collect(),
            ..Current::default()
        };
        let batch = provenance::batch(&[], &current);
        let (_, rows) = batch
            .statements()
            .into_iter()
            .find(|(cypher, _)| cypher.contains("MERGE (a:Assignment"))
            .unwrap();
        let mut props = rows[0]["props"].as_object().unwrap().clone();
        // A property set to null is no property at all in the graph.
        props.retain(|_, v| !v.is_null());
        props
    }

    fn sample() -> Assignment {
        let decision = serde_json::from_value(json!({
            "assignment_id": "assign_1", "task_id": "T1", "decision_id": "decision_1",
            "status": "claimed", "selected_lane": "local_only", "selected_target": "local_only",
            "score": 0.78, "approval_required": true, "lease_expires_at": null,
            "reasons": ["approved by scott: ok"], "skipped_lanes": [], "context_revision": null,
            "idempotency_key": "k", "canonical_status": null, "cache_only": false,
            "created_at": "2026-11-30T12:00:00Z"
        }))
        .unwrap();
        Assignment {
            version: 4,
            retry_count: 1,
            created_at: "2026-11-30T11:00:00Z".into(),
            claims: 2,
            heartbeats_sent: 3,
            told_lease_expires_at: Some("2026-11-30T12:15:00Z".into()),
            ..crate::sync::graph::provenance::tests::assignment(decision)
        }
    }

    #[test]
    fn an_assignment_and_its_approval_come_back_as_they_went_in() {
        let a = sample();
        let approval = Approval {
            assignment_id: "assign_1".into(),
            task_id: "T1".into(),
            title: None,
            gate: "risk".into(),
            requested_at: "2026-11-30T11:00:00Z".into(),
            decision: Some("approved".into()),
            decided_by: Some("scott".into()),
            reason: Some("ok".into()),
            decided_at: Some("2026-11-30T11:30:00Z".into()),
            expires_at: Some("2026-12-01T11:30:00Z".into()),
            version: 4,
        };
        let (back, gate) = assignment_of(&through_the_graph(&a, Some(&approval))).unwrap();
        assert_eq!(back, a);
        assert_eq!(gate, Some(approval));
        let (_, none) = assignment_of(&through_the_graph(&a, None)).unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn a_node_without_its_decision_is_named_not_guessed() {
        let mut props = through_the_graph(&sample(), None);
        props.remove("decision_json");
        let why = assignment_of(&props).unwrap_err();
        assert!(
            why.contains("assign_1") && why.contains("decision_json"),
            "{why}"
        );
    }

    #[test]
    fn the_canonical_status_wins_where_the_graph_lags() {
        let cases = [
            (Some("DONE"), Status::Done, false),
            (Some("FAILED"), Status::Failed, false),
            (Some("READY"), Status::Released, true),
            (Some("RUNNING"), Status::Claimed, true),
            (None, Status::Claimed, true),
        ];
        for (canonical, status, holds_no_lease) in cases {
            let mut a = sample();
            settle(&mut a, canonical);
            assert_eq!(
                (a.status, a.decision.status),
                (status, status),
                "{canonical:?}"
            );
            assert_eq!(
                a.lease_expires_at.is_some(),
                status.holds_lease() && holds_no_lease,
                "{canonical:?}"
            );
        }
    }
}
