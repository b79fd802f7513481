//! Audit entries and outbox events older than the snapshot's 200, fetched
//! when the operator scrolls to the end of either pane or searches it, and
//! shown after the snapshot's rows as if it had listed them.

use crate::engine::Snapshot;
use crate::engine::snapshot::{AuditRow, OutboxRow};
use crate::tui::panes::Pane;
use crate::wire::{Command, Log};
use std::collections::{BTreeMap, BTreeSet};

/// Rows fetched per request.
pub const PAGE: u32 = 200;
/// Rows kept per list at most: enough to read back a long night, bounded
/// so a room left scrolling cannot grow without end.
const KEEP: usize = 20_000;

#[derive(Debug, Default)]
pub struct History {
    audit: BTreeMap<i64, AuditRow>,
    outbox: BTreeMap<i64, OutboxRow>,
    /// Lists with nothing older left to fetch.
    exhausted: BTreeSet<Log>,
    /// A request on its way, so a held key does not send a hundred.
    asked: BTreeSet<Log>,
    /// The oldest row paging reached: every row from there up is here or
    /// in the snapshot (search matches may be older, with gaps between).
    reached: BTreeMap<Log, i64>,
}

/// The list behind a pane, if it has one that pages.
pub fn log_of(pane: Pane) -> Option<Log> {
    match pane {
        Pane::Audit => Some(Log::Audit),
        Pane::Outbox => Some(Log::Outbox),
        _ => None,
    }
}

/// How many rows of `log` the snapshot lists, and the oldest one's number.
fn listed(s: &Snapshot, log: Log) -> (usize, Option<i64>) {
    match log {
        Log::Audit => (s.audit.len(), s.audit.iter().map(|e| e.seq).min()),
        Log::Outbox => (
            s.outbox_recent.len(),
            s.outbox_recent.iter().map(|e| e.seq).min(),
        ),
    }
}

/// Adds `rows` to `kept`, up to [`KEEP`] in all.
fn absorb<R>(kept: &mut BTreeMap<i64, R>, rows: Vec<R>, seq: impl Fn(&R) -> i64) {
    for row in rows {
        if kept.len() >= KEEP {
            break;
        }
        kept.insert(seq(&row), row);
    }
}

impl History {
    pub fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.outbox.is_empty()
    }

    fn kept(&self, log: Log) -> usize {
        match log {
            Log::Audit => self.audit.len(),
            Log::Outbox => self.outbox.len(),
        }
    }

    /// What to ask for the next older page of `log`, unless one is on its
    /// way, nothing older is left, the snapshot lists all there is, or as
    /// many as the room keeps are here.
    pub fn next_page(&mut self, s: &Snapshot, log: Log) -> Option<Command> {
        let (count, listed_oldest) = listed(s, log);
        if self.asked.contains(&log)
            || self.exhausted.contains(&log)
            || count < crate::engine::snapshot::RECENT_LIMIT
            || self.kept(log) >= KEEP
        {
            return None;
        }
        self.asked.insert(log);
        let before = match (listed_oldest, self.reached.get(&log)) {
            (Some(a), Some(b)) => Some(a.min(*b)),
            (a, b) => a.or(b.copied()),
        };
        Some(Command::Older {
            log,
            before,
            contains: None,
            limit: Some(PAGE),
        })
    }

    /// What to ask to search all of `log` older than the snapshot for
    /// `needle` (matches are kept beside the pages; nothing is asked when
    /// the snapshot lists all there is).
    pub fn search(&self, s: &Snapshot, log: Log, needle: &str) -> Option<Command> {
        let (count, oldest) = listed(s, log);
        if count < crate::engine::snapshot::RECENT_LIMIT {
            return None;
        }
        Some(Command::Older {
            log,
            before: oldest,
            contains: Some(needle.to_string()),
            limit: Some(PAGE),
        })
    }

    /// Older audit entries arrived; `paging` when they were the next page
    /// (fewer than a page means there are no more). Returns how many.
    pub fn add_audit(&mut self, rows: Vec<AuditRow>, paging: bool) -> usize {
        let oldest = rows.iter().map(|r| r.seq).min();
        let n = rows.len();
        absorb(&mut self.audit, rows, |r| r.seq);
        self.arrived(Log::Audit, n, oldest, paging);
        n
    }

    pub fn add_outbox(&mut self, rows: Vec<OutboxRow>, paging: bool) -> usize {
        let oldest = rows.iter().map(|r| r.seq).min();
        let n = rows.len();
        absorb(&mut self.outbox, rows, |r| r.seq);
        self.arrived(Log::Outbox, n, oldest, paging);
        n
    }

    fn arrived(&mut self, log: Log, n: usize, oldest: Option<i64>, paging: bool) {
        if !paging {
            return;
        }
        self.asked.remove(&log);
        if n < PAGE as usize {
            self.exhausted.insert(log);
        }
        if let Some(oldest) = oldest {
            let reached = self.reached.entry(log).or_insert(oldest);
            *reached = (*reached).min(oldest);
        }
    }

    /// A new snapshot replaces `old`: rows that fall out of its window are
    /// kept here once older rows were loaded, so the list has no gap.
    pub fn carry(&mut self, old: &Snapshot, new: &Snapshot) {
        if self.is_empty() {
            return;
        }
        let audit_from = listed(new, Log::Audit).1.unwrap_or(i64::MAX);
        let leaving = old.audit.iter().filter(|r| r.seq < audit_from).cloned();
        absorb(&mut self.audit, leaving.collect(), |r| r.seq);
        let outbox_from = listed(new, Log::Outbox).1.unwrap_or(i64::MAX);
        let leaving = old
            .outbox_recent
            .iter()
            .filter(|r| r.seq < outbox_from)
            .cloned();
        absorb(&mut self.outbox, leaving.collect(), |r| r.seq);
    }

    /// A page request failed: it may be asked again.
    pub fn failed(&mut self, log: Log) {
        self.asked.remove(&log);
    }

    /// `s` with the fetched rows older than its own added, in its order
    /// (the audit oldest first, the outbox newest first).
    pub fn extend(&self, s: &Snapshot) -> Snapshot {
        let mut s = s.clone();
        let before = |log| listed(&s, log).1.unwrap_or(i64::MAX);
        let (audit_before, outbox_before) = (before(Log::Audit), before(Log::Outbox));
        let mut audit: Vec<AuditRow> = self
            .audit
            .range(..audit_before)
            .map(|(_, r)| r.clone())
            .collect();
        audit.append(&mut s.audit);
        s.audit = audit;
        s.outbox_recent.extend(
            self.outbox
                .range(..outbox_before)
                .rev()
                .map(|(_, r)| r.clone()),
        );
        s
    }
}
