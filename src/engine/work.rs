//! One command's work inside one transaction. [`Work`] borrows the
//! transaction and the engine's settings; every rule about *when* an
//! assignment changes lives here, every rule about *whether* it may lives in
//! `domain::lifecycle`.

use super::command::{Command, HeartbeatReport, Ingested, Outcome, Processed, Reply, TickReport};
use super::pass::{self, Identified, Planned, Step};
use crate::config::Settings;
use crate::domain::candidate::Candidate;
use crate::domain::control::ControlMode;
use crate::domain::decision::Decision;
use crate::domain::envelope::{Envelope, InboundEvent, InboundWork};
use crate::domain::ids;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::{Event, Status, transition};
use crate::domain::router::RouterSnapshot;
use crate::domain::scorer::{self, DecisionContext};
use crate::domain::time::rfc3339;
use crate::domain::worker::Heartbeat;
use crate::error::{Error, Result};
use crate::store::assignments::{self, Assignment, State};
use crate::store::control::{self, ControlState};
use crate::store::events::{self, Mirrored};
use crate::store::runs::{self, RunCounts};
use crate::store::{approvals, audit, candidates, outbox, workers};
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde_json::{Value, json};
use std::collections::HashSet;

/// The actor the audit names for what the engine does on its own.
const ENGINE: &str = "engine";

pub struct Work<'a> {
    tx: &'a Connection,
    settings: &'a Settings,
    router: &'a RouterSnapshot,
    control: ControlState,
    now: DateTime<Utc>,
    started_at: DateTime<Utc>,
}

impl<'a> Work<'a> {
    pub fn new(
        tx: &'a Connection,
        settings: &'a Settings,
        router: &'a RouterSnapshot,
        now: DateTime<Utc>,
        started_at: DateTime<Utc>,
    ) -> Result<Self> {
        Ok(Self::with_control(
            tx,
            settings,
            router,
            now,
            started_at,
            control::get(tx)?,
        ))
    }

    /// Work with a control state already read (by an earlier command of the
    /// same batch).
    pub fn with_control(
        tx: &'a Connection,
        settings: &'a Settings,
        router: &'a RouterSnapshot,
        now: DateTime<Utc>,
        started_at: DateTime<Utc>,
        control: ControlState,
    ) -> Self {
        Work {
            control,
            tx,
            settings,
            router,
            now,
            started_at,
        }
    }

    /// The control state as this work left it.
    pub fn into_control(self) -> ControlState {
        self.control
    }

