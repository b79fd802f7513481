//! Assignments: the latest decision per assignment and where it stands in
//! its lifecycle.

use super::all_rows;
use super::to_json;
use crate::domain::decision::Decision;
use crate::domain::lifecycle::Status;
use crate::domain::time::{parse_utc, rfc3339};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a pass needs to know about an existing assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: Status,
    pub version: i64,
    pub requeue: bool,
    pub retry_count: u32,
    pub decision_id: String,
    /// The worker (`node/worker`) it last failed or timed out on.
    pub failed_on: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Assignment {
    pub assignment_id: String,
    pub task_id: String,
    pub status: Status,
    pub version: i64,
    pub requeue: bool,
    pub retry_count: u32,
    pub lane: String,
    pub priority: String,
    pub decision: Decision,
    pub worker_id: Option<String>,
    pub node_id: Option<String>,
    pub correlation_id: Option<String>,
    pub lease_seconds: Option<u64>,
    pub lease_expires_at: Option<String>,
    pub claimed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Claim attempts so far, the current one included (contract D).
    pub claims: u32,
    /// `assignment.heartbeat` events authored so far: the next one's number.
    pub heartbeats_sent: u32,
    /// The lease AssistX last heard of.
    pub told_lease_expires_at: Option<String>,
}

const COLUMNS: &str = "assignment_id, task_id, status, version, requeue, retry_count, lane, priority, \
     decision, worker_id, node_id, correlation_id, lease_seconds, lease_expires_at, claimed_at, \
     created_at, updated_at, claims, heartbeats_sent, told_lease_expires_at";

fn status_of(text: String) -> rusqlite::Result<Status> {
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn from_row(row: &Row) -> rusqlite::Result<Assignment> {
    let decision: String = row.get(8)?;
    let mut decision: Decision = serde_json::from_str(&decision).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, e.into())
    })?;
    let status = status_of(row.get(2)?)?;
    let lease_expires_at: Option<String> = row.get(13)?;
    // A decision names the lease a claim would get when it was made; once
    // claimed, the lease is the one the claim and its renewals set. The
    // column is read here rather than copied into the JSON on each renewal,
    // which would rewrite the decision on every heartbeat.
    if matches!(status, Status::Claimed | Status::Running)
        && let Some(lease) = lease_expires_at.as_deref().and_then(parse_utc)
    {
        decision.lease_expires_at = Some(lease);
    }
    Ok(Assignment {
        assignment_id: row.get(0)?,
        task_id: row.get(1)?,
        status,
        version: row.get(3)?,
        requeue: row.get(4)?,
        retry_count: row.get(5)?,
        lane: row.get(6)?,
        priority: row.get(7)?,
        decision,
        worker_id: row.get(9)?,
        node_id: row.get(10)?,
        correlation_id: row.get(11)?,
        lease_seconds: row.get(12)?,
        lease_expires_at,
        claimed_at: row.get(14)?,
        created_at: row.get(15)?,
        updated_at: row.get(16)?,
        claims: row.get(17)?,
        heartbeats_sent: row.get(18)?,
        told_lease_expires_at: row.get(19)?,
    })
}

fn state_from_row(row: &Row) -> rusqlite::Result<State> {
    Ok(State {
        status: status_of(row.get(0)?)?,
        version: row.get(1)?,
        requeue: row.get(2)?,
        retry_count: row.get(3)?,
        decision_id: row.get(4)?,
        failed_on: row.get(5)?,
    })
}

const STATE_COLUMNS: &str = "status, version, requeue, retry_count, decision_id, failed_on";

/// The states of the named assignments (those that exist), looked up by
/// key in chunks: a pass costs its own size, not the table's.
pub fn states(conn: &Connection, ids: &[&str]) -> Result<HashMap<String, State>> {
    const CHUNK: usize = 128;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {STATE_COLUMNS}, assignment_id FROM assignments WHERE assignment_id IN ({})",
        ["?"; CHUNK].join(", ")
    ))?;
    let mut found = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        // The last chunk is padded with NULLs, which match nothing.
        let keys = (0..CHUNK).map(|i| chunk.get(i).copied());
        let rows = stmt.query_map(rusqlite::params_from_iter(keys), |row| {
            Ok((row.get::<_, String>(6)?, state_from_row(row)?))
        })?;
        for row in rows {
            let (id, state) = row?;
            found.insert(id, state);
        }
    }
    Ok(found)
}

