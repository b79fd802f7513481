//! Reconcile (contract B): the events still pending for AssistX whose key
//! AssistX has already recorded in the graph (A8: an `:EventEnvelope` with
//! that key) are delivered, so they are not sent again; an
//! `:EventConflict` makes one a conflict. AssistX has no
//! `/api/events/status`, so the graph is the only place to ask.

use crate::domain::delivery::{DeliveryStatus, Verdict};
use crate::error::Result;
use crate::store::Store;
use crate::store::outbox::{self, OutboxEvent};
use std::collections::BTreeSet;
use std::path::Path;

/// Pending events looked up per reconcile, of each undelivered status.
const ROUND: usize = 5_000;

/// The events not yet delivered to AssistX, oldest first.
pub fn pending(database: &Path) -> Result<Vec<OutboxEvent>> {
    let store = Store::open_read_only(database)?;
    let mut pending = outbox::list(store.conn(), Some(DeliveryStatus::Pending), false, ROUND)?;
    pending.extend(outbox::list(
        store.conn(),
        Some(DeliveryStatus::Failed),
        false,
        ROUND,
    )?);
    Ok(pending)
}

pub fn keys(events: &[OutboxEvent]) -> Vec<String> {
    events.iter().map(|e| e.idempotency_key.clone()).collect()
}

/// The verdict for each event whose key AssistX recorded.
pub fn verdicts(
    pending: Vec<OutboxEvent>,
    recorded: &BTreeSet<String>,
    conflicts: &BTreeSet<String>,
) -> Vec<(OutboxEvent, Verdict)> {
    pending
        .into_iter()
        .filter_map(|event| {
            let key = &event.idempotency_key;
            let verdict = if conflicts.contains(key) {
                Verdict::Conflict(
                    "AssistX recorded a conflict for this key (found in Neo4j by reconcile)".into(),
                )
            } else if recorded.contains(key) {
                Verdict::Delivered
            } else {
                return None;
            };
            Some((event, verdict))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::tests::envelope;

    #[test]
    fn a_recorded_key_is_delivered_a_conflict_stays_visible_the_rest_waits() {
        let store = Store::in_memory().unwrap();
        let now = chrono::Utc::now();
        for key in ["a", "b", "c"] {
            outbox::enqueue(store.conn(), &envelope(key), now).unwrap();
        }
        let pending = outbox::list(store.conn(), None, false, 10).unwrap();
        assert_eq!(keys(&pending), ["a", "b", "c"]);
        let recorded = BTreeSet::from(["a".to_string(), "b".to_string()]);
        let conflicts = BTreeSet::from(["b".to_string()]);
        let found = verdicts(pending, &recorded, &conflicts);
        let found: Vec<(&str, bool)> = found
            .iter()
            .map(|(e, v)| {
                (
                    e.idempotency_key.as_str(),
                    matches!(v, Verdict::Conflict(_)),
                )
            })
            .collect();
        assert_eq!(found, [("a", false), ("b", true)]);
    }
}