    pub fn apply(&mut self, command: Command) -> Result<Reply> {
        let operator = self.settings.operator.clone();
        let by = |name: Option<String>| {
            name.filter(|n| !n.trim().is_empty())
                .unwrap_or(operator.clone())
        };
        match command {
            Command::Evaluate { candidates } => {
                let mut counts = RunCounts::default();
                Ok(Reply::Outcomes(
                    self.decide_values(candidates, &mut counts)?,
                ))
            }
            Command::Tick {
                dry_run,
                candidates,
            } => Ok(Reply::Tick(self.tick(dry_run, candidates)?)),
            Command::SetRouter { .. } => Err(Error::bad_input(
                "command",
                "set_router is handled by the engine",
            )),
            Command::Approve {
                assignment_id,
                by: who,
                reason,
                expected_version,
            } => self.approve(
                &assignment_id,
                &by(who),
                reason.as_deref().unwrap_or("approved"),
                expected_version,
            ),
            Command::Reject {
                assignment_id,
                by: who,
                reason,
                expected_version,
            } => self.reject(
                &assignment_id,
                &by(who),
                reason.as_deref().unwrap_or("rejected"),
                expected_version,
            ),
            Command::Release {
                assignment_id,
                by: who,
                worker_id,
                reason,
                retry,
                expected_version,
            } => {
                if let Some(worker) = &worker_id {
                    let a = self.load(&assignment_id, expected_version)?;
                    self.holder_check(&a, worker)?;
                }
                let default_reason = if worker_id.is_some() {
                    "released by worker"
                } else {
                    "released by operator"
                };
                self.release(
                    &assignment_id,
                    &by(who),
                    reason.as_deref().unwrap_or(default_reason),
                    retry,
                    expected_version,
                )
            }
            Command::Progress {
                assignment_id,
                worker_id,
                message,
                percent,
            } => self.progress(&assignment_id, &worker_id, message, percent),
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
            Command::Heartbeat(hb) => Ok(Reply::Heartbeat(self.heartbeat(hb)?)),
            Command::Complete {
                assignment_id,
                worker_id,
                success,
                summary,
            } => {
                if success.unwrap_or(true) {
                    self.complete(&assignment_id, &worker_id, summary.as_deref())
                } else {
                    self.fail(
                        &assignment_id,
                        &worker_id,
                        summary.as_deref().unwrap_or("worker reported failure"),
                        true,
                    )
                }
            }
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
            Command::SetControl {
                mode,
                reason,
                by: who,
            } => Ok(Reply::Control(self.set_control(
                mode,
                reason.as_deref().unwrap_or(""),
                &by(who),
            )?)),
            Command::IngestEvent { event } => Ok(Reply::Ingested(self.ingest(event)?)),
            Command::Snapshot => Err(Error::bad_input(
                "command",
                "snapshot is answered by the engine loop, not inside a transaction",
            )),
            Command::RecordRefusal {
                actor,
                action,
                subject,
                reason,
            } => {
                let record = audit::Record {
                    actor: &actor,
                    action: &action,
                    subject: subject.as_deref(),
                    refused: true,
                    detail: Some(&reason),
                    ..Default::default()
                };
                audit::append(self.tx, &record, self.now)?;
                Ok(Reply::Recorded)
            }
            Command::ProcessEvents {
                include_processed, ..
            } => {
                let stored = events::list(self.tx, include_processed, usize::MAX >> 1)?;
                let mut out = Vec::with_capacity(stored.len());
                for event in stored {
                    let body: Value = serde_json::from_str(&event.body).unwrap_or(Value::Null);
                    match InboundEvent::parse(body) {
                        Ok(parsed) => out.push(self.process(&parsed)?),
                        Err(e) => {
                            tracing::warn!(key = %event.idempotency_key, "unreadable stored event: {e}")
                        }
                    }
                }
                Ok(Reply::Processed(out))
            }
        }
    }

    // ----- deciding -------------------------------------------------------

