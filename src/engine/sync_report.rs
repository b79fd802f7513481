//! What the sync edge tells the engine (the engine's input from the edge
//! that talks to AssistX, as `Command` is its input from clients), and what
//! of it waits to be recorded. It lives here so the engine depends on
//! nothing of the edge.

use super::snapshot::Health;
use crate::domain::delivery::Verdict;
use crate::store::Store;
use crate::store::graph_delivery::{self, GraphOutcome};
use crate::store::outbox::{self, OutboxEvent, RetryPolicy};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// What the sync edge learned, for the engine to record.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Delivery attempts and what AssistX answered.
    pub deliveries: Vec<(OutboxEvent, Verdict)>,
    /// A dependency's health as last seen.
    pub health: Option<Health>,
    /// What a write to the provenance graph did.
    pub graph: Option<GraphOutcome>,
}

/// The most verdicts carried before the engine commits them itself. A
/// heartbeat that comes meanwhile commits them with its own and pays for
/// their pages; one that comes during the engine's own commit waits for
/// it. 2 to 8 measured alike; carrying all of a round made a heartbeat's
/// p99 2.5 times its own (docs/benchmarks.md).
const CARRIED_AT_MOST: usize = 4;

/// What the sync edge reported and the engine has not recorded yet. The
/// engine records one unit at a time when no command waits, in the store's
/// carried transaction (`store/carry.rs`), so a heartbeat arriving in the
/// middle of a drain waits for one verdict, not for a report.
#[derive(Debug, Default)]
pub struct Unrecorded {
    deliveries: VecDeque<(OutboxEvent, Verdict)>,
    graph: VecDeque<GraphOutcome>,
    /// Why a unit could not be recorded since the reports last settled.
    failure: Option<String>,
}

impl Unrecorded {
    /// Queues a report's verdicts and graph outcome.
    pub fn push(&mut self, report: SyncReport) {
        self.deliveries.extend(report.deliveries);
        self.graph.extend(report.graph);
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty() && self.graph.is_empty()
    }

    /// Records the next unit; committed at once when it is the last, or
    /// when [`CARRIED_AT_MOST`] wait.
    pub fn record_next(&mut self, store: &mut Store, policy: RetryPolicy, now: DateTime<Utc>) {
        let recorded = if let Some((event, verdict)) = self.deliveries.pop_front() {
            store.carry(|tx| outbox::record_attempt(tx, &event, &verdict, policy, now))
        } else if let Some(outcome) = self.graph.pop_front() {
            store.carry(|tx| graph_delivery::record(tx, &outcome, policy, now))
        } else {
            return;
        };
        let committed = if self.is_empty() || store.carried() >= CARRIED_AT_MOST {
            store.commit_carried()
        } else {
            Ok(())
        };
        if let Err(e) = recorded.and(committed) {
            self.failure.get_or_insert(e.to_string());
        }
    }

    /// Once every queued unit is recorded and committed: whether all of
    /// them were, or why not. `None` while some still wait.
    pub fn settled(&mut self, store: &mut Store) -> Option<std::result::Result<(), String>> {
        if !self.is_empty() || store.carrying() {
            return None;
        }
        match self.failure.take().or(store.take_carry_loss()) {
            None => Some(Ok(())),
            Some(why) => Some(Err(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::tests::{POLICY, envelope};

    /// A file store with `n` events waiting, and a report that says each
    /// was delivered.
    fn waiting(n: usize) -> (tempfile::TempDir, Store, SyncReport) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cache.sqlite3")).unwrap();
        for i in 0..n {
            outbox::enqueue(store.conn(), &envelope(&format!("k{i}")), Utc::now()).unwrap();
        }
        let events = outbox::list(store.conn(), None, false, n).unwrap();
        let report = SyncReport {
            deliveries: events
                .into_iter()
                .map(|e| (e, Verdict::Delivered))
                .collect(),
            ..Default::default()
        };
        (dir, store, report)
    }

    /// Delivered, as another connection sees it: committed.
    fn delivered(dir: &tempfile::TempDir) -> i64 {
        let reader = Store::open_read_only(&dir.path().join("cache.sqlite3")).unwrap();
        reader
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE status = 'delivered'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn verdicts_commit_in_fours_with_a_command_or_with_the_last() {
        let (dir, mut store, report) = waiting(CARRIED_AT_MOST + 2);
        let mut unrecorded = Unrecorded::default();
        unrecorded.push(report);
        for _ in 1..CARRIED_AT_MOST {
            unrecorded.record_next(&mut store, POLICY, Utc::now());
        }
        assert_eq!(delivered(&dir), 0, "carried");
        assert_eq!(unrecorded.settled(&mut store), None);
        unrecorded.record_next(&mut store, POLICY, Utc::now());
        assert_eq!(
            delivered(&dir),
            CARRIED_AT_MOST as i64,
            "committed by the engine"
        );
        unrecorded.record_next(&mut store, POLICY, Utc::now());
        store.write(|_| Ok(())).unwrap();
        assert_eq!(
            delivered(&dir),
            CARRIED_AT_MOST as i64 + 1,
            "with a command"
        );
        assert_eq!(unrecorded.settled(&mut store), None, "one still waits");
        unrecorded.record_next(&mut store, POLICY, Utc::now());
        assert!(unrecorded.is_empty());
        assert_eq!(delivered(&dir), CARRIED_AT_MOST as i64 + 2, "with the last");
        assert_eq!(unrecorded.settled(&mut store), Some(Ok(())));
    }

    /// A verdict that cannot be written is reported as such, and its event
    /// is left as it was (due, to be sent again).
    #[test]
    fn a_verdict_not_recorded_is_said_so_and_changes_nothing() {
        let (dir, mut store, report) = waiting(1);
        store
            .conn()
            .pragma_update(None, "query_only", true)
            .unwrap();
        let mut unrecorded = Unrecorded::default();
        unrecorded.push(report);
        unrecorded.record_next(&mut store, POLICY, Utc::now());
        let why = unrecorded.settled(&mut store).unwrap().unwrap_err();
        assert!(why.contains("readonly"), "{why}");
        store
            .conn()
            .pragma_update(None, "query_only", false)
            .unwrap();
        assert_eq!(delivered(&dir), 0);
        let due = outbox::due_heads(store.conn(), Utc::now(), 10).unwrap();
        assert_eq!(due.len(), 1);
    }
}
