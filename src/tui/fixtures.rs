//! Snapshots in meaningful states, for the control room's tests and
//! benchmarks. Times are fixed relative to [`now`], so frames are stable.

use crate::domain::decision::Skip;
use crate::domain::lane::Lane;
use crate::engine::snapshot::{Health, QueueRow, Recommendation, Snapshot};
use crate::store::approvals::Approval;
use crate::store::audit::Entry;
use crate::store::outbox::OutboxEvent;
use crate::store::workers::Worker;
use chrono::{DateTime, Duration, TimeZone, Utc};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn ago(seconds: i64) -> String {
    crate::domain::time::rfc3339(now() - Duration::seconds(seconds))
}

fn health(name: &str, state: &str, age: Option<i64>) -> Health {
    Health {
        name: name.into(),
        state: state.into(),
        last_success_at: age.map(ago),
        detail: None,
    }
}

pub fn empty() -> Snapshot {
    Snapshot {
        taken_at: ago(0),
        health: vec![
            health("assistx", "unknown", None),
            health("neo4j", "unknown", None),
            health("router", "unknown", None),
            health("cache", "ok", Some(0)),
        ],
        ..Snapshot::default()
    }
}

fn recommendation(i: usize, status: &str, worker: Option<&str>) -> Recommendation {
    let lane = ["local_only", "router_model", "free_api"][i % 3];
    Recommendation {
        assignment_id: format!("assign_{i:016x}"),
        task_id: format!("T{i:04}"),
        title: Some(format!("Task number {i}")),
        status: status.into(),
        version: 1 + (i % 3) as i64,
        lane: if status == "approval_required" {
            "blocked".into()
        } else {
            lane.into()
        },
        target: Some(lane.into()),
        worker: worker.map(str::to_string),
        node: worker.map(|_| "n1".to_string()),
        score: 0.78,
        priority: "batch".into(),
        retry_count: 0,
        reasons: vec!["priority boost applied for batch".into()],
        skipped_lanes: vec![Skip {
            lane: Lane::FreeApi,
            reason_code: "privacy_cloud_denied".into(),
            reason:
                "sensitive, local-only, or cloud-disallowed work cannot use hosted/free API lanes"
                    .into(),
        }],
        decision_id: format!("decision_{i:016x}"),
        idempotency_key: format!("assign.assignment.decision:T{i:04}:READY:unknown"),
        created_at: ago(30 + i as i64 * 7),
        updated_at: ago(10),
        lease_expires_at: worker.map(|_| ago(-300)),
    }
}

fn worker(node: &str, id: &str, status: &str, stale: bool, active: u32) -> Worker {
    Worker {
        node_id: node.into(),
        worker_id: id.into(),
        status: status.into(),
        lanes: vec!["local_only".into(), "router_model".into()],
        capabilities: vec!["python".into()],
        owner: None,
        max_concurrent: 2,
        metrics: serde_json::json!({"load": 0.5}),
        first_seen: ago(3600),
        last_seen: if stale { ago(300) } else { ago(3) },
        stale,
        drained: false,
        active,
    }
}

