//! Snapshots in meaningful states, for the control room's tests and
//! benchmarks. Times are fixed relative to [`now`], so frames are stable.

use crate::domain::decision::{Skip, WorkerChoice};
use crate::domain::delivery::DeliveryStatus;
use crate::domain::fleet::Rejected;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::Status;
use crate::domain::worker::WorkerStatus;
use crate::engine::snapshot::{
    AuditRow, Explanation, Health, HealthState, OutboxRow, PendingApproval, QueueRow,
    Recommendation, Snapshot, Worker,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn ago(seconds: i64) -> DateTime<Utc> {
    now() - Duration::seconds(seconds)
}

fn health(name: &str, state: HealthState, age: Option<i64>) -> Health {
    Health {
        name: name.into(),
        state,
        last_success_at: age.map(ago),
        last_error: None,
        detail: None,
    }
}

pub fn empty() -> Snapshot {
    Snapshot {
        taken_at: ago(0),
        health: vec![
            health("assistx", HealthState::Unknown, None),
            health("neo4j", HealthState::Unknown, None),
            health("router", HealthState::Unknown, None),
            health("cache", HealthState::Ok, Some(0)),
        ],
        ..Snapshot::default()
    }
}

const LANES: [Lane; 3] = [Lane::LocalOnly, Lane::RouterModel, Lane::FreeApi];

fn recommendation(i: usize, status: Status, worker: Option<&str>) -> Recommendation {
    Recommendation {
        assignment_id: format!("assign_{i:016x}"),
        task_id: format!("T{i:04}"),
        title: Some(format!("Task number {i}")),
        status,
        version: 1 + (i % 3) as i64,
        lane: if status == Status::ApprovalRequired {
            Lane::Blocked
        } else {
            LANES[i % 3]
        },
        worker: worker.map(str::to_string),
        node: worker.map(|_| "n1".to_string()),
        // A waiting recommendation's decision named a worker.
        target: (worker.is_none() && status == Status::Recommended)
            .then(|| format!("n1/w{}", i % 3)),
        // One task has a deadline, an hour away.
        deadline: (i == 1).then(|| ago(-3600)),
        score: 0.78,
        priority: "batch".into(),
        retry_count: 0,
        created_at: ago(30 + i as i64 * 7),
        updated_at: ago(10),
        lease_expires_at: worker.map(|_| ago(-300)),
    }
}

/// What the engine explains of the assignment `recommendation(i, ..)` makes.
pub fn explanation(i: usize) -> Explanation {
    Explanation {
        assignment_id: format!("assign_{i:016x}"),
        target: Some(LANES[i % 3].as_str().into()),
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
        worker: WorkerChoice {
            selected_worker: Some(format!("w{}", i % 3)),
            selected_node: Some("n1".into()),
            worker_score: Some(0.6),
            rejected_workers: vec![Rejected {
                worker_id: "gpu".into(),
                node_id: "n2".into(),
                reason_code: "at_capacity".into(),
                reason: "n2/gpu is at its limit (2/2)".into(),
            }],
            unlisted_workers: [("lane_not_served".to_string(), 3)].into(),
        },
    }
}

fn worker(node: &str, id: &str, status: WorkerStatus, stale: bool, active: u32) -> Worker {
    Worker {
        node_id: node.into(),
        worker_id: id.into(),
        status,
        lanes: vec!["local_only".into(), "router_model".into()],
        capabilities: vec!["python".into()],
        owner: None,
        max_concurrent: 2,
        metrics: [("load".to_string(), 0.5)].into(),
        first_seen: ago(3600),
        last_seen: if stale { ago(300) } else { ago(3) },
        stale,
        drained: false,
        active,
        breaker: Default::default(),
    }
}

/// A working fleet: tasks in every state, approvals waiting, workers busy,
/// a stale one, a degraded router, outbox traffic with a dead letter.
pub fn busy() -> Snapshot {
    let mut s = empty();
    s.health = vec![
        health("assistx", HealthState::Ok, Some(4)),
        health("neo4j", HealthState::Ok, Some(9)),
        health("router", HealthState::Down, Some(600)),
        health("cache", HealthState::Ok, Some(0)),
    ];
    s.last_tick_at = Some(ago(42));
    // Writing back to AssistX and into the graph, as the badges say.
    s.limits.dispatch_enabled = true;
    s.limits.graph_enabled = true;
    s.queue = vec![
        QueueRow {
            status: Status::ApprovalRequired,
            lane: Lane::Blocked,
            priority: "critical".into(),
            count: 2,
        },
        QueueRow {
            status: Status::Recommended,
            lane: Lane::LocalOnly,
            priority: "batch".into(),
            count: 5,
        },
        QueueRow {
            status: Status::Recommended,
            lane: Lane::RouterModel,
            priority: "interactive".into(),
            count: 3,
        },
    ];
    s.queue_history = vec![2, 4, 4, 7, 9, 8, 10, 6, 5, 10];
    s.oldest_waiting_at = Some(ago(754));
    s.status_counts = [
        (Status::ApprovalRequired, 2),
        (Status::Recommended, 8),
        (Status::Running, 2),
    ]
    .into();
    s.recommendations = (0..8)
        .map(|i| recommendation(i, Status::Recommended, None))
        .collect();
    s.recommendations
        .push(recommendation(8, Status::ApprovalRequired, None));
    s.recommendations
        .push(recommendation(9, Status::ApprovalRequired, None));
    s.recommendations
        .push(recommendation(10, Status::Running, Some("w1")));
    s.recommendations
        .push(recommendation(11, Status::Claimed, Some("w2")));
    s.approvals = [8usize, 9]
        .iter()
        .map(|&i| PendingApproval {
            assignment_id: format!("assign_{i:016x}"),
            task_id: format!("T{i:04}"),
            title: Some(format!("Task number {i}")),
            gate: if i == 8 {
                "risk high".into()
            } else {
                "approval flag".into()
            },
            requested_at: ago(95 * i as i64),
            version: 1,
        })
        .collect();
    s.workers = vec![
        worker("n1", "w1", WorkerStatus::Busy, false, 1),
        worker("n1", "w2", WorkerStatus::Ready, false, 1),
        worker("n2", "w3", WorkerStatus::Ready, true, 0),
        worker("n2", "w4", WorkerStatus::Degraded, false, 0),
    ];
    s.outbox.pending = 12;
    s.outbox.delivered = 30;
    s.outbox.dead_letter = 1;
    s.outbox.oldest_pending_at = Some(ago(61));
    s.outbox.last_error = Some("422: correlation_id is not a UUID".into());
    s.outbox_recent = (0..4)
        .map(|i| OutboxRow {
            seq: 40 - i,
            event_type: "assign.assignment.recommended".into(),
            subject_id: format!("T{i:04}"),
            status: [
                DeliveryStatus::Pending,
                DeliveryStatus::Failed,
                DeliveryStatus::DeadLetter,
                DeliveryStatus::Delivered,
            ][i as usize],
            attempts: i as u32,
            last_error: (i == 2).then(|| "422: correlation_id is not a UUID".into()),
            created_at: ago(61 - i * 10),
        })
        .collect();
    s.audit = vec![
        AuditRow {
            seq: 1,
            at: ago(500),
            actor: "scott".into(),
            action: "approve".into(),
            subject: Some("assign_0000000000000003".into()),
            from_status: Some("approval_required".into()),
            to_status: Some("approved".into()),
            refused: false,
            detail: Some("reviewed".into()),
        },
        AuditRow {
            seq: 2,
            at: ago(100),
            actor: "scott".into(),
            action: "approve".into(),
            subject: Some("assign_0000000000000003".into()),
            from_status: None,
            to_status: None,
            refused: true,
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
                if i % 5 == 0 {
                    Status::Running
                } else {
                    Status::Recommended
                },
                (i % 5 == 0).then_some("w1"),
            )
        })
        .collect();
    s.workers = (0..workers)
        .map(|i| {
            worker(
                &format!("n{}", i % 10),
                &format!("w{i}"),
                WorkerStatus::Ready,
                i % 50 == 0,
                (i % 3) as u32,
            )
        })
        .collect();
    s
}