pub fn get(conn: &Connection, assignment_id: &str) -> Result<Assignment> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM assignments WHERE assignment_id = ?1"
    ))?;
    stmt.query_row([assignment_id], from_row)
        .optional()?
        .ok_or_else(|| Error::NotFound {
            what: "assignment",
            id: assignment_id.into(),
        })
}

/// Which assignments [`list`] gives: each field set narrows it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    pub status: Option<Status>,
    pub task_id: Option<&'a str>,
    pub lane: Option<&'a str>,
}

/// Assignments, newest change first, narrowed by `filter`.
pub fn list(conn: &Connection, filter: Filter, limit: usize) -> Result<Vec<Assignment>> {
    all_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM assignments WHERE (?1 IS NULL OR status = ?1) \
             AND (?2 IS NULL OR task_id = ?2) AND (?3 IS NULL OR lane = ?3) \
         ORDER BY updated_at DESC, assignment_id LIMIT ?4"
        ),
        params![
            filter.status.map(Status::as_str),
            filter.task_id,
            filter.lane,
            limit as i64
        ],
        from_row,
    )
}

/// An assignment as the control room lists it: no decision (its reasons
/// are fetched when asked for), the task's title from the candidate cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub assignment_id: String,
    pub task_id: String,
    pub title: Option<String>,
    pub status: Status,
    pub version: i64,
    pub lane: String,
    pub worker_id: Option<String>,
    pub node_id: Option<String>,
    pub score: f64,
    pub priority: String,
    pub retry_count: u32,
    pub created_at: String,
    pub updated_at: String,
    pub lease_expires_at: Option<String>,
    /// The worker (`node/worker`) its decision named.
    pub target: Option<String>,
    pub deadline: Option<String>,
}

/// The waiting, gated, blocked and leased assignments, newest change
/// first, at most `limit`. Only row ids are sorted, and only the rows kept
/// are read whole: sorting whole rows (decisions included) for ten thousand
/// assignments cost a snapshot most of its time.
pub fn listed(conn: &Connection, limit: usize) -> Result<Vec<Listed>> {
    all_rows(
        conn,
        "SELECT a.assignment_id, a.task_id, json_extract(c.body, '$.title'), a.status, a.version,              a.lane, a.worker_id, a.node_id, json_extract(a.decision, '$.score'), a.priority,              a.retry_count, a.created_at, a.updated_at, a.lease_expires_at, a.target, a.deadline          FROM (SELECT rowid AS id FROM assignments                WHERE status IN ('recommended', 'approval_required', 'approved', 'claimed', 'running', 'blocked')                ORDER BY updated_at DESC, assignment_id LIMIT ?1) AS kept          JOIN assignments a ON a.rowid = kept.id          LEFT JOIN candidates c ON c.task_id = a.task_id          ORDER BY a.updated_at DESC, a.assignment_id",
        [limit as i64],
        |row| {
            Ok(Listed {
                assignment_id: row.get(0)?,
                task_id: row.get(1)?,
                title: row.get(2)?,
                status: status_of(row.get(3)?)?,
                version: row.get(4)?,
                lane: row.get(5)?,
                worker_id: row.get(6)?,
                node_id: row.get(7)?,
                score: row.get::<_, Option<f64>>(8)?.unwrap_or(0.0),
                priority: row.get(9)?,
                retry_count: row.get(10)?,
                created_at: row.get(11)?,
                updated_at: row.get(12)?,
                lease_expires_at: row.get(13)?,
                target: row.get(14)?,
                deadline: row.get(15)?,
            })
        },
    )
}

/// Assignments a worker holds a lease on.
pub fn held_by(conn: &Connection, node_id: &str, worker_id: &str) -> Result<Vec<Assignment>> {
    // Sorted here, not by ORDER BY: with a bound parameter and an ORDER BY
    // to plan, SQLite re-prepares the statement on every run, and this one
    // runs on every heartbeat.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM assignments WHERE node_id = ?1 AND worker_id = ?2 \
         AND status IN ('claimed', 'running')"
    ))?;
    let rows = stmt.query_map([node_id, worker_id], from_row)?;
    let mut held: Vec<Assignment> = rows.collect::<rusqlite::Result<_>>()?;
    held.sort_by(|a, b| a.assignment_id.cmp(&b.assignment_id));
    Ok(held)
}

