//! Operator and worker actions, newest first, refusals included.

use super::{Detail, Info, PaneView, extra, gone, grow, status, text, whole};
use crate::engine::Snapshot;
use crate::tui::clock::Now;
use crate::tui::rows::{Row, Tone};
use chrono::{DateTime, Utc};

pub struct Audit;

const INFO: Info = Info {
    title: "Audit",
    command: "audit",
    columns: &[
        whole("TIME"),
        extra("AGE"),
        text("ACTOR", 10),
        text("ACTION", 14),
        whole("SUBJECT"),
        status("CHANGE"),
        status("OUTCOME"),
        grow("DETAIL", 12),
    ],
};

fn outcome(refused: bool) -> &'static str {
    if refused { "refused" } else { "ok" }
}

impl PaneView for Audit {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn rows(&self, s: &Snapshot, _now: DateTime<Utc>) -> Vec<Row> {
        s.audit
            .iter()
            .rev()
            .map(|e| {
                let tone = if e.refused { Tone::Error } else { Tone::Normal };
                let change = match (&e.from_status, &e.to_status) {
                    (None, None) => String::new(),
                    (from, to) => format!(
                        "{} → {}",
                        from.as_deref().unwrap_or("-"),
                        to.as_deref().unwrap_or("-")
                    ),
                };
                // The word, not only the colour, says it was refused.
                let shown = if e.refused { "✖ refused" } else { "ok" };
                Row::new(e.seq.to_string(), tone)
                    .clock(Some(e.at))
                    .age(Some(e.at))
                    .text(&e.actor)
                    .text(&e.action)
                    .text(e.subject.clone().unwrap_or_default())
                    .text(change)
                    .text(shown)
                    .text(e.detail.clone().unwrap_or_default())
            })
            .collect()
    }

    fn same_rows(&self, old: &Snapshot, new: &Snapshot) -> bool {
        old.audit == new.audit
    }

    fn describe(&self, s: &Snapshot, id: &str, _detail: Option<&Detail>, now: Now) -> Vec<String> {
        let Some(e) = s.audit.iter().find(|e| e.seq.to_string() == id) else {
            return gone(id);
        };
        vec![
            format!("at           {}", now.when(e.at)),
            format!("actor        {}", e.actor),
            format!("action       {}  ({})", e.action, outcome(e.refused)),
            format!("subject      {}", e.subject.clone().unwrap_or_default()),
            format!(
                "change       {} → {}",
                e.from_status.clone().unwrap_or_default(),
                e.to_status.clone().unwrap_or_default()
            ),
            format!("detail       {}", e.detail.clone().unwrap_or_default()),
        ]
    }
}
