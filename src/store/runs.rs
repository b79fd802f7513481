//! Scheduler run summaries.

use super::all_rows;
use crate::domain::time::rfc3339;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunCounts {
    pub candidates: u64,
    pub recommended: u64,
    pub approval_required: u64,
    pub blocked: u64,
    /// Decided again with the same result, or held (claimed, approved...).
    pub unchanged: u64,
    pub expired: u64,
    pub stale_workers: u64,
    /// New candidates left for a later pass: the queue was full.
    #[serde(default)]
    pub deferred: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub run_id: i64,
    pub trigger: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(flatten)]
    pub counts: RunCounts,
    pub note: Option<String>,
}

pub fn record(
    conn: &Connection,
    trigger: &str,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    counts: &RunCounts,
    note: Option<&str>,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO scheduler_runs (trigger, started_at, finished_at, candidates, recommended, \
             approval_required, blocked, unchanged, expired, stale_workers, note, deferred) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        trigger,
        rfc3339(started),
        rfc3339(finished),
        counts.candidates,
        counts.recommended,
        counts.approval_required,
        counts.blocked,
        counts.unchanged,
        counts.expired,
        counts.stale_workers,
        note,
        counts.deferred
    ])?;
    Ok(conn.last_insert_rowid())
}

pub fn recent(conn: &Connection, limit: usize) -> Result<Vec<Run>> {
    all_rows(
        conn,
        "SELECT run_id, trigger, started_at, finished_at, candidates, recommended, approval_required, \
             blocked, unchanged, expired, stale_workers, note, deferred FROM scheduler_runs \
         ORDER BY run_id DESC LIMIT ?1",
        [limit as i64],
        |row| {
            Ok(Run {
                run_id: row.get(0)?,
                trigger: row.get(1)?,
                started_at: row.get(2)?,
                finished_at: row.get(3)?,
                counts: RunCounts {
                    candidates: row.get(4)?,
                    recommended: row.get(5)?,
                    approval_required: row.get(6)?,
                    blocked: row.get(7)?,
                    unchanged: row.get(8)?,
                    expired: row.get(9)?,
                    stale_workers: row.get(10)?,
                    deferred: row.get(12)?,
                },
                note: row.get(11)?,
            })
        },
    )
}
