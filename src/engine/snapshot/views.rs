//! The rows a snapshot carries, typed: statuses, lanes and modes as the
//! domain's enums, times as `DateTime`. Each is mapped from its store row
//! once, when the snapshot is built, so what reads a snapshot (the control
//! room, `watch`, `status`, the demo) matches enums, never strings. A row
//! holds what a table shows; the rest of an assignment or an event is
//! fetched when an operator asks to see it (`describe`).

use crate::domain::control::ControlMode;
use crate::domain::decision::{Skip, Text, WorkerChoice};
use crate::domain::delivery::DeliveryStatus;
use crate::domain::fleet::breaker::Breaker;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::Status;
use crate::domain::time::parse_utc;
use crate::domain::worker::{WorkerStatus, worker_key};
use crate::store::{approvals, assignments, audit, control, outbox, runs, workers};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A store timestamp (always one this program wrote).
fn at(text: &str) -> DateTime<Utc> {
    parse_utc(text).unwrap_or_default()
}

fn at_opt(text: Option<&str>) -> Option<DateTime<Utc>> {
    text.and_then(parse_utc)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Control {
    pub mode: ControlMode,
    pub reason: Option<String>,
    pub changed_by: Option<String>,
    pub changed_at: Option<DateTime<Utc>>,
    pub version: i64,
}

impl From<control::ControlState> for Control {
    fn from(c: control::ControlState) -> Self {
        Control {
            mode: c.mode,
            changed_at: at_opt(c.changed_at.as_deref()),
            reason: c.reason,
            changed_by: c.changed_by,
            version: c.version,
        }
    }
}

/// Waiting assignments of one status, lane and priority.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueRow {
    pub status: Status,
    pub lane: Lane,
    pub priority: String,
    pub count: u64,
}

impl QueueRow {
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.status, self.lane, self.priority)
    }
}

/// An assignment waiting, gated, blocked or in flight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    pub assignment_id: String,
    pub task_id: String,
    pub title: Option<String>,
    pub status: Status,
    pub version: i64,
    pub lane: Lane,
    pub worker: Option<String>,
    pub node: Option<String>,
    pub score: f64,
    pub priority: String,
    pub retry_count: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worker (`node/worker`) its decision named, while none holds it.
    #[serde(default)]
    pub target: Option<String>,
    /// When the task must be done by.
    #[serde(default, with = "crate::domain::time::serde_utc::option")]
    pub deadline: Option<DateTime<Utc>>,
}

impl From<assignments::Listed> for Recommendation {
    fn from(a: assignments::Listed) -> Self {
        Recommendation {
            lane: Lane::from_name(&a.lane).unwrap_or(Lane::Blocked),
            created_at: at(&a.created_at),
            updated_at: at(&a.updated_at),
            lease_expires_at: at_opt(a.lease_expires_at.as_deref()),
            assignment_id: a.assignment_id,
            task_id: a.task_id,
            title: a.title,
            status: a.status,
            version: a.version,
            worker: a.worker_id,
            node: a.node_id,
            target: a.target,
            deadline: at_opt(a.deadline.as_deref()),
            score: a.score,
            priority: a.priority,
            retry_count: a.retry_count,
        }
    }
}

impl Recommendation {
    /// The worker holding the lease, as `node/worker`.
    pub fn holder(&self) -> Option<String> {
        let worker = self.worker.as_deref()?;
        Some(worker_key(self.node.as_deref().unwrap_or("local"), worker))
    }
}

/// Why an assignment went where it did: fetched on demand.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Explanation {
    pub assignment_id: String,
    pub target: Option<Text>,
    pub reasons: Vec<Text>,
    pub skipped_lanes: Vec<Skip>,
    pub decision_id: String,
    pub idempotency_key: String,
    /// The worker the decision named, and why not each other one.
    #[serde(default)]
    pub worker: WorkerChoice,
}

impl From<&assignments::Assignment> for Explanation {
    fn from(a: &assignments::Assignment) -> Self {
        Explanation {
            assignment_id: a.assignment_id.clone(),
            target: a.decision.selected_target.clone(),
            reasons: a.decision.reasons.clone(),
            skipped_lanes: a.decision.skipped_lanes.clone(),
            decision_id: a.decision.decision_id.clone(),
            idempotency_key: a.decision.idempotency_key.clone(),
            worker: a.decision.worker.clone(),
        }
    }
}

/// An assignment gated behind an operator's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingApproval {
    pub assignment_id: String,
    pub task_id: String,
    pub title: Option<String>,
    pub gate: String,
    pub requested_at: DateTime<Utc>,
    pub version: i64,
}

