//! The cached backlog: the latest normalized candidate per task, so a pass
//! can decide a task again without asking AssistX.

use crate::domain::candidate::Candidate;
use crate::domain::time::rfc3339;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

/// Stores candidates' JSON (`(task_id, body)`, see [`super::to_json`]); a
/// no-op for one that is unchanged.
pub fn put(conn: &Connection, rows: &[(&str, &str)], now: DateTime<Utc>) -> Result<()> {
    let now = rfc3339(now);
    super::insert_many(
        conn,
        "INSERT INTO candidates (task_id, body, updated_at)",
        3,
        "ON CONFLICT (task_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at \
         WHERE body <> excluded.body",
        rows,
        |(task_id, body), values| {
            values.push(task_id)?;
            values.push(body)?;
            values.push(&now)
        },
    )?;
    Ok(())
}

pub fn get(conn: &Connection, task_id: &str) -> Result<Option<Candidate>> {
    let mut stmt = conn.prepare_cached("SELECT body FROM candidates WHERE task_id = ?1")?;
    let body: Option<String> = stmt.query_row([task_id], |row| row.get(0)).optional()?;
    Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
}

/// Candidates whose tasks are not held, finished or rejected: what a tick
/// without a fresh backlog decides again.
pub fn undecided_or_waiting(conn: &Connection) -> Result<Vec<Candidate>> {
    let mut stmt = conn.prepare_cached(
        // The held tasks are gathered once (SQLite indexes the subquery's
        // result for the pass), so assignments need no index on task_id.
        "SELECT body FROM candidates WHERE task_id NOT IN ( \
             SELECT task_id FROM assignments WHERE \
                 status IN ('claimed', 'running', 'done', 'approved') OR \
                 (status IN ('blocked', 'released', 'expired', 'failed') AND requeue = 0)) \
         ORDER BY task_id",
    )?;
    let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
    let mut out = Vec::new();
    for body in rows {
        if let Ok(candidate) = serde_json::from_str(&body?) {
            out.push(candidate);
        }
    }
    Ok(out)
}
