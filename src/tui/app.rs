//! The control room's own state (which pane, which row, what mode) and how
//! keys change it. It never talks to the engine: an action that needs the
//! engine comes back as an [`Effect`] for the event loop to carry out.

use super::keymap::{Action, Keymap};
use super::panes::{Detail, Pane, leases_by_worker};
use super::rows::{self, Row};
use crate::domain::control::ControlMode;
use crate::engine::{Command, Reply, Snapshot};
use crate::wire;
use chrono::{DateTime, Utc};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

/// How the room is connected to its engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    InProcess,
    Attached { socket: String },
    Disconnected { socket: String },
}

/// An operator action awaiting a reason and a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Approve,
    Reject,
    Release,
    Control(ControlMode),
    Quit,
}

impl Verb {
    pub fn label(self) -> String {
        match self {
            Verb::Approve => "approve".into(),
            Verb::Reject => "reject".into(),
            Verb::Release => "release".into(),
            Verb::Control(mode) => format!("set control to {mode}"),
            Verb::Quit => "quit the control room".into(),
        }
    }
}

/// A row an action applies to, with the version the operator saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub id: String,
    pub version: Option<i64>,
    pub label: String,
}

#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    Command(Input),
    Filter(Input),
    Reason {
        verb: Verb,
        targets: Vec<Target>,
        input: Input,
    },
    /// `yes` is false until the operator moves to it: the safe answer is
    /// the default.
    Confirm {
        verb: Verb,
        targets: Vec<Target>,
        reason: String,
        yes: bool,
    },
    Describe {
        pane: Pane,
        id: String,
        scroll: u16,
    },
    Help,
}

