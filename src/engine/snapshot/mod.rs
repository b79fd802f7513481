//! What the control room shows, built from the store after a change and
//! handed out as an `Arc<Snapshot>`: readers never touch the engine's state.
//! Its rows are typed views (`views`), mapped from store rows once, here.

pub mod views;

pub use crate::domain::alerts::Alert;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::Status;
use crate::error::Result;
pub use crate::store::graph_delivery::GraphSummary;
use crate::store::{approvals, assignments, audit, control, events, outbox, runs, workers};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
pub use views::{
    AuditRow, Control, Explanation, Health, HealthState, Limits, OutboxDetail, OutboxRow,
    OutboxSummary, PendingApproval, QueueRow, Recommendation, Run, Worker,
};

/// How many waiting assignments the snapshot lists in full.
pub const RECOMMENDATION_LIMIT: usize = 2000;

/// How many of the newest audit lines and outbox events it lists.
pub const RECENT_LIMIT: usize = 200;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub taken_at: DateTime<Utc>,
    /// The database the engine serves (filled in by whoever built this).
    #[serde(default)]
    pub database: String,
    pub control: Control,
    pub queue: Vec<QueueRow>,
    pub status_counts: BTreeMap<Status, u64>,
    pub oldest_waiting_at: Option<DateTime<Utc>>,
    /// Waiting, gated, blocked and leased assignments, newest change first,
    /// at most [`RECOMMENDATION_LIMIT`] of them.
    pub recommendations: Vec<Recommendation>,
    /// How many there were before the limit.
    #[serde(default)]
    pub recommendations_total: u64,
    pub approvals: Vec<PendingApproval>,
    pub workers: Vec<Worker>,
    pub outbox: OutboxSummary,
    /// Where the provenance graph's writes stand (the outbox's second
    /// destination).
    #[serde(default)]
    pub graph: GraphSummary,
    pub inbound_unprocessed: u64,
    pub runs: Vec<Run>,
    pub last_tick_at: Option<DateTime<Utc>>,
    /// AssistX, Neo4j, the router and the cache, as their owners last saw
    /// them (the sync layer fills in the first two).
    pub health: Vec<Health>,
    /// Operator and worker actions, newest last.
    #[serde(default)]
    pub audit: Vec<AuditRow>,
    /// The newest outbox events, newest first.
    #[serde(default)]
    pub outbox_recent: Vec<OutboxRow>,
    /// Waiting assignments at each of the last minutes, oldest first (kept
    /// in memory by the engine: it starts empty after a restart).
    #[serde(default)]
    pub queue_history: Vec<u64>,
    /// Socket lines refused, per reason (empty without a socket).
    #[serde(default)]
    pub rejected_lines: BTreeMap<String, u64>,
    #[serde(default)]
    pub limits: Limits,
    /// The fleet's alerts holding now (queue depth, stuck workers, a slow
    /// pass, open breakers, starving tasks), each since it began.
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

impl Snapshot {
    /// Assignments of `status` (all of them, not only those listed).
    pub fn count(&self, status: Status) -> u64 {
        self.status_counts.get(&status).copied().unwrap_or(0)
    }

    /// The snapshot without its long lists (assignments, workers, the audit
    /// and the newest outbox events).
    pub fn clone_head(&self) -> Snapshot {
        Snapshot {
            taken_at: self.taken_at,
            database: self.database.clone(),
            control: self.control.clone(),
            queue: self.queue.clone(),
            status_counts: self.status_counts.clone(),
            oldest_waiting_at: self.oldest_waiting_at,
            recommendations: Vec::new(),
            recommendations_total: self.recommendations_total,
            approvals: self.approvals.clone(),
            workers: Vec::new(),
            outbox: self.outbox.clone(),
            graph: self.graph.clone(),
            inbound_unprocessed: self.inbound_unprocessed,
            runs: self.runs.clone(),
            last_tick_at: self.last_tick_at,
            health: self.health.clone(),
            audit: Vec::new(),
            outbox_recent: Vec::new(),
            queue_history: self.queue_history.clone(),
            rejected_lines: self.rejected_lines.clone(),
            limits: self.limits,
            alerts: self.alerts.clone(),
        }
    }