/// Leases that ran out strictly before `cutoff`.
pub fn leases_ended_before(conn: &Connection, cutoff: DateTime<Utc>) -> Result<Vec<Assignment>> {
    all_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM assignments WHERE status IN ('claimed', 'running') \
         AND lease_expires_at < ?1 ORDER BY lease_expires_at"
        ),
        [rfc3339(cutoff)],
        from_row,
    )
}

/// A decision to store, serialized once (the same bytes as its event's
/// payload), with what the assignment row keeps beside it.
pub struct Decided<'a> {
    pub decision: &'a Decision,
    pub json: &'a str,
    pub priority: &'a str,
    pub deadline: Option<DateTime<Utc>>,
    pub retry_count: u32,
    /// Whether the assignment exists already (the pass looked it up).
    pub existing: bool,
}

/// Stores new decisions: a new assignment at version 1, or the next
/// version of an existing one (a new decision ends any lease it held). The
/// status column is the decision's own status, so the two agree.
pub fn save_decisions(conn: &Connection, decided: &[Decided], now: DateTime<Utc>) -> Result<()> {
    // A plain INSERT for a new assignment: an upsert costs a third more on
    // a 10,000-candidate pass, and the pass knows which rows exist.
    let mut update = conn.prepare_cached(
        "UPDATE assignments SET task_id = ?2, status = ?3, version = version + 1, requeue = 1, \
             retry_count = ?4, lane = ?5, priority = ?6, decision_id = ?7, decision = ?8, \
             worker_id = NULL, node_id = NULL, lease_seconds = NULL, lease_expires_at = NULL, \
             claimed_at = NULL, updated_at = ?9, target = ?10, deadline = ?11 \
         WHERE assignment_id = ?1",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO assignments (assignment_id, task_id, status, version, requeue, retry_count, \
             lane, priority, decision_id, decision, created_at, updated_at, target, deadline) \
         VALUES (?1, ?2, ?3, 1, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
    )?;
    let now = rfc3339(now);
    for d in decided {
        let stmt = if d.existing { &mut update } else { &mut insert };
        let changed = stmt.execute(params![
            d.decision.assignment_id,
            d.decision.task_id,
            d.decision.status.as_str(),
            d.retry_count,
            d.decision.selected_lane.as_str(),
            d.priority,
            d.decision.decision_id,
            d.json,
            now,
            d.decision.worker.key(),
            d.deadline.map(rfc3339),
        ])?;
        if changed != 1 {
            return Err(Error::NotFound {
                what: "assignment",
                id: d.decision.assignment_id.clone(),
            });
        }
    }
    Ok(())
}

/// Replaces the decision of an assignment, and its status with the
/// decision's (an approval picking a lane, a rejection saying why).
pub fn replace_decision(conn: &Connection, decision: &Decision, now: DateTime<Utc>) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "UPDATE assignments SET status = ?6, decision = ?2, decision_id = ?3, lane = ?4, \
             version = version + 1, updated_at = ?5 WHERE assignment_id = ?1 RETURNING version",
    )?;
    Ok(stmt.query_row(
        params![
            decision.assignment_id,
            to_json(decision),
            decision.decision_id,
            decision.selected_lane.as_str(),
            rfc3339(now),
            decision.status.as_str()
        ],
        |row| row.get(0),
    )?)
}

/// Moves an assignment to `status`, in the column and in the stored
/// decision at once. Leaving a leased status ends the lease.
pub fn set_status(
    conn: &Connection,
    assignment_id: &str,
    status: Status,
    requeue: bool,
    retry_count: u32,
    now: DateTime<Utc>,
) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "UPDATE assignments SET status = ?2, decision = json_set(decision, '$.status', ?2), \
             requeue = ?3, retry_count = ?4, version = version + 1, updated_at = ?5, \
             lease_expires_at = CASE WHEN ?2 IN ('claimed', 'running') THEN lease_expires_at END \
         WHERE assignment_id = ?1 RETURNING version",
    )?;
    Ok(stmt.query_row(
        params![
            assignment_id,
            status.as_str(),
            requeue,
            retry_count,
            rfc3339(now)
        ],
        |row| row.get(0),
    )?)
}

