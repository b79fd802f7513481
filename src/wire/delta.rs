//! Subscription updates as changes. After the first whole snapshot, an
//! update carries the snapshot's small parts whole and, of its long lists
//! (the assignments, the workers, the audit and the newest outbox events),
//! only the rows that changed or left. With ten thousand assignments and a thousand workers heartbeating,
//! an attached control room then receives what changed, not a megabyte
//! four times a second.
//!
//! Rows need no order on the wire: each list's order is its rows' own
//! (newest change first; node then worker; by sequence), so the receiver
//! sorts.

use crate::engine::Snapshot;
use crate::engine::snapshot::{AuditRow, OutboxRow, Recommendation, Worker};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};

/// A subscription's update line: `{"event": "delta", "sent_at", "delta"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Update {
    Delta {
        sent_at: DateTime<Utc>,
        delta: Box<Delta>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The snapshot with its long lists left empty.
    pub head: Snapshot,
    pub recommendations: Changes<Recommendation>,
    pub workers: Changes<Worker>,
    pub audit: Changes<AuditRow>,
    pub outbox_recent: Changes<OutboxRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes<T> {
    /// Rows new or changed since the last update.
    pub upsert: Vec<T>,
    /// Ids of rows gone since the last update.
    pub remove: Vec<String>,
}

/// A fingerprint of every row of a snapshot's long lists, worked out once
/// per snapshot however many subscribers it goes to.
#[derive(Debug, Default)]
pub struct Prints {
    recommendations: Vec<u64>,
    workers: Vec<u64>,
    audit: Vec<u64>,
    outbox_recent: Vec<u64>,
}

impl Prints {
    pub fn of(snapshot: &Snapshot) -> Prints {
        Prints {
            recommendations: snapshot.recommendations.iter().map(print).collect(),
            workers: snapshot.workers.iter().map(print).collect(),
            audit: snapshot.audit.iter().map(print).collect(),
            outbox_recent: snapshot.outbox_recent.iter().map(print).collect(),
        }
    }
}

/// A row's fingerprint: a hash of its JSON, written straight into the hasher.
fn print<T: Serialize>(row: &T) -> u64 {
    struct Into<'a>(&'a mut DefaultHasher);
    impl std::io::Write for Into<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = DefaultHasher::new();
    let _ = serde_json::to_writer(Into(&mut hasher), row);
    hasher.finish()
}

/// What one subscriber was last sent: a fingerprint per row id.
#[derive(Debug, Default)]
pub struct Sent {
    recommendations: HashMap<String, u64>,
    workers: HashMap<String, u64>,
    audit: HashMap<String, u64>,
    outbox_recent: HashMap<String, u64>,
}

impl Sent {
    /// Remembers `snapshot` as sent whole.
    pub fn whole(&mut self, snapshot: &Snapshot, prints: &Prints) {
        let _ = self.delta(snapshot, prints);
    }

    /// What changed between the last update and `snapshot`; `snapshot` is
    /// what was sent from now on.
    pub fn delta(&mut self, snapshot: &Snapshot, prints: &Prints) -> Delta {
        Delta {
            head: snapshot.clone_head(),
            recommendations: changes(
                &mut self.recommendations,
                &snapshot.recommendations,
                &prints.recommendations,
                |r| r.assignment_id.clone(),
            ),
            workers: changes(
                &mut self.workers,
                &snapshot.workers,
                &prints.workers,
                Worker::key,
            ),
            audit: changes(&mut self.audit, &snapshot.audit, &prints.audit, |e| {
                e.seq.to_string()
            }),
            outbox_recent: changes(
                &mut self.outbox_recent,
                &snapshot.outbox_recent,
                &prints.outbox_recent,
                |e| e.seq.to_string(),
            ),
        }
    }
}

fn changes<T: Clone>(
    sent: &mut HashMap<String, u64>,
    rows: &[T],
    prints: &[u64],
    id: impl Fn(&T) -> String,
) -> Changes<T> {
    let mut upsert = Vec::new();
    let mut now = HashMap::with_capacity(rows.len());
    for (row, &print) in rows.iter().zip(prints) {
        let key = id(row);
        if sent.get(&key) != Some(&print) {
            upsert.push(row.clone());
        }
        now.insert(key, print);
    }
    let mut remove: Vec<String> = sent
        .keys()
        .filter(|k| !now.contains_key(*k))
        .cloned()
        .collect();
    remove.sort();
    *sent = now;
    Changes { upsert, remove }
}

