//! Operator commands: approve, reject, release, the control mode.

use super::{Work, plan};
use crate::domain::control::ControlMode;
use crate::domain::events::Authored;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::{Event, Status};
use crate::domain::scorer;
use crate::domain::time::rfc3339;
use crate::error::{Error, Result};
use crate::store::approvals;
use crate::store::assignments::{self, Assignment};
use crate::store::control::{self, ControlState};
use crate::wire::reply::Reply;
use chrono::Duration;

/// The longest an operator may make one approval last (a week): past
/// that, the gate is better opened by a rule than by a standing approval.
const MAX_APPROVAL_SECONDS: u64 = 7 * 86_400;

impl Work<'_> {
    pub(super) fn load(
        &self,
        assignment_id: &str,
        expected_version: Option<i64>,
    ) -> Result<Assignment> {
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

    pub(super) fn approve(
        &mut self,
        id: &str,
        by: &str,
        reason: &str,
        expected: Option<i64>,
        expires_in: Option<u64>,
    ) -> Result<Reply> {
        let a = self.load(id, expected)?;
        let to = plan::step(&a, Event::Approve, a.requeue, a.retry_count)?.to;
        let candidate = self.candidate_of(&a)?;
        let mut ctx = self.context();
        ctx.canonical_status = a.decision.canonical_status.as_deref();
        let mut decision =
            scorer::decide_approved(&candidate, &ctx, &format!("approved by {by}: {reason}"));
        decision.status = to;
        assignments::replace_decision(self.tx, &decision, self.now)?;
        let ttl = match expires_in {
            None => self.settings.approval_ttl_seconds,
            Some(s) if (1..=MAX_APPROVAL_SECONDS).contains(&s) => s,
            Some(_) => {
                return Err(Error::bad_input(
                    "expires_in_seconds",
                    format!("an approval lasts from 1 to {MAX_APPROVAL_SECONDS} seconds"),
                ));
            }
        };
        let expires_at = self.now + Duration::seconds(ttl as i64);
        let answer = approvals::Answer {
            decision: "approved",
            by,
            reason,
            expires_at: Some(expires_at),
        };
        self.answer_gate(&a, "approve", to, &answer)?;
        let event = Authored::Approved {
            assignment_id: id,
            by,
            reason,
            selected_lane: decision.selected_lane,
            expires_at: &rfc3339(expires_at),
        };
        self.emit(&a, &event)?;
        self.reply(id)
    }

    /// Records an operator's answer to a gate, and audits it.
    fn answer_gate(
        &mut self,
        a: &Assignment,
        action: &str,
        to: Status,
        answer: &approvals::Answer,
    ) -> Result<()> {
        approvals::answer(self.tx, &a.assignment_id, answer, self.now)?;
        self.audit(
            answer.by,
            action,
            Some(&a.assignment_id),
            Some(a.status),
            Some(to),
            Some(answer.reason),
        )
    }

    pub(super) fn reject(
        &mut self,
        id: &str,
        by: &str,
        reason: &str,
        expected: Option<i64>,
    ) -> Result<Reply> {
        let a = self.load(id, expected)?;
        let to = plan::step(&a, Event::Reject, a.requeue, a.retry_count)?.to;
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
        self.answer_gate(&a, "reject", to, &answer)?;
        let event = Authored::Rejected {
            assignment_id: id,
            by,
            reason,
        };
        self.emit(&a, &event)?;
        self.reply(id)
    }

    pub(super) fn release(
        &mut self,
        id: &str,
        by: &str,
        reason: &str,
        retry: bool,
        expected: Option<i64>,
    ) -> Result<Reply> {
        let a = self.load(id, expected)?;
        let step = plan::release(&a, retry)?;
        self.write_step(&a, &step, by, Some(reason))?;
        let event = Authored::Released {
            assignment_id: id,
            by,
            reason,
            retry,
            worker_id: a.worker_id.as_deref(),
            retry_count: step.retry_count,
            attempt: a.claims,
        };
        self.emit(&a, &event)?;
        if a.status.holds_lease() {
            self.give_back(&a, reason)?;
        }
        if retry {
            self.redecide(&a.task_id)?;
        }
        self.reply(id)
    }

    /// Drains or undrains `node/worker`: persistent, audited; what it holds
    /// runs on, and a drained worker's claims are refused.
    pub(super) fn set_drained(
        &mut self,
        worker: &str,
        drained: bool,
        reason: &str,
        by: &str,
    ) -> Result<Reply> {
        let Some((node_id, worker_id)) = worker
            .split_once('/')
            .filter(|(n, w)| !n.is_empty() && !w.is_empty())
        else {
            return Err(Error::bad_input(
                "worker",
                format!("'{worker}' is not node/worker"),
            ));
        };
        let before = crate::store::workers::set_drained(self.tx, node_id, worker_id, drained)?;
        let word = |d: bool| if d { "drained" } else { "serving" };
        self.audit(
            by,
            if drained { "drain" } else { "undrain" },
            Some(worker),
            None,
            None,
            Some(&format!("{} -> {}: {reason}", word(before), word(drained))),
        )?;
        Ok(Reply::Recorded)
    }

    pub(super) fn set_control(
        &mut self,
        mode: ControlMode,
        reason: &str,
        by: &str,
    ) -> Result<ControlState> {
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
        self.emit_about_node(&Authored::ControlChanged {
            version: state.version,
            mode,
            previous: before,
            reason,
            by,
            changed_at_ms: self.now.timestamp_millis(),
        })?;
        Ok(state)
    }
}
