//! The provenance rows, checked without a graph.

use super::*;
use crate::domain::decision::Skip;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::Status;

fn decision(id: &str, reasons: &[&str]) -> Decision {
    Decision {
        assignment_id: "assign_1".into(),
        task_id: "T1".into(),
        decision_id: id.into(),
        status: Status::Recommended,
        selected_lane: Lane::LocalOnly,
        selected_target: Some("local_only".into()),
        score: 0.88,
        approval_required: false,
        lease_expires_at: None,
        reasons: reasons.iter().map(|r| r.to_string().into()).collect(),
        skipped_lanes: vec![Skip {
            lane: Lane::FreeApi,
            reason_code: "privacy_cloud_denied".into(),
            reason: "no cloud".into(),
        }],
        context_revision: None,
        idempotency_key: "assign.assignment.decision:T1:ready:unknown".into(),
        canonical_status: None,
        cache_only: false,
        created_at: "2026-11-30T12:00:00Z".parse().unwrap(),
        worker: Default::default(),
    }
}

fn event(seq: i64, event_type: &str, key: &str, payload: Value) -> OutboxEvent {
    OutboxEvent {
        seq,
        idempotency_key: key.into(),
        event_id: format!("evt_{seq}"),
        event_type: event_type.into(),
        destination: "assistx".into(),
        subject_id: "assign_1".into(),
        body: json!({"occurred_at": format!("2026-11-30T12:00:0{seq}Z"), "payload": payload})
            .to_string(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        created_at: "2026-11-30T12:00:00Z".into(),
        updated_at: "2026-11-30T12:00:00Z".into(),
        delivered_at: None,
    }
}

/// A claimed assignment of task T1 by n1/w1.
pub(crate) fn assignment(decision: Decision) -> Assignment {
    Assignment {
        assignment_id: "assign_1".into(),
        task_id: "T1".into(),
        status: Status::Claimed,
        version: 2,
        requeue: true,
        retry_count: 0,
        lane: "local_only".into(),
        priority: "batch".into(),
        decision,
        worker_id: Some("w1".into()),
        node_id: Some("n1".into()),
        correlation_id: None,
        lease_seconds: Some(900),
        lease_expires_at: Some("2026-11-30T12:15:00Z".into()),
        claimed_at: Some("2026-11-30T12:00:00Z".into()),
        created_at: "2026-11-30T12:00:00Z".into(),
        updated_at: "2026-11-30T12:00:00Z".into(),
        claims: 1,
        heartbeats_sent: 0,
        told_lease_expires_at: None,
    }
}

#[test]
fn a_decision_is_written_once_with_its_reasons_and_skips_and_the_current_one_wins() {
    let announced = decision("decision_a", &["first", "second"]);
    let events = [event(
        1,
        "assign.assignment.recommended",
        "k1",
        serde_json::to_value(&announced).unwrap(),
    )];
    let current = Current {
        assignments: vec![assignment(decision("decision_a", &["only"]))],
        ..Current::default()
    };
    let batch = batch(&events, &current);
    assert_eq!(batch.decisions.len(), 1, "one node per decision id");
    let d = &batch.decisions[0];
    assert_eq!(
        batch.decision_keys[0]["reasons"], 2,
        "one reason and one skip"
    );
    assert!(
        d["props"]["decision_json"]
            .as_str()
            .unwrap()
            .contains("\"only\"")
    );
    assert!(d["props"].get("reasons").is_none());
    let reasons: Vec<(&str, &str, &str)> = batch
        .reasons
        .iter()
        .map(|r| {
            (
                r["reason_id"].as_str().unwrap(),
                r["props"]["kind"].as_str().unwrap(),
                r["props"]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("decision_a#0", "reason", "only"),
            ("decision_a#1", "skip", "no cloud")
        ]
    );
    assert_eq!(batch.reasons[1]["props"]["lane"], "free_api");
    assert_eq!(batch.reasons[1]["props"]["code"], "privacy_cloud_denied");
}

#[test]
fn every_property_is_a_scalar_or_a_list_of_scalars() {
    let current = Current {
        assignments: vec![assignment(decision("decision_a", &["r"]))],
        workers: vec![Worker {
            node_id: "n1".into(),
            worker_id: "w1".into(),
            status: "ready".into(),
            lanes: vec!["local_only".into()],
            capabilities: vec!["gpu".into()],
            owner: None,
            max_concurrent: 2,
            metrics: json!({"success_rate": 0.9}),
            first_seen: "2026-11-30T12:00:00Z".into(),
            last_seen: "2026-11-30T12:00:00Z".into(),
            stale: false,
            drained: true,
            active: 1,
            breaker: Default::default(),
        }],
        control: Some(ControlState::default()),
        ..Current::default()
    };
    let batch = batch(&[], &current);
    let a = &batch.assignments[0];
    assert_eq!(a["props"]["status"], "claimed");
    assert_eq!(a["props"]["decision_id"], "decision_a");
    assert!(a["props"].get("decision").is_none());
    let w = &batch.workers[0];
    assert_eq!(w["key"], "n1/w1");
    assert_eq!(w["props"]["metrics_json"], r#"{"success_rate":0.9}"#);
    assert_eq!(w["props"]["drained"], true);
    for (_, rows) in batch.statements() {
        for row in rows {
            for (key, value) in row["props"].as_object().into_iter().flatten() {
                let scalar = |v: &Value| !v.is_object() && !v.is_array();
                let ok = scalar(value) || value.as_array().is_some_and(|l| l.iter().all(scalar));
                assert!(ok, "{key} = {value} cannot be a property");
            }
        }
    }
}

#[test]
fn leases_and_operator_actions_are_history_and_a_plain_skip_is_not_an_action() {
    let events = [
        event(
            1,
            "assignment.claimed",
            "claim-1",
            json!({"assignment_id": "assign_1", "task_id": "T1",
            "worker_id": "w1", "node_id": "n1", "attempt": 2, "lease_seconds": 900,
            "lease_expires_at": "2026-11-30T12:15:00Z"}),
        ),
        event(
            2,
            "assign.assignment.approved",
            "approve-1",
            json!({"assignment_id": "assign_1",
            "approved_by": "scott", "approval_reason": "fine"}),
        ),
        event(
            3,
            "assign.assignment.skipped",
            "reject-1",
            json!({"assignment_id": "assign_1",
            "reason_code": "rejected_by_operator", "rejected_by": "ann", "reason": "no"}),
        ),
        event(
            4,
            "assign.assignment.released",
            "release-1",
            json!({"assignment_id": "assign_1",
            "released_by": "bob", "reason": "stuck"}),
        ),
        event(
            5,
            "assign.control.changed",
            "control-1",
            json!({"mode": "paused", "changed_by": "scott",
            "reason": "upgrade"}),
        ),
        event(
            6,
            "assign.assignment.skipped",
            "skip-1",
            json!({"assignment_id": "assign_1",
            "decision_id": "not-a-full-decision"}),
        ),
    ];
    let touched = touched(&events);
    assert_eq!(
        touched.assignments,
        BTreeSet::from(["assign_1".to_string()])
    );
    assert_eq!(
        touched.workers,
        BTreeSet::from([("n1".to_string(), "w1".to_string())])
    );
    assert!(touched.control);
    let batch = batch(&events, &Current::default());
    assert_eq!(batch.leases.len(), 1);
    assert_eq!(batch.leases[0]["worker_key"], "n1/w1");
    assert_eq!(batch.leases[0]["attempt"], 2);
    assert_eq!(
        batch.leases[0]["props"]["claimed_at"],
        "2026-11-30T12:00:01Z"
    );
    let actions: Vec<(String, String, String)> = batch
        .assignment_actions
        .iter()
        .chain(&batch.control_actions)
        .map(|a| {
            let text = |k: &str| a["props"][k].as_str().unwrap_or_default().to_string();
            (
                a["id"].as_str().unwrap().to_string(),
                text("kind"),
                text("actor"),
            )
        })
        .collect();
    let expected = [
        ("approve-1", "approve", "scott"),
        ("reject-1", "reject", "ann"),
        ("release-1", "release", "bob"),
        ("control-1", "control", "scott"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(actions, expected);
    assert_eq!(batch.control_actions[0]["target"], CONTROL_ID);
    assert!(
        batch.decisions.is_empty(),
        "a payload that is not a decision writes none"
    );
}

#[test]
fn an_unreadable_event_is_refused_and_the_rest_written() {
    let mut broken = event(7, "assignment.claimed", "k7", json!({}));
    broken.body = "{not json".into();
    let events = [
        broken,
        event(
            8,
            "assign.control.changed",
            "k8",
            json!({"changed_by": "scott"}),
        ),
    ];
    let batch = batch(&events, &Current::default());
    assert_eq!(batch.refused.len(), 1);
    assert_eq!(batch.refused[0].0, 7);
    assert!(
        batch.refused[0].1.contains("not JSON"),
        "{:?}",
        batch.refused
    );
    assert_eq!(batch.control_actions.len(), 1);
    let statements: Vec<&str> = batch.statements().iter().map(|(c, _)| *c).collect();
    assert_eq!(
        statements,
        [CONTROL_ACTIONS],
        "empty statements are left out"
    );
}