    /// Assignments waiting for a worker or an operator.
    pub fn waiting(&self) -> u64 {
        self.queue
            .iter()
            .filter(|q| q.status != Status::Blocked)
            .map(|q| q.count)
            .sum()
    }
}

/// What a snapshot needs besides the database, as the engine sees it.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub now: DateTime<Utc>,
    pub last_tick_at: Option<DateTime<Utc>>,
    /// Each dependency as whoever talks to it last saw it (the cache's own
    /// health is the snapshot's: it was just read).
    pub health: Vec<Health>,
    pub limits: Limits,
    pub alerts: Vec<Alert>,
}

impl Inputs {
    /// A snapshot read from the file with no engine running: nothing is
    /// known of the dependencies.
    pub fn offline(now: DateTime<Utc>) -> Inputs {
        let unknown = |name| Health::unknown(name, "no engine is running");
        Inputs {
            now,
            last_tick_at: None,
            health: vec![unknown("assistx"), unknown("neo4j"), unknown("router")],
            limits: Limits::default(),
            alerts: Vec::new(),
        }
    }
}

pub fn build(conn: &Connection, inputs: &Inputs) -> Result<Snapshot> {
    let now = inputs.now;
    let queue = assignments::queue_depth(conn)?
        .into_iter()
        .filter_map(|(status, lane, priority, count)| {
            Some(QueueRow {
                status: status.parse().ok()?,
                lane: Lane::from_name(&lane)?,
                priority,
                count,
            })
        })
        .collect();
    let recommendations: Vec<Recommendation> = assignments::listed(conn, RECOMMENDATION_LIMIT)?
        .into_iter()
        .map(Into::into)
        .collect();
    let status_counts: BTreeMap<Status, u64> = assignments::status_counts(conn)?
        .into_iter()
        .filter_map(|(status, n)| Some((status.parse().ok()?, n)))
        .collect();
    let recommendations_total = status_counts
        .iter()
        .filter(|(s, _)| s.is_waiting() || s.holds_lease() || **s == Status::Blocked)
        .map(|(_, n)| n)
        .sum();
    Ok(Snapshot {
        taken_at: now,
        database: String::new(),
        control: control::get(conn)?.into(),
        queue,
        status_counts,
        oldest_waiting_at: assignments::oldest_waiting(conn)?
            .as_deref()
            .and_then(crate::domain::time::parse_utc),
        recommendations,
        recommendations_total,
        approvals: approvals::pending(conn)?
            .into_iter()
            .map(Into::into)
            .collect(),
        workers: workers::list(conn)?.into_iter().map(Into::into).collect(),
        outbox: outbox::summary(conn)?.into(),
        graph: crate::store::graph_delivery::summary(conn)?,
        inbound_unprocessed: events::count_unprocessed(conn)?,
        runs: runs::recent(conn, 20)?
            .into_iter()
            .map(Into::into)
            .collect(),
        last_tick_at: inputs.last_tick_at,
        audit: audit::recent(conn, RECENT_LIMIT, true)?
            .into_iter()
            .map(Into::into)
            .collect(),
        outbox_recent: outbox::older(conn, None, None, RECENT_LIMIT)?
            .iter()
            .map(Into::into)
            .collect(),
        queue_history: Vec::new(),
        rejected_lines: BTreeMap::new(),
        limits: inputs.limits,
        alerts: inputs.alerts.clone(),
        health: inputs
            .health
            .iter()
            .cloned()
            .chain(std::iter::once(Health {
                name: "cache".into(),
                state: HealthState::Ok,
                last_success_at: Some(now),
                last_error: None,
                detail: None,
            }))
            .collect(),
    })
}