/// Brings `snapshot` up to date with `delta`.
pub fn apply(snapshot: &mut Snapshot, delta: Delta) {
    let recommendations = std::mem::take(&mut snapshot.recommendations);
    let workers = std::mem::take(&mut snapshot.workers);
    let audit = std::mem::take(&mut snapshot.audit);
    let outbox_recent = std::mem::take(&mut snapshot.outbox_recent);
    *snapshot = delta.head;
    snapshot.recommendations = merge(recommendations, delta.recommendations, |r| {
        r.assignment_id.clone()
    });
    // Newest change first, as the store lists them.
    snapshot.recommendations.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.assignment_id.cmp(&b.assignment_id))
    });
    snapshot.workers = merge(workers, delta.workers, Worker::key);
    snapshot
        .workers
        .sort_by(|a, b| (&a.node_id, &a.worker_id).cmp(&(&b.node_id, &b.worker_id)));
    // The audit oldest first, the outbox newest first.
    snapshot.audit = merge(audit, delta.audit, |e| e.seq.to_string());
    snapshot.audit.sort_by_key(|e| e.seq);
    snapshot.outbox_recent = merge(outbox_recent, delta.outbox_recent, |e| e.seq.to_string());
    snapshot
        .outbox_recent
        .sort_by_key(|e| std::cmp::Reverse(e.seq));
}

fn merge<T>(rows: Vec<T>, changes: Changes<T>, id: impl Fn(&T) -> String) -> Vec<T> {
    let gone: HashSet<String> = changes
        .remove
        .into_iter()
        .chain(changes.upsert.iter().map(&id))
        .collect();
    rows.into_iter()
        .filter(|row| !gone.contains(&id(row)))
        .chain(changes.upsert)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;

    /// The order the store lists rows in.
    fn in_store_order(mut s: Snapshot) -> Snapshot {
        s.recommendations.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.assignment_id.cmp(&b.assignment_id))
        });
        s.workers
            .sort_by(|a, b| (&a.node_id, &a.worker_id).cmp(&(&b.node_id, &b.worker_id)));
        s
    }

    #[test]
    fn applying_each_delta_rebuilds_each_snapshot() {
        let first = in_store_order(fixtures::large(300, 50));
        let mut sent = Sent::default();
        sent.whole(&first, &Prints::of(&first));
        let mut shown = first.clone();
        // A lease renewed, a worker seen again, a task gone, a worker gone.
        let mut second = first.clone();
        second.recommendations[5].lease_expires_at = Some(fixtures::now());
        second.recommendations[5].updated_at = fixtures::now();
        second.recommendations.remove(7);
        second.workers[3].last_seen = fixtures::now();
        let gone_worker = second.workers.remove(9).key();
        let mut newer = second.outbox_recent[0].clone();
        newer.seq += 1;
        second.outbox_recent.insert(0, newer);
        second.audit.remove(0);
        let second = in_store_order(second);
        let delta = sent.delta(&second, &Prints::of(&second));
        assert_eq!(delta.recommendations.upsert.len(), 1);
        assert_eq!(delta.recommendations.remove.len(), 1);
        assert_eq!(delta.workers.upsert.len(), 1);
        assert_eq!(delta.workers.remove, vec![gone_worker]);
        assert_eq!(delta.outbox_recent.upsert.len(), 1);
        assert_eq!(delta.audit.remove.len(), 1);
        assert!(delta.head.recommendations.is_empty() && delta.head.workers.is_empty());
        assert!(delta.head.audit.is_empty() && delta.head.outbox_recent.is_empty());
        apply(&mut shown, delta);
        assert!(shown == second, "the delta did not rebuild the snapshot");
        // Nothing changed: nothing but the head is sent.
        let delta = sent.delta(&second, &Prints::of(&second));
        assert!(delta.recommendations.upsert.is_empty() && delta.workers.upsert.is_empty());
        apply(&mut shown, delta);
        assert!(shown == second, "an empty delta changed the snapshot");
    }
}
