//! Help, generated from the keymap.

use super::centered;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
    lines.push(Line::from(Span::styled(
        "Shift+letter sorts by the column starting with it; again reverses.",
        theme.muted,
    )));
    lines.push(Line::from(Span::styled(
        format!("Log file: {}", app.log_path),
        theme.muted,
    )));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.accent)
        .title(Span::styled(" help — Esc back ", theme.title));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