pub struct Claim<'a> {
    pub assignment_id: &'a str,
    pub worker_id: &'a str,
    pub node_id: &'a str,
    pub correlation_id: &'a str,
    pub lease_seconds: u64,
    pub lease_expires_at: DateTime<Utc>,
}

pub fn claim(conn: &Connection, claim: &Claim, now: DateTime<Utc>) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "UPDATE assignments SET status = 'claimed', decision = json_set(decision, '$.status', 'claimed'), \
             worker_id = ?2, node_id = ?3, correlation_id = ?4, lease_seconds = ?5, \
             lease_expires_at = ?6, claimed_at = ?7, version = version + 1, updated_at = ?7, \
             claims = claims + 1, told_lease_expires_at = ?6 \
         WHERE assignment_id = ?1 RETURNING version",
    )?;
    Ok(stmt.query_row(
        params![
            claim.assignment_id,
            claim.worker_id,
            claim.node_id,
            claim.correlation_id,
            claim.lease_seconds,
            rfc3339(claim.lease_expires_at),
            rfc3339(now)
        ],
        |row| row.get(0),
    )?)
}

/// Renews one lease for the length it was claimed with; the new end.
pub fn renew_lease(
    conn: &Connection,
    assignment: &Assignment,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let seconds = assignment.lease_seconds.unwrap_or(0) as i64;
    let until = now + chrono::Duration::seconds(seconds);
    let mut stmt = conn.prepare_cached(
        "UPDATE assignments SET lease_expires_at = ?2, updated_at = ?3 WHERE assignment_id = ?1",
    )?;
    stmt.execute(params![
        assignment.assignment_id,
        rfc3339(until),
        rfc3339(now)
    ])?;
    Ok(until)
}

/// An `assignment.heartbeat` telling AssistX of the lease `told` was queued.
pub fn told_lease(conn: &Connection, assignment_id: &str, told: &str) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE assignments SET heartbeats_sent = heartbeats_sent + 1, \
             told_lease_expires_at = ?2 WHERE assignment_id = ?1",
    )?;
    stmt.execute(params![assignment_id, told])?;
    Ok(())
}

/// Counts by status, lane and priority of the assignments waiting for a
/// worker or an operator.
pub fn queue_depth(conn: &Connection) -> Result<Vec<(String, String, String, u64)>> {
    all_rows(
        conn,
        "SELECT status, lane, priority, COUNT(*) FROM assignments \
         WHERE status IN ('recommended', 'approval_required', 'approved', 'blocked') \
         GROUP BY status, lane, priority ORDER BY status, lane, priority",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )
}

/// A waiting assignment a worker could be offered, with what its task asks
/// of the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub assignment_id: String,
    pub lane: String,
    pub priority: String,
    pub created_at: String,
    pub required_capabilities: Vec<String>,
    pub owner: Option<String>,
    /// The worker (`node/worker`) it last failed or timed out on, and when.
    pub failed_on: Option<(String, String)>,
    /// The worker (`node/worker`) its decision named.
    pub target: Option<String>,
    pub deadline: Option<String>,
}

