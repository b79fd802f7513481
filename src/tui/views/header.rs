//! The header: where the engine is, its control mode and dependencies, who
//! is operating, and the clock.

use crate::domain::control::ControlMode;
use crate::engine::snapshot::HealthState;
use crate::tui::app::{App, Connection};
use crate::tui::rows::age_of;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let s = app.snapshot();
    let link = match &app.connection {
        Connection::InProcess => Span::styled(" in-process ", theme.header),
        Connection::Attached { socket } => {
            Span::styled(format!(" attached {socket} "), theme.header)
        }
        Connection::Disconnected { socket } => Span::styled(
            format!(" ✖ DISCONNECTED from {socket}, retrying "),
            theme.badge,
        ),
    };
    let enabled = s.control.mode == ControlMode::Enabled;
    let mode = s.control.mode.to_string();
    // Disconnected, the mode is the last one seen, not a fact: no green.
    let (mode, mode_style) = match (&app.connection, enabled) {
        (Connection::Disconnected { .. }, _) => (format!("{mode}? (last seen)"), theme.muted),
        (_, true) => (mode, theme.ok),
        (_, false) => (format!("⚠ {}", mode.to_uppercase()), theme.warn),
    };
    let mut first = vec![
        Span::styled(" auto-assign ", theme.title),
        link,
        Span::raw("  control "),
        Span::styled(mode, mode_style),
        Span::raw(format!("  operator {}", app.operator)),
    ];
    if app.read_only {
        first.push(Span::raw("  "));
        first.push(Span::styled(" READ-ONLY ", theme.badge));
    }
    first.push(Span::styled(
        format!("  {}", app.now.format("%H:%M:%S")),
        theme.muted,
    ));
    let mut second = Vec::new();
    for h in &s.health {
        let age = h
            .last_success_at
            .map(|at| format!(" {}", age_of(Some(at), app.now)))
            .unwrap_or_default();
        let (glyph, style) = match h.state {
            HealthState::Ok => ("✔", theme.ok),
            HealthState::Degraded => ("!", theme.warn),
            HealthState::Down => ("✖", theme.error),
            HealthState::Unknown => ("?", theme.muted),
        };
        second.push(Span::styled(format!(" {glyph} {}{age}", h.name), style));
    }
    let tick = s
        .last_tick_at
        .map(|at| format!("{} ago", age_of(Some(at), app.now)))
        .unwrap_or_else(|| "none yet".into());
    second.push(Span::styled(format!("   last tick {tick}"), theme.muted));
    let lag = s
        .outbox
        .oldest_pending_at
        .map(|at| format!(", oldest {}", age_of(Some(at), app.now)))
        .unwrap_or_default();
    second.push(Span::styled(
        format!(
            "   outbox pending {}{lag}",
            s.outbox.pending + s.outbox.failed
        ),
        theme.muted,
    ));
    frame.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}
