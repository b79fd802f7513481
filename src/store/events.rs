//! The inbound mirror: events other systems sent us, and what processing
//! each idempotency key got. Inbound events never reach the outbox.

use super::all_rows;
use crate::domain::envelope::InboundEvent;
use crate::domain::time::rfc3339;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stored {
    pub idempotency_key: String,
    pub event_id: Option<String>,
    pub event_type: String,
    pub body: String,
    pub received_at: String,
    pub action: Option<String>,
    pub reason: Option<String>,
    pub runs: u32,
}

/// What happened to an event handed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mirrored {
    New,
    /// The same key with the same body: nothing to do.
    Duplicate,
    /// The same key with another body: the first one stays.
    Conflict,
}

pub fn mirror(conn: &Connection, event: &InboundEvent, now: DateTime<Utc>) -> Result<Mirrored> {
    let body = event.body.to_string();
    let existing: Option<String> = conn
        .prepare_cached("SELECT body FROM inbound_events WHERE idempotency_key = ?1")?
        .query_row([&event.idempotency_key], |row| row.get(0))
        .optional()?;
    match existing {
        Some(old) if old == body => Ok(Mirrored::Duplicate),
        Some(_) => Ok(Mirrored::Conflict),
        None => {
            conn.prepare_cached(
                "INSERT INTO inbound_events (idempotency_key, event_id, event_type, body, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                event.idempotency_key,
                event.event_id,
                event.event_type,
                body,
                rfc3339(now)
            ])?;
            Ok(Mirrored::New)
        }
    }
}

/// Records (or, on an explicit replay, updates) the processing result.
pub fn record_processing(
    conn: &Connection,
    key: &str,
    action: &str,
    reason: Option<&str>,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO inbound_processing (idempotency_key, action, reason, detail, processed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (idempotency_key) DO UPDATE SET \
             action = excluded.action, reason = excluded.reason, detail = excluded.detail, \
             processed_at = excluded.processed_at, runs = runs + 1",
    )?
    .execute(params![key, action, reason, detail, rfc3339(now)])?;
    Ok(())
}

/// Which stored events a list takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chosen<'a> {
    /// Those already processed too (otherwise only the others).
    pub include_processed: bool,
    pub event_type: Option<&'a str>,
    /// The newest first (otherwise in arrival order).
    pub newest_first: bool,
}

/// Stored events as `chosen` says, with what processing each one got.
pub fn list(conn: &Connection, chosen: Chosen, limit: usize) -> Result<Vec<Stored>> {
    let order = if chosen.newest_first { "DESC" } else { "ASC" };
    all_rows(
        conn,
        &format!(
            "SELECT e.idempotency_key, e.event_id, e.event_type, e.body, e.received_at, p.action, \
                 p.reason, COALESCE(p.runs, 0) \
             FROM inbound_events e LEFT JOIN inbound_processing p USING (idempotency_key) \
             WHERE (?1 OR p.idempotency_key IS NULL) AND (?2 IS NULL OR e.event_type = ?2) \
             ORDER BY e.rowid {order} LIMIT ?3"
        ),
        params![chosen.include_processed, chosen.event_type, limit as i64],
        |row| {
            Ok(Stored {
                idempotency_key: row.get(0)?,
                event_id: row.get(1)?,
                event_type: row.get(2)?,
                body: row.get(3)?,
                received_at: row.get(4)?,
                action: row.get(5)?,
                reason: row.get(6)?,
                runs: row.get(7)?,
            })
        },
    )
}

/// What processing an event got, for a list of the latest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Processing {
    pub idempotency_key: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub action: String,
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub processed_at: String,
    /// How many times it was processed (an explicit replay adds one).
    pub runs: u32,
}

/// The latest processing results, newest first.
pub fn processing(conn: &Connection, limit: usize) -> Result<Vec<Processing>> {
    all_rows(
        conn,
        "SELECT p.idempotency_key, e.event_id, e.event_type, p.action, p.reason, p.detail, \
             p.processed_at, p.runs \
         FROM inbound_processing p LEFT JOIN inbound_events e USING (idempotency_key) \
         ORDER BY p.processed_at DESC, p.rowid DESC LIMIT ?1",
        params![limit as i64],
        |row| {
            Ok(Processing {
                idempotency_key: row.get(0)?,
                event_id: row.get(1)?,
                event_type: row.get(2)?,
                action: row.get(3)?,
                reason: row.get(4)?,
                detail: row.get(5)?,
                processed_at: row.get(6)?,
                runs: row.get(7)?,
            })
        },
    )
}

/// Stored events of each type (all of them, processed or not).
pub fn count_by_type(conn: &Connection) -> Result<Vec<(String, u64)>> {
    all_rows(
        conn,
        "SELECT event_type, COUNT(*) FROM inbound_events GROUP BY event_type ORDER BY event_type",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
}

pub fn count_unprocessed(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM inbound_events e WHERE NOT EXISTS \
         (SELECT 1 FROM inbound_processing p WHERE p.idempotency_key = e.idempotency_key)",
        [],
        |row| row.get(0),
    )?)
}
