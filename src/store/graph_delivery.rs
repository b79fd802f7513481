//! The provenance graph's delivery state: a cursor over the outbox. The
//! graph writer takes the events after it in queue order, writes them in
//! one Neo4j transaction, and the engine moves the cursor past them. One
//! event the graph refuses (a statement error, never an outage) is listed
//! in `graph_refused` and passed over, so it cannot hold the rest back.

use super::all_rows;
use super::outbox::{OutboxEvent, RetryPolicy};
use crate::domain::delivery::backoff_seconds;
use crate::domain::time::rfc3339;
use crate::error::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

/// The longest wait between two attempts at the graph.
pub const GRAPH_RETRY_MAX_SECONDS: u64 = 60;

/// What one graph write did, as the writer reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphOutcome {
    /// Every event through `through` is in the graph, but for `refused`
    /// (queue position, the graph's error), which it will never take.
    Written {
        through: i64,
        refused: Vec<(i64, String)>,
    },
    /// Neo4j could not be reached, or the transaction failed for a reason
    /// that may pass: the same events are tried again after a backoff.
    Failed(String),
}

/// Where the graph stands, for the snapshot and `outbox` commands.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GraphSummary {
    /// Every event at or below this queue position is in the graph.
    pub delivered_seq: i64,
    /// Events not written yet.
    pub pending: u64,
    /// Events the graph refused.
    pub refused: u64,
    /// Creation time of the oldest event not written yet (the graph's lag).
    pub oldest_pending_at: Option<String>,
    /// Failed attempts at the next batch since the last success.
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub last_success_at: Option<String>,
}

