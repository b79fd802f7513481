//! The fleet's alerts as the engine judges them (issue 12): what, about
//! whom, since when. The header counts them; this pane says each in full.

use super::{Detail, Info, PaneView, grow, text, whole};
use crate::engine::Snapshot;
use crate::engine::snapshot::Alert;
use crate::tui::clock::Now;
use crate::tui::rows::{Row, Tone};
use chrono::{DateTime, Utc};

pub struct Alerts;

const INFO: Info = Info {
    title: "Alerts",
    command: "alerts",
    columns: &[
        whole("ALERT"),
        text("ABOUT", 12),
        grow("WHAT", 24),
        whole("SINCE"),
    ],
};

/// A row's id: an alert is one per code and subject.
fn id(a: &Alert) -> String {
    match &a.subject {
        Some(subject) => format!("{}:{subject}", a.code),
        None => a.code.clone(),
    }
}

/// How loud an alert is: a worker that cannot work or a dependency down is
/// an error, the rest are warnings.
pub fn is_error(a: &Alert) -> bool {
    matches!(a.code.as_str(), "breaker_open" | "dependency_down")
}

impl PaneView for Alerts {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn rows(&self, s: &Snapshot, _now: DateTime<Utc>) -> Vec<Row> {
        s.alerts
            .iter()
            .map(|a| {
                let tone = if is_error(a) { Tone::Error } else { Tone::Warn };
                Row::new(id(a), tone)
                    .text(&a.code)
                    .text(a.subject.clone().unwrap_or_else(|| "-".into()))
                    .text(&a.text)
                    .age(Some(a.since))
            })
            .collect()
    }

    fn same_rows(&self, old: &Snapshot, new: &Snapshot) -> bool {
        old.alerts == new.alerts
    }

    fn describe(&self, s: &Snapshot, row: &str, _detail: Option<&Detail>, now: Now) -> Vec<String> {
        let Some(a) = s.alerts.iter().find(|a| id(a) == row) else {
            return super::gone(row);
        };
        vec![
            format!("alert        {}", a.code),
            format!("about        {}", a.subject.as_deref().unwrap_or("-")),
            format!("since        {}", now.when(a.since)),
            String::new(),
            a.text.clone(),
            String::new(),
            "Thresholds: alert_queue_depth, alert_stuck_minutes, alert_latency_ms, \
             alert_starving_minutes (docs/configuration.md); a breaker or a dependency \
             down has none. Each alert's start and end are in the audit (alert_raised, \
             alert_cleared); the text is what held when it began."
                .into(),
        ]
    }

    fn empty_hint(&self) -> &'static str {
        "no alerts"
    }

    fn badge(&self, s: &Snapshot) -> Option<String> {
        (!s.alerts.is_empty()).then(|| s.alerts.len().to_string())
    }
}
