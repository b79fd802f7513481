//! Rendering: a pure function of the app state (and so of the snapshot it
//! holds) onto a frame. One file per region.

mod dialog;
pub mod fit;
mod header;
mod help;
mod table;

use super::app::{App, Level, Mode};
use super::panes::Pane;
use super::theme::Theme;
use crate::domain::printable::escape;
use crate::tui::clock::Now;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// Wide enough for a side column beside the active pane.
const WIDE: (u16, u16) = (150, 40);

pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(footer_height(app, area.width)),
    ])
    .areas(area);
    header::draw(frame, header, app, theme);
    draw_tabs(frame, tabs, app, theme);
    if area.width >= WIDE.0 && area.height >= WIDE.1 && app.pane != Pane::Queue {
        let [side, main] =
            Layout::horizontal([Constraint::Length(56), Constraint::Min(40)]).areas(body);
        let [queue, approvals] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(side);
        table::draw(frame, queue, app, theme, Pane::Queue, false);
        let other = if app.pane == Pane::Approvals {
            Pane::Workers
        } else {
            Pane::Approvals
        };
        table::draw(frame, approvals, app, theme, other, false);
        table::draw(frame, main, app, theme, app.pane, true);
    } else {
        table::draw(frame, body, app, theme, app.pane, true);
    }
    draw_footer(frame, footer, app, theme);
    match &app.mode {
        Mode::Describe { pane, id, scroll } => {
            let lines: Vec<String> = pane
                .view()
                .describe(
                    app.snapshot(),
                    id,
                    app.detail.as_ref(),
                    Now {
                        at: app.now,
                        clock: &app.clock,
                    },
                )
                .iter()
                .map(|line| escape(line).into_owned())
                .collect();
            dialog::text(
                frame,
                area,
                theme,
                &format!("{} {id}", pane.title()),
                &lines,
                *scroll,
            );
        }
        Mode::Help { scroll } => help::draw(frame, area, app, theme, *scroll),
        Mode::Reason {
            verb,
            targets,
            input,
        } => dialog::reason(frame, area, theme, &verb.label(), targets, input),
        Mode::Confirm {
            verb,
            targets,
            reason,
            yes,
        } => dialog::confirm(frame, area, theme, &verb.label(), targets, reason, *yes),
        _ => {}
    }
}

/// The tabs' labels, as wide as `width` allows: full titles, else the
/// short names, else the short names with only the badges' numbers (the
/// header says the rest), so every tab fits in 80 columns.
fn tab_labels(app: &App, width: u16) -> Vec<String> {
    let labels = |short: bool, terse: bool| -> Vec<String> {
        Pane::ALL
            .iter()
            .enumerate()
            .map(|(i, pane)| {
                let name = if short { pane.command() } else { pane.title() };
                let badge = pane.view().badge(app.snapshot()).map(|badge| {
                    let badge = if terse {
                        badge.split(' ').next().unwrap_or_default().to_string()
                    } else {
                        badge
                    };
                    format!(" ({badge})")
                });
                format!(" {}:{name}{} ", i + 1, badge.unwrap_or_default())
            })
            .collect()
    };
    let fits = |labels: &[String]| {
        labels
            .iter()
            .map(|l| usize::from(fit::width(l)))
            .sum::<usize>()
            <= usize::from(width)
    };
    [(false, false), (true, false), (true, true)]
        .into_iter()
        .map(|(short, terse)| labels(short, terse))
        .find(|l| fits(l))
        .unwrap_or_else(|| labels(true, true))
}

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let spans: Vec<Span> = tab_labels(app, area.width)
        .into_iter()
        .zip(Pane::ALL)
        .map(|(label, pane)| {
            let style = if pane == app.pane {
                theme.selected
            } else {
                theme.muted
            };
            Span::styled(label, style)
        })
        .collect();
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// One line, or up to three for a flash too long for one (a refusal's
/// reason is worth reading whole at 80 columns).
fn footer_height(app: &App, width: u16) -> u16 {
    match (&app.mode, &app.flash) {
        (Mode::Command(_) | Mode::Filter(_), _) | (_, None) => 1,
        (_, Some((text, _))) => fit::width(text).div_ceil(width.max(1)).clamp(1, 3),
    }
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = match &app.mode {
        Mode::Command(input) => Line::from(vec![
            Span::styled(":", theme.accent),
            Span::raw(input.value().to_string()),
        ]),
        Mode::Filter(input) => Line::from(vec![
            Span::styled("/", theme.accent),
            Span::raw(input.value().to_string()),
        ]),
        _ => match &app.flash {
            Some((text, level)) => {
                let style = match level {
                    Level::Info => theme.text,
                    Level::Warn => theme.warn,
                    Level::Error => theme.error,
                };
                Line::from(Span::styled(text.clone(), style))
            }
            None => {
                let k = |a| app.keymap.key_of(a);
                use super::keymap::Action::*;
                let mut hints = vec![
                    format!("{} help", k(Help)),
                    format!("{} cmd", k(Command)),
                    format!("{} filter", k(Filter)),
                    format!("{} describe", k(Describe)),
                ];
                if !app.read_only {
                    hints.push(format!("{} approve", k(Approve)));
                    hints.push(format!("{} reject", k(Reject)));
                    hints.push(format!("{} release", k(Release)));
                    hints.push(format!("{} mark", k(Mark)));
                }
                hints.push(format!("{} quit", k(Quit)));
                Line::from(Span::styled(hints.join("  "), theme.muted))
            }
        },
    };
    frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: false }), area);
}

/// A rectangle of `percent_x` by `percent_y` of `area`, centred.
fn centered(area: Rect, percent_x: u16, percent_y: u16) -> Rect {
    let [_, middle, _] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Percentage((100 - percent_y) / 2),
            Constraint::Percentage(percent_y),
            Constraint::Percentage((100 - percent_y) / 2),
        ])
        .areas(area);
    let [_, center, _] = Layout::horizontal([
        Constraint::Percentage((100 - percent_x) / 2),
        Constraint::Percentage(percent_x),
        Constraint::Percentage((100 - percent_x) / 2),
    ])
    .areas(middle);
    center
}

#[cfg(test)]
mod tests;
