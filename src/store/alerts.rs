//! What the fleet's alerts are judged on (`domain::alerts`), in three
//! small reads: each uses an index or reads only the leased rows.

use super::all_rows;
use crate::domain::alerts::Facts;
use crate::domain::time::{parse_utc, rfc3339};
use crate::domain::worker::worker_key;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

/// The facts at `now`, with the leases claimed before `held_since` (the
/// only ones that can be stuck).
pub fn facts(conn: &Connection, held_since: DateTime<Utc>) -> Result<Facts> {
    let leases = all_rows(
        conn,
        "SELECT node_id, worker_id, assignment_id, claimed_at FROM assignments \
         WHERE status IN ('claimed', 'running') AND claimed_at < ?1 \
         ORDER BY node_id, worker_id, claimed_at",
        [rfc3339(held_since)],
        |row| {
            let node: Option<String> = row.get(0)?;
            let worker: Option<String> = row.get(1)?;
            let claimed_at: String = row.get(3)?;
            Ok((
                worker_key(
                    node.as_deref().unwrap_or("local"),
                    worker.as_deref().unwrap_or_default(),
                ),
                row.get::<_, String>(2)?,
                claimed_at,
            ))
        },
    )?
    .into_iter()
    .filter_map(|(worker, id, at)| Some((worker, id, parse_utc(&at)?)))
    .collect();
    // Waiting for a worker, not for an operator: a gated task is the
    // approvals' business.
    let oldest_waiting = conn
        .query_row(
            "SELECT assignment_id, created_at FROM assignments \
             WHERE status IN ('recommended', 'approved') ORDER BY created_at LIMIT 1",
            [],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
        )
        .optional()?
        .and_then(|(id, at)| Some((id, parse_utc(&at)?)));
    let breakers_open = all_rows(
        conn,
        "SELECT node_id, worker_id FROM workers WHERE breaker_opened_at IS NOT NULL \
         ORDER BY node_id, worker_id",
        [],
        |row| {
            let node: String = row.get(0)?;
            let worker: String = row.get(1)?;
            Ok(worker_key(&node, &worker))
        },
    )?;
    Ok(Facts {
        waiting: super::assignments::waiting(conn)?,
        oldest_waiting,
        leases,
        breakers_open,
        ..Facts::default()
    })
}
