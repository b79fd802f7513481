//! One command's work inside one transaction. [`Work`] borrows the
//! transaction and the engine's settings; every rule about *when* an
//! assignment changes lives here, every rule about *whether* it may lives in
//! `domain::lifecycle`.

use crate::config::Settings;
use crate::domain::router::RouterSnapshot;
use crate::engine::snapshot::Explanation;
use crate::error::{Error, Result};
use crate::store::control::{self, ControlState};
use crate::store::runs::RunCounts;
use crate::store::{assignments, audit, events, outbox};
use crate::wire::reply::{Reply, TickReport};
use crate::wire::{Action, Command, Completion, Log, Operator};
pub use fleet_cache::FleetCache;

/// Rows an `older` request gets when it names no limit.
const OLDER_LIMIT: usize = 200;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::Value;

/// The actor the audit names for what the engine does on its own.
pub(super) const ENGINE: &str = "engine";

pub struct Work<'a> {
    tx: &'a Connection,
    settings: &'a Settings,
    router: &'a RouterSnapshot,
    fleet: &'a FleetCache,
    control: ControlState,
    now: DateTime<Utc>,
    started_at: DateTime<Utc>,
    /// What the start's catch-up expired, for the first tick to report.
    caught_up: RunCounts,
}

impl<'a> Work<'a> {
    pub fn new(
        tx: &'a Connection,
        settings: &'a Settings,
        router: &'a RouterSnapshot,
        fleet: &'a FleetCache,
        now: DateTime<Utc>,
        started_at: DateTime<Utc>,
    ) -> Result<Self> {
        Ok(Self::with_control(
            tx,
            settings,
            router,
            fleet,
            now,
            started_at,
            control::get(tx)?,
        ))
    }

    /// Counts the catch-up at the engine's start did (leases it expired,
    /// workers it found stale) in this work's tick: a one-shot `tick` that
    /// opened the engine reports what opening it did.
    pub fn report_caught_up(&mut self, counts: RunCounts) {
        self.caught_up = counts;
    }

    /// Work with a control state already read (by an earlier command of the
    /// same batch).
    pub fn with_control(
        tx: &'a Connection,
        settings: &'a Settings,
        router: &'a RouterSnapshot,
        fleet: &'a FleetCache,
        now: DateTime<Utc>,
        started_at: DateTime<Utc>,
        control: ControlState,
    ) -> Self {
        Work {
            caught_up: RunCounts::default(),
            control,
            tx,
            settings,
            router,
            fleet,
            now,
            started_at,
        }
    }

    /// The control state as this work left it.
    pub fn into_control(self) -> ControlState {
        self.control
    }

    /// Does what `command` asks, inside the caller's transaction.
    pub fn apply(&mut self, command: Command) -> Result<Reply> {
        // A lease taken or ended, or a worker drained, changes what the
        // fleet can take; passes keep the view up to date themselves, and a
        // heartbeat forgets it only when it changes a worker's status.
        let changes_fleet = matches!(
            command,
            Command::Claim { .. }
                | Command::Next { .. }
                | Command::Complete { .. }
                | Command::Fail { .. }
                | Command::Release { .. }
                | Command::Operator(Operator {
                    command: Action::Release { .. }
                        | Action::Drain { .. }
                        | Action::Undrain { .. }
                        | Action::Approve { .. },
                    ..
                })
        );
        if changes_fleet {
            self.fleet.forget();
        }
        match command {
            Command::Heartbeat(hb) => Ok(Reply::Heartbeat(self.heartbeat(hb)?)),
            Command::Claim {
                assignment_id,
                worker_id,
                node_id,
                lease_seconds,
                correlation_id,
            } => self.claim(
                &assignment_id,
                &worker_id,
                node_id.as_deref(),
                lease_seconds,
                correlation_id,
            ),
            Command::Next {
                worker_id,
                node_id,
                lease_seconds,
                correlation_id,
            } => self.next(&worker_id, &node_id, lease_seconds, correlation_id),
            Command::Progress {
                assignment_id,
                worker_id,
                message,
                percent,
            } => self.progress(&assignment_id, &worker_id, message, percent),
            Command::Complete {
                assignment_id,
                worker_id,
                status,
                summary,
            } => match status.unwrap_or(Completion::Success) {
                Completion::Success => {
                    self.complete(&assignment_id, &worker_id, summary.as_deref())
                }
                Completion::Failure => self.fail(
                    &assignment_id,
                    &worker_id,
                    summary.as_deref().unwrap_or("worker reported failure"),
                    true,
                ),
            },
            Command::Fail {
                assignment_id,
                worker_id,
                reason,
                retryable,
            } => self.fail(
                &assignment_id,
                &worker_id,
                reason.as_deref().unwrap_or("worker reported failure"),
                retryable,
            ),
            Command::Release {
                assignment_id,
                worker_id,
                reason,
                retry,
            } => {
                let a = self.load(&assignment_id, None)?;
                plan::holds(&a, &worker_id)?;
                self.release(
                    &assignment_id,
                    &worker_id,
                    reason.as_deref().unwrap_or("released by worker"),
                    retry,
                    None,
                )
            }
            Command::Event { event } => Ok(Reply::Ingested(self.ingest(Value::Object(event))?)),
            Command::Explain { assignment_id } => {
                let a = assignments::get(self.tx, &assignment_id)?;
                Ok(Reply::Explanation(Box::new(Explanation::from(&a))))
            }
            Command::OutboxEvent { seq } => Ok(Reply::OutboxEvent(Box::new(
                outbox::get(self.tx, seq)?.into(),
            ))),
            Command::Older {
                log,
                before,
                contains,
                limit,
            } => {
                let limit = match limit {
                    None => OLDER_LIMIT,
                    Some(n @ 1..=1000) => n as usize,
                    Some(n) => {
                        return Err(Error::bad_input(
                            "limit",
                            format!("{n} is not from 1 to 1000"),
                        ));
                    }
                };
                let needle = contains.as_deref().filter(|c| !c.is_empty());
                Ok(match log {
                    Log::Audit => Reply::AuditRows(
                        audit::older(self.tx, before, needle, limit, true)?
                            .into_iter()
                            .map(Into::into)
                            .collect(),
                    ),
                    Log::Outbox => Reply::OutboxRows(
                        outbox::older(self.tx, before, needle, limit)?
                            .iter()
                            .map(Into::into)
                            .collect(),
                    ),
                })
            }
            Command::Snapshot {} => Err(Error::bad_input(
                "op",
                "snapshot is answered by the engine loop, not inside a transaction",
            )),
            Command::Operator(Operator {
                operator, command, ..
            }) => {
                let by = if operator.trim().is_empty() {
                    self.settings.operator.clone()
                } else {
                    operator
                };
                self.operator(&by, command)
            }
        }
    }

