//! The keymap is data: one table of actions drives key dispatch, the help
//! screen and read-only filtering. The config file's `[keymap]` table
//! rebinds actions by name (`approve = "A"`).

use crate::error::{Error, Result};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Interrupt,
    NextPane,
    PrevPane,
    Pane(usize),
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    HalfPageDown,
    HalfPageUp,
    Describe,
    Back,
    Command,
    Filter,
    Help,
    Mark,
    Approve,
    Reject,
    Release,
    Dispatch,
    Reconcile,
    Retry,
    DrainWorker,
}

impl Action {
    pub fn name(self) -> String {
        match self {
            Action::Pane(n) => format!("pane_{n}"),
            other => format!("{other:?}")
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let lower = c.to_ascii_lowercase();
                    if c.is_ascii_uppercase() && i > 0 {
                        vec!['_', lower]
                    } else {
                        vec![lower]
                    }
                })
                .collect(),
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Interrupt => "quit, after confirming",
            Action::NextPane => "next pane",
            Action::PrevPane => "previous pane",
            Action::Pane(_) => "go to pane",
            Action::Down => "down",
            Action::Up => "up",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::PageDown => "a page down",
            Action::PageUp => "a page up",
            Action::HalfPageDown => "half a page down",
            Action::HalfPageUp => "half a page up",
            Action::Describe => "describe the selected row",
            Action::Back => "back / cancel",
            Action::Command => "command: :queue … :alerts, :pause :resume :drain :tick :q",
            Action::Filter => "filter rows (! inverts)",
            Action::Help => "this help",
            Action::Mark => "mark a row for a bulk action",
            Action::Approve => "approve (asks a reason, then confirms)",
            Action::Reject => "reject (asks a reason, then confirms)",
            Action::Release => "release a lease (confirms)",
            Action::Dispatch => "dispatch the outbox to AssistX",
            Action::Reconcile => "reconcile the outbox with Neo4j",
            Action::Retry => "retry a dead-lettered event (outbox pane)",
            Action::DrainWorker => "drain / undrain the selected worker (workers pane)",
        }
    }

    /// Changes state somewhere: hidden and refused when read-only.
    pub fn dangerous(self) -> bool {
        matches!(
            self,
            Action::Approve
                | Action::Reject
                | Action::Release
                | Action::Dispatch
                | Action::Reconcile
                | Action::Retry
                | Action::DrainWorker
        )
    }
}

const DEFAULTS: &[(&str, Action)] = &[
    ("q", Action::Quit),
    ("ctrl-c", Action::Interrupt),
    ("tab", Action::NextPane),
    ("backtab", Action::PrevPane),
    ("1", Action::Pane(1)),
    ("2", Action::Pane(2)),
    ("3", Action::Pane(3)),
    ("4", Action::Pane(4)),
    ("5", Action::Pane(5)),
    ("6", Action::Pane(6)),
    ("7", Action::Pane(7)),
    ("j", Action::Down),
    ("down", Action::Down),
    ("k", Action::Up),
    ("up", Action::Up),
    ("g", Action::Top),
    ("home", Action::Top),
    ("G", Action::Bottom),
    ("end", Action::Bottom),
    ("pgdn", Action::PageDown),
    ("pgup", Action::PageUp),
    ("ctrl-d", Action::HalfPageDown),
    ("ctrl-u", Action::HalfPageUp),
    ("d", Action::Describe),
    ("enter", Action::Describe),
    ("esc", Action::Back),
    (":", Action::Command),
    ("/", Action::Filter),
    ("?", Action::Help),
    ("space", Action::Mark),
    ("a", Action::Approve),
    ("x", Action::Reject),
    ("r", Action::Release),
    ("p", Action::Dispatch),
    ("c", Action::Reconcile),
    ("t", Action::Retry),
    ("w", Action::DrainWorker),
];

/// A key as written in the keymap: `a`, `G`, `ctrl-c`, `enter`, `space`...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    code: KeyCode,
    ctrl: bool,
}

impl Key {
    pub fn parse(text: &str) -> std::result::Result<Key, String> {
        let (ctrl, rest) = match text.strip_prefix("ctrl-") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let code = match rest {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            one if one.chars().count() == 1 => KeyCode::Char(one.chars().next().unwrap_or(' ')),
            other => {
                return Err(format!(
                    "'{other}' is not a key (a character, ctrl-X, enter, esc, tab, backtab, space, up, down, left, right, home, end, pgup, pgdn)"
                ));
            }
        };
        Ok(Key { code, ctrl })
    }

