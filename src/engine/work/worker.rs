//! Worker commands: claim, heartbeat, progress, complete, fail.

use super::{Work, plan};
use crate::domain::events::Authored;
use crate::domain::fleet::fairness::{self, Waiting};
use crate::domain::fleet::{self, Need};
use crate::domain::ids;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::{Event, Status};
use crate::domain::time::rfc3339;
use crate::domain::worker::Heartbeat;
use crate::error::{Error, Result};
use crate::store::assignments::{self, Assignment};
use crate::store::workers;
use crate::wire::reply::{HeartbeatReport, Reply};
use std::collections::BTreeMap;

/// Waiting assignments `next` reads at a time.
const OFFER_PAGE: usize = 256;

impl Work<'_> {
    pub(super) fn claim(
        &mut self,
        id: &str,
        worker_id: &str,
        node_id: Option<&str>,
        lease_seconds: Option<u64>,
        correlation_id: Option<String>,
    ) -> Result<Reply> {
        let a = self.load(id, None)?;
        let asked = plan::Asked {
            worker_id,
            node_id,
            lease_seconds,
            correlation_id,
        };
        let default_lease = self.settings.default_lease_seconds;
        let claim = plan::claim(&a, asked, self.control.mode, default_lease, self.now)?;
        let key = || crate::domain::worker::worker_key(&claim.node_id, worker_id);
        if workers::is_drained(self.tx, &claim.node_id, worker_id)? {
            return Err(Error::WorkerDrained { worker: key() });
        }
        let policy = self.settings.breaker;
        let mut breaker = workers::breaker(self.tx, &claim.node_id, worker_id)?;
        breaker
            .may_take(id, &policy, self.now)
            .map_err(|why| Error::BreakerOpen { worker: key(), why })?;
        breaker.took(id, &policy, self.now);
        workers::set_breaker(self.tx, &claim.node_id, worker_id, &breaker)?;
        let row = assignments::Claim {
            assignment_id: id,
            worker_id,
            node_id: &claim.node_id,
            correlation_id: &claim.correlation_id,
            lease_seconds: claim.lease_seconds,
            lease_expires_at: claim.lease_expires_at,
        };
        assignments::claim(self.tx, &row, self.now)?;
        let detail = format!("lease {}s on {}", claim.lease_seconds, claim.node_id);
        let step = &claim.step;
        self.audit(
            worker_id,
            "claim",
            Some(id),
            Some(step.from),
            Some(step.to),
            Some(&detail),
        )?;
        let claimed = assignments::get(self.tx, id)?;
        let event = Authored::Claimed {
            assignment_id: id,
            worker_id,
            node_id: &claim.node_id,
            attempt: claimed.claims,
            lease_seconds: claim.lease_seconds,
            lease_expires_at: &rfc3339(claim.lease_expires_at),
        };
        self.emit(&claimed, &event)?;
        Ok(Reply::Assignment(Box::new(claimed)))
    }

    /// A worker asks for work: the waiting assignment it may take that
    /// comes first by effective priority is claimed for it.
    pub(super) fn next(
        &mut self,
        worker_id: &str,
        node_id: &str,
        lease_seconds: Option<u64>,
        correlation_id: Option<String>,
    ) -> Result<Reply> {
        let key = crate::domain::worker::worker_key(node_id, worker_id);
        let Some(w) = workers::get(self.tx, node_id, worker_id)? else {
            return Err(Error::NotFound {
                what: "worker (send a heartbeat first)",
                id: key,
            });
        };
        if w.drained {
            return Err(Error::WorkerDrained { worker: key });
        }
        let policy = self.settings.breaker;
        w.breaker
            .may_take("", &policy, self.now)
            .map_err(|why| Error::BreakerOpen {
                worker: key.clone(),
                why,
            })?;
        let mut me = w.fleet();
        // The breaker was just checked; a trial is claimed like any task.
        me.breaker_open = false;
        let fleet_policy = self.settings.fleet;
        if let Some(why) = fleet::worker_why_not(&me) {
            let sentence = why.sentence(&me, Lane::Blocked, &Need::default());
            return Ok(Reply::NoWork(format!("{key} {sentence} ({})", why.code())));
        }
        let mut skipped: BTreeMap<&'static str, usize> = BTreeMap::new();
        let step = self.settings.aging_step_seconds;
        // Failover: what failed here goes to another worker first; after a
        // step it may come back, so a lane with one worker never starves.
        let retry_here_after = rfc3339(
            self.now - chrono::Duration::seconds(i64::try_from(step).unwrap_or(i64::MAX / 1000)),
        );
        let now = self.now;
        let mut best = None;
        // The store pages through the waiting assignments first offered
        // first; the first page with one this worker may take ends it.
        for page in 0.. {
            let offers = assignments::offers(
                self.tx,
                &key,
                &w.lanes,
                now,
                step,
                OFFER_PAGE,
                page * OFFER_PAGE,
            )?;
            let read = offers.len();
            // Named for this worker first, for nobody next, for another last.
            let mut usable: Vec<(u8, Waiting)> = Vec::new();
            for o in offers {
                let Some(lane) = Lane::from_name(&o.lane) else {
                    continue;
                };
                if o.failed_on
                    .as_ref()
                    .is_some_and(|(on, at)| *on == key && *at > retry_here_after)
                {
                    *skipped.entry("failed_here").or_default() += 1;
                    continue;
                }
                // What failed here was skipped above, for one aging step.
                let need = Need {
                    capabilities: o.required_capabilities,
                    owner: o.owner,
                    failed_on: None,
                };
                match fleet::why_not(&me, lane, &need, &fleet_policy) {
                    Some(why) => *skipped.entry(why.code()).or_default() += 1,
                    None => usable.push((
                        match &o.target {
                            Some(target) if *target == key => 0,
                            None => 1,
                            Some(_) => 2,
                        },
                        Waiting {
                            assignment_id: o.assignment_id,
                            priority: o.priority,
                            since: crate::domain::time::parse_utc(&o.created_at).unwrap_or(now),
                            deadline: o
                                .deadline
                                .as_deref()
                                .and_then(crate::domain::time::parse_utc),
                        },
                    )),
                }
            }
            best = usable
                .into_iter()
                .min_by(|(x, a), (y, b)| {
                    x.cmp(y)
                        .then_with(|| fairness::first_offered(a, b, now, step))
                })
                .map(|(_, best)| best);
            if best.is_some() || read < OFFER_PAGE {
                break;
            }
        }
        let Some(best) = best else {
            let why = if skipped.is_empty() {
                format!(
                    "nothing waits on the lanes {key} serves ({})",
                    w.lanes.join(", ")
                )
            } else {
                let counts: Vec<String> = skipped
                    .iter()
                    .map(|(code, n)| format!("{n} {code}"))
                    .collect();
                format!("nothing {key} may take: {}", counts.join(", "))
            };
            return Ok(Reply::NoWork(why));
        };
        self.claim(
            &best.assignment_id,
            worker_id,
            Some(node_id),
            lease_seconds,
            correlation_id,
        )
    }

    pub(super) fn heartbeat(&mut self, mut hb: Heartbeat) -> Result<HeartbeatReport> {
        hb.validate()
            .map_err(|(field, message)| Error::bad_input(field, message))?;
        let named = match &hb.assignment_id {
            Some(id) => {
                let a = assignments::get(self.tx, id)?;
                if a.node_id.as_deref() != Some(hb.node_id.as_str()) {
                    return Err(Error::NotHeld {
                        assignment_id: id.clone(),
                        worker_id: hb.worker_id.clone(),
                    });
                }
                plan::holds(&a, &hb.worker_id)?;
                Some(a)
            }
            None => None,
        };
        // Contract B: a missing (or unusable) correlation id is derived, never fatal.
        if hb
            .correlation_id
            .as_deref()
            .is_none_or(|c| !ids::is_uuid(c))
        {
            hb.correlation_id = Some(match &named {
                Some(a) => ids::task_correlation_id(&a.task_id),
                None => ids::correlation_id("node", &hb.node_id),
            });
        }
        let before =
            workers::record_heartbeat(self.tx, &hb, self.settings.heartbeat_history, self.now)?;
        let (renewed, started) = self.renew_and_start(&hb, named)?;
        let status = hb.status.as_str();
        let changed = before.status.as_deref() != Some(status) || before.stale;
        if changed {
            self.fleet.forget();
            let subject = hb.key();
            let detail = format!("{} -> {status}", before.status.as_deref().unwrap_or("new"));
            self.audit(
                &hb.worker_id,
                "worker_status",
                Some(&subject),
                None,
                None,
                Some(&detail),
            )?;
            self.emit_about_node(&Authored::WorkerStatus {
                node_id: &hb.node_id,
                worker_id: &hb.worker_id,
                status: hb.status,
                previous: before.status.as_deref(),
                lanes: &hb.lanes,
                capabilities: &hb.capabilities,
                max_concurrent: hb.max_concurrent,
                at: &rfc3339(self.now),
            })?;
        }
        let refreshed_only = !changed && renewed.is_empty() && started.is_empty();
        Ok(HeartbeatReport {
            node_id: hb.node_id,
            worker_id: hb.worker_id,
            renewed,
            started,
            recovered_from_stale: before.stale,
            refreshed_only,
        })
    }

    /// What every sign of life from a worker does to its work: renew the
    /// leases it holds (when the control mode allows) and move a named
    /// claimed assignment to running. AssistX hears of the start, and of a
    /// renewal once the lease it knows of would run out within half the
    /// lease's length (contract D), not of every heartbeat.
    pub(super) fn renew_and_start(
        &mut self,
        hb: &Heartbeat,
        named: Option<Assignment>,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let starting = named.filter(|a| a.status == Status::Claimed);
        let mut renewed = Vec::new();
        let mut started_lease = starting.as_ref().and_then(|a| a.lease_expires_at.clone());
        if self.control.mode.allows_lease_renewal() {
            for held in assignments::held_by(self.tx, &hb.node_id, &hb.worker_id)? {
                let until = rfc3339(assignments::renew_lease(self.tx, &held, self.now)?);
                if starting
                    .as_ref()
                    .is_some_and(|a| a.assignment_id == held.assignment_id)
                {
                    started_lease = Some(until.clone());
                } else if plan::assistx_must_hear(&held, self.now) {
                    let running = held.status == Status::Running;
                    self.tell_lease(&held, &until, running)?;
                }
                renewed.push(held.assignment_id);
            }
        }
        let mut started = Vec::new();
        if let Some(a) = starting {
            let step = plan::step(&a, Event::Start, true, a.retry_count)?;
            self.write_step(&a, &step, &hb.worker_id, None)?;
            self.tell_lease(&a, started_lease.as_deref().unwrap_or_default(), true)?;
            started.push(a.assignment_id);
        }
        Ok((renewed, started))
    }

    /// Queues the `assignment.heartbeat` that tells AssistX of a lease.
    fn tell_lease(&mut self, a: &Assignment, lease_expires_at: &str, running: bool) -> Result<()> {
        let event = Authored::Heartbeat {
            assignment_id: &a.assignment_id,
            worker_id: a.worker_id.as_deref().unwrap_or_default(),
            node_id: a.node_id.as_deref().unwrap_or("local"),
            sequence: a.heartbeats_sent,
            running,
            lease_expires_at,
            last_heartbeat_at: &rfc3339(self.now),
        };
        self.emit(a, &event)?;
        assignments::told_lease(self.tx, &a.assignment_id, lease_expires_at)
    }

    /// A progress report is a heartbeat about one assignment: it renews the
    /// worker's leases and starts the work (without touching what the
    /// worker's own heartbeats say about it); a message is audited.
    pub(super) fn progress(
        &mut self,
        id: &str,
        worker_id: &str,
        message: Option<String>,
        percent: Option<f64>,
    ) -> Result<Reply> {
        let a = self.load(id, None)?;
        plan::holds(&a, worker_id)?;
        if percent.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
            return Err(Error::bad_input("percent", "must be between 0 and 100"));
        }
        let mut hb = Heartbeat::new(a.node_id.as_deref().unwrap_or("local"), worker_id);
        hb.correlation_id = a.correlation_id.clone();
        self.renew_and_start(&hb, Some(a))?;
        // A message is worth a line in the audit; a bare percentage is not
        // (workers send those every few seconds).
        if let Some(message) = message {
            let detail = match percent {
                Some(p) => format!("{p}%: {message}"),
                None => message,
            };
            self.audit(worker_id, "progress", Some(id), None, None, Some(&detail))?;
        }
        self.reply(id)
    }

    pub(super) fn complete(
        &mut self,
        id: &str,
        worker_id: &str,
        summary: Option<&str>,
    ) -> Result<Reply> {
        let a = self.load(id, None)?;
        let step = plan::complete(&a, worker_id)?;
        self.write_step(&a, &step, worker_id, summary)?;
        self.worker_outcome(&a, true)?;
        let event = Authored::Completed {
            assignment_id: id,
            worker_id,
            node_id: a.node_id.as_deref(),
            attempt: a.claims,
            summary,
        };
        self.emit(&a, &event)?;
        self.reply(id)
    }

    /// How an assignment ended moves its worker's breaker: a success closes
    /// it, a failure or a timeout counts towards opening it (audited when
    /// it opens).
    pub(super) fn worker_outcome(&mut self, a: &Assignment, succeeded: bool) -> Result<()> {
        let (Some(node), Some(worker)) = (a.node_id.as_deref(), a.worker_id.as_deref()) else {
            return Ok(());
        };
        let policy = self.settings.breaker;
        if !succeeded {
            let key = crate::domain::worker::worker_key(node, worker);
            assignments::mark_failed_on(self.tx, &a.assignment_id, &key, self.now)?;
        }
        let mut breaker = workers::breaker(self.tx, node, worker)?;
        let was_open = breaker.opened_at.is_some() && breaker.trial.is_none();
        if succeeded {
            breaker.succeeded();
        } else {
            breaker.failed(&policy, self.now);
        }
        workers::set_breaker(self.tx, node, worker, &breaker)?;
        if breaker.opened_at == Some(self.now) && !was_open {
            let detail = format!(
                "{} failures or timeouts in a row; a trial in {}s",
                breaker.failures, policy.cooldown_seconds
            );
            let subject = crate::domain::worker::worker_key(node, worker);
            self.audit(
                super::ENGINE,
                "breaker_open",
                Some(&subject),
                None,
                None,
                Some(&detail),
            )?;
        }
        Ok(())
    }

    pub(super) fn fail(
        &mut self,
        id: &str,
        worker_id: &str,
        reason: &str,
        retryable: bool,
    ) -> Result<Reply> {
        let a = self.load(id, None)?;
        let step = plan::fail(&a, worker_id, retryable, self.settings.max_retries)?;
        self.write_step(&a, &step, worker_id, Some(reason))?;
        self.worker_outcome(&a, false)?;
        let event = Authored::Failed {
            assignment_id: id,
            worker_id,
            node_id: a.node_id.as_deref(),
            attempt: a.claims,
            reason,
            retryable,
            will_retry: step.requeue,
            retry_count: step.retry_count,
        };
        self.emit(&a, &event)?;
        if step.requeue {
            // AssistX would keep the task FAILED while it is retried here.
            self.give_back(&a, "retry")?;
            self.redecide(&a.task_id)?;
        }
        self.reply(id)
    }
}