/// A working fleet: tasks in every state, approvals waiting, workers busy,
/// a stale one, a degraded router, outbox traffic with a dead letter.
pub fn busy() -> Snapshot {
    let mut s = empty();
    s.health = vec![
        health("assistx", "ok", Some(4)),
        health("neo4j", "ok", Some(9)),
        health("router", "down", Some(600)),
        health("cache", "ok", Some(0)),
    ];
    s.last_tick_at = Some(ago(42));
    s.queue = vec![
        QueueRow {
            status: "approval_required".into(),
            lane: "blocked".into(),
            priority: "critical".into(),
            count: 2,
        },
        QueueRow {
            status: "recommended".into(),
            lane: "local_only".into(),
            priority: "batch".into(),
            count: 5,
        },
        QueueRow {
            status: "recommended".into(),
            lane: "router_model".into(),
            priority: "interactive".into(),
            count: 3,
        },
    ];
    s.queue_history = vec![2, 4, 4, 7, 9, 8, 10, 6, 5, 10];
    s.oldest_waiting_at = Some(ago(754));
    s.status_counts = vec![
        ("approval_required".into(), 2),
        ("recommended".into(), 8),
        ("running".into(), 2),
    ];
    s.recommendations = (0..8)
        .map(|i| recommendation(i, "recommended", None))
        .collect();
    s.recommendations
        .push(recommendation(8, "approval_required", None));
    s.recommendations
        .push(recommendation(9, "approval_required", None));
    s.recommendations
        .push(recommendation(10, "running", Some("w1")));
    s.recommendations
        .push(recommendation(11, "claimed", Some("w2")));
    s.approvals = [8usize, 9]
        .iter()
        .map(|&i| Approval {
            assignment_id: format!("assign_{i:016x}"),
            task_id: format!("T{i:04}"),
            title: Some(format!("Task number {i}")),
            gate: if i == 8 {
                "risk high".into()
            } else {
                "approval flag".into()
            },
            requested_at: ago(95 * i as i64),
            decision: None,
            decided_by: None,
            reason: None,
            decided_at: None,
            expires_at: None,
            version: 1,
        })
        .collect();
    s.workers = vec![
        worker("n1", "w1", "busy", false, 1),
        worker("n1", "w2", "ready", false, 1),
        worker("n2", "w3", "ready", true, 0),
        worker("n2", "w4", "degraded", false, 0),
    ];
    s.outbox.pending = 12;
    s.outbox.delivered = 30;
    s.outbox.dead_letter = 1;
    s.outbox.oldest_pending_at = Some(ago(61));
    s.outbox.last_error = Some("422: correlation_id is not a UUID".into());
    s.outbox_recent = (0..4)
        .map(|i| OutboxEvent {
            seq: 40 - i,
            idempotency_key: format!("assign.assignment.decision:T{i:04}:READY:unknown"),
            event_id: format!("evt_{i:032x}"),
            event_type: "assign.assignment.recommended".into(),
            destination: "assistx".into(),
            subject_id: format!("T{i:04}"),
            body: r#"{"event_type":"assign.assignment.recommended","payload":{"task_id":"T0000"}}"#
                .into(),
            status: ["pending", "failed", "dead_letter", "delivered"][i as usize].into(),
            attempts: i as u32,
            next_attempt_at: None,
            last_error: (i == 2).then(|| "422: correlation_id is not a UUID".into()),
            created_at: ago(61 - i * 10),
            updated_at: ago(5),
            delivered_at: None,
        })
        .collect();
    s.audit = vec![
        Entry {
            seq: 1,
            at: ago(500),
            actor: "scott".into(),
            action: "approve".into(),
            subject: Some("assign_0000000000000003".into()),
            from_status: Some("approval_required".into()),
            to_status: Some("approved".into()),
            outcome: "ok".into(),
            detail: Some("reviewed".into()),
        },
        Entry {
            seq: 2,
            at: ago(100),
            actor: "scott".into(),
            action: "approve".into(),
            subject: Some("assign_0000000000000003".into()),
            from_status: None,
            to_status: None,
            outcome: "refused".into(),
            detail: Some("stale version".into()),
        },
    ];
    s
}

/// `tasks` assignments and `workers` workers: the benchmark's load.
pub fn large(tasks: usize, workers: usize) -> Snapshot {
    let mut s = busy();
    s.recommendations = (0..tasks)
        .map(|i| {
            recommendation(
                i,
                if i % 5 == 0 { "running" } else { "recommended" },
                (i % 5 == 0).then_some("w1"),
            )
        })
        .collect();
    s.workers = (0..workers)
        .map(|i| {
            worker(
                &format!("n{}", i % 10),
                &format!("w{i}"),
                "ready",
                i % 50 == 0,
                (i % 3) as u32,
            )
        })
        .collect();
    s
}
