//! The panes. Each is one file behind [`PaneView`]: its columns, how a
//! snapshot becomes its rows, what its describe view says (and what it
//! fetches for it), its empty hint, its tab badge and the summary drawn above
//! its table. The table view (`views/table.rs`) is generic over them.

mod alerts;
mod approvals;
mod audit;
mod outbox;
mod queue;
mod recommendations;
mod waiting;
mod workers;

use super::app::App;
use super::clock::Now;
use super::rows::Row;
use super::theme::Theme;
use super::views::fit::Fit;
use crate::engine::Snapshot;
use crate::engine::snapshot::{Explanation, OutboxDetail};
use crate::wire::Command;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    Queue,
    Recommendations,
    Approvals,
    Workers,
    Outbox,
    Audit,
    Alerts,
}

/// A column: its header and how it gives way when space is short.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub fit: Fit,
}

const fn whole(name: &'static str) -> Column {
    Column {
        name,
        fit: Fit::Whole,
    }
}

const fn extra(name: &'static str) -> Column {
    Column {
        name,
        fit: Fit::Extra,
    }
}

const fn status(name: &'static str) -> Column {
    Column {
        name,
        fit: Fit::Status,
    }
}

const fn text(name: &'static str, min: u16) -> Column {
    Column {
        name,
        fit: Fit::Text { min },
    }
}

const fn grow(name: &'static str, min: u16) -> Column {
    Column {
        name,
        fit: Fit::Grow { min },
    }
}

/// What the engine sent back for a describe view.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    Explanation(Box<Explanation>),
    Event(Box<OutboxDetail>),
}

/// A pane's name, the `:` command that opens it, and its columns.
pub struct Info {
    pub title: &'static str,
    pub command: &'static str,
    pub columns: &'static [Column],
}

/// Everything the control room knows about one pane.
pub trait PaneView {
    fn info(&self) -> &'static Info;
    /// The rows at `now` (for what changes with time alone, such as a
    /// late worker).
    fn rows(&self, s: &Snapshot, now: DateTime<Utc>) -> Vec<Row>;
    /// Whether rows built from `old` hold for `new`: the parts of a
    /// snapshot this pane's rows are made of are equal in both. A new
    /// snapshot that changes other things (a graph catching up moves only
    /// counters) then keeps the pane's rows: rebuilding and freeing
    /// thousands of them four times a second made the allocator hand
    /// memory back to the kernel from the drawing thread, a frame at a
    /// time (docs/benchmarks.md, "A sixth look").
    fn same_rows(&self, old: &Snapshot, new: &Snapshot) -> bool;
    /// The describe view of row `id`, with what was fetched for it.
    fn describe(&self, s: &Snapshot, id: &str, detail: Option<&Detail>, now: Now) -> Vec<String>;
    /// What to ask the engine for before describing row `id`, if anything.
    fn detail_for(&self, _id: &str) -> Option<Command> {
        None
    }
    /// Shown inside an empty table.
    fn empty_hint(&self) -> &'static str {
        "empty"
    }
    /// How many rows there are in all when the snapshot lists only some
    /// (the title then says "n of N").
    fn total(&self, _s: &Snapshot) -> Option<u64> {
        None
    }
    /// Shown after the pane's name in the tabs.
    fn badge(&self, _s: &Snapshot) -> Option<String> {
        None
    }
    /// Rows the summary above the table takes when the pane is shown.
    fn summary_height(&self, _active: bool) -> u16 {
        0
    }
    fn draw_summary(&self, _frame: &mut Frame, _area: Rect, _app: &App, _theme: &Theme) {}
}

impl Pane {
    pub const ALL: [Pane; 7] = [
        Pane::Queue,
        Pane::Recommendations,
        Pane::Approvals,
        Pane::Workers,
        Pane::Outbox,
        Pane::Audit,
        Pane::Alerts,
    ];

