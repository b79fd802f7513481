//! Writing a cache rebuilt from the graph (`auto-assign cache rebuild`):
//! the rows as the provenance graph and the canonical statuses give them,
//! into a cache that holds nothing yet, in one transaction.

use super::approvals::Approval;
use super::assignments::Assignment;
use super::control::ControlState;
use super::to_json;
use super::workers::Worker;
use crate::domain::candidate::Candidate;
use crate::domain::time::rfc3339;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

/// What the graph gives back.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub assignments: Vec<Assignment>,
    pub approvals: Vec<Approval>,
    pub workers: Vec<Worker>,
    pub control: Option<ControlState>,
    /// The tasks' candidates, so that a task can be decided (or approved)
    /// again without AssistX.
    pub candidates: Vec<Candidate>,
    /// Keys of this program's events that AssistX recorded:
    /// `(idempotency_key, event_id, event_type)`.
    pub delivered: Vec<(String, String, String)>,
}

/// Refuses a cache that holds anything: a rebuild never mixes its rows
/// with others, nor overwrites what an operator may still want.
pub fn ensure_empty(conn: &Connection) -> Result<()> {
    let held: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM assignments) + (SELECT COUNT(*) FROM outbox) \
             + (SELECT COUNT(*) FROM workers) + (SELECT COUNT(*) FROM candidates)",
        [],
        |row| row.get(0),
    )?;
    if held > 0 {
        return Err(Error::bad_input(
            "cache",
            "it already holds assignments, events or workers; a rebuild writes only into a new cache \
             (stop the engine, move the cache file away, and run the rebuild again)",
        ));
    }
    Ok(())
}

/// Writes the rebuilt rows. The keys AssistX recorded go into the outbox as
/// delivered events with no body, so an event authored again with one of
/// them is dropped at enqueue, as it would have been by the lost cache;
/// the graph's cursor starts after them.
pub fn write(conn: &Connection, rebuilt: &Rebuilt, now: DateTime<Utc>) -> Result<()> {
    let now = rfc3339(now);
    let mut assignment = conn.prepare_cached(
        "INSERT INTO assignments (assignment_id, task_id, status, version, requeue, retry_count, lane, \
             priority, decision_id, decision, worker_id, node_id, correlation_id, lease_seconds, \
             lease_expires_at, claimed_at, created_at, updated_at, claims, heartbeats_sent, \
             told_lease_expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    )?;
    for a in &rebuilt.assignments {
        assignment.execute(params![
            a.assignment_id,
            a.task_id,
            a.status.as_str(),
            a.version,
            a.requeue,
            a.retry_count,
            a.lane,
            a.priority,
            a.decision.decision_id,
            to_json(&a.decision),
            a.worker_id,
            a.node_id,
            a.correlation_id,
            a.lease_seconds,
            a.lease_expires_at,
            a.claimed_at,
            a.created_at,
            a.updated_at,
            a.claims,
            a.heartbeats_sent,
            a.told_lease_expires_at,
        ])?;
    }
    let mut approval = conn.prepare_cached(
        "INSERT INTO approvals (assignment_id, gate, requested_at, decision, decided_by, reason, \
             decided_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for p in &rebuilt.approvals {
        approval.execute(params![
            p.assignment_id,
            p.gate,
            p.requested_at,
            p.decision,
            p.decided_by,
            p.reason,
            p.decided_at,
            p.expires_at,
        ])?;
    }
    let mut worker = conn.prepare_cached(
        "INSERT INTO workers (node_id, worker_id, status, lanes, capabilities, owner, max_concurrent, \
             metrics, first_seen, last_seen, stale, drained) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for w in &rebuilt.workers {
        worker.execute(params![
            w.node_id,
            w.worker_id,
            w.status,
            to_json(&w.lanes),
            to_json(&w.capabilities),
            w.owner,
            w.max_concurrent,
            to_json(&w.metrics),
            w.first_seen,
            w.last_seen,
            w.stale,
            w.drained,
        ])?;
    }
    if let Some(c) = &rebuilt.control {
        conn.prepare_cached(
            "UPDATE control SET mode = ?1, reason = ?2, changed_by = ?3, changed_at = ?4, version = ?5 \
             WHERE id = 1",
        )?
        .execute(params![c.mode.as_str(), c.reason, c.changed_by, c.changed_at, c.version])?;
    }
    let bodies: Vec<(String, String)> = rebuilt
        .candidates
        .iter()
        .map(|c| (c.task_id.clone(), to_json(c)))
        .collect();
    let rows: Vec<(&str, &str)> = bodies
        .iter()
        .map(|(t, b)| (t.as_str(), b.as_str()))
        .collect();
    super::candidates::put(conn, &rows, chrono::Utc::now())?;
    let mut delivered = conn.prepare_cached(
        "INSERT INTO outbox (idempotency_key, event_id, event_type, subject_id, body, status, \
             created_at, updated_at, delivered_at) \
         VALUES (?1, ?2, ?3, '', '{}', 'delivered', ?4, ?4, ?4) ON CONFLICT (idempotency_key) DO NOTHING",
    )?;
    for (key, event_id, event_type) in &rebuilt.delivered {
        delivered.execute(params![key, event_id, event_type, now])?;
    }
    conn.execute(
        "UPDATE graph_delivery SET delivered_seq = (SELECT COALESCE(MAX(seq), 0) FROM outbox)",
        [],
    )?;
    Ok(())
}
