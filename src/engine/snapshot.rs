//! What the control room shows, built from the store after a change and
//! handed out as an `Arc<Snapshot>`: readers never touch the engine's state.

use crate::domain::decision::{Skip, Text};
use crate::domain::router::RouterSnapshot;
use crate::domain::time::rfc3339;
use crate::error::Result;
use crate::store::approvals::{self, Approval};
use crate::store::control::{self, ControlState};
use crate::store::outbox::{self, Summary};
use crate::store::runs::{self, Run};
use crate::store::workers::{self, Worker};
use crate::store::{assignments, audit, candidates, events};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many waiting assignments the snapshot lists in full.
const RECOMMENDATION_LIMIT: usize = 2000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueRow {
    pub status: String,
    pub lane: String,
    pub priority: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    pub assignment_id: String,
    pub task_id: String,
    #[serde(default)]
    pub title: Option<String>,
    pub status: String,
    pub version: i64,
    pub lane: String,
    pub target: Option<Text>,
    pub worker: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    pub score: f64,
    pub priority: String,
    pub retry_count: u32,
    pub reasons: Vec<Text>,
    pub skipped_lanes: Vec<Skip>,
    pub decision_id: String,
    pub idempotency_key: String,
    pub created_at: String,
    pub updated_at: String,
    pub lease_expires_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Health {
    pub name: String,
    /// `ok`, `down`, or `unknown` (not asked yet / not configured).
    pub state: String,
    pub last_success_at: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub taken_at: String,
    /// The database the engine serves (filled in by whoever built this).
    #[serde(default)]
    pub database: String,
    pub control: ControlState,
    pub queue: Vec<QueueRow>,
    pub status_counts: Vec<(String, u64)>,
    pub oldest_waiting_at: Option<String>,
    pub recommendations: Vec<Recommendation>,
    pub approvals: Vec<Approval>,
    pub workers: Vec<Worker>,
    pub outbox: Summary,
    pub inbound_unprocessed: u64,
    pub runs: Vec<Run>,
    pub last_tick_at: Option<String>,
    pub health: Vec<Health>,
    /// Operator and worker actions, newest last.
    #[serde(default)]
    pub audit: Vec<crate::store::audit::Entry>,
    /// The newest outbox events, newest first.
    #[serde(default)]
    pub outbox_recent: Vec<crate::store::outbox::OutboxEvent>,
    /// Waiting assignments at each of the last minutes, oldest first (kept
    /// in memory by the engine: it starts empty after a restart).
    #[serde(default)]
    pub queue_history: Vec<u64>,
    /// Socket lines refused, per reason: filled in by the socket server
    /// when it hands a snapshot out (empty without a socket).
    #[serde(default)]
    pub rejected_lines: BTreeMap<String, u64>,
}

pub fn build(
    conn: &Connection,
    router: &RouterSnapshot,
    now: DateTime<Utc>,
    last_tick_at: Option<DateTime<Utc>>,
) -> Result<Snapshot> {
    let queue = assignments::queue_depth(conn)?
        .into_iter()
        .map(|(status, lane, priority, count)| QueueRow {
            status,
            lane,
            priority,
            count,
        })
        .collect();
    let mut recommendations = Vec::new();
    let titles = candidates::titles(conn)?;
    for a in assignments::list(conn, None, RECOMMENDATION_LIMIT)? {
        if !(a.status.is_waiting()
            || a.status.holds_lease()
            || a.status == crate::domain::lifecycle::Status::Blocked)
        {
            continue;
        }
        recommendations.push(Recommendation {
            title: titles.get(&a.task_id).cloned(),
            worker: a.worker_id.clone(),
            node: a.node_id.clone(),
            assignment_id: a.assignment_id,
            task_id: a.task_id,
            status: a.status.to_string(),
            version: a.version,
            lane: a.lane,
            target: a.decision.selected_target,
            score: a.decision.score,
            priority: a.priority,
            retry_count: a.retry_count,
            reasons: a.decision.reasons,
            skipped_lanes: a.decision.skipped_lanes,
            decision_id: a.decision.decision_id,
            idempotency_key: a.decision.idempotency_key,
            created_at: a.created_at,
            updated_at: a.updated_at,
            lease_expires_at: a.lease_expires_at,
        });
    }
    let router_health = Health {
        name: "router".into(),
        state: if router.reachable { "ok" } else { "unknown" }.into(),
        last_success_at: None,
        detail: router.revision.clone().map(|r| format!("revision {r}")),
    };
    let unknown = |name: &str| Health {
        name: name.into(),
        state: "unknown".into(),
        last_success_at: None,
        detail: Some("not connected in this build".into()),
    };
    Ok(Snapshot {
        taken_at: rfc3339(now),
        database: String::new(),
        control: control::get(conn)?,
        queue,
        status_counts: assignments::status_counts(conn)?,
        oldest_waiting_at: assignments::oldest_waiting(conn)?,
        recommendations,
        approvals: approvals::pending(conn)?,
        workers: workers::list(conn)?,
        outbox: outbox::summary(conn)?,
        inbound_unprocessed: events::count_unprocessed(conn)?,
        runs: runs::recent(conn, 20)?,
        last_tick_at: last_tick_at.map(rfc3339),
        audit: audit::recent(conn, 200, true)?,
        outbox_recent: outbox::list_recent(conn, 200)?,
        queue_history: Vec::new(),
        rejected_lines: BTreeMap::new(),
        health: vec![
            unknown("assistx"),
            unknown("neo4j"),
            router_health,
            Health {
                name: "cache".into(),
                state: "ok".into(),
                last_success_at: Some(rfc3339(now)),
                detail: None,
            },
        ],
    })
}
