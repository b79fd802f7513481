//! The header: where the engine is, its control mode and dependencies, who
//! is operating, and the clock.

use crate::domain::control::ControlMode;
use crate::engine::snapshot::HealthState;
use crate::tui::app::{App, Connection};
use crate::tui::attention::{Severity, alerts};
use crate::tui::rows::age_of;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// How long an item stays when the header is too narrow: the lowest goes
/// first. The control mode, a read-only room, the operator and the clock
/// go last.
const LAST: u8 = 9;
const HIGH: u8 = 7;
const MIDDLE: u8 = 5;
const LOW: u8 = 3;
const FIRST: u8 = 1;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let s = app.snapshot();
    let link = match &app.connection {
        Connection::InProcess => (MIDDLE, Span::styled(" in-process ", theme.header)),
        Connection::Attached { socket } => (
            LOW,
            Span::styled(format!(" attached {socket} "), theme.header),
        ),

        Connection::Disconnected { socket } => (
            LAST,
            Span::styled(
                format!(" ✖ DISCONNECTED from {socket}, retrying "),
                theme.badge,
            ),
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
        (FIRST, Span::styled(" auto-assign ", theme.title)),
        link,
        (LAST, Span::raw("  control ")),
        (LAST, Span::styled(mode, mode_style)),
        (LAST, Span::raw(format!("  operator {}", app.operator))),
    ];
    if app.read_only {
        first.push((LAST, Span::styled("  READ-ONLY", theme.badge)));
    }
    first.push((
        LAST,
        Span::styled(format!("  {}", app.clock.time(app.now)), theme.muted),
    ));
    // What needs a look comes first and goes last.
    let mut second: Vec<(u8, Span)> = alerts(s, app.now)
        .into_iter()
        .map(|alert| match alert.severity {
            Severity::Error => (
                LAST,
                Span::styled(format!(" ✖ {}", alert.text), theme.error),
            ),
            Severity::Warn => (LAST, Span::styled(format!(" ! {}", alert.text), theme.warn)),
        })
        .collect();
    for h in &s.health {
        let (glyph, style) = match h.state {
            HealthState::Ok => ("✔", theme.ok),
            HealthState::Degraded => ("!", theme.warn),
            HealthState::Down => ("✖", theme.error),
            HealthState::Unknown => ("?", theme.muted),
        };
        second.push((HIGH, Span::styled(format!(" {glyph} {}", h.name), style)));
        if let Some(at) = h.last_success_at {
            second.push((
                FIRST,
                Span::styled(format!(" {}", age_of(Some(at), app.now)), style),
            ));
        }
    }
    let tick = s
        .last_tick_at
        .map(|at| format!("{} ago", age_of(Some(at), app.now)))
        .unwrap_or_else(|| "none yet".into());
    second.push((
        LOW,
        Span::styled(format!("   last tick {tick}"), theme.muted),
    ));
    let lag = s
        .outbox
        .oldest_pending_at
        .map(|at| format!(", oldest {}", age_of(Some(at), app.now)))
        .unwrap_or_default();
    second.push((
        MIDDLE,
        Span::styled(
            format!("   outbox {}{lag}", s.outbox.pending + s.outbox.failed),
            theme.muted,
        ),
    ));
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(keep(first, area.width)),
            Line::from(keep(second, area.width)),
        ]),
        area,
    );
}

/// The items that fit in `width`, dropping the least important first (the
/// later of two equals), in their order.
fn keep(mut items: Vec<(u8, Span<'static>)>, width: u16) -> Vec<Span<'static>> {
    let total = |items: &[(u8, Span)]| -> usize { items.iter().map(|(_, s)| s.width()).sum() };
    while total(&items) > usize::from(width) {
        let Some(lowest) = items
            .iter()
            .enumerate()
            .min_by_key(|(i, (priority, _))| (*priority, std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
        else {
            break;
        };
        items.remove(lowest);
    }
    items.into_iter().map(|(_, span)| span).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_important_goes_first_and_order_stays() {
        let items = vec![
            (FIRST, Span::raw("aaaa")),
            (LAST, Span::raw("bb")),
            (LOW, Span::raw("cc")),
            (LAST, Span::raw("dd")),
        ];
        let kept: Vec<String> = keep(items.clone(), 6)
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert_eq!(kept, ["bb", "cc", "dd"]);
        let kept: Vec<String> = keep(items, 4)
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert_eq!(kept, ["bb", "dd"]);
    }
}
