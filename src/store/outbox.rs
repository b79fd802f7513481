//! The outbox: authored events waiting to be written back to AssistX. The
//! body is serialized once, at enqueue, so every retry sends the same bytes.

use super::all_rows;
use crate::domain::delivery::{DeliveryStatus, Verdict, backoff_seconds};
use crate::domain::envelope::Sealed;
use crate::domain::time::rfc3339;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxEvent {
    pub seq: i64,
    pub idempotency_key: String,
    pub event_id: String,
    pub event_type: String,
    pub destination: String,
    pub subject_id: String,
    pub body: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub pending: u64,
    pub failed: u64,
    pub delivered: u64,
    pub conflict: u64,
    pub dead_letter: u64,
    /// Creation time of the oldest event not yet delivered (the write-back lag).
    pub oldest_pending_at: Option<String>,
    /// The most recent error of an undelivered event.
    pub last_error: Option<String>,
}

/// Retry policy of the dispatcher.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_seconds: u64,
    pub max_seconds: u64,
}

/// Queues a sealed event. Returns false when its idempotency key is
/// already queued (the first body stays; nothing is rewritten).
pub fn enqueue(conn: &Connection, event: &Sealed, now: DateTime<Utc>) -> Result<bool> {
    Ok(enqueue_all(conn, &[event], now)? == 1)
}

/// Queues sealed events in order; returns how many were new.
pub fn enqueue_all(conn: &Connection, events: &[&Sealed], now: DateTime<Utc>) -> Result<usize> {
    let now = rfc3339(now);
    super::insert_many(
        conn,
        "INSERT INTO outbox (idempotency_key, event_id, event_type, subject_id, body, task_key, \
             created_at, updated_at)",
        8,
        "ON CONFLICT (idempotency_key) DO NOTHING",
        events,
        |event, values| {
            for value in [
                &event.idempotency_key,
                &event.event_id,
                &event.event_type,
                &event.subject_id,
                &event.body,
                &event.task_key,
                &now,
                &now,
            ] {
                values.push(value)?;
            }
            Ok(())
        },
    )
}

const COLUMNS: &str = "seq, idempotency_key, event_id, event_type, destination, subject_id, body, status, \
     attempts, next_attempt_at, last_error, created_at, updated_at, delivered_at";

fn from_row(row: &Row) -> rusqlite::Result<OutboxEvent> {
    Ok(OutboxEvent {
        seq: row.get(0)?,
        idempotency_key: row.get(1)?,
        event_id: row.get(2)?,
        event_type: row.get(3)?,
        destination: row.get(4)?,
        subject_id: row.get(5)?,
        body: row.get(6)?,
        status: row.get(7)?,
        attempts: row.get(8)?,
        next_attempt_at: row.get(9)?,
        last_error: row.get(10)?,
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
        delivered_at: row.get(13)?,
    })
}

/// Events in queue order (the newest first with `newest_first`),
/// optionally of one status.
pub fn list(
    conn: &Connection,
    status: Option<DeliveryStatus>,
    newest_first: bool,
    limit: usize,
) -> Result<Vec<OutboxEvent>> {
    let status: Option<&str> = status.map(Into::into);
    let order = if newest_first { "DESC" } else { "ASC" };
    all_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM outbox WHERE ?1 IS NULL OR status = ?1 ORDER BY seq {order} LIMIT ?2"
        ),
        params![status, limit as i64],
        from_row,
    )
}

/// One event by its queue position.
pub fn get(conn: &Connection, seq: i64) -> Result<OutboxEvent> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE seq = ?1"))?;
    stmt.query_row([seq], from_row)
        .optional()?
        .ok_or_else(|| Error::NotFound {
            what: "outbox event",
            id: seq.to_string(),
        })
}

/// Up to `limit` events before `before` (from the newest when `None`),
/// newest first, only those whose type, subject, status or error contains
/// `needle` (ASCII case ignored) when given.
pub fn older(
    conn: &Connection,
    before: Option<i64>,
    needle: Option<&str>,
    limit: usize,
) -> Result<Vec<OutboxEvent>> {
    all_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM outbox WHERE seq < ?1 \
               AND (?2 IS NULL OR instr(lower(event_type || ' ' || subject_id || ' ' || status \
                   || ' ' || coalesce(last_error, '')), lower(?2)) > 0) \
             ORDER BY seq DESC LIMIT ?3"
        ),
        params![before.unwrap_or(i64::MAX), needle, limit as i64],
        from_row,
    )
}

