//! A pane as a table: only the visible rows are built, so a snapshot of
//! ten thousand tasks costs no more to draw than a screenful.

use crate::tui::app::App;
use crate::tui::panes::Pane;
use crate::tui::rows::{Tone, format_age, seconds_since};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, pane: Pane, active: bool) {
    let area = if pane == Pane::Queue && area.height > 8 {
        let [top, rest] = Layout::vertical([Constraint::Length(4), Constraint::Min(3)]).areas(area);
        queue_summary(frame, top, app, theme);
        rest
    } else if pane == Pane::Outbox && active && area.height > 6 {
        let [top, rest] = Layout::vertical([Constraint::Length(2), Constraint::Min(3)]).areas(area);
        outbox_summary(frame, top, app, theme);
        rest
    } else {
        area
    };
    let rows = app.rows(pane);
    let selected = app.selected_index(pane, rows.len());
    let mut title = format!(" {} ({}) ", pane.title(), rows.len());
    if active {
        if let Some((needle, inverted)) = &app.filter {
            title.push_str(&format!("/{}{} ", if *inverted { "!" } else { "" }, needle));
        }
        if let Some((column, descending)) = app.sort.get(&pane) {
            let name = pane.columns().get(*column).copied().unwrap_or("");
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
    let offset = if active && selected >= inner_height {
        selected + 1 - inner_height
    } else {
        0
    };
    let visible = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(inner_height.max(1));
    let body: Vec<Row> = visible
        .map(|(i, row)| {
            let marked = app.marks.contains(&row.id);
            let mut cells: Vec<Cell> = Vec::with_capacity(row.cells.len() + 1);
            cells.push(Cell::from(if marked { "●" } else { " " }));
            cells.extend(row.cells_at(app.now).into_iter().map(Cell::from));
            let mut style = tone(theme, row.tone);
            if marked {
                style = style.patch(theme.marked);
            }
            if active && i == selected {
                style = style.patch(theme.selected);
            }
            Row::new(cells).style(style)
        })
        .collect();
    let columns = pane.columns();
    let header =
        Row::new(std::iter::once(Cell::from(" ")).chain(columns.iter().map(|c| Cell::from(*c))))
            .style(theme.title);
    let widths = std::iter::once(Constraint::Length(1)).chain(widths(pane));
    let table = Table::new(body, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    frame.render_widget(table, area);
    if rows.is_empty() {
        let hint = match pane {
            Pane::Approvals => "nothing waits for an approval",
            Pane::Workers => "no worker has sent a heartbeat yet",
            Pane::Outbox => "no events",
            _ => "empty",
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

fn widths(pane: Pane) -> Vec<Constraint> {
    use Constraint::{Length, Min};
    match pane {
        Pane::Queue => vec![Length(18), Length(14), Length(14), Length(6)],
        Pane::Recommendations => vec![
            Length(14),
            Min(10),
            Length(13),
            Length(12),
            Length(6),
            Length(17),
            Length(7),
        ],
        Pane::Approvals => vec![Length(14), Min(10), Length(22), Length(8), Length(7)],
        Pane::Workers => vec![
            Length(14),
            Length(14),
            Length(20),
            Min(10),
            Length(6),
            Length(7),
            Length(6),
        ],
        Pane::Outbox => vec![
            Length(6),
            Length(11),
            Length(36),
            Length(24),
            Length(5),
            Length(7),
            Min(10),
        ],
        Pane::Audit => vec![
            Length(7),
            Length(10),
            Length(14),
            Length(24),
            Length(28),
            Length(10),
            Min(10),
        ],
    }
}

fn queue_summary(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let s = app.snapshot();
    let waiting: u64 = s
        .queue
        .iter()
        .filter(|q| q.status != "blocked")
        .map(|q| q.count)
        .sum();
    let oldest = s
        .oldest_waiting_at
        .as_deref()
        .and_then(|at| seconds_since(at, app.now))
        .map(format_age)
        .unwrap_or_else(|| "-".into());
    let [text, spark] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(3)]).areas(area);
    let line = Line::from(vec![
        Span::styled(format!(" waiting {waiting}"), theme.title),
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

/// Counts per status, the write-back lag, and the last error (AssistX is
/// the one destination today).
fn outbox_summary(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let o = &app.snapshot().outbox;
    let lag = o
        .oldest_pending_at
        .as_deref()
        .and_then(|at| seconds_since(at, app.now))
        .map(format_age)
        .unwrap_or_else(|| "-".into());
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
        Span::styled(format!("   write-back lag {lag}"), theme.title),
    ]);
    let error = Line::from(Span::styled(
        format!(
            " last error (assistx): {}",
            o.last_error.as_deref().unwrap_or("none")
        ),
        if o.last_error.is_some() {
            theme.warn
        } else {
            theme.muted
        },
    ));
    frame.render_widget(Paragraph::new(vec![counts, error]), area);
}