    pub fn matches(&self, event: &KeyEvent) -> bool {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        ctrl == self.ctrl && event.code == self.code
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Char(' ') => "Space".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{base}")
        } else {
            base
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Key, Action)>,
}

impl Keymap {
    /// The defaults with `overrides` (action name → key) applied: an
    /// override replaces every default key of that action.
    pub fn new(overrides: &BTreeMap<String, String>) -> Result<Keymap> {
        let mut bindings: Vec<(Key, Action)> = DEFAULTS
            .iter()
            .map(|(k, a)| {
                (
                    Key::parse(k).unwrap_or(Key {
                        code: KeyCode::Null,
                        ctrl: false,
                    }),
                    *a,
                )
            })
            .collect();
        for (name, key) in overrides {
            let action = DEFAULTS
                .iter()
                .map(|(_, a)| *a)
                .find(|a| a.name() == *name)
                .ok_or_else(|| Error::bad_input("keymap", format!("unknown action '{name}'")))?;
            let key = Key::parse(key).map_err(|e| Error::bad_input(format!("keymap {name}"), e))?;
            bindings.retain(|(_, a)| *a != action);
            bindings.push((key, action));
        }
        Ok(Keymap { bindings })
    }

    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        self.bindings
            .iter()
            .find(|(k, _)| k.matches(event))
            .map(|(_, a)| *a)
    }

    /// (keys, description) per action, in keymap order, for the help screen.
    pub fn help(&self, read_only: bool) -> Vec<(String, &'static str)> {
        let mut out: Vec<(Action, Vec<String>)> = Vec::new();
        for (key, action) in &self.bindings {
            if read_only && action.dangerous() {
                continue;
            }
            let action = match action {
                Action::Pane(_) => Action::Pane(0),
                other => *other,
            };
            match out.iter_mut().find(|(a, _)| *a == action) {
                Some((_, keys)) => keys.push(key.label()),
                None => out.push((action, vec![key.label()])),
            }
        }
        out.into_iter()
            .map(|(action, keys)| {
                let description = match action {
                    // Read-only: the `:` commands that would change state
                    // are refused, so they are not offered.
                    Action::Command if read_only => "command: :queue … :alerts, :q",
                    other => other.description(),
                };
                (keys.join(" "), description)
            })
            .collect()
    }

    /// The first key bound to `action`, for hints.
    pub fn key_of(&self, action: Action) -> String {
        self.bindings
            .iter()
            .find(|(_, a)| *a == action)
            .map(|(k, _)| k.label())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn defaults_dispatch() {
        let map = Keymap::new(&BTreeMap::new()).unwrap();
        assert_eq!(map.action(&key(KeyCode::Char('a'))), Some(Action::Approve));
        assert_eq!(map.action(&key(KeyCode::Char('G'))), Some(Action::Bottom));
        assert_eq!(
            map.action(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Interrupt)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('c'))),
            Some(Action::Reconcile)
        );
    }

    #[test]
    fn overrides_replace_the_default_key() {
        let map = Keymap::new(&BTreeMap::from([("approve".to_string(), "A".to_string())])).unwrap();
        assert_eq!(map.action(&key(KeyCode::Char('A'))), Some(Action::Approve));
        assert_eq!(map.action(&key(KeyCode::Char('a'))), None);
    }

    #[test]
    fn bad_overrides_are_named() {
        let err = Keymap::new(&BTreeMap::from([("fly".to_string(), "f".to_string())])).unwrap_err();
        assert!(err.to_string().contains("fly"));
        let err = Keymap::new(&BTreeMap::from([(
            "approve".to_string(),
            "hyper-q".to_string(),
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("keymap approve"));
    }

    #[test]
    fn read_only_help_hides_dangerous_actions() {
        let map = Keymap::new(&BTreeMap::new()).unwrap();
        assert!(
            map.help(false)
                .iter()
                .any(|(_, d)| d.starts_with("approve"))
        );
        assert!(!map.help(true).iter().any(|(_, d)| d.starts_with("approve")));
    }
}
