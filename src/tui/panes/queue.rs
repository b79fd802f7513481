//! Waiting assignments by status, lane and priority, with the queue's
//! depth over the last hour above them.

use super::{Info, PaneView, status, whole};
use crate::domain::lifecycle::Status;
use crate::engine::Snapshot;
use crate::tui::app::App;
use crate::tui::clock::Now;
use crate::tui::rows::{Row, Tone, age_of};
use crate::tui::theme::Theme;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

pub struct Queue;

const INFO: Info = Info {
    title: "Queue",
    command: "queue",
    columns: &[
        status("STATUS"),
        whole("LANE"),
        whole("PRIORITY"),
        whole("COUNT"),
    ],
};

impl PaneView for Queue {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn rows(&self, s: &Snapshot, _now: DateTime<Utc>) -> Vec<Row> {
        s.queue
            .iter()
            .map(|q| {
                let tone = if q.status == Status::Blocked {
                    Tone::Muted
                } else {
                    Tone::Normal
                };
                Row::new(q.key(), tone)
                    .text(q.status.as_str())
                    .text(q.lane.as_str())
                    .text(&q.priority)
                    .num(q.count.to_string(), q.count as f64)
            })
            .collect()
    }

    fn same_rows(&self, old: &Snapshot, new: &Snapshot) -> bool {
        old.queue == new.queue
    }

    fn describe(
        &self,
        s: &Snapshot,
        id: &str,
        _detail: Option<&super::Detail>,
        _now: Now,
    ) -> Vec<String> {
        let count: u64 = s
            .queue
            .iter()
            .filter(|q| q.key() == id)
            .map(|q| q.count)
            .sum();
        vec![format!("{id}: {count} waiting")]
    }

    fn summary_height(&self, _active: bool) -> u16 {
        4
    }

    fn draw_summary(&self, frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
        let s = app.snapshot();
        let oldest = age_of(s.oldest_waiting_at, app.now);
        let [text, spark] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(3)]).areas(area);
        let line = Line::from(vec![
            Span::styled(format!(" waiting {}", s.waiting()), theme.title),
            Span::styled(
                format!("   oldest waiting {oldest}   last hour ▸"),
                theme.muted,
            ),
        ]);
        frame.render_widget(Paragraph::new(line), text);
        frame.render_widget(
            Sparkline::default()
                .data(&s.queue_history)
                .style(theme.accent),
            spark,
        );
    }
}
