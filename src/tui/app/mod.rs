//! The control room's own state (which pane, which row, what mode) and how
//! keys change it. It never talks to the engine: an action that needs the
//! engine comes back as an [`Effect`] for the event loop to carry out.

use crate::domain::control::ControlMode;
use crate::domain::printable::escape;
use crate::engine::{Command, Reply, Snapshot};
use crate::tui::attention::{self, Heard};
use crate::tui::clock::Clock;
use crate::tui::keymap::Keymap;
use crate::tui::panes::{Detail, Pane};
use crate::tui::rows::{self, Row};
use chrono::{DateTime, Utc};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use tui_input::Input;

mod actions;
mod history;
mod keys;

pub use history::History;

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
    /// Drain (`true`) or undrain a worker.
    Drain(bool),
    Control(ControlMode),
    Quit,
}

impl Verb {
    pub fn label(self) -> String {
        match self {
            Verb::Approve => "approve".into(),
            Verb::Reject => "reject".into(),
            Verb::Release => "release".into(),
            Verb::Drain(true) => "drain".into(),
            Verb::Drain(false) => "undrain".into(),
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
    /// The keys; `scroll` lines scrolled down when they do not all fit.
    Help {
        scroll: u16,
    },
}

/// A selected row: its id, and its place when it was selected.
#[derive(Debug, Clone, PartialEq)]
struct Selection {
    id: String,
    index: usize,
}

/// The label of the fetch a describe view starts.
const DESCRIBE: &str = "describe";
/// The labels of the fetches past the snapshot's audit and outbox rows.
const OLDER: &str = "older";
const SEARCH: &str = "search";

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
    /// built from the one before: the engine's snapshot, with the older
    /// rows of `history` added when there are any.
    snapshot: Arc<Snapshot>,
    /// The engine's snapshot as it came.
    base: Arc<Snapshot>,
    /// Audit and outbox rows fetched past the snapshot's.
    history: History,
    pub now: DateTime<Utc>,
    /// The zone times are written in (UTC until the room is told otherwise).
    pub clock: Clock,
    pub pane: Pane,
    pub mode: Mode,
    /// Per pane, the selected row by its id (and where it stood, for when
    /// it leaves the list): a re-sort moves the highlight with the task, so
    /// an action never lands on a row the operator did not pick.
    selected: BTreeMap<Pane, Selection>,
    pub sort: BTreeMap<Pane, (usize, bool)>,
    /// Per pane, the text typed after `/` (and whether `!` inverts it):
    /// a filter belongs to the pane it was typed in, so a side pane never
    /// says "empty" because of another pane's filter.
    pub filters: BTreeMap<Pane, (String, bool)>,
    pub marks: BTreeSet<String>,
    pub flash: Option<(String, Level)>,
    /// When the flash goes by itself (5 s for news, 10 s for a warning).
    flash_until: Option<DateTime<Utc>>,
    pub read_only: bool,
    pub operator: String,
    pub connection: Connection,
    pub log_path: String,
    pub keymap: Keymap,
    pub quit: bool,
    /// The last rows built per pane, valid while the filter, the sort and
    /// what the pane shows of the snapshot stay the same: a frame does not
    /// rebuild 10,000 rows.
    row_cache: RefCell<BTreeMap<Pane, CachedRows>>,
    /// The workers late at the last tick, to notice one turning late.
    late: Vec<String>,
    /// Rows the active pane showed at its last draw: what a page is.
    pub(crate) page: std::cell::Cell<usize>,
}

type CachedRows = (RowsKey, Rc<Vec<Row>>);

fn late_workers(s: &Snapshot, now: DateTime<Utc>) -> Vec<String> {
    s.workers
        .iter()
        .filter(|w| attention::heard(w, s.limits.stale_heartbeat_seconds, now) == Heard::Late)
        .map(|w| w.key())
        .collect()
}

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
            base: snapshot.clone(),
            history: History::default(),
            snapshot,
            now: Utc::now(),
            clock: Clock::utc(),
            pane: Pane::Recommendations,
            mode: Mode::Normal,
            selected: BTreeMap::new(),
            sort: BTreeMap::new(),
            filters: BTreeMap::new(),
            marks: BTreeSet::new(),
            flash: None,
            flash_until: None,
            read_only,
            operator,
            connection,
            log_path: String::new(),
            keymap,
            quit: false,
            row_cache: RefCell::new(BTreeMap::new()),
            page: std::cell::Cell::new(10),
            late: Vec::new(),
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
        // Where each selected row stands in the list on screen: if it
        // leaves the next one, the row then at that place is selected.
        let panes: Vec<Pane> = self.selected.keys().copied().collect();
        for pane in panes {
            let index = self.selected_index(pane, &self.rows(pane));
            if let Some(selection) = self.selected.get_mut(&pane) {
                selection.index = index;
            }
        }
        self.history.carry(&self.base, &snapshot);
        self.base = snapshot;
        self.show_history();
    }

    /// Shows the engine's snapshot with the fetched older rows after it.
    fn show_history(&mut self) {
        let shown = if self.history.is_empty() {
            self.base.clone()
        } else {
            Arc::new(self.history.extend(&self.base))
        };
        let before = std::mem::replace(&mut self.snapshot, shown);
        self.row_cache
            .borrow_mut()
            .retain(|pane, _| pane.same_rows(&before, &self.snapshot));
    }

    /// At the last row of the audit or the outbox: the next older page.
    pub(super) fn page_past_the_end(&mut self) -> Option<Effect> {
        let log = history::log_of(self.pane)?;
        let rows = self.rows(self.pane);
        if self.selected_index(self.pane, &rows) + 1 < rows.len() {
            return None;
        }
        let command = self.history.next_page(&self.base, log)?;
        self.set_flash("loading older rows…", Level::Info);
        Some(Effect::Send {
            label: OLDER.into(),
            commands: vec![command],
        })
    }

    /// A filter typed in the audit or the outbox searches past the
    /// snapshot's rows too.
    pub(super) fn search_past_the_snapshot(&mut self) -> Option<Effect> {
        let log = history::log_of(self.pane)?;
        let (needle, inverted) = self.filters.get(&self.pane)?;
        if *inverted {
            return None;
        }
        let command = self.history.search(&self.base, log, needle)?;
        Some(Effect::Send {
            label: SEARCH.into(),
            commands: vec![command],
        })
    }

    /// A pane's rows: filtered, then sorted (built again only when a
    /// snapshot changes what they show).
    pub fn rows(&self, pane: Pane) -> Rc<Vec<Row>> {
        let key = RowsKey {
            filter: self.filters.get(&pane).cloned(),
            sort: self.sort.get(&pane).copied(),
        };
        if let Some((cached, rows)) = self.row_cache.borrow().get(&pane)
            && *cached == key
        {
            return rows.clone();
        }
        let mut rows = pane.rows(&self.snapshot, self.now);
        if let Some((needle, inverted)) = &key.filter {
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

    /// Where the selected row of `pane` stands in `rows`: the row with its
    /// id, else (it left the list) the nearest to where it was.
    pub fn selected_index(&self, pane: Pane, rows: &[Row]) -> usize {
        let Some(selection) = self.selected.get(&pane) else {
            return 0;
        };
        rows.iter()
            .position(|r| r.id == selection.id)
            .unwrap_or(selection.index)
            .min(rows.len().saturating_sub(1))
    }

    pub(super) fn selected_row(&self) -> Option<Row> {
        let rows = self.rows(self.pane);
        rows.get(self.selected_index(self.pane, &rows)).cloned()
    }

    /// Selects the row at `index` of the current pane (clamped).
    pub(super) fn select(&mut self, index: usize) {
        let rows = self.rows(self.pane);
        let index = index.min(rows.len().saturating_sub(1));
        if let Some(row) = rows.get(index) {
            let id = row.id.clone();
            self.selected.insert(self.pane, Selection { id, index });
        }
    }

    pub fn set_flash(&mut self, text: impl Into<String>, level: Level) {
        let text = text.into();
        self.flash = Some((escape(&text).into_owned(), level));
        let seconds = if level == Level::Info { 5 } else { 10 };
        self.flash_until = Some(self.now + chrono::Duration::seconds(seconds));
    }

    /// The clock moved: a flash shown long enough goes, so the key hints
    /// come back without an Esc.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        // A worker turning late changes its row with no new snapshot.
        let late = late_workers(&self.snapshot, now);
        if late != self.late {
            self.late = late;
            self.row_cache.borrow_mut().clear();
        }
        if self.flash_until.is_some_and(|until| now >= until) {
            self.flash = None;
            self.flash_until = None;
        }
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
        if label == OLDER || label == SEARCH {
            let paging = label == OLDER;
            for result in results {
                let (what, n) = match result {
                    Ok(Reply::AuditRows(rows)) => {
                        ("audit entries", self.history.add_audit(rows, paging))
                    }
                    Ok(Reply::OutboxRows(rows)) => {
                        ("outbox events", self.history.add_outbox(rows, paging))
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        self.history.failed(crate::wire::Log::Audit);
                        self.history.failed(crate::wire::Log::Outbox);
                        self.set_flash(format!("older rows: {e}"), Level::Error);
                        continue;
                    }
                };
                let text = match (paging, n) {
                    (true, 0) => format!("no older {what}"),
                    (true, n) => format!("{n} older {what} loaded"),
                    (false, n) => format!("{n} older {what} match"),
                };
                self.set_flash(text, Level::Info);
            }
            self.show_history();
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
