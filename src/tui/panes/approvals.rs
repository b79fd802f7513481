//! Assignments gated behind an operator's answer, oldest first.

use super::recommendations::{describe_assignment, explain};
use super::{Detail, Info, PaneView, grow, text, whole};
use crate::engine::Snapshot;
use crate::tui::clock::Now;
use crate::tui::rows::{Row, Tone};
use crate::wire::Command;
use chrono::{DateTime, Utc};

pub struct Approvals;

const INFO: Info = Info {
    title: "Approvals",
    command: "approvals",
    columns: &[
        whole("TASK"),
        grow("TITLE", 24),
        text("GATE", 12),
        whole("WAITING"),
        whole("VERSION"),
    ],
};

impl PaneView for Approvals {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn rows(&self, s: &Snapshot, _now: DateTime<Utc>) -> Vec<Row> {
        s.approvals
            .iter()
            .map(|a| {
                let mut row = Row::new(&a.assignment_id, Tone::Warn)
                    .text(&a.task_id)
                    .text(a.title.clone().unwrap_or_default())
                    .text(&a.gate)
                    .age(Some(a.requested_at))
                    .num(a.version.to_string(), a.version as f64);
                row.version = Some(a.version);
                row
            })
            .collect()
    }

    fn same_rows(&self, old: &Snapshot, new: &Snapshot) -> bool {
        old.approvals == new.approvals
    }

    fn describe(&self, s: &Snapshot, id: &str, detail: Option<&Detail>, now: Now) -> Vec<String> {
        describe_assignment(s, id, detail, now)
    }

    fn detail_for(&self, id: &str) -> Option<Command> {
        Some(explain(id))
    }

    fn empty_hint(&self) -> &'static str {
        "nothing waits for an approval"
    }

    fn badge(&self, s: &Snapshot) -> Option<String> {
        Some(s.approvals.len().to_string())
    }
}
