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

fn targets_lines(targets: &[Target]) -> Vec<Line<'static>> {
    targets
        .iter()
        .take(12)
        .map(|t| {
            Line::from(format!(
                "  • {} {} (version {})",
                t.id,
                t.label,
                t.version.map_or("-".into(), |v| v.to_string())
            ))
        })
        .chain(
            (targets.len() > 12)
                .then(|| Line::from(format!("  … and {} more", targets.len() - 12))),
        )
        .collect()
}

/// A bordered panel in the middle of the screen, over what is beneath.
fn panel(frame: &mut Frame, area: Rect, theme: &Theme, title: &str, lines: Vec<Line>) {
    let rect = centered(area, 70, 50);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.warn)
        .title(format!(" {title} "));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

pub fn reason(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    verb: &str,
    targets: &[Target],
    input: &Input,
) {
    let mut lines = vec![Line::from(Span::styled(
        format!("{verb}: why? (Enter to continue, Esc to cancel)"),
        theme.title,
    ))];
    lines.extend(targets_lines(targets));
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
        format!("Really {verb}?"),
        theme.title,
    ))];
    lines.extend(targets_lines(targets));
    if !reason.is_empty() {
        lines.push(Line::from(format!("  reason: {reason}")));
    }
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
        Span::styled("   y: yes · n/Esc: no · ←/→ then Enter", theme.muted),
    ]));
    panel(frame, area, theme, "confirm", lines);
}
