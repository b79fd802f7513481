//! Deciding: scoring candidates and writing the decisions through a pass.

use super::super::pass::{self, Identified, Planned, Step};
use super::{ENGINE, Work};
use crate::domain::backpressure;
use crate::domain::candidate::Candidate;
use crate::domain::decision::Decision;
use crate::domain::fleet::pool::{self, Pool};
use crate::domain::lifecycle::Status;
use crate::domain::scorer::DecisionContext;
use crate::error::Result;
use crate::store::assignments::{self, State};
use crate::store::runs::RunCounts;
use crate::store::{approvals, audit, candidates, outbox, workers};
use crate::wire::reply::Outcome;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// A candidate of a pass and what is known of its task here (none: new).
type Item = (Candidate, Option<State>);

impl<'a> Work<'a> {
    /// The scoring context, borrowing only what `Work` itself borrows, so a
    /// pass can plan with it while writing through `self`.
    pub(super) fn context(&self) -> DecisionContext<'a> {
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
    pub(super) fn decide_values(
        &self,
        items: Vec<Value>,
        counts: &mut RunCounts,
    ) -> Result<Vec<Outcome>> {
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
    pub(super) fn decide_all(
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
        let items: Vec<Item> = distinct
            .into_iter()
            .map(|(id, candidate)| (candidate, states.remove(&id)))
            .collect();
        let (items, deferred) = self.hold_back(items, counts)?;
        duplicates.extend(deferred);
        let ctx = self.context();
        let now = self.now;
        let (pool, built_at) = match self.fleet.take_fresh(now) {
            Some((pool, built_at)) => (Some(pool), built_at),
            None => (self.pool()?, now),
        };
        let pool = pool.map(Mutex::new);
        let mut outcomes = Vec::with_capacity(items.len() + duplicates.len());
        pass::run(
            items,
            |(candidate, state)| pass::plan(candidate, state, &ctx, pool.as_ref(), now),
            |chunk| self.write(chunk, counts, &mut outcomes),
        )?;
        if let Some(pool) = pool {
            let pool = pool.into_inner().unwrap_or_else(PoisonError::into_inner);
            self.fleet.keep(pool, built_at);
        }
        outcomes.extend(duplicates);
        Ok(outcomes)
    }

    /// The fleet as this pass sees it, built once: every known worker, its
    /// leases and the waiting assignments already named for it counting
    /// against its limit. `None` without workers: decisions stay A4's.
    fn pool(&self) -> Result<Option<Pool>> {
        let registry = workers::list(self.tx)?;
        if registry.is_empty() {
            return Ok(None);
        }
        let targeted = assignments::targeted(self.tx)?;
        let fleet = registry
            .iter()
            .map(|w| {
                let mut f = w.fleet();
                f.active += targeted.get(&f.key()).copied().unwrap_or(0);
                f
            })
            .collect();
        Ok(Some(Pool::new(fleet, self.settings.fleet, pool::LISTED)))
    }

    /// Back-pressure: with `max_queue_depth` assignments waiting, new
    /// candidates (not yet known here) are left out of this pass, the most
    /// urgent let in first while there is room. Known ones always go through:
    /// deciding them again adds nothing to the queue.
    fn hold_back(
        &self,
        items: Vec<Item>,
        counts: &mut RunCounts,
    ) -> Result<(Vec<Item>, Vec<Outcome>)> {
        let limit = self.settings.max_queue_depth;
        let new: Vec<&str> = items
            .iter()
            .filter(|(_, state)| state.is_none())
            .map(|(c, _)| c.priority.as_str())
            .collect();
        if limit == 0 || new.is_empty() {
            return Ok((items, Vec::new()));
        }
        let waiting = assignments::waiting(self.tx)?;
        let mut admitted = backpressure::admit(&new, waiting, limit).into_iter();
        let (mut kept, mut deferred) = (Vec::with_capacity(items.len()), Vec::new());
        for (candidate, state) in items {
            if state.is_some() || admitted.next().unwrap_or(true) {
                kept.push((candidate, state));
                continue;
            }
            counts.deferred += 1;
            deferred.push(Outcome {
                task_id: candidate.task_id,
                result: "deferred".into(),
                decision: None,
                note: Some(format!(
                    "the queue is full ({waiting} waiting, max_queue_depth {limit}): offered again by a later pass"
                )),
            });
        }
        Ok((kept, deferred))
    }

    /// Writes a chunk of planned decisions, table by table in one pass each:
    /// the candidate cache for all of them, the rest as each lifecycle step
    /// says. Their outcomes are appended in order.
    pub(super) fn write(
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
                        deadline: p.candidate.deadline,
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
    pub(super) fn redecide(&mut self, task_id: &str) -> Result<()> {
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
}

/// What a written decision comes to, counted.
pub(super) fn outcome(planned: Planned, counts: &mut RunCounts) -> Outcome {
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

pub(super) fn decided(
    task_id: String,
    result: &str,
    decision: Decision,
    note: Option<&str>,
) -> Outcome {
    Outcome {
        task_id,
        result: result.into(),
        decision: Some(decision),
        note: note.map(str::to_string),
    }
}

/// Why a candidate needs approval, in words for the operator.
pub(super) fn gate_of(candidate: &Candidate) -> String {
    let mut gates = Vec::new();
    if candidate.approval_required {
        gates.push("approval flag".to_string());
    }
    if candidate.is_high_risk() {
        gates.push(format!("risk {}", candidate.risk_level));
    }
    gates.join(", ")
}