/// Waiting assignments a decision named each worker (`node/worker`) for:
/// they count against its limit until claimed.
pub fn targeted(conn: &Connection) -> Result<std::collections::HashMap<String, u32>> {
    Ok(all_rows(
        conn,
        "SELECT target, COUNT(*) FROM assignments \
         WHERE target IS NOT NULL AND status IN ('recommended', 'approved') GROUP BY target",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?
    .into_iter()
    .collect())
}

/// The assignments ready to be claimed (`recommended`, `approved`) on
/// `lanes`, first offered first: those a decision named worker `me`
/// (`node/worker`) for, then those it named nobody for, then the others'
/// (taken only when a worker has nothing else); within each, by effective
/// urgency at `now` (the priority's level, one better per `step_seconds`
/// waited), then the longest waiting; `limit` of them from `offset`. Only
/// the page read comes out of the table, with its task's needs.
#[allow(clippy::too_many_arguments)]
pub fn offers(
    conn: &Connection,
    me: &str,
    lanes: &[String],
    now: DateTime<Utc>,
    step_seconds: u64,
    limit: usize,
    offset: usize,
) -> Result<Vec<Offer>> {
    let urgency = crate::domain::backpressure::urgency_sql("priority");
    let outer = crate::domain::backpressure::urgency_sql("a.priority");
    let first_mine = |target: &str| {
        format!("CASE WHEN {target} = ?6 THEN 0 WHEN {target} IS NULL THEN 1 ELSE 2 END")
    };
    let (mine, outer_mine) = (first_mine("target"), first_mine("a.target"));
    // Fairness's deadline boost (`fairness::DEADLINE_BOOST`), in SQL.
    let due_soon = |deadline: &str| {
        format!(
            "(CASE WHEN {deadline} IS NOT NULL AND unixepoch({deadline}) - ?2 <= ?3 THEN {} ELSE 0 END)",
            crate::domain::fleet::fairness::DEADLINE_BOOST
        )
    };
    let (due, outer_due) = (due_soon("deadline"), due_soon("a.deadline"));
    all_rows(
        conn,
        &format!(
            "SELECT a.assignment_id, a.lane, a.priority, a.created_at, \
                 json_extract(c.body, '$.required_capabilities'), json_extract(c.body, '$.owner'), \
                 a.failed_on, a.failed_at, a.target, a.deadline \
             FROM (SELECT rowid AS id FROM assignments \
                   WHERE status IN ('recommended', 'approved') \
                     AND lane IN (SELECT value FROM json_each(?1)) \
                   ORDER BY {mine}, {urgency} - (?2 - unixepoch(created_at)) / ?3 - {due}, \
                     deadline IS NULL, deadline, created_at, assignment_id \
                   LIMIT ?4 OFFSET ?5) AS page \
             JOIN assignments a ON a.rowid = page.id \
             LEFT JOIN candidates c ON c.task_id = a.task_id \
             ORDER BY {outer_mine}, {outer} - (?2 - unixepoch(a.created_at)) / ?3 - {outer_due}, \
               a.deadline IS NULL, a.deadline, a.created_at, a.assignment_id"
        ),
        params![
            to_json(&lanes),
            now.timestamp(),
            step_seconds.max(1) as i64,
            limit as i64,
            offset as i64,
            me
        ],
        |row| {
            Ok(Offer {
                assignment_id: row.get(0)?,
                lane: row.get(1)?,
                priority: row.get(2)?,
                created_at: row.get(3)?,
                required_capabilities: row
                    .get::<_, Option<String>>(4)?
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_default(),
                owner: row.get(5)?,
                failed_on: row
                    .get::<_, Option<String>>(6)?
                    .zip(row.get::<_, Option<String>>(7)?),
                target: row.get(8)?,
                deadline: row.get(9)?,
            })
        },
    )
}

/// Notes the worker (`node/worker`) an assignment failed or timed out on.
pub fn mark_failed_on(
    conn: &Connection,
    assignment_id: &str,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE assignments SET failed_on = ?2, failed_at = ?3 WHERE assignment_id = ?1",
    )?
    .execute(params![assignment_id, worker, rfc3339(now)])?;
    Ok(())
}

/// Assignments waiting for a worker or an operator (what back-pressure
/// measures).
pub fn waiting(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM assignments WHERE status IN ('recommended', 'approval_required', 'approved')",
        [],
        |row| row.get(0),
    )?)
}

/// Counts per status over every assignment.
pub fn status_counts(conn: &Connection) -> Result<Vec<(String, u64)>> {
    all_rows(
        conn,
        "SELECT status, COUNT(*) FROM assignments GROUP BY status ORDER BY status",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
}

/// The oldest creation time of a waiting assignment.
pub fn oldest_waiting(conn: &Connection) -> Result<Option<String>> {
    Ok(conn.query_row(
        "SELECT MIN(created_at) FROM assignments WHERE status IN ('recommended', 'approval_required', 'approved')",
        [],
        |row| row.get(0),
    )?)
}