    pub fn view(self) -> &'static dyn PaneView {
        match self {
            Pane::Queue => &queue::Queue,
            Pane::Recommendations => &recommendations::Recommendations,
            Pane::Approvals => &approvals::Approvals,
            Pane::Workers => &workers::Workers,
            Pane::Outbox => &outbox::Outbox,
            Pane::Audit => &audit::Audit,
            Pane::Alerts => &alerts::Alerts,
        }
    }

    pub fn title(self) -> &'static str {
        self.view().info().title
    }

    pub fn command(self) -> &'static str {
        self.view().info().command
    }

    pub fn columns(self) -> Vec<&'static str> {
        self.view().info().columns.iter().map(|c| c.name).collect()
    }

    pub fn rows(self, s: &Snapshot, now: DateTime<Utc>) -> Vec<Row> {
        self.view().rows(s, now)
    }

    pub fn same_rows(self, old: &Snapshot, new: &Snapshot) -> bool {
        self.view().same_rows(old, new)
    }

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// The describe view of an id no longer in the snapshot.
fn gone(id: &str) -> Vec<String> {
    vec![format!("{id}: not in the current snapshot")]
}

/// A lease held by a worker, for its row and its describe view.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub assignment_id: String,
    pub task_id: String,
    pub status: crate::domain::lifecycle::Status,
    pub until: Option<DateTime<Utc>>,
}

/// The leases held, per `node/worker`.
pub fn leases_by_worker(s: &Snapshot) -> BTreeMap<String, Vec<Lease>> {
    let mut map: BTreeMap<String, Vec<Lease>> = BTreeMap::new();
    for r in s.recommendations.iter().filter(|r| r.status.holds_lease()) {
        if let Some(holder) = r.holder() {
            map.entry(holder).or_default().push(Lease {
                assignment_id: r.assignment_id.clone(),
                task_id: r.task_id.clone(),
                status: r.status,
                until: r.lease_expires_at,
            });
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alerts::Alert;
    use crate::tui::fixtures;

    type Change = fn(&mut Snapshot);

    /// One change to each part of a snapshot that a pane could read.
    fn changes() -> Vec<(&'static str, Change)> {
        vec![
            ("taken_at", |s| s.taken_at += chrono::Duration::seconds(61)),
            ("control", |s| s.control.version += 1),
            ("queue", |s| s.queue[0].count += 1),
            ("status_counts", |s| s.status_counts.clear()),
            ("recommendations", |s| s.recommendations[0].score += 1.0),
            ("a lease", |s| {
                let r = &mut s.recommendations[0];
                r.status = crate::domain::lifecycle::Status::Claimed;
                (r.node, r.worker) = (Some("n1".into()), Some("w2".into()));
            }),
            ("approvals", |s| drop(s.approvals.pop())),
            ("workers", |s| s.workers[0].active += 1),
            ("outbox", |s| s.outbox.pending += 1),
            ("graph", |s| s.graph.pending += 1),
            ("health", |s| drop(s.health.pop())),
            ("audit", |s| drop(s.audit.pop())),
            ("outbox_recent", |s| drop(s.outbox_recent.pop())),
            ("limits", |s| s.limits.stale_heartbeat_seconds += 1),
            ("alerts", |s| {
                s.alerts.push(Alert {
                    code: "queue_depth".into(),
                    subject: None,
                    text: "deep".into(),
                    since: s.taken_at,
                })
            }),
        ]
    }

    #[test]
    fn a_pane_keeps_its_rows_only_when_the_new_snapshot_would_build_the_same() {
        let now = fixtures::now();
        let mut base = fixtures::busy();
        // A breaker that a minute later is half open.
        base.limits.breaker_cooldown_seconds = 60;
        base.workers[1].breaker.opened_at = Some(base.taken_at);
        for (what, change) in changes() {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(changed, base, "the change of {what} changed nothing");
            for pane in Pane::ALL {
                if pane.same_rows(&base, &changed) {
                    assert_eq!(
                        pane.rows(&base, now),
                        pane.rows(&changed, now),
                        "{pane:?} would keep rows that a change of {what} changes"
                    );
                }
            }
        }
    }

    #[test]
    fn a_graph_catching_up_leaves_every_list_but_the_workers_as_it_was() {
        let base = fixtures::busy();
        let mut changed = base.clone();
        changed.taken_at += chrono::Duration::seconds(1);
        changed.graph.pending += 1;
        changed.outbox.delivered += 1;
        let kept: Vec<Pane> = Pane::ALL
            .into_iter()
            .filter(|pane| pane.same_rows(&base, &changed))
            .collect();
        assert_eq!(
            kept,
            vec![
                Pane::Queue,
                Pane::Recommendations,
                Pane::Approvals,
                Pane::Outbox,
                Pane::Audit,
                Pane::Alerts
            ]
        );
    }
}