impl From<approvals::Approval> for PendingApproval {
    fn from(a: approvals::Approval) -> Self {
        PendingApproval {
            requested_at: at(&a.requested_at),
            assignment_id: a.assignment_id,
            task_id: a.task_id,
            title: a.title,
            gate: a.gate,
            version: a.version,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Worker {
    pub node_id: String,
    pub worker_id: String,
    pub status: WorkerStatus,
    pub lanes: Vec<String>,
    pub capabilities: Vec<String>,
    pub owner: Option<String>,
    pub max_concurrent: u32,
    pub metrics: BTreeMap<String, f64>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub stale: bool,
    pub drained: bool,
    /// Leases held right now.
    pub active: u32,
    #[serde(default)]
    pub breaker: Breaker,
}

impl Worker {
    pub fn key(&self) -> String {
        worker_key(&self.node_id, &self.worker_id)
    }
}

impl From<workers::Worker> for Worker {
    fn from(w: workers::Worker) -> Self {
        Worker {
            status: w.status.parse().unwrap_or(WorkerStatus::Offline),
            metrics: serde_json::from_value(w.metrics).unwrap_or_default(),
            first_seen: at(&w.first_seen),
            last_seen: at(&w.last_seen),
            node_id: w.node_id,
            worker_id: w.worker_id,
            lanes: w.lanes,
            capabilities: w.capabilities,
            owner: w.owner,
            max_concurrent: w.max_concurrent,
            stale: w.stale,
            drained: w.drained,
            active: w.active,
            breaker: w.breaker,
        }
    }
}

/// The engine's timings the control room measures its warnings against
/// (zero: not known, no warning).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    pub stale_heartbeat_seconds: u64,
    /// Seconds between scheduled ticks; 0 when ticks come only on demand.
    pub tick_interval_seconds: u64,
    /// Whether the outbox is being written back (else its lag is expected).
    pub dispatch_enabled: bool,
    /// How long an open breaker waits before a trial.
    #[serde(default)]
    pub breaker_cooldown_seconds: u64,
    /// Whether the provenance graph is written (Neo4j configured; else the
    /// events it has not had only wait for it).
    #[serde(default)]
    pub graph_enabled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OutboxSummary {
    pub pending: u64,
    pub failed: u64,
    pub delivered: u64,
    pub conflict: u64,
    pub dead_letter: u64,
    /// Creation time of the oldest event not yet delivered (the write-back lag).
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// The most recent error of an undelivered event.
    pub last_error: Option<String>,
}

impl From<outbox::Summary> for OutboxSummary {
    fn from(s: outbox::Summary) -> Self {
        OutboxSummary {
            pending: s.pending,
            failed: s.failed,
            delivered: s.delivered,
            conflict: s.conflict,
            dead_letter: s.dead_letter,
            oldest_pending_at: at_opt(s.oldest_pending_at.as_deref()),
            last_error: s.last_error,
        }
    }
}

/// An outbox event as its table shows it; its body is fetched on demand.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxRow {
    pub seq: i64,
    pub event_type: String,
    pub subject_id: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&outbox::OutboxEvent> for OutboxRow {
    fn from(e: &outbox::OutboxEvent) -> Self {
        OutboxRow {
            seq: e.seq,
            event_type: e.event_type.clone(),
            subject_id: e.subject_id.clone(),
            status: e.status.parse().unwrap_or(DeliveryStatus::Pending),
            attempts: e.attempts,
            last_error: e.last_error.clone(),
            created_at: at(&e.created_at),
        }
    }
}

/// One outbox event whole: fetched on demand.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxDetail {
    #[serde(flatten)]
    pub row: OutboxRow,
    pub event_id: String,
    pub idempotency_key: String,
    pub destination: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub body: String,
}

impl From<outbox::OutboxEvent> for OutboxDetail {
    fn from(e: outbox::OutboxEvent) -> Self {
        OutboxDetail {
            row: OutboxRow::from(&e),
            next_attempt_at: at_opt(e.next_attempt_at.as_deref()),
            delivered_at: at_opt(e.delivered_at.as_deref()),
            event_id: e.event_id,
            idempotency_key: e.idempotency_key,
            destination: e.destination,
            body: e.body,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub refused: bool,
    pub detail: Option<String>,
}

impl From<audit::Entry> for AuditRow {
    fn from(e: audit::Entry) -> Self {
        AuditRow {
            seq: e.seq,
            at: at(&e.at),
            refused: e.outcome == "refused",
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            from_status: e.from_status,
            to_status: e.to_status,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub run_id: i64,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub counts: runs::RunCounts,
    pub note: Option<String>,
}

impl From<runs::Run> for Run {
    fn from(r: runs::Run) -> Self {
        Run {
            run_id: r.run_id,
            trigger: r.trigger,
            started_at: at(&r.started_at),
            finished_at: at(&r.finished_at),
            counts: r.counts,
            note: r.note,
        }
    }
}

/// How a dependency is doing, as whoever talks to it last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Ok,
    Degraded,
    Down,
    /// Not asked yet, or not configured.
    #[default]
    Unknown,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Ok => "ok",
            HealthState::Degraded => "degraded",
            HealthState::Down => "down",
            HealthState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Health {
    pub name: String,
    pub state: HealthState,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub detail: Option<String>,
}

impl Health {
    /// A dependency as its client just saw it; `last_success` (the client's
    /// own record) moves to now when it is ok.
    pub fn seen(
        name: &str,
        state: HealthState,
        error: Option<String>,
        last_success: &mut Option<DateTime<Utc>>,
    ) -> Health {
        if state == HealthState::Ok {
            *last_success = Some(Utc::now());
        }
        Health {
            name: name.into(),
            state,
            last_success_at: *last_success,
            last_error: error,
            detail: None,
        }
    }

    /// What its client last met and what that means here, in one line.
    pub fn why(&self) -> Option<String> {
        let parts: Vec<&str> = [self.last_error.as_deref(), self.detail.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// A dependency nobody has reported on.
    pub fn unknown(name: &str, detail: &str) -> Health {
        Health {
            name: name.into(),
            state: HealthState::Unknown,
            last_success_at: None,
            last_error: None,
            detail: Some(detail.into()),
        }
    }
}
