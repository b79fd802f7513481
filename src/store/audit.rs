//! The append-only audit of every state transition and operator action,
//! refused ones included.

use super::all_rows;
use crate::domain::time::rfc3339;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// One line to append. `outcome` is `ok` or `refused`.
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: Option<&'a str>,
    pub from_status: Option<&'a str>,
    pub to_status: Option<&'a str>,
    pub refused: bool,
    pub detail: Option<&'a str>,
}

pub fn append(conn: &Connection, record: &Record, now: DateTime<Utc>) -> Result<()> {
    append_all(conn, std::slice::from_ref(record), now)
}

/// Appends lines in order, with one timestamp.
pub fn append_all(conn: &Connection, records: &[Record], now: DateTime<Utc>) -> Result<()> {
    let at = rfc3339(now);
    super::insert_many(
        conn,
        "INSERT INTO audit (at, actor, action, subject, from_status, to_status, outcome, detail)",
        8,
        "",
        records,
        |record, values| {
            values.push(&at)?;
            values.push(&record.actor)?;
            values.push(&record.action)?;
            values.push(&record.subject)?;
            values.push(&record.from_status)?;
            values.push(&record.to_status)?;
            values.push(&if record.refused { "refused" } else { "ok" })?;
            values.push(&record.detail)
        },
    )?;
    Ok(())
}

/// The newest `limit` entries, oldest first; only operator actions when
/// `operator_only` (transitions made by the engine itself are left out).
pub fn recent(conn: &Connection, limit: usize, operator_only: bool) -> Result<Vec<Entry>> {
    let mut entries = older(conn, None, None, limit, operator_only)?;
    entries.reverse();
    Ok(entries)
}

/// Up to `limit` entries before `before` (from the newest when `None`),
/// newest first, only those whose text contains `needle` (ASCII case
/// ignored) when given: a control room scrolling or searching past its
/// snapshot.
pub fn older(
    conn: &Connection,
    before: Option<i64>,
    needle: Option<&str>,
    limit: usize,
    operator_only: bool,
) -> Result<Vec<Entry>> {
    all_rows(
        conn,
        "SELECT seq, at, actor, action, subject, from_status, to_status, outcome, detail \
         FROM audit WHERE seq < ?1 AND (NOT ?2 OR actor <> 'engine') \
           AND (?3 IS NULL OR instr(lower(actor || ' ' || action || ' ' || coalesce(subject, '') \
               || ' ' || coalesce(from_status, '') || ' ' || coalesce(to_status, '') || ' ' \
               || outcome || ' ' || coalesce(detail, '')), lower(?3)) > 0) \
         ORDER BY seq DESC LIMIT ?4",
        params![
            before.unwrap_or(i64::MAX),
            operator_only,
            needle,
            limit as i64
        ],
        |row| {
            Ok(Entry {
                seq: row.get(0)?,
                at: row.get(1)?,
                actor: row.get(2)?,
                action: row.get(3)?,
                subject: row.get(4)?,
                from_status: row.get(5)?,
                to_status: row.get(6)?,
                outcome: row.get(7)?,
                detail: row.get(8)?,
            })
        },
    )
}