/// The newest event of `event_type` (about `subject_id` when given): what
/// a command just wrote, found from the end of the queue.
pub fn newest(
    conn: &Connection,
    event_type: &str,
    subject_id: Option<&str>,
) -> Result<Option<OutboxEvent>> {
    Ok(all_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM outbox WHERE event_type = ?1 AND (?2 IS NULL OR subject_id = ?2) \
             ORDER BY seq DESC LIMIT 1"
        ),
        params![event_type, subject_id],
        from_row,
    )?
    .pop())
}

/// Events due for a delivery attempt at `now`, oldest first.
pub fn due(conn: &Connection, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEvent>> {
    all_rows(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM outbox WHERE status IN ('pending', 'failed') \
             AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) ORDER BY seq LIMIT ?2"
        ),
        params![rfc3339(now), limit as i64],
        from_row,
    )
}

/// The next event to deliver for each task (for an event about no task,
/// its subject), when it is due: the events about one task go out in the
/// order they were written, and one waiting for its backoff holds back the
/// ones after it. At most `limit`, oldest first.
pub fn due_heads(conn: &Connection, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEvent>> {
    all_rows(
        conn,
        &due_heads_query(),
        params![rfc3339(now), limit as i64],
        from_row,
    )
}

/// What [`due_heads`] asks. `outbox_undelivered` is named because the
/// planner would rather take `outbox_due` and sort every due row; this one
/// walks them in queue order, so the LIMIT ends the walk. Each head's
/// earlier events of the same task are one probe of `outbox_task_order`
/// away.
fn due_heads_query() -> String {
    format!(
        "SELECT {COLUMNS} FROM outbox o INDEXED BY outbox_undelivered \
         WHERE o.status IN ('pending', 'failed') \
           AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?1) \
           AND NOT EXISTS (SELECT 1 FROM outbox e \
               WHERE e.status IN ('pending', 'failed') AND e.seq < o.seq \
                 AND e.task_key = o.task_key) \
         ORDER BY o.seq LIMIT ?2"
    )
}

/// Events after queue position `seq`, in queue order, whatever their
/// delivery to AssistX: the graph's own cursor reads them.
pub fn after(conn: &Connection, seq: i64, limit: usize) -> Result<Vec<OutboxEvent>> {
    all_rows(
        conn,
        &format!("SELECT {COLUMNS} FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
        params![seq, limit as i64],
        from_row,
    )
}

pub fn summary(conn: &Connection) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM outbox GROUP BY status")?;
    let counts = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?))
    })?;
    for row in counts {
        let (status, count) = row?;
        match status.as_str() {
            "pending" => summary.pending = count,
            "failed" => summary.failed = count,
            "delivered" => summary.delivered = count,
            "conflict" => summary.conflict = count,
            _ => summary.dead_letter = count,
        }
    }
    let (oldest, last_error) = conn.query_row(
        "SELECT MIN(created_at), (SELECT last_error FROM outbox WHERE status IN ('pending', 'failed', 'dead_letter') \
             AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1) \
         FROM outbox WHERE status IN ('pending', 'failed')",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    summary.oldest_pending_at = oldest;
    summary.last_error = last_error;
    Ok(summary)
}

/// A dead-lettered event goes back to pending for another round of
/// attempts; its body is untouched, so AssistX gets the same bytes. Any
/// other status is refused: a delivered event is final, an undelivered one
/// is already being tried.
pub fn retry_dead_letter(conn: &Connection, seq: i64, now: DateTime<Utc>) -> Result<()> {
    let event = get(conn, seq)?;
    if event.status != "dead_letter" {
        return Err(crate::error::Error::IllegalTransition {
            assignment_id: format!("outbox:{seq}"),
            from: event.status,
            event: "retry_outbox".into(),
            why: "only a dead-lettered event is retried".into(),
        });
    }
    let mut stmt = conn.prepare_cached(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = NULL, \
             updated_at = ?2 WHERE seq = ?1 AND status = 'dead_letter'",
    )?;
    stmt.execute(params![seq, rfc3339(now)])?;
    Ok(())
}

