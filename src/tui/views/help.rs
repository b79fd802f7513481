//! Help, generated from the keymap.

use super::centered;
use super::fit::SHORT_STATUS;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// `scroll` lines down, when the keys do not all fit (80×24 holds about
/// twenty of them): the title then says how to see the rest.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, scroll: u16) {
    let rect = centered(area, 80, 90);
    frame.render_widget(Clear, rect);
    let mut lines: Vec<Line> = app
        .keymap
        .help(app.read_only)
        .into_iter()
        .map(|(keys, description)| {
            Line::from(vec![
                Span::styled(format!("{keys:>16}  "), theme.accent),
                Span::raw(description),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    // Short lines: the help is 64 columns wide at 80×24.
    for text in [
        "Shift+letter sorts by the column starting with it; again",
        "reverses; a third time, the next column with that letter.",
    ] {
        lines.push(Line::from(Span::styled(text, theme.muted)));
    }
    lines.push(Line::from(Span::styled(
        format!("Log file: {}", app.log_path),
        theme.muted,
    )));
    lines.push(Line::from(Span::styled(
        "Narrow tables write statuses short:",
        theme.muted,
    )));
    // Two to a line, as `appr approval_required`: 80 columns hold them.
    for group in SHORT_STATUS.chunks(2) {
        let pairs: Vec<String> = group
            .iter()
            .map(|(long, short)| format!("{short:<4} {long:<17}"))
            .collect();
        lines.push(Line::from(Span::styled(
            format!("  {}", pairs.join("  ")),
            theme.muted,
        )));
    }
    lines.push(Line::from(Span::styled(
        format!(
            "Times are {} (set [ui] time = \"local\" or \"utc\").",
            app.clock.zone_name(app.now)
        ),
        theme.muted,
    )));
    let fits = rect.height.saturating_sub(2);
    let hidden = (lines.len() as u16).saturating_sub(fits);
    let scroll = scroll.min(hidden);
    let title = if hidden == 0 {
        " help — Esc back ".to_string()
    } else {
        format!(
            " help — j/k scroll (lines {}–{} of {}) — Esc back ",
            scroll + 1,
            scroll + fits,
            lines.len()
        )
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.accent)
        .title(Span::styled(title, theme.title));
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), rect);
}