/// The next events for the graph, in queue order, unless a failed
/// attempt's backoff is still running at `now`.
pub fn due(conn: &Connection, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEvent>> {
    let state = state(conn)?;
    if state
        .next_attempt_at
        .is_some_and(|at| at.as_str() > rfc3339(now).as_str())
    {
        return Ok(Vec::new());
    }
    super::outbox::after(conn, state.delivered_seq, limit)
}

/// Records a write's outcome. A write that reports a position behind the
/// cursor (a second writer, or one from before a restart) changes nothing.
pub fn record(
    conn: &Connection,
    outcome: &GraphOutcome,
    policy: RetryPolicy,
    now: DateTime<Utc>,
) -> Result<()> {
    let at = rfc3339(now);
    match outcome {
        GraphOutcome::Written { through, refused } => {
            let mut refuse = conn.prepare_cached(
                "INSERT INTO graph_refused (seq, error, at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (seq) DO NOTHING",
            )?;
            for (seq, error) in refused {
                refuse.execute(params![seq, error, at])?;
            }
            conn.prepare_cached(
                "UPDATE graph_delivery SET delivered_seq = MAX(delivered_seq, ?1), attempts = 0, \
                 next_attempt_at = NULL, last_error = NULL, last_success_at = ?2",
            )?
            .execute(params![through, at])?;
        }
        GraphOutcome::Failed(error) => {
            let attempts = state(conn)?.attempts + 1;
            // The graph is this program's own record: an outage of any
            // length is waited out, never dead-lettered, and it is tried
            // at least every minute, so it catches up soon after.
            let cap = policy.max_seconds.min(GRAPH_RETRY_MAX_SECONDS);
            let wait = backoff_seconds(attempts, policy.base_seconds.min(cap), cap, "graph");
            let next = rfc3339(now + Duration::seconds(wait as i64));
            conn.prepare_cached(
                "UPDATE graph_delivery SET attempts = ?1, next_attempt_at = ?2, last_error = ?3",
            )?
            .execute(params![attempts, next, error])?;
        }
    }
    Ok(())
}

/// The summary with what it counts left out: the one row of the cursor,
/// which is all a writer's round and a failed attempt need (counting every
/// pending event there cost a scan of the backlog each time).
fn state(conn: &Connection) -> Result<GraphSummary> {
    Ok(conn.query_row(
        "SELECT delivered_seq, attempts, next_attempt_at, last_error, last_success_at \
         FROM graph_delivery WHERE id = 1",
        [],
        |row| {
            Ok(GraphSummary {
                delivered_seq: row.get(0)?,
                attempts: row.get(1)?,
                next_attempt_at: row.get(2)?,
                last_error: row.get(3)?,
                last_success_at: row.get(4)?,
                ..GraphSummary::default()
            })
        },
    )?)
}

pub fn summary(conn: &Connection) -> Result<GraphSummary> {
    let mut summary = state(conn)?;
    // Counted on `outbox_seq`, and the oldest read from the first row only:
    // over the rows themselves every snapshot read them all.
    let (pending, oldest): (u64, Option<String>) = conn.query_row(
        "SELECT COUNT(*), (SELECT created_at FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT 1) \
         FROM outbox WHERE seq > ?1",
        [summary.delivered_seq],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    summary.pending = pending;
    summary.oldest_pending_at = oldest;
    summary.refused = conn.query_row("SELECT COUNT(*) FROM graph_refused", [], |row| row.get(0))?;
    Ok(summary)
}

/// The events the graph refused, newest first, with its errors.
pub fn refused(conn: &Connection, limit: usize) -> Result<Vec<(i64, String, String)>> {
    all_rows(
        conn,
        "SELECT seq, error, at FROM graph_refused ORDER BY seq DESC LIMIT ?1",
        [limit as i64],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::outbox::tests::{POLICY, envelope};

    fn now() -> DateTime<Utc> {
        "2026-11-30T12:00:00Z".parse().unwrap()
    }

    fn queue(store: &mut Store, keys: &[&str]) {
        store
            .write(|tx| {
                for key in keys {
                    crate::store::outbox::enqueue(tx, &envelope(key), now())?;
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_cursor_moves_past_written_and_refused_events_and_never_back() {
        let mut store = Store::in_memory().unwrap();
        queue(&mut store, &["a", "b", "c"]);
        let due: Vec<i64> = due(store.conn(), now(), 10)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(due, [1, 2, 3]);
        let written = GraphOutcome::Written {
            through: 2,
            refused: vec![(2, "Neo.ClientError.Statement.SyntaxError".into())],
        };
        report(&mut store, written, now());
        report(&mut store, written_through(1), now());
        let s = summary(store.conn()).unwrap();
        assert_eq!((s.delivered_seq, s.pending, s.refused), (2, 1, 1));
        assert_eq!(refused(store.conn(), 5).unwrap()[0].0, 2);
        let due: Vec<i64> = due_now(&store, 10);
        assert_eq!(due, [3], "a refused event is passed over, not retried");
    }

    #[test]
    fn what_is_behind_the_cursor_is_counted_exactly_across_gaps_in_the_queue() {
        let mut store = Store::in_memory().unwrap();
        // A key queued twice is ignored but still uses up a queue position.
        queue(&mut store, &["a", "b", "a", "c"]);
        let s = summary(store.conn()).unwrap();
        assert_eq!((s.pending, s.oldest_pending_at.is_some()), (3, true));
        report(&mut store, written_through(1), now());
        assert_eq!(summary(store.conn()).unwrap().pending, 2);
        report(&mut store, written_through(99), now());
        let s = summary(store.conn()).unwrap();
        assert_eq!((s.pending, s.oldest_pending_at), (0, None));
    }

    /// Records the writer's report of `outcome` at `at`.
    fn report(store: &mut Store, outcome: GraphOutcome, at: DateTime<Utc>) {
        store.write(|tx| record(tx, &outcome, POLICY, at)).unwrap();
    }

    /// The graph took every event through `seq`, refusing none.
    fn written_through(seq: i64) -> GraphOutcome {
        GraphOutcome::Written {
            through: seq,
            refused: vec![],
        }
    }

    fn due_now(store: &Store, limit: usize) -> Vec<i64> {
        due(store.conn(), now(), limit)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    #[test]
    fn a_failure_backs_off_without_ever_dead_lettering_and_a_success_clears_it() {
        let mut store = Store::in_memory().unwrap();
        queue(&mut store, &["a"]);
        for _ in 0..5 {
            let failed = GraphOutcome::Failed("connection refused".into());
            report(&mut store, failed, now());
        }
        let s = summary(store.conn()).unwrap();
        assert_eq!((s.attempts, s.pending), (5, 1), "{s:?}");
        assert_eq!(s.last_error.as_deref(), Some("connection refused"));
        assert!(due_now(&store, 10).is_empty(), "waiting for its backoff");
        let later = now() + Duration::seconds(POLICY.max_seconds as i64 + 1);
        assert_eq!(due(store.conn(), later, 10).unwrap().len(), 1);
        report(&mut store, written_through(1), later);
        let s = summary(store.conn()).unwrap();
        assert_eq!((s.attempts, s.pending, s.last_error), (0, 0, None));
        assert!(s.last_success_at.is_some());
    }
}