    /// The scoring context, borrowing only what `Work` itself borrows, so a
    /// pass can plan with it while writing through `self`.
    fn context(&self) -> DecisionContext<'a> {
        let settings = self.settings;
        DecisionContext {
            policy: &settings.scoring,
            router: self.router,
            control: self.control.mode,
            lanes: None,
            default_lanes: &settings.default_lanes,
            canonical_status: None,
            now: self.now,
            lease_seconds: settings.default_lease_seconds,
            cache_only: !settings.dispatch_enabled,
        }
    }

    /// Normalizes and decides raw AssistX items; an unreadable item is an
    /// outcome of its own, not the end of the pass.
    fn decide_values(&self, items: Vec<Value>, counts: &mut RunCounts) -> Result<Vec<Outcome>> {
        let mut parsed = Vec::with_capacity(items.len());
        let mut invalid = Vec::new();
        for (index, item) in pass::normalize(items).into_iter().enumerate() {
            match item {
                Ok(identified) => parsed.push(identified),
                Err(e) => invalid.push(Outcome {
                    task_id: format!("#{index}"),
                    result: "invalid".into(),
                    decision: None,
                    note: Some(e),
                }),
            }
        }
        let mut outcomes = self.decide_all(parsed, counts)?;
        outcomes.extend(invalid);
        Ok(outcomes)
    }

    /// Decides every candidate (see [`pass`]): a task listed twice in one
    /// backlog is decided once.
    fn decide_all(
        &self,
        candidates: Vec<Identified>,
        counts: &mut RunCounts,
    ) -> Result<Vec<Outcome>> {
        counts.candidates += candidates.len() as u64;
        let mut seen = HashSet::with_capacity(candidates.len());
        let mut distinct = Vec::with_capacity(candidates.len());
        let mut duplicates = Vec::new();
        for (id, candidate) in candidates {
            if seen.insert(id.clone()) {
                distinct.push((id, candidate));
            } else {
                counts.unchanged += 1;
                duplicates.push(Outcome {
                    task_id: candidate.task_id,
                    result: "duplicate".into(),
                    decision: None,
                    note: Some("listed more than once in this backlog; decided once".into()),
                });
            }
        }
        // The decisions of one pass are simultaneous (one time, one run), so
        // they are written in task-id order: the candidate cache's and the
        // outbox's keys then go into their indexes in order, which costs a
        // third less than scattered inserts when task ids are random UUIDs.
        distinct.sort_by(|(_, a), (_, b)| a.task_id.cmp(&b.task_id));
        let ids: Vec<&str> = distinct.iter().map(|(id, _)| id.as_str()).collect();
        let mut states = assignments::states(self.tx, &ids)?;
        let items: Vec<(Candidate, Option<State>)> = distinct
            .into_iter()
            .map(|(id, candidate)| (candidate, states.remove(&id)))
            .collect();
        let ctx = self.context();
        let now = self.now;
        let mut outcomes = Vec::with_capacity(items.len() + duplicates.len());
        pass::run(
            items,
            |(candidate, state)| pass::plan(candidate, state, &ctx, now),
            |chunk| self.write(chunk, counts, &mut outcomes),
        )?;
        outcomes.extend(duplicates);
        Ok(outcomes)
    }

    /// Writes a chunk of planned decisions, table by table in one pass each:
    /// the candidate cache for all of them, the rest as each lifecycle step
    /// says. Their outcomes are appended in order.
    fn write(
        &self,
        chunk: Vec<Planned>,
        counts: &mut RunCounts,
        outcomes: &mut Vec<Outcome>,
    ) -> Result<()> {
        let cached: Vec<(&str, &str)> = chunk
            .iter()
            .map(|p| (p.candidate.task_id.as_str(), p.candidate_json.as_str()))
            .collect();
        candidates::put(self.tx, &cached, self.now)?;
        let mut decided = Vec::new();
        let mut gates = Vec::new();
        let mut transitions = Vec::new();
        let mut events = Vec::new();
        for p in &chunk {
            match &p.step {
                Step::Announce { event, .. } => events.push(event),
                Step::Store {
                    decision,
                    json,
                    event,
                    to,
                } => {
                    decided.push(assignments::Decided {
                        decision,
                        json,
                        priority: &p.candidate.priority,
                        retry_count: p.candidate.retry_count,
                        existing: p.from.is_some(),
                    });
                    if decision.status == Status::ApprovalRequired {
                        gates.push((decision.assignment_id.as_str(), gate_of(&p.candidate)));
                    }
                    transitions.push(audit::Record {
                        actor: ENGINE,
                        action: "decide",
                        subject: Some(&decision.assignment_id),
                        from_status: p.from.map(Status::as_str),
                        to_status: Some(to.as_str()),
                        ..Default::default()
                    });
                    events.push(event);
                }
                Step::Held { .. } | Step::Unchanged => {}
            }
        }
        assignments::save_decisions(self.tx, &decided, self.now)?;
        let gates: Vec<(&str, &str)> = gates
            .iter()
            .map(|(id, gate)| (*id, gate.as_str()))
            .collect();
        approvals::request(self.tx, &gates, self.now)?;
        audit::append_all(self.tx, &transitions, self.now)?;
        outbox::enqueue_all(self.tx, &events, self.now)?;
        outcomes.extend(chunk.into_iter().map(|p| outcome(p, counts)));
        Ok(())
    }

    /// Decides a task again from its cached candidate (after a release, a
    /// retryable failure or an expiry).
    fn redecide(&mut self, task_id: &str) -> Result<()> {
        let Some(candidate) = candidates::get(self.tx, task_id)? else {
            tracing::warn!(task_id, "no cached candidate to decide again");
            return Ok(());
        };
        self.decide_all(
            pass::identify_all(vec![candidate]),
            &mut RunCounts::default(),
        )?;
        Ok(())
    }

    // ----- time -----------------------------------------------------------

    /// Lease expiry, stale workers and lapsed approvals. Frozen while the
    /// control mode stops renewals, so a pause never expires what it froze.
    pub fn housekeeping(&mut self) -> Result<bool> {
        let counts = self.housekeeping_counts()?;
        Ok(counts.expired + counts.stale_workers > 0)
    }

    fn housekeeping_counts(&mut self) -> Result<RunCounts> {
        let mut counts = RunCounts::default();
        for id in approvals::lapsed(self.tx, self.now)? {
            let a = assignments::get(self.tx, &id)?;
            self.transition_to(
                &a,
                Event::ApprovalLapse,
                ENGINE,
                Some("approval lapsed"),
                a.requeue,
                a.retry_count,
            )?;
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
                let subject = format!("{node}/{worker}");
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

    fn expire(&mut self, a: Assignment, costs_a_retry: bool) -> Result<()> {
        let requeue = !costs_a_retry || a.retry_count < self.settings.max_retries;
        let retry_count = a.retry_count + u32::from(costs_a_retry);
        let why = if costs_a_retry {
            "lease expired"
        } else {
            "worker stale"
        };
        self.transition_to(&a, Event::Expire, ENGINE, Some(why), requeue, retry_count)?;
        let key = format!(
            "assignment.expired:{}:{}",
            a.assignment_id,
            a.lease_expires_at.as_deref().unwrap_or("None")
        );
        let payload = json!({
            "status": "READY",
            "reason": why,
            "worker_id": a.worker_id,
            "node_id": a.node_id,
            "retry_count": retry_count,
        });
        self.emit_assignment("assignment.expired", key, &a, payload)?;
        if requeue {
            self.redecide(&a.task_id)?;
        }
        Ok(())
    }

    fn tick(&mut self, dry_run: bool, given: Option<Vec<Value>>) -> Result<TickReport> {
        let started = self.now;
        let mut counts = self.housekeeping_counts()?;
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

    // ----- operators --------------------------------------------------------

    fn load(&self, assignment_id: &str, expected_version: Option<i64>) -> Result<Assignment> {
        let a = assignments::get(self.tx, assignment_id)?;
        match expected_version {
            Some(seen) if seen != a.version => Err(Error::StaleVersion {
                assignment_id: assignment_id.into(),
                seen,
                current: a.version,
            }),
            _ => Ok(a),
        }
    }

    fn approve(
        &mut self,
        id: &str,
        by: &str,
        reason: &str,
        expected: Option<i64>,
    ) -> Result<Reply> {
        let a = self.load(id, expected)?;
        let to = self.check(&a, Event::Approve)?;
        let candidate = self.candidate_of(&a)?;
        let mut ctx = self.context();
        ctx.canonical_status = a.decision.canonical_status.as_deref();
        let mut decision =
            scorer::decide_approved(&candidate, &ctx, &format!("approved by {by}: {reason}"));
        decision.status = to;
        assignments::replace_decision(self.tx, &decision, self.now)?;
        let expires_at = self.now + Duration::seconds(self.settings.approval_ttl_seconds as i64);
        let answer = approvals::Answer {
            decision: "approved",
            by,
            reason,
            expires_at: Some(expires_at),
        };
        approvals::answer(self.tx, id, &answer, self.now)?;
        self.audit(
            by,
            "approve",
            Some(id),
            Some(a.status),
            Some(to),
            Some(reason),
        )?;
        let payload = json!({
            "approved_by": by,
            "approval_reason": reason,
            "selected_lane": decision.selected_lane,
            "approval_expires_at": rfc3339(expires_at),
        });
        self.emit_assignment(
            "assign.assignment.approved",
            ids::approved_key(id, by, reason),
            &a,
            payload,
        )?;
        self.reply(id)
    }

    fn reject(&mut self, id: &str, by: &str, reason: &str, expected: Option<i64>) -> Result<Reply> {
        let a = self.load(id, expected)?;
        let to = self.check(&a, Event::Reject)?;
        let mut decision = a.decision.clone();
        decision.status = to;
        decision.selected_lane = Lane::Blocked;
        decision.selected_target = None;
        decision.score = 0.0;
        decision.lease_expires_at = None;
        decision.reasons = vec![format!("rejected by {by}: {reason}").into()];
        assignments::replace_decision(self.tx, &decision, self.now)?;
        assignments::set_status(self.tx, id, to, false, a.retry_count, self.now)?;
        let answer = approvals::Answer {
            decision: "rejected",
            by,
            reason,
            expires_at: None,
        };
        approvals::answer(self.tx, id, &answer, self.now)?;
        self.audit(
            by,
            "reject",
            Some(id),
            Some(a.status),
            Some(to),
            Some(reason),
        )?;
        let key = format!("assign.assignment.rejected:{id}:{by}:{reason}");
        let payload =
            json!({"reason_code": "rejected_by_operator", "reason": reason, "rejected_by": by});
        self.emit_assignment("assign.assignment.skipped", key, &a, payload)?;
        self.reply(id)
    }

    fn release(
        &mut self,
        id: &str,
        by: &str,
        reason: &str,
        retry: bool,
        expected: Option<i64>,
    ) -> Result<Reply> {
        let a = self.load(id, expected)?;
        let retry_count = a.retry_count + u32::from(retry);
        self.transition_to(&a, Event::Release, by, Some(reason), retry, retry_count)?;
        let payload = json!({
            "reason": reason,
            "retryable": retry,
            "released_by": by,
            "worker_id": a.worker_id,
            "retry_count": retry_count,
        });
        self.emit_assignment(
            "assign.assignment.released",
            ids::released_key(id, reason, retry),
            &a,
            payload,
        )?;
        if retry {
            self.redecide(&a.task_id)?;
        }
        self.reply(id)
    }

    fn set_control(&mut self, mode: ControlMode, reason: &str, by: &str) -> Result<ControlState> {
        let before = self.control.mode;
        let state = control::set(self.tx, mode, reason, by, self.now)?;
        self.control = state.clone();
        let subject = format!("control:{mode}");
        self.audit(
            by,
            "control",
            Some(&subject),
            None,
            None,
            Some(&format!("{before} -> {mode}: {reason}")),
        )?;
        let key = format!("assign.control.changed:{}:{mode}", state.version);
        let payload =
            json!({"mode": mode, "previous_mode": before, "reason": reason, "changed_by": by});
        let envelope = Envelope::about_node(
            "assign.control.changed",
            key,
            "auto-assign",
            payload,
            self.now,
        );
        self.enqueue(envelope)?;
        Ok(state)
    }

    // ----- workers ----------------------------------------------------------

    fn holder_check(&self, a: &Assignment, worker_id: &str) -> Result<()> {
        if a.status.holds_lease() && a.worker_id.as_deref() == Some(worker_id) {
            Ok(())
        } else {
            Err(Error::NotHeld {
                assignment_id: a.assignment_id.clone(),
                worker_id: worker_id.into(),
            })
        }
    }

    fn claim(
        &mut self,
        id: &str,
        worker_id: &str,
        node_id: Option<&str>,
        lease_seconds: Option<u64>,
        correlation_id: Option<String>,
    ) -> Result<Reply> {
        if worker_id.trim().is_empty() {
            return Err(Error::bad_input("worker_id", "must not be empty"));
        }
        if !self.control.mode.allows_new_work() {
            return Err(Error::ControlMode {
                mode: self.control.mode.to_string(),
                action: "claiming".into(),
            });
        }
        let lease_seconds = lease_seconds.unwrap_or(self.settings.default_lease_seconds);
        if lease_seconds == 0 {
            return Err(Error::bad_input("lease_seconds", "must be at least 1"));
        }
        let a = self.load(id, None)?;
        let to = self.check(&a, Event::Claim)?;
        let correlation = match correlation_id {
            Some(c) if ids::is_uuid(&c) => c,
            Some(c) => {
                return Err(Error::bad_input(
                    "correlation_id",
                    format!("'{c}' is not a UUID"),
                ));
            }
            None => ids::task_correlation_id(&a.task_id),
        };
        let node_id = node_id.filter(|n| !n.trim().is_empty()).unwrap_or("local");
        let claim = assignments::Claim {
            assignment_id: id,
            worker_id,
            node_id,
            correlation_id: &correlation,
            lease_seconds,
        };
        assignments::claim(self.tx, &claim, self.now)?;
        self.audit(
            worker_id,
            "claim",
            Some(id),
            Some(a.status),
            Some(to),
            Some(&format!("lease {lease_seconds}s on {node_id}")),
        )?;
        let claimed = assignments::get(self.tx, id)?;
        let payload = json!({
            "status": "CLAIMED",
            "claimed_by": worker_id,
            "worker_id": worker_id,
            "node_id": node_id,
            "lease_expires_at": claimed.lease_expires_at,
        });
        let key = ids::claimed_key(id, worker_id, &correlation);
        self.emit_assignment("assignment.claimed", key, &claimed, payload)?;
        Ok(Reply::Assignment(Box::new(claimed)))
    }

    fn heartbeat(&mut self, mut hb: Heartbeat) -> Result<HeartbeatReport> {
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
                self.holder_check(&a, &hb.worker_id)?;
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
        if before.status.as_deref() != Some(status) || before.stale {
            let subject = format!("{}/{}", hb.node_id, hb.worker_id);
            let detail = format!("{} -> {status}", before.status.as_deref().unwrap_or("new"));
            self.audit(
                &hb.worker_id,
                "worker_status",
                Some(&subject),
                None,
                None,
                Some(&detail),
            )?;
            let key = format!(
                "assign.worker.heartbeat.recorded:{}:{}:{}",
                hb.node_id,
                hb.worker_id,
                rfc3339(self.now)
            );
            let payload = json!({
                "node_id": hb.node_id,
                "worker_id": hb.worker_id,
                "status": status,
                "previous_status": before.status,
                "lanes": hb.lanes,
                "capabilities": hb.capabilities,
                "max_concurrent": hb.max_concurrent,
            });
            let envelope = Envelope::about_node(
                "assign.worker.heartbeat.recorded",
                key,
                &hb.node_id,
                payload,
                self.now,
            );
            self.enqueue(envelope)?;
        }
        Ok(HeartbeatReport {
            node_id: hb.node_id,
            worker_id: hb.worker_id,
            renewed,
            started,
            recovered_from_stale: before.stale,
        })
    }

    /// What every sign of life from a worker does to its work: renew the
    /// leases it holds (when the control mode allows) and move a named
    /// claimed assignment to running.
    fn renew_and_start(
        &mut self,
        hb: &Heartbeat,
        named: Option<Assignment>,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let mut renewed = Vec::new();
        if self.control.mode.allows_lease_renewal() {
            for held in assignments::held_by(self.tx, &hb.node_id, &hb.worker_id)? {
                assignments::renew_lease(self.tx, &held, self.now)?;
                renewed.push(held.assignment_id);
            }
        }
        let mut started = Vec::new();
        if let Some(a) = named.filter(|a| a.status == Status::Claimed) {
            self.transition_to(&a, Event::Start, &hb.worker_id, None, true, a.retry_count)?;
            let key = ids::heartbeat_key(
                Some(&hb.node_id),
                Some(&hb.worker_id),
                Some(&a.assignment_id),
                hb.heartbeat_id.as_deref(),
            );
            let payload =
                json!({"status": "RUNNING", "worker_id": hb.worker_id, "node_id": hb.node_id});
            let correlation = hb.correlation_id.clone();
            self.emit_with_correlation("assignment.heartbeat", key, &a, correlation, payload)?;
            started.push(a.assignment_id);
        }
        Ok((renewed, started))
    }

    /// A progress report is a heartbeat about one assignment: it renews the
    /// worker's leases and starts the work (without touching what the
    /// worker's own heartbeats say about it); a message is audited.
    fn progress(
        &mut self,
        id: &str,
        worker_id: &str,
        message: Option<String>,
        percent: Option<f64>,
    ) -> Result<Reply> {
        let a = self.load(id, None)?;
        self.holder_check(&a, worker_id)?;
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

    fn complete(&mut self, id: &str, worker_id: &str, summary: Option<&str>) -> Result<Reply> {
        let a = self.load(id, None)?;
        self.holder_check(&a, worker_id)?;
        self.transition_to(
            &a,
            Event::Complete,
            worker_id,
            summary,
            false,
            a.retry_count,
        )?;
        let key = format!("assignment.completed:{id}:{worker_id}:{}", a.retry_count);
        let payload = json!({"status": "DONE", "worker_id": worker_id, "node_id": a.node_id, "summary": summary});
        self.emit_assignment("assignment.completed", key, &a, payload)?;
        self.reply(id)
    }

    fn fail(&mut self, id: &str, worker_id: &str, reason: &str, retryable: bool) -> Result<Reply> {
        let a = self.load(id, None)?;
        self.holder_check(&a, worker_id)?;
        let retry = retryable && a.retry_count < self.settings.max_retries;
        let retry_count = a.retry_count + u32::from(retry);
        self.transition_to(&a, Event::Fail, worker_id, Some(reason), retry, retry_count)?;
        let key = format!("assignment.failed:{id}:{worker_id}:{}", a.retry_count);
        let payload = json!({
            "status": "FAILED",
            "worker_id": worker_id,
            "node_id": a.node_id,
            "reason": reason,
            "retryable": retryable,
            "will_retry": retry,
            "retry_count": retry_count,
        });
        self.emit_assignment("assignment.failed", key, &a, payload)?;
        if retry {
            self.redecide(&a.task_id)?;
        }
        self.reply(id)
    }

    // ----- inbound ----------------------------------------------------------

    fn ingest(&mut self, body: Value) -> Result<Ingested> {
        let event = InboundEvent::parse(body).map_err(|e| Error::bad_input("event", e))?;
        let mirrored = events::mirror(self.tx, &event, self.now)?;
        let processed = match mirrored {
            Mirrored::New => Some(self.process(&event)?),
            Mirrored::Duplicate | Mirrored::Conflict => None,
        };
        Ok(Ingested {
            idempotency_key: event.idempotency_key,
            mirrored,
            processed,
        })
    }

    fn process(&mut self, event: &InboundEvent) -> Result<Processed> {
        let work = event.work();
        let (mut action, reason) = work.action();
        let mut reason = reason.map(str::to_string);
        let detail = match work {
            InboundWork::EvaluateTask(item) => match Candidate::from_json(&item) {
                Err(e) => {
                    action = "skipped";
                    reason = Some("invalid_candidate".into());
                    Some(e)
                }
                Ok(candidate) => {
                    let outcome = self
                        .decide_all(
                            pass::identify_all(vec![candidate]),
                            &mut RunCounts::default(),
                        )?
                        .remove(0);
                    let status = outcome.decision.map(|d| d.status.to_string());
                    Some(
                        format!("{} {}", outcome.result, status.unwrap_or_default())
                            .trim()
                            .to_string(),
                    )
                }
            },
            InboundWork::Tick => {
                let report = self.tick(false, None)?;
                report.run_id.map(|id| format!("run {id}"))
            }
            InboundWork::MissingTaskId | InboundWork::Ignored => None,
        };
        events::record_processing(
            self.tx,
            &event.idempotency_key,
            action,
            reason.as_deref(),
            detail.as_deref(),
            self.now,
        )?;
        Ok(Processed {
            idempotency_key: event.idempotency_key.clone(),
            event_type: event.event_type.clone(),
            action: action.into(),
            reason,
            detail,
        })
    }

    // ----- helpers ------------------------------------------------------------

    fn check(&self, a: &Assignment, event: Event) -> Result<Status> {
        transition(Some(a.status), a.requeue, event).map_err(|why| Error::IllegalTransition {
            assignment_id: a.assignment_id.clone(),
            from: a.status.to_string(),
            event: event.name().into(),
            why,
        })
    }

    /// Checks, applies and audits one lifecycle event.
    fn transition_to(
        &mut self,
        a: &Assignment,
        event: Event,
        actor: &str,
        detail: Option<&str>,
        requeue: bool,
        retry_count: u32,
    ) -> Result<Status> {
        let to = self.check(a, event)?;
        assignments::set_status(
            self.tx,
            &a.assignment_id,
            to,
            requeue,
            retry_count,
            self.now,
        )?;
        self.audit(
            actor,
            event.name(),
            Some(&a.assignment_id),
            Some(a.status),
            Some(to),
            detail,
        )?;
        Ok(to)
    }

    fn candidate_of(&self, a: &Assignment) -> Result<Candidate> {
        candidates::get(self.tx, &a.task_id)?.ok_or_else(|| Error::NotFound {
            what: "cached candidate for task",
            id: a.task_id.clone(),
        })
    }

    fn emit_assignment(
        &self,
        event_type: &str,
        key: String,
        a: &Assignment,
        payload: Value,
    ) -> Result<bool> {
        self.emit_with_correlation(event_type, key, a, a.correlation_id.clone(), payload)
    }

    fn emit_with_correlation(
        &self,
        event_type: &str,
        key: String,
        a: &Assignment,
        correlation: Option<String>,
        payload: Value,
    ) -> Result<bool> {
        let envelope = Envelope::about_assignment(
            event_type,
            key,
            &a.assignment_id,
            &a.task_id,
            correlation,
            payload,
            self.now,
        );
        self.enqueue(envelope)
    }

    /// Seals an event and queues it.
    fn enqueue(&self, envelope: Envelope) -> Result<bool> {
        let event = envelope.seal().map_err(|e| Error::bad_input("event", e))?;
        outbox::enqueue(self.tx, &event, self.now)
    }

    fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        from: Option<Status>,
        to: Option<Status>,
        detail: Option<&str>,
    ) -> Result<()> {
        let record = audit::Record {
            actor,
            action,
            subject,
            from_status: from.map(Status::as_str),
            to_status: to.map(Status::as_str),
            refused: false,
            detail,
        };
        audit::append(self.tx, &record, self.now)
    }

    fn reply(&self, id: &str) -> Result<Reply> {
        Ok(Reply::Assignment(Box::new(assignments::get(self.tx, id)?)))
    }
}

/// What a written decision comes to, counted.
fn outcome(planned: Planned, counts: &mut RunCounts) -> Outcome {
    let task_id = planned.candidate.task_id;
    match planned.step {
        Step::Held { why } => {
            counts.unchanged += 1;
            Outcome {
                task_id,
                result: "held".into(),
                decision: None,
                note: Some(why),
            }
        }
        Step::Unchanged => {
            counts.unchanged += 1;
            Outcome {
                task_id,
                result: "unchanged".into(),
                decision: None,
                note: None,
            }
        }
        Step::Announce { decision, .. } => {
            counts.blocked += 1;
            decided(
                task_id,
                "decided",
                decision,
                Some("not stored: assignment control is off"),
            )
        }
        Step::Store { decision, .. } => {
            match decision.status {
                Status::Recommended => counts.recommended += 1,
                Status::ApprovalRequired => counts.approval_required += 1,
                _ => counts.blocked += 1,
            }
            decided(task_id, "decided", decision, None)
        }
    }
}

fn decided(task_id: String, result: &str, decision: Decision, note: Option<&str>) -> Outcome {
    Outcome {
        task_id,
        result: result.into(),
        decision: Some(decision),
        note: note.map(str::to_string),
    }
}

/// Why a candidate needs approval, in words for the operator.
fn gate_of(candidate: &Candidate) -> String {
    let mut gates = Vec::new();
    if candidate.approval_required {
        gates.push("approval flag".to_string());
    }
    if candidate.is_high_risk() {
        gates.push(format!("risk {}", candidate.risk_level));
    }
    gates.join(", ")
}

#[cfg(test)]
#[path = "work_tests.rs"]
mod tests;
