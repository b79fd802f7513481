//! Overlays: describe text, the reason prompt and the confirmation.

use super::centered;
use crate::tui::app::Target;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use tui_input::Input;

pub fn text(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    lines: &[String],
    scroll: u16,
) {
    let rect = centered(area, 90, 80);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.accent)
        .title(Span::styled(format!(" {title} — Esc back "), theme.title));
    let body: Vec<Line> = lines.iter().map(|l| Line::from(l.as_str())).collect();
    frame.render_widget(
        Paragraph::new(body)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        rect,
    );
}

/// Rows a panel may hold: most of the screen's height, less its borders.
fn panel_rows(area: Rect) -> usize {
    (area.height.saturating_mul(4) / 5).saturating_sub(2).max(3) as usize
}

/// The targets in at most `room` lines; when they do not all fit, the last
/// line says how many more there are, so a count is always shown.
fn targets_lines(targets: &[Target], room: usize) -> Vec<Line<'static>> {
    let line = |t: &Target| {
        Line::from(format!(
            "  • {} {} (version {})",
            t.label,
            t.id,
            t.version.map_or("-".into(), |v| v.to_string())
        ))
    };
    if targets.len() <= room {
        return targets.iter().map(line).collect();
    }
    let shown = room.saturating_sub(1);
    targets
        .iter()
        .take(shown)
        .map(line)
        .chain(std::iter::once(Line::from(format!(
            "  … and {} more",
            targets.len() - shown
        ))))
        .collect()
}

/// What an action is about, for a dialog's first line.
fn about(verb: &str, targets: &[Target]) -> String {
    match targets {
        [] => verb.to_string(),
        [one] => format!("{verb} {}", one.label),
        many => format!("{verb} {} rows", many.len()),
    }
}

/// A bordered panel in the middle of the screen, over what is beneath, as
/// tall as its lines (which are cut, not wrapped: the dialog's own lines
/// were sized to fit).
fn panel(frame: &mut Frame, area: Rect, theme: &Theme, title: &str, lines: Vec<Line>) {
    let height = (lines.len() as u16 + 2).min(area.height);
    // Narrow screens give a dialog nearly all their width: an assignment id
    // and a worker's name must fit on one line at 80 columns.
    let width = if area.width < 100 {
        area.width.saturating_sub(4)
    } else {
        area.width.saturating_mul(7) / 10
    };
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.warn)
        .title(format!(" {title} "));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

pub fn reason(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    verb: &str,
    targets: &[Target],
    input: &Input,
) {
    let mut lines = vec![
        Line::from(Span::styled(
            format!("{}: why?", about(verb, targets)),
            theme.title,
        )),
        Line::from(Span::styled(
            "Enter to continue, Esc to cancel",
            theme.muted,
        )),
    ];
    // The title, its hint, a blank line and the prompt stay whatever the count.
    lines.extend(targets_lines(targets, panel_rows(area) - 4));
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("reason> ", theme.accent),
        Span::raw(input.value().to_string()),
    ]));
    panel(frame, area, theme, "reason", lines);
}

pub fn confirm(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    verb: &str,
    targets: &[Target],
    reason: &str,
    yes: bool,
) {
    let mut lines = vec![Line::from(Span::styled(
        format!("Really {}?", about(verb, targets)),
        theme.title,
    ))];
    // The question, the reason, a blank line and the buttons always show.
    lines.extend(targets_lines(targets, panel_rows(area) - 4));
    lines.push(Line::from(format!(
        "  reason: {}",
        if reason.is_empty() { "(none)" } else { reason }
    )));
    lines.push(Line::from(""));
    let (no_style, yes_style) = if yes {
        (theme.text, theme.selected)
    } else {
        (theme.selected, theme.text)
    };
    lines.push(Line::from(vec![
        Span::styled(" [ No ] ", no_style),
        Span::raw("   "),
        Span::styled(" [ Yes ] ", yes_style),
        Span::styled("  y yes · n/Esc no", theme.muted),
    ]));
    panel(frame, area, theme, "confirm", lines);
}
