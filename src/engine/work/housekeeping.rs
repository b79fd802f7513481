//! What time alone reveals: leases that ran out, silent workers, lapsed
//! approvals, and the scheduler's tick.

use super::super::pass;
use super::{ENGINE, Work, plan};
use crate::domain::events::Authored;
use crate::domain::lifecycle::Event;
use crate::domain::worker::worker_key;
use crate::error::Result;
use crate::store::assignments::{self, Assignment};
use crate::store::runs::{self, RunCounts};
use crate::store::{approvals, candidates, workers};
use crate::wire::reply::TickReport;
use chrono::Duration;
use serde_json::Value;

impl Work<'_> {
    /// Lease expiry, stale workers and lapsed approvals. Frozen while the
    /// control mode stops renewals, so a pause never expires what it froze.
    pub fn housekeeping(&mut self) -> Result<bool> {
        let counts = self.housekeeping_counts()?;
        Ok(counts.expired + counts.stale_workers > 0)
    }

    pub(crate) fn housekeeping_counts(&mut self) -> Result<RunCounts> {
        let mut counts = RunCounts::default();
        for id in approvals::lapsed(self.tx, self.now)? {
            let a = assignments::get(self.tx, &id)?;
            let step = plan::step(&a, Event::ApprovalLapse, a.requeue, a.retry_count)?;
            self.write_step(&a, &step, ENGINE, Some("approval lapsed"))?;
            let gate = approvals::get(self.tx, &id)?
                .map(|a| a.gate)
                .unwrap_or_default();
            approvals::request(self.tx, &[(&id, &gate)], self.now)?;
        }
        if !self.control.mode.allows_lease_renewal() {
            return Ok(counts);
        }
        let stale_after = Duration::seconds(self.settings.stale_heartbeat_seconds as i64);
        let cutoff = self.now - stale_after;
        // A worker cannot be blamed for silence the engine did not hear.
        if self.started_at <= cutoff {
            for (node, worker) in workers::mark_stale(self.tx, cutoff)? {
                counts.stale_workers += 1;
                let subject = worker_key(&node, &worker);
                self.audit(ENGINE, "worker_stale", Some(&subject), None, None, None)?;
                for held in assignments::held_by(self.tx, &node, &worker)? {
                    self.expire(held, false)?;
                    counts.expired += 1;
                }
            }
        }
        let grace = Duration::seconds(self.settings.stale_assignment_seconds as i64);
        for held in assignments::leases_ended_before(self.tx, self.now - grace)? {
            self.expire(held, true)?;
            counts.expired += 1;
        }
        Ok(counts)
    }

    pub(super) fn expire(&mut self, a: Assignment, costs_a_retry: bool) -> Result<()> {
        let step = plan::expire(&a, costs_a_retry, self.settings.max_retries)?;
        let why = if costs_a_retry {
            "lease expired"
        } else {
            "worker stale"
        };
        self.write_step(&a, &step, ENGINE, Some(why))?;
        if costs_a_retry {
            // A lease that ran out is a timeout: it counts against the worker.
            self.worker_outcome(&a, false)?;
            let event = Authored::Expired {
                assignment_id: &a.assignment_id,
                lease_expires_at: a.lease_expires_at.as_deref(),
                reason: why,
                worker_id: a.worker_id.as_deref(),
                node_id: a.node_id.as_deref(),
                retry_count: step.retry_count,
            };
            self.emit(&a, &event)?;
        } else {
            // A lost worker's task is taken back, as a release (contract D).
            let event = Authored::Released {
                assignment_id: &a.assignment_id,
                by: ENGINE,
                reason: why,
                retry: false,
                worker_id: a.worker_id.as_deref(),
                retry_count: step.retry_count,
                attempt: a.claims,
            };
            self.emit(&a, &event)?;
            self.give_back(&a, why)?;
        }
        if step.requeue {
            self.redecide(&a.task_id)?;
        }
        Ok(())
    }

    pub(super) fn tick(&mut self, dry_run: bool, given: Option<Vec<Value>>) -> Result<TickReport> {
        let started = self.now;
        let mut counts = self.housekeeping_counts()?;
        let caught_up = std::mem::take(&mut self.caught_up);
        counts.expired += caught_up.expired;
        counts.stale_workers += caught_up.stale_workers;
        let mut note = None;
        let outcomes = if self.control.mode.allows_new_work() {
            match given {
                Some(items) => self.decide_values(items, &mut counts)?,
                None => {
                    let cached = candidates::undecided_or_waiting(self.tx)?;
                    self.decide_all(pass::identify_all(cached), &mut counts)?
                }
            }
        } else {
            note = Some(format!(
                "assignment control mode is {}; no new decisions",
                self.control.mode
            ));
            Vec::new()
        };
        let run_id = runs::record(self.tx, "tick", started, self.now, &counts, note.as_deref())?;
        Ok(TickReport {
            run_id: (!dry_run).then_some(run_id),
            dry_run,
            counts,
            outcomes,
            note,
        })
    }
}