    fn operator(&mut self, by: &str, action: Action) -> Result<Reply> {
        match action {
            Action::Approve {
                assignment_id,
                reason,
                expected_version,
                expires_in_seconds,
            } => self.approve(
                &assignment_id,
                by,
                reason.as_deref().unwrap_or("approved"),
                expected_version,
                expires_in_seconds,
            ),
            Action::Reject {
                assignment_id,
                reason,
                expected_version,
            } => self.reject(
                &assignment_id,
                by,
                reason.as_deref().unwrap_or("rejected"),
                expected_version,
            ),
            Action::Release {
                assignment_id,
                reason,
                retry,
                expected_version,
            } => self.release(
                &assignment_id,
                by,
                reason.as_deref().unwrap_or("released by operator"),
                retry,
                expected_version,
            ),
            Action::Tick {
                dry_run,
                candidates,
                ..
            } => Ok(Reply::Tick(self.tick(dry_run, candidates)?)),
            Action::Control { mode, reason } => Ok(Reply::Control(self.set_control(
                mode,
                reason.as_deref().unwrap_or(""),
                by,
            )?)),
            Action::ProcessEvents {
                include_processed,
                event_type,
                limit,
                ..
            } => {
                let chosen = events::Chosen {
                    include_processed,
                    event_type: event_type.as_deref(),
                    newest_first: false,
                };
                let limit = limit.map_or(usize::MAX >> 1, |n| n as usize);
                Ok(Reply::Processed(self.process_stored(chosen, limit)?))
            }
            Action::Evaluate { candidates } => {
                let mut counts = RunCounts::default();
                Ok(Reply::Outcomes(
                    self.decide_values(candidates, &mut counts)?,
                ))
            }
            Action::Drain { worker, reason } => self.set_drained(
                &worker,
                true,
                reason.as_deref().unwrap_or("drained by operator"),
                by,
            ),
            Action::Undrain { worker, reason } => self.set_drained(
                &worker,
                false,
                reason.as_deref().unwrap_or("undrained by operator"),
                by,
            ),
            Action::ExpireStale {} => {
                let note = (!self.control.mode.allows_lease_renewal()).then(|| {
                    format!(
                        "assignment control mode is {}; leases are frozen",
                        self.control.mode
                    )
                });
                Ok(Reply::Tick(TickReport {
                    run_id: None,
                    dry_run: false,
                    counts: self.housekeeping_counts()?,
                    outcomes: Vec::new(),
                    note,
                }))
            }
            Action::RetryOutbox { seq } => {
                outbox::retry_dead_letter(self.tx, seq, self.now)?;
                let subject = format!("outbox:{seq}");
                self.audit(by, "retry_outbox", Some(&subject), None, None, None)?;
                Ok(Reply::OutboxEvent(Box::new(
                    outbox::get(self.tx, seq)?.into(),
                )))
            }
            Action::RecordRefusal {
                action,
                subject,
                reason,
            } => {
                let record = audit::Record {
                    actor: by,
                    action: &action,
                    subject: subject.as_deref(),
                    refused: true,
                    detail: Some(&reason),
                    ..Default::default()
                };
                audit::append(self.tx, &record, self.now)?;
                Ok(Reply::Recorded)
            }
            // The core wakes the sync edge before a batch is formed
            // (`Core::ask_edge`); neither reaches here.
            Action::Dispatch {} | Action::Reconcile {} => Err(Error::Unavailable {
                what: "asking the sync edge inside a batch is not possible".into(),
            }),
        }
    }
}

mod decide;
mod effects;
mod fleet_cache;
mod housekeeping;
mod inbound;
mod operator;
mod plan;
mod worker;

#[cfg(test)]
mod tests;
