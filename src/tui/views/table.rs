//! A pane as a table: only the visible rows are built, so a snapshot of
//! ten thousand tasks costs no more to draw than a screenful.

use crate::tui::app::App;
use crate::tui::panes::Pane;
use crate::tui::rows::{Row, Tone};
use crate::tui::theme::Theme;
use crate::tui::views::fit::{self, Fit, shorten_status};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row as TableRow, Table};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, pane: Pane, active: bool) {
    let view = pane.view();
    let summary = view.summary_height(active);
    let area = if summary > 0 && area.height > summary + 4 {
        let [top, rest] =
            Layout::vertical([Constraint::Length(summary), Constraint::Min(3)]).areas(area);
        view.draw_summary(frame, top, app, theme);
        rest
    } else {
        area
    };
    let rows = app.rows(pane);
    let selected = app.selected_index(pane, &rows);
    let filter = app.filters.get(&pane);
    let mut title = match filter {
        // Filtered: how many of how many, whichever pane it is.
        Some((needle, inverted)) => format!(
            " {} (filtered {}/{}) /{}{} ",
            pane.title(),
            rows.len(),
            pane.rows(app.snapshot(), app.now).len(),
            if *inverted { "!" } else { "" },
            needle
        ),
        None => match view.total(app.snapshot()) {
            Some(total) if total > rows.len() as u64 => {
                format!(" {} ({} of {total}) ", pane.title(), rows.len())
            }
            _ => format!(" {} ({}) ", pane.title(), rows.len()),
        },
    };
    if active {
        if let Some((column, descending)) = app.sort.get(&pane) {
            let name = view.info().columns.get(*column).map_or("", |c| c.name);
            title.push_str(&format!(
                "sort {name}{} ",
                if *descending { "↓" } else { "↑" }
            ));
        }
        if !app.marks.is_empty() {
            title.push_str(&format!("{} marked ", app.marks.len()));
        }
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if active { theme.accent } else { theme.border })
        .title(Span::styled(
            title,
            if active { theme.title } else { theme.muted },
        ));
    let inner_height = area.height.saturating_sub(3) as usize; // borders + header
    if active {
        app.page.set(inner_height);
    }
    let offset = if active && selected >= inner_height {
        selected + 1 - inner_height
    } else {
        0
    };
    let columns = view.info().columns;
    let visible: Vec<(usize, &Row, Vec<String>)> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(inner_height.max(1))
        .map(|(i, row)| (i, row, row.cells_at(app.now, &app.clock)))
        .collect();
    let fits: Vec<Fit> = columns.iter().map(|c| c.fit).collect();
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let cells: Vec<Vec<String>> = visible.iter().map(|(_, _, c)| c.clone()).collect();
    // Inside the borders, beside the mark column.
    let room = area.width.saturating_sub(2 + 1);
    let fitted = fit::fit(&fits, &names, &cells, room);
    // Columns left out (width 0) are not drawn at all, spacing included.
    let drawn: Vec<usize> = (0..columns.len())
        .filter(|i| fitted.widths.get(*i).is_some_and(|w| *w > 0))
        .collect();
    let shown = |i: usize, cell: &str| -> String {
        let width = fitted.widths.get(i).copied().unwrap_or(0);
        match fits.get(i) {
            Some(Fit::Status) if fitted.short_status => shorten_status(cell),
            Some(Fit::Text { .. } | Fit::Grow { .. }) => fit::cut(cell, width),
            _ => cell.to_string(),
        }
    };
    let body: Vec<TableRow> = visible
        .into_iter()
        .map(|(i, row, cells)| {
            let marked = app.marks.contains(&row.id);
            let mut shown_cells: Vec<Cell> = Vec::with_capacity(cells.len() + 1);
            shown_cells.push(Cell::from(if marked { "●" } else { " " }));
            shown_cells.extend(
                drawn
                    .iter()
                    .map(|c| Cell::from(shown(*c, cells.get(*c).map_or("", String::as_str)))),
            );
            let mut style = tone(theme, row.tone);
            if marked {
                style = style.patch(theme.marked);
            }
            if active && i == selected {
                style = style.patch(theme.selected);
            }
            TableRow::new(shown_cells).style(style)
        })
        .collect();
    let header = TableRow::new(
        std::iter::once(Cell::from(" "))
            .chain(drawn.iter().map(|i| Cell::from(shown(*i, names[*i])))),
    )
    .style(theme.title);
    let widths = std::iter::once(Constraint::Length(1))
        .chain(drawn.iter().map(|i| Constraint::Length(fitted.widths[*i])));
    let table = Table::new(body, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    frame.render_widget(table, area);
    if rows.is_empty() {
        let hint = match filter {
            Some((needle, _)) => format!("no row matches /{needle} (Esc clears it)"),
            None => view.empty_hint().to_string(),
        };
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        if area.height > 3 {
            frame.render_widget(Paragraph::new(Span::styled(hint, theme.muted)), inner);
        }
    }
}

fn tone(theme: &Theme, tone: Tone) -> Style {
    match tone {
        Tone::Normal => theme.text,
        Tone::Muted => theme.muted,
        Tone::Ok => theme.ok,
        Tone::Warn => theme.warn,
        Tone::Error => theme.error,
    }
}
