//! Operator actions: the rows they apply to, the reason and confirmation
//! they ask for, the `:` commands, and the engine commands they become.

use super::{App, Effect, Level, Mode, Target, Verb};
use crate::domain::control::ControlMode;
use crate::engine::Command;
use crate::tui::panes::{Pane, leases_by_worker};
use crate::tui::rows::Row;
use crate::wire;
use tui_input::Input;

impl App {
    /// The rows an action applies to: the marked ones, else the selected one.
    pub(super) fn targets(&self, verb: Verb) -> Vec<Target> {
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
        let chosen = self.chosen();
        if matches!(verb, Verb::Drain(_)) {
            // A worker is named by its key, not by its first column.
            return chosen
                .into_iter()
                .map(|t| Target {
                    label: t.id.clone(),
                    ..t
                })
                .collect();
        }
        chosen
    }

    /// `w` in the workers pane: drains the selected worker, or undrains it
    /// when it is drained (marked workers follow the selected one's way).
    pub(super) fn ask_drain(&mut self) -> Option<Effect> {
        if self.pane != Pane::Workers {
            self.set_flash("drain works in the workers pane", Level::Info);
            return None;
        }
        let selected = self.selected_row()?;
        let drained = self
            .snapshot
            .workers
            .iter()
            .any(|w| w.key() == selected.id && w.drained);
        self.ask(Verb::Drain(!drained))
    }

    /// The marked rows of the pane, else its selected one.
    fn chosen(&self) -> Vec<Target> {
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

    /// A read-only room refuses a change: it says so, and the refusal goes
    /// to the audit like any other.
    pub(super) fn refuse_read_only(&mut self, action: &str, subject: Option<String>) -> Effect {
        self.set_flash(format!("read-only: {action} is not allowed"), Level::Warn);
        self.send(
            "read-only refusal",
            wire::Action::RecordRefusal {
                action: action.into(),
                subject,
                reason: "the control room is read-only".into(),
            },
        )
    }

    /// One engine command by this operator.
    pub(super) fn send(&self, label: &str, action: wire::Action) -> Effect {
        Effect::Send {
            label: label.into(),
            commands: vec![Command::by(self.operator.clone(), action)],
        }
    }

    /// The outbox pane's retry: the marked (or selected) events go back to
    /// pending; the engine refuses any that is not a dead letter, and says so.
    pub(super) fn retry_dead_letters(&mut self) -> Option<Effect> {
        if self.pane != Pane::Outbox {
            self.set_flash("retry works in the outbox pane", Level::Info);
            return None;
        }
        let commands: Vec<Command> = self
            .chosen()
            .iter()
            .filter_map(|t| t.id.parse().ok())
            .map(|seq| Command::by(self.operator.clone(), wire::Action::RetryOutbox { seq }))
            .collect();
        if commands.is_empty() {
            self.set_flash("nothing to retry", Level::Info);
            return None;
        }
        self.marks.clear();
        Some(Effect::Send {
            label: "retry".into(),
            commands,
        })
    }

    pub(super) fn version_of(&self, id: &str) -> Option<i64> {
        self.snapshot
            .recommendations
            .iter()
            .find(|r| r.assignment_id == id)
            .map(|r| r.version)
    }

    pub(super) fn ask(&mut self, verb: Verb) -> Option<Effect> {
        let allowed = match verb {
            Verb::Approve | Verb::Reject => {
                matches!(self.pane, Pane::Approvals | Pane::Recommendations)
            }
            Verb::Release => matches!(self.pane, Pane::Workers | Pane::Recommendations),
            Verb::Drain(_) => self.pane == Pane::Workers,
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

    pub(super) fn run_command(&mut self, text: &str) -> Option<Effect> {
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
                self.mode = Mode::Help { scroll: 0 };
                return None;
            }
            "tick" => {
                if self.read_only {
                    return Some(self.refuse_read_only("tick", None));
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
            let action = match verb {
                Verb::Control(mode) => format!("control {mode}"),
                other => other.label(),
            };
            return Some(self.refuse_read_only(&action, None));
        }
        self.mode = Mode::Reason {
            verb,
            targets: Vec::new(),
            input: Input::default(),
        };
        None
    }

    pub(super) fn confirmed(
        &mut self,
        verb: Verb,
        targets: Vec<Target>,
        reason: String,
    ) -> Option<Effect> {
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
                expires_in_seconds: None,
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
            Verb::Drain(true) => each(&|t| wire::Action::Drain {
                worker: t.id.clone(),
                reason: reason.clone(),
            }),
            Verb::Drain(false) => each(&|t| wire::Action::Undrain {
                worker: t.id.clone(),
                reason: reason.clone(),
            }),
        };
        self.marks.clear();
        // The flash that answers names what was acted on.
        let label = match targets.as_slice() {
            [] => verb.label(),
            [one] => format!("{} {}", verb.label(), one.label),
            many => format!("{} {} rows", verb.label(), many.len()),
        };
        Some(Effect::Send { label, commands })
    }
}
