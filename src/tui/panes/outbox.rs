//! Events for AssistX, newest first, with the write-back's counts above;
//! an event's body is fetched for its describe view.

use super::{Detail, Info, PaneView, gone, grow, status, text, whole};
use crate::domain::delivery::DeliveryStatus;
use crate::engine::Snapshot;
use crate::tui::app::App;
use crate::tui::clock::Now;
use crate::tui::rows::{Row, Tone, age_of};
use crate::tui::theme::Theme;
use crate::wire::Command;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub struct Outbox;

const INFO: Info = Info {
    title: "Outbox",
    command: "outbox",
    columns: &[
        whole("SEQ"),
        status("STATUS"),
        text("TYPE", 16),
        text("SUBJECT", 12),
        whole("TRIES"),
        whole("AGE"),
        grow("ERROR", 10),
    ],
};

impl PaneView for Outbox {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn rows(&self, s: &Snapshot, _now: DateTime<Utc>) -> Vec<Row> {
        s.outbox_recent
            .iter()
            .map(|e| {
                let tone = match e.status {
                    DeliveryStatus::DeadLetter => Tone::Error,
                    DeliveryStatus::Failed | DeliveryStatus::Conflict => Tone::Warn,
                    DeliveryStatus::Delivered => Tone::Muted,
                    DeliveryStatus::Pending => Tone::Normal,
                };
                Row::new(e.seq.to_string(), tone)
                    .num(e.seq.to_string(), e.seq as f64)
                    .text(e.status.to_string())
                    .text(&e.event_type)
                    .text(&e.subject_id)
                    .num(e.attempts.to_string(), f64::from(e.attempts))
                    .age(Some(e.created_at))
                    .text(e.last_error.clone().unwrap_or_default())
            })
            .collect()
    }

    fn same_rows(&self, old: &Snapshot, new: &Snapshot) -> bool {
        old.outbox_recent == new.outbox_recent
    }

    fn describe(&self, s: &Snapshot, id: &str, detail: Option<&Detail>, now: Now) -> Vec<String> {
        if !s.outbox_recent.iter().any(|e| e.seq.to_string() == id) {
            return gone(id);
        }
        let Some(Detail::Event(e)) =
            detail.filter(|d| matches!(d, Detail::Event(e) if e.row.seq.to_string() == id))
        else {
            return vec![
                format!("event {id}"),
                String::new(),
                "loading the event…".into(),
            ];
        };
        let mut lines = vec![
            format!("event        {} ({})", e.event_id, e.row.event_type),
            format!("key          {}", e.idempotency_key),
            format!(
                "status       {} after {} attempt(s)",
                e.row.status, e.row.attempts
            ),
            format!("next attempt {}", now.when_opt(e.next_attempt_at)),
            format!(
                "last error   {}",
                e.row.last_error.clone().unwrap_or_else(|| "-".into())
            ),
            String::new(),
        ];
        let pretty = serde_json::from_str::<serde_json::Value>(&e.body)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| e.body.clone());
        lines.extend(pretty.lines().map(str::to_string));
        lines
    }

    fn detail_for(&self, id: &str) -> Option<Command> {
        Some(Command::OutboxEvent {
            seq: id.parse().ok()?,
        })
    }

    fn empty_hint(&self) -> &'static str {
        "no events"
    }

    fn summary_height(&self, active: bool) -> u16 {
        if active { 3 } else { 0 }
    }

    /// Counts per status, the write-back lag and the last error for
    /// AssistX, then the same for the provenance graph (the second
    /// destination, with its own delivery state).
    fn draw_summary(&self, frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
        let o = &app.snapshot().outbox;
        let lag = age_of(o.oldest_pending_at, app.now);
        let counts = Line::from(vec![
            Span::styled(
                format!(" pending {}  failed {}  ", o.pending, o.failed),
                theme.text,
            ),
            Span::styled(
                format!("delivered {}  conflict {}  ", o.delivered, o.conflict),
                theme.muted,
            ),
            Span::styled(
                format!("dead letter {}", o.dead_letter),
                if o.dead_letter > 0 {
                    theme.error
                } else {
                    theme.muted
                },
            ),
            if app.snapshot().limits.dispatch_enabled {
                Span::styled(format!("   write-back lag {lag}"), theme.title)
            } else {
                Span::styled("   write-back off", theme.muted)
            },
        ]);
        let error = Line::from(last_error(" ", "assistx", o.last_error.as_deref(), theme));
        let graph = graph_line(app, theme);
        frame.render_widget(Paragraph::new(vec![counts, error, graph]), area);
    }
}

/// The provenance graph's delivery state: pending, refused, lag and last
/// error; without Neo4j, only that it is off and how much waits for it.
fn graph_line<'a>(app: &App, theme: &Theme) -> Line<'a> {
    let g = &app.snapshot().graph;
    if !app.snapshot().limits.graph_enabled {
        let off = format!(
            " graph: off (Neo4j not configured); {} events wait for it",
            g.pending
        );
        return Line::from(Span::styled(off, theme.muted));
    }
    let graph_lag = age_of(
        g.oldest_pending_at
            .as_deref()
            .and_then(crate::domain::time::parse_utc),
        app.now,
    );
    Line::from(vec![
        Span::styled(
            format!(
                " graph: pending {}  refused {}  lag {graph_lag}",
                g.pending, g.refused
            ),
            if g.refused > 0 {
                theme.warn
            } else {
                theme.text
            },
        ),
        last_error("   ", "neo4j", g.last_error.as_deref(), theme),
    ])
}

/// A destination's last error, in the warning colour when there is one.
fn last_error<'a>(indent: &str, peer: &str, error: Option<&str>, theme: &Theme) -> Span<'a> {
    Span::styled(
        format!("{indent}last error ({peer}): {}", error.unwrap_or("none")),
        if error.is_some() {
            theme.warn
        } else {
            theme.muted
        },
    )
}