/// The label of the fetch a describe view starts.
const DESCRIBE: &str = "describe";

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send {
        label: String,
        commands: Vec<Command>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

pub struct App {
    /// What the engine sent for the describe view being shown.
    pub detail: Option<Detail>,
    /// Replaced only through [`App::set_snapshot`], which forgets the rows
    /// built from the one before.
    snapshot: Arc<Snapshot>,
    pub now: DateTime<Utc>,
    pub pane: Pane,
    pub mode: Mode,
    pub selected: BTreeMap<Pane, usize>,
    pub sort: BTreeMap<Pane, (usize, bool)>,
    pub filter: Option<(String, bool)>,
    pub marks: BTreeSet<String>,
    pub flash: Option<(String, Level)>,
    pub read_only: bool,
    pub operator: String,
    pub connection: Connection,
    pub log_path: String,
    pub keymap: Keymap,
    pub quit: bool,
    /// The last rows built per pane, valid while the snapshot, the filter
    /// and the sort stay the same: a frame does not rebuild 10,000 rows.
    row_cache: RefCell<BTreeMap<Pane, CachedRows>>,
}

type CachedRows = (RowsKey, Rc<Vec<Row>>);

#[derive(Debug, Clone, PartialEq)]
struct RowsKey {
    filter: Option<(String, bool)>,
    sort: Option<(usize, bool)>,
}

impl App {
    pub fn new(
        snapshot: Arc<Snapshot>,
        keymap: Keymap,
        operator: String,
        read_only: bool,
        connection: Connection,
    ) -> App {
        App {
            snapshot,
            now: Utc::now(),
            pane: Pane::Recommendations,
            mode: Mode::Normal,
            selected: BTreeMap::new(),
            sort: BTreeMap::new(),
            filter: None,
            marks: BTreeSet::new(),
            flash: None,
            read_only,
            operator,
            connection,
            log_path: String::new(),
            keymap,
            quit: false,
            row_cache: RefCell::new(BTreeMap::new()),
            detail: None,
        }
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Shows `snapshot` from now on. The rows cached for the one before are
    /// dropped here: keying them on the snapshot's address was wrong, since
    /// a freed snapshot's address can come back with the next one.
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        self.snapshot = snapshot;
        self.row_cache.borrow_mut().clear();
    }

    /// A pane's rows: filtered, then sorted (built once per snapshot).
    pub fn rows(&self, pane: Pane) -> Rc<Vec<Row>> {
        let key = RowsKey {
            filter: self.filter.clone(),
            sort: self.sort.get(&pane).copied(),
        };
        if let Some((cached, rows)) = self.row_cache.borrow().get(&pane)
            && *cached == key
        {
            return rows.clone();
        }
        let mut rows = pane.rows(&self.snapshot);
        if let Some((needle, inverted)) = &self.filter {
            rows::filter(&mut rows, needle, *inverted);
        }
        if let Some((column, descending)) = key.sort {
            rows::sort(&mut rows, column, descending);
        }
        let rows = Rc::new(rows);
        self.row_cache
            .borrow_mut()
            .insert(pane, (key, rows.clone()));
        rows
    }

    pub fn selected_index(&self, pane: Pane, len: usize) -> usize {
        self.selected
            .get(&pane)
            .copied()
            .unwrap_or(0)
            .min(len.saturating_sub(1))
    }

    fn selected_row(&self) -> Option<Row> {
        let rows = self.rows(self.pane);
        let index = self.selected_index(self.pane, rows.len());
        rows.get(index).cloned()
    }

    pub fn set_flash(&mut self, text: impl Into<String>, level: Level) {
        self.flash = Some((text.into(), level));
    }

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
                    KeyCode::Esc => self.filter = None,
                    KeyCode::Enter => {}
                    _ => {
                        input.handle_event(&Event::Key(key));
                        let text = input.value().to_string();
                        self.filter = match text.strip_prefix('!') {
                            Some(rest) => Some((rest.to_string(), true)),
                            None if text.is_empty() => None,
                            None => Some((text, false)),
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
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.mode = Mode::Describe {
                            pane,
                            id,
                            scroll: scroll.saturating_add(1),
                        }
                    }
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.mode = Mode::Describe {
                            pane,
                            id,
                            scroll: scroll.saturating_sub(1),
                        }
                    }
                    _ => self.mode = Mode::Describe { pane, id, scroll },
                }
                None
            }
            Mode::Help => None,
        }
    }

    fn on_normal_key(&mut self, key: KeyEvent) -> Option<Effect> {
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
            self.set_flash(
                format!("read-only: {} is not allowed", action.name()),
                Level::Warn,
            );
            return Some(Effect::Send {
                label: "read-only refusal".into(),
                commands: vec![Command::by(
                    self.operator.clone(),
                    wire::Action::RecordRefusal {
                        action: action.name(),
                        subject: self.selected_row().map(|r| r.id),
                        reason: "the control room is read-only".into(),
                    },
                )],
            });
        }
        let len = self.rows(self.pane).len();
        let index = self.selected_index(self.pane, len);
        match action {
            Action::Quit => self.quit = true,
            Action::Interrupt => {
                self.mode = Mode::Confirm { verb: Verb::Quit, targets: Vec::new(), reason: String::new(), yes: false }
            }
            Action::NextPane => self.pane = Pane::ALL[(self.pane.index() + 1) % Pane::ALL.len()],
            Action::PrevPane => self.pane = Pane::ALL[(self.pane.index() + Pane::ALL.len() - 1) % Pane::ALL.len()],
            Action::Pane(n) => self.pane = Pane::ALL[n.clamp(1, Pane::ALL.len()) - 1],
            Action::Down => {
                self.selected.insert(self.pane, (index + 1).min(len.saturating_sub(1)));
            }
            Action::Up => {
                self.selected.insert(self.pane, index.saturating_sub(1));
            }
            Action::Top => {
                self.selected.insert(self.pane, 0);
            }
            Action::Bottom => {
                self.selected.insert(self.pane, len.saturating_sub(1));
            }
            Action::Describe => {
                let row = self.selected_row()?;
                self.detail = None;
                let fetch = self.pane.view().detail_for(&row.id);
                self.mode = Mode::Describe { pane: self.pane, id: row.id, scroll: 0 };
                return fetch.map(|command| Effect::Send {
                    label: DESCRIBE.into(),
                    commands: vec![command],
                });
            }
            Action::Back => {
                self.filter = None;
                self.marks.clear();
                self.flash = None;
            }
            Action::Command => self.mode = Mode::Command(Input::default()),
            Action::Filter => self.mode = Mode::Filter(Input::default()),
            Action::Help => self.mode = Mode::Help,
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
            Action::Dispatch | Action::Reconcile => self.set_flash(
                format!("{}: outbox write-back needs the AssistX sync layer, which this build does not have", action.name()),
                Level::Warn,
            ),
        }
        None
    }

    fn sort_by_letter(&mut self, letter: char) {
        let columns = self.pane.columns();
        let Some(column) = columns.iter().position(|c| c.starts_with(letter)) else {
            self.set_flash(format!("no column starts with {letter}"), Level::Info);
            return;
        };
        let descending = match self.sort.get(&self.pane) {
            Some((c, d)) if *c == column => !d,
            _ => false,
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

    /// The rows an action applies to: the marked ones, else the selected one.
    fn targets(&self, verb: Verb) -> Vec<Target> {
        if verb == Verb::Release && self.pane == Pane::Workers {
            let worker = self.selected_row().map(|r| r.id).unwrap_or_default();
            let leases = leases_by_worker(&self.snapshot);
            return leases
                .get(&worker)
                .into_iter()
                .flatten()
                .map(|lease| Target {
                    id: lease.assignment_id.clone(),
                    version: self.version_of(&lease.assignment_id),
                    label: format!("{} held by {worker}", lease.task_id),
                })
                .collect();
        }
        let rows = self.rows(self.pane);
        let chosen: Vec<&Row> = if self.marks.is_empty() {
            self.selected_row()
                .and_then(|s| rows.iter().find(|r| r.id == s.id))
                .into_iter()
                .collect()
        } else {
            rows.iter().filter(|r| self.marks.contains(&r.id)).collect()
        };
        chosen
            .into_iter()
            .map(|r| Target {
                id: r.id.clone(),
                version: r.version,
                label: r.cells.first().cloned().unwrap_or_default(),
            })
            .collect()
    }

    fn version_of(&self, id: &str) -> Option<i64> {
        self.snapshot
            .recommendations
            .iter()
            .find(|r| r.assignment_id == id)
            .map(|r| r.version)
    }

    fn ask(&mut self, verb: Verb) -> Option<Effect> {
        let allowed = match verb {
            Verb::Approve | Verb::Reject => {
                matches!(self.pane, Pane::Approvals | Pane::Recommendations)
            }
            Verb::Release => matches!(self.pane, Pane::Workers | Pane::Recommendations),
            _ => true,
        };
        if !allowed {
            self.set_flash(
                format!(
                    "{} works in the approvals and recommendations panes",
                    verb.label()
                ),
                Level::Info,
            );
            return None;
        }
        let targets = self.targets(verb);
        if targets.is_empty() {
            self.set_flash(format!("nothing to {}", verb.label()), Level::Info);
            return None;
        }
        self.mode = Mode::Reason {
            verb,
            targets,
            input: Input::default(),
        };
        None
    }

    fn run_command(&mut self, text: &str) -> Option<Effect> {
        if let Some(pane) = Pane::ALL
            .iter()
            .find(|p| p.command() == text || p.title().eq_ignore_ascii_case(text))
        {
            self.pane = *pane;
            return None;
        }
        let control = |mode| Verb::Control(mode);
        let verb = match text {
            "q" | "quit" => {
                self.quit = true;
                return None;
            }
            "help" => {
                self.mode = Mode::Help;
                return None;
            }
            "tick" => {
                if self.read_only {
                    self.set_flash("read-only: tick is not allowed", Level::Warn);
                    return None;
                }
                return Some(Effect::Send {
                    label: "tick".into(),
                    commands: vec![Command::by(
                        self.operator.clone(),
                        wire::Action::Tick {
                            dry_run: false,
                            candidates: None,
                            router: None,
                        },
                    )],
                });
            }
            "pause" => control(ControlMode::Paused),
            "resume" => control(ControlMode::Enabled),
            "drain" => control(ControlMode::Draining),
            "maintenance" => control(ControlMode::Maintenance),
            other => {
                self.set_flash(
                    format!("unknown command :{other} (try :help)"),
                    Level::Error,
                );
                return None;
            }
        };
        if self.read_only {
            self.set_flash(
                format!("read-only: {} is not allowed", verb.label()),
                Level::Warn,
            );
            return None;
        }
        self.mode = Mode::Reason {
            verb,
            targets: Vec::new(),
            input: Input::default(),
        };
        None
    }

    fn confirmed(&mut self, verb: Verb, targets: Vec<Target>, reason: String) -> Option<Effect> {
        let reason = (!reason.is_empty()).then_some(reason);
        let each = |action: &dyn Fn(&Target) -> wire::Action| -> Vec<Command> {
            targets
                .iter()
                .map(|t| Command::by(self.operator.clone(), action(t)))
                .collect()
        };
        let commands: Vec<Command> = match verb {
            Verb::Quit => {
                self.quit = true;
                return None;
            }
            Verb::Control(mode) => vec![Command::by(
                self.operator.clone(),
                wire::Action::Control { mode, reason },
            )],
            Verb::Approve => each(&|t| wire::Action::Approve {
                assignment_id: t.id.clone(),
                reason: reason.clone(),
                expected_version: t.version,
            }),
            Verb::Reject => each(&|t| wire::Action::Reject {
                assignment_id: t.id.clone(),
                reason: reason.clone(),
                expected_version: t.version,
            }),
            Verb::Release => each(&|t| wire::Action::Release {
                assignment_id: t.id.clone(),
                reason: reason.clone(),
                retry: true,
                expected_version: t.version,
            }),
        };
        self.marks.clear();
        Some(Effect::Send {
            label: verb.label(),
            commands,
        })
    }

    /// What the engine said to an [`Effect`]; refusals show in the flash line.
    pub fn on_results(&mut self, label: &str, results: Vec<Result<Reply, String>>) {
        if label == DESCRIBE {
            for result in results {
                match result {
                    Ok(Reply::Explanation(e)) => self.detail = Some(Detail::Explanation(e)),
                    Ok(Reply::OutboxEvent(e)) => self.detail = Some(Detail::Event(e)),
                    Ok(_) => {}
                    Err(e) => self.set_flash(format!("describe: {e}"), Level::Error),
                }
            }
            return;
        }
        let failed: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().cloned())
            .collect();
        let done = results.len() - failed.len();
        if label == "read-only refusal" {
            return;
        }
        match failed.first() {
            None => self.set_flash(format!("{label}: done ({done})"), Level::Info),
            Some(first) => self.set_flash(
                format!("{label}: {done} done, {} refused: {first}", failed.len()),
                Level::Error,
            ),
        }
    }
}
