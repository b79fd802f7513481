//! Keys: what each one does in each mode.

use super::{App, DESCRIBE, Effect, Level, Mode, Verb};
use crate::tui::keymap::Action;
use crate::tui::panes::Pane;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

impl App {
    /// A key press. Returns what the engine must be asked, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.on_normal_key(key),
            Mode::Command(mut input) => match key.code {
                KeyCode::Esc => None,
                KeyCode::Enter => self.run_command(input.value().trim()),
                _ => {
                    input.handle_event(&Event::Key(key));
                    self.mode = Mode::Command(input);
                    None
                }
            },
            Mode::Filter(mut input) => {
                match key.code {
                    KeyCode::Esc => {
                        self.filters.remove(&self.pane);
                    }
                    KeyCode::Enter => return self.search_past_the_snapshot(),
                    _ => {
                        input.handle_event(&Event::Key(key));
                        let text = input.value().to_string();
                        match text.strip_prefix('!') {
                            Some(rest) => self.filters.insert(self.pane, (rest.to_string(), true)),
                            None if text.is_empty() => self.filters.remove(&self.pane),
                            None => self.filters.insert(self.pane, (text, false)),
                        };
                        self.mode = Mode::Filter(input);
                    }
                }
                None
            }
            Mode::Reason {
                verb,
                targets,
                mut input,
            } => match key.code {
                KeyCode::Esc => {
                    self.set_flash(format!("{} cancelled", verb.label()), Level::Info);
                    None
                }
                KeyCode::Enter => {
                    let reason = input.value().trim().to_string();
                    self.mode = Mode::Confirm {
                        verb,
                        targets,
                        reason,
                        yes: false,
                    };
                    None
                }
                _ => {
                    input.handle_event(&Event::Key(key));
                    self.mode = Mode::Reason {
                        verb,
                        targets,
                        input,
                    };
                    None
                }
            },
            Mode::Confirm {
                verb,
                targets,
                reason,
                yes,
            } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => self.confirmed(verb, targets, reason),
                KeyCode::Enter if yes => self.confirmed(verb, targets, reason),
                KeyCode::Left | KeyCode::Right | KeyCode::Tab | KeyCode::BackTab => {
                    self.mode = Mode::Confirm {
                        verb,
                        targets,
                        reason,
                        yes: !yes,
                    };
                    None
                }
                _ => {
                    self.set_flash(format!("{} cancelled", verb.label()), Level::Info);
                    None
                }
            },
            Mode::Describe { pane, id, scroll } => {
                match key.code {
                    KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('d') | KeyCode::Enter => {}
                    code @ (KeyCode::Down
                    | KeyCode::Char('j')
                    | KeyCode::Up
                    | KeyCode::Char('k')
                    | KeyCode::PageDown
                    | KeyCode::PageUp) => {
                        self.mode = Mode::Describe {
                            pane,
                            id,
                            scroll: scrolled(scroll, code),
                        }
                    }
                    _ => self.mode = Mode::Describe { pane, id, scroll },
                }
                None
            }
            // j and k scroll a help that does not fit; any other key closes it.
            Mode::Help { scroll } => {
                if let code @ (KeyCode::Down
                | KeyCode::Char('j')
                | KeyCode::Up
                | KeyCode::Char('k')
                | KeyCode::PageDown
                | KeyCode::PageUp) = key.code
                {
                    self.mode = Mode::Help {
                        scroll: scrolled(scroll, code),
                    }
                }
                None
            }
        }
    }

    pub(super) fn on_normal_key(&mut self, key: KeyEvent) -> Option<Effect> {
        // Shift+letter sorts by the column whose name starts with it.
        if let KeyCode::Char(c) = key.code
            && c.is_ascii_uppercase()
            && !key.modifiers.contains(KeyModifiers::CONTROL)
            && self.keymap.action(&key).is_none()
        {
            self.sort_by_letter(c);
            return None;
        }
        let action = self.keymap.action(&key)?;
        if action.dangerous() && self.read_only {
            let subject = self.selected_row().map(|r| r.id);
            return Some(self.refuse_read_only(&action.name(), subject));
        }
        let rows = self.rows(self.pane);
        let (len, index) = (rows.len(), self.selected_index(self.pane, &rows));
        match action {
            Action::Quit => self.quit = true,
            Action::Interrupt => {
                self.mode = Mode::Confirm {
                    verb: Verb::Quit,
                    targets: Vec::new(),
                    reason: String::new(),
                    yes: false,
                }
            }
            Action::NextPane => self.pane = Pane::ALL[(self.pane.index() + 1) % Pane::ALL.len()],
            Action::PrevPane => {
                self.pane = Pane::ALL[(self.pane.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
            }
            Action::Pane(n) => self.pane = Pane::ALL[n.clamp(1, Pane::ALL.len()) - 1],
            Action::Down => return self.move_to(index + 1),
            Action::Up => self.select(index.saturating_sub(1)),
            Action::Top => self.select(0),
            Action::Bottom => return self.move_to(len.saturating_sub(1)),
            Action::PageDown => return self.move_to(index + self.page.get().max(1)),
            Action::PageUp => self.select(index.saturating_sub(self.page.get().max(1))),
            Action::HalfPageDown => return self.move_to(index + (self.page.get() / 2).max(1)),
            Action::HalfPageUp => self.select(index.saturating_sub((self.page.get() / 2).max(1))),
            Action::Describe => {
                let row = self.selected_row()?;
                self.detail = None;
                let fetch = self.pane.view().detail_for(&row.id);
                self.mode = Mode::Describe {
                    pane: self.pane,
                    id: row.id,
                    scroll: 0,
                };
                return fetch.map(|command| Effect::Send {
                    label: DESCRIBE.into(),
                    commands: vec![command],
                });
            }
            Action::Back => {
                self.filters.remove(&self.pane);
                self.marks.clear();
                self.flash = None;
            }
            Action::Command => self.mode = Mode::Command(Input::default()),
            Action::Filter => self.mode = Mode::Filter(Input::default()),
            Action::Help => self.mode = Mode::Help { scroll: 0 },
            Action::Mark => {
                if let Some(row) = self.selected_row()
                    && !self.marks.remove(&row.id)
                {
                    self.marks.insert(row.id);
                }
            }
            Action::Approve => return self.ask(Verb::Approve),
            Action::Reject => return self.ask(Verb::Reject),
            Action::Release => return self.ask(Verb::Release),
            // The engine answers: the sync edge wakes, or the engine says
            // why it cannot (write-back off, Neo4j not configured).
            Action::Dispatch => {
                return Some(self.send("dispatch", crate::wire::Action::Dispatch {}));
            }
            Action::Reconcile => {
                return Some(self.send("reconcile", crate::wire::Action::Reconcile {}));
            }
            Action::Retry => return self.retry_dead_letters(),
            Action::DrainWorker => return self.ask_drain(),
        }
        None
    }

    /// Moves down to `index`; at the end of the audit or the outbox, the
    /// next older page is fetched.
    fn move_to(&mut self, index: usize) -> Option<Effect> {
        self.select(index);
        self.page_past_the_end()
    }

    /// Sorts by the column starting with `letter`; again reverses it, and
    /// a third time moves on to the next column starting with that letter
    /// (SCORE, then STATUS).
    pub(super) fn sort_by_letter(&mut self, letter: char) {
        let columns = self.pane.columns();
        let starting: Vec<usize> = (0..columns.len())
            .filter(|i| columns[*i].starts_with(letter))
            .collect();
        let Some(&first) = starting.first() else {
            self.set_flash(format!("no column starts with {letter}"), Level::Info);
            return;
        };
        let (column, descending) = match self.sort.get(&self.pane) {
            Some((c, false)) if starting.contains(c) => (*c, true),
            Some((c, true)) if starting.contains(c) => {
                let at = starting.iter().position(|s| s == c).unwrap_or(0);
                (starting[(at + 1) % starting.len()], false)
            }
            _ => (first, false),
        };
        self.sort.insert(self.pane, (column, descending));
        self.set_flash(
            format!(
                "sorted by {}{}",
                columns[column],
                if descending { " ↓" } else { " ↑" }
            ),
            Level::Info,
        );
    }
}

/// A text view's scroll after `code`: a line with j/k and the arrows, ten
/// with PgDn/PgUp.
fn scrolled(scroll: u16, code: KeyCode) -> u16 {
    match code {
        KeyCode::Down | KeyCode::Char('j') => scroll.saturating_add(1),
        KeyCode::PageDown => scroll.saturating_add(10),
        KeyCode::PageUp => scroll.saturating_sub(10),
        _ => scroll.saturating_sub(1),
    }
}