/// Records one delivery attempt's verdict on an undelivered event.
pub fn record_attempt(
    conn: &Connection,
    event: &OutboxEvent,
    verdict: &Verdict,
    policy: RetryPolicy,
    now: DateTime<Utc>,
) -> Result<()> {
    let attempts = event.attempts + 1;
    let at = rfc3339(now);
    let (status, error, next): (&str, Option<&str>, Option<String>) = match verdict {
        Verdict::Delivered => ("delivered", None, None),
        Verdict::Conflict(body) => ("conflict", Some(body), None),
        Verdict::DeadLetter(body) => ("dead_letter", Some(body), None),
        Verdict::Unauthorized(error) => {
            let later = now + Duration::seconds(policy.max_seconds as i64);
            ("failed", Some(error), Some(rfc3339(later)))
        }
        Verdict::Retry(error) if attempts >= policy.max_attempts => {
            ("dead_letter", Some(error), None)
        }
        Verdict::Retry(error) => {
            let wait = backoff_seconds(
                attempts,
                policy.base_seconds,
                policy.max_seconds,
                &event.idempotency_key,
            );
            (
                "failed",
                Some(error),
                Some(rfc3339(now + Duration::seconds(wait as i64))),
            )
        }
    };
    let delivered_at = matches!(status, "delivered" | "conflict").then_some(at.as_str());
    let mut stmt = conn.prepare_cached(
        "UPDATE outbox SET status = ?2, attempts = ?3, last_error = ?4, next_attempt_at = ?5, \
             updated_at = ?6, delivered_at = ?7 WHERE seq = ?1 AND status IN ('pending', 'failed')",
    )?;
    stmt.execute(params![
        event.seq,
        status,
        attempts,
        error,
        next,
        at,
        delivered_at
    ])?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    /// A decision-shaped event about task T1 with key `key`.
    pub(crate) fn envelope(key: &str) -> Sealed {
        crate::domain::envelope::Envelope::about_task(
            "assign.assignment.recommended",
            key.into(),
            "T1",
            crate::domain::envelope::raw(&json!({"task_id": "T1"})),
            Utc::now(),
        )
        .seal()
        .unwrap()
    }

    /// An event with key `key` about task `task`.
    fn about(task: &str, key: &str) -> Sealed {
        crate::domain::envelope::Envelope::about_task(
            "assign.assignment.recommended",
            key.into(),
            task,
            crate::domain::envelope::raw(&json!({ "task_id": task })),
            Utc::now(),
        )
        .seal()
        .unwrap()
    }

    fn due_keys(store: &Store, now: DateTime<Utc>, limit: usize) -> Vec<String> {
        due_heads(store.conn(), now, limit)
            .unwrap()
            .into_iter()
            .map(|e| e.idempotency_key)
            .collect()
    }

    #[test]
    fn due_heads_are_each_tasks_first_undelivered_event_in_queue_order() {
        let store = Store::open(&tempfile::tempdir().unwrap().path().join("o.db")).unwrap();
        let now = Utc::now();
        for (task, key) in [
            ("T1", "a1"),
            ("T2", "b1"),
            ("T1", "a2"),
            ("T3", "c1"),
            ("T3", "c2"),
        ] {
            enqueue(store.conn(), &about(task, key), now).unwrap();
        }
        assert_eq!(due_keys(&store, now, 10), ["a1", "b1", "c1"]);
        assert_eq!(due_keys(&store, now, 2), ["a1", "b1"]);
        let rows = list(store.conn(), None, false, 10).unwrap();
        let row = |key: &str| rows.iter().find(|r| r.idempotency_key == key).unwrap();
        // Delivered: the task's next event is its head now.
        record_attempt(store.conn(), row("a1"), &Verdict::Delivered, POLICY, now).unwrap();
        // Waiting for its backoff: it holds back the event after it.
        let retry = Verdict::Retry("503".into());
        record_attempt(store.conn(), row("c1"), &retry, POLICY, now).unwrap();
        assert_eq!(due_keys(&store, now, 10), ["b1", "a2"]);
        let later = now + Duration::seconds(POLICY.max_seconds as i64 + 1);
        assert_eq!(due_keys(&store, later, 10), ["b1", "a2", "c1"]);
    }

    #[test]
    fn due_heads_walk_the_indexes_instead_of_sorting_the_outbox() {
        let store = Store::open(&tempfile::tempdir().unwrap().path().join("o.db")).unwrap();
        let plan: Vec<String> = store
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {}", due_heads_query()))
            .unwrap()
            .query_map(params!["", 1], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("outbox_task_order"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    /// The retry policy the store's tests use.
    pub(crate) const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base_seconds: 10,
        max_seconds: 100,
    };

    #[test]
    fn enqueue_is_idempotent_and_keeps_the_first_bytes() {
        let store = Store::in_memory().unwrap();
        let now = Utc::now();
        let first = envelope("k1");
        assert!(enqueue(store.conn(), &first, now).unwrap());
        assert!(!enqueue(store.conn(), &envelope("k1"), now).unwrap());
        let rows = list(store.conn(), None, false, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].event_id, first.event_id);
        assert_eq!(rows[0].body, first.body);
    }

    #[test]
    fn delivered_rows_are_never_rewritten() {
        let store = Store::in_memory().unwrap();
        let now = Utc::now();
        enqueue(store.conn(), &envelope("k1"), now).unwrap();
        let row = &list(store.conn(), None, false, 1).unwrap()[0];
        record_attempt(store.conn(), row, &Verdict::Delivered, POLICY, now).unwrap();
        let delivered = &list(store.conn(), Some(DeliveryStatus::Delivered), false, 1).unwrap()[0];
        assert_eq!(delivered.attempts, 1);
        assert!(delivered.delivered_at.is_some());
        // Neither the dispatcher's update nor a raw one can touch it again.
        record_attempt(
            store.conn(),
            delivered,
            &Verdict::Retry("x".into()),
            POLICY,
            now,
        )
        .unwrap();
        assert_eq!(
            list(store.conn(), Some(DeliveryStatus::Delivered), false, 1).unwrap()[0].attempts,
            1
        );
        assert!(
            store
                .conn()
                .execute("UPDATE outbox SET status = 'pending'", [])
                .is_err()
        );
        assert!(
            store
                .conn()
                .execute("UPDATE outbox SET body = 'x'", [])
                .is_err()
        );
    }

    #[test]
    fn retries_back_off_then_dead_letter() {
        let store = Store::in_memory().unwrap();
        let now = Utc::now();
        enqueue(store.conn(), &envelope("k1"), now).unwrap();
        for attempt in 1..=2 {
            let row = list(store.conn(), None, false, 1).unwrap().remove(0);
            record_attempt(
                store.conn(),
                &row,
                &Verdict::Retry("503".into()),
                POLICY,
                now,
            )
            .unwrap();
            let row = list(store.conn(), None, false, 1).unwrap().remove(0);
            assert_eq!((row.status.as_str(), row.attempts), ("failed", attempt));
            assert!(row.next_attempt_at.unwrap() > rfc3339(now));
            assert!(
                due(store.conn(), now, 10).unwrap().is_empty(),
                "not due before its time"
            );
            assert_eq!(
                due(store.conn(), now + Duration::seconds(1000), 10)
                    .unwrap()
                    .len(),
                1
            );
        }
        let row = list(store.conn(), None, false, 1).unwrap().remove(0);
        record_attempt(
            store.conn(),
            &row,
            &Verdict::Retry("503".into()),
            POLICY,
            now,
        )
        .unwrap();
        assert_eq!(
            list(store.conn(), Some(DeliveryStatus::DeadLetter), false, 1)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn conflict_counts_delivered_but_stays_visible_and_400_dead_letters_at_once() {
        let store = Store::in_memory().unwrap();
        let now = Utc::now();
        enqueue(store.conn(), &envelope("k1"), now).unwrap();
        enqueue(store.conn(), &envelope("k2"), now).unwrap();
        let rows = list(store.conn(), None, false, 2).unwrap();
        record_attempt(
            store.conn(),
            &rows[0],
            &Verdict::Conflict("other body".into()),
            POLICY,
            now,
        )
        .unwrap();
        record_attempt(
            store.conn(),
            &rows[1],
            &Verdict::DeadLetter("400: empty".into()),
            POLICY,
            now,
        )
        .unwrap();
        let s = summary(store.conn()).unwrap();
        assert_eq!((s.conflict, s.dead_letter, s.pending), (1, 1, 0));
        assert_eq!(s.last_error.as_deref(), Some("400: empty"));
        assert!(due(store.conn(), now, 10).unwrap().is_empty());
    }

    #[test]
    fn an_unknown_status_is_named_when_parsed() {
        let error = "sent".parse::<DeliveryStatus>().unwrap_err();
        assert!(
            error.contains("'sent'") && error.contains("dead_letter"),
            "{error}"
        );
    }
}
