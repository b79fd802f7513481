//! Approvals: why an assignment is gated, and the operator's answer.

use super::all_rows;
use crate::domain::time::rfc3339;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Approval {
    pub assignment_id: String,
    pub task_id: String,
    pub title: Option<String>,
    pub gate: String,
    pub requested_at: String,
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub decided_at: Option<String>,
    pub expires_at: Option<String>,
    pub version: i64,
}

/// Opens (or re-opens, after a lapse or a new gate) requests, given as
/// `(assignment_id, gate)`.
pub fn request(conn: &Connection, gates: &[(&str, &str)], now: DateTime<Utc>) -> Result<()> {
    let now = rfc3339(now);
    super::insert_many(
        conn,
        "INSERT INTO approvals (assignment_id, gate, requested_at)",
        3,
        "ON CONFLICT (assignment_id) DO UPDATE SET gate = excluded.gate, \
             requested_at = CASE WHEN decision IS NULL THEN requested_at ELSE excluded.requested_at END, \
             decision = NULL, decided_by = NULL, reason = NULL, decided_at = NULL, expires_at = NULL",
        gates,
        |(assignment_id, gate), values| {
            values.push(assignment_id)?;
            values.push(gate)?;
            values.push(&now)
        },
    )?;
    Ok(())
}

pub struct Answer<'a> {
    pub decision: &'a str,
    pub by: &'a str,
    pub reason: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

pub fn answer(
    conn: &Connection,
    assignment_id: &str,
    answer: &Answer,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE approvals SET decision = ?2, decided_by = ?3, reason = ?4, decided_at = ?5, expires_at = ?6 \
         WHERE assignment_id = ?1",
    )?;
    stmt.execute(params![
        assignment_id,
        answer.decision,
        answer.by,
        answer.reason,
        rfc3339(now),
        answer.expires_at.map(rfc3339)
    ])?;
    Ok(())
}

const SELECT: &str = "SELECT p.assignment_id, a.task_id, json_extract(c.body, '$.title'), p.gate, \
     p.requested_at, p.decision, p.decided_by, p.reason, p.decided_at, p.expires_at, a.version \
     FROM approvals p JOIN assignments a ON a.assignment_id = p.assignment_id \
     LEFT JOIN candidates c ON c.task_id = a.task_id";

fn from_row(row: &Row) -> rusqlite::Result<Approval> {
    Ok(Approval {
        assignment_id: row.get(0)?,
        task_id: row.get(1)?,
        title: row.get(2)?,
        gate: row.get(3)?,
        requested_at: row.get(4)?,
        decision: row.get(5)?,
        decided_by: row.get(6)?,
        reason: row.get(7)?,
        decided_at: row.get(8)?,
        expires_at: row.get(9)?,
        version: row.get(10)?,
    })
}

/// Requests waiting for an operator, oldest first.
pub fn pending(conn: &Connection) -> Result<Vec<Approval>> {
    all_rows(
        conn,
        &format!(
            "{SELECT} WHERE a.status = 'approval_required' ORDER BY p.requested_at, p.assignment_id"
        ),
        [],
        from_row,
    )
}

pub fn get(conn: &Connection, assignment_id: &str) -> Result<Option<Approval>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE p.assignment_id = ?1"))?;
    Ok(stmt.query_row([assignment_id], from_row).optional()?)
}

/// Approved assignments whose approval ran out before `now` and that no
/// worker has claimed.
pub fn lapsed(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<String>> {
    all_rows(
        conn,
        "SELECT p.assignment_id FROM approvals p JOIN assignments a ON a.assignment_id = p.assignment_id \
         WHERE a.status = 'approved' AND p.expires_at IS NOT NULL AND p.expires_at < ?1",
        [rfc3339(now)],
        |row| row.get(0),
    )
}
