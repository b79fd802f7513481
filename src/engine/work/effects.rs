//! What every command writes besides its own change: the transition's
//! check, the audit, the outbox event.

use super::Work;
use super::plan::Step;
use crate::domain::candidate::Candidate;
use crate::domain::envelope::Envelope;
use crate::domain::events::Authored;
use crate::domain::lifecycle::Status;
use crate::error::{Error, Result};
use crate::store::assignments::{self, Assignment};
use crate::store::{audit, candidates, outbox};
use crate::wire::reply::Reply;

impl Work<'_> {
    /// Writes and audits a planned lifecycle step.
    pub(super) fn write_step(
        &mut self,
        a: &Assignment,
        step: &Step,
        actor: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        assignments::set_status(
            self.tx,
            &a.assignment_id,
            step.to,
            step.requeue,
            step.retry_count,
            self.now,
        )?;
        self.audit(
            actor,
            step.event.name(),
            Some(&a.assignment_id),
            Some(step.from),
            Some(step.to),
            detail,
        )
    }

    pub(super) fn candidate_of(&self, a: &Assignment) -> Result<Candidate> {
        candidates::get(self.tx, &a.task_id)?.ok_or_else(|| Error::NotFound {
            what: "cached candidate for task",
            id: a.task_id.clone(),
        })
    }

    /// Queues the event of what happened to `a`.
    pub(super) fn emit(&self, a: &Assignment, event: &Authored) -> Result<bool> {
        self.emit_correlated(a, event, a.correlation_id.clone())
    }

    pub(super) fn emit_correlated(
        &self,
        a: &Assignment,
        event: &Authored,
        correlation: Option<String>,
    ) -> Result<bool> {
        let envelope = Envelope::about_assignment(
            event.event_type(),
            event.key(),
            &a.assignment_id,
            &a.task_id,
            correlation,
            event.payload(),
            self.now,
        );
        self.enqueue(envelope)
    }

    /// Queues the event of what happened to a node (a worker, the engine).
    pub(super) fn emit_about_node(&self, event: &Authored) -> Result<bool> {
        let envelope = Envelope::about_node(
            event.event_type(),
            event.key(),
            event.node().unwrap_or("auto-assign"),
            event.payload(),
            self.now,
        );
        self.enqueue(envelope)
    }

    /// Tells AssistX that `a`'s task is READY again (contract D): after a
    /// release or a lost worker, or before a failed task is retried.
    pub(super) fn give_back(&self, a: &Assignment, reason: &str) -> Result<bool> {
        let event = Authored::Returned {
            assignment_id: &a.assignment_id,
            attempt: a.claims,
            reason,
            worker_id: a.worker_id.as_deref(),
            node_id: a.node_id.as_deref(),
        };
        self.emit(a, &event)
    }

    /// Seals an event and queues it.
    pub(super) fn enqueue(&self, envelope: Envelope) -> Result<bool> {
        let event = envelope.seal().map_err(|e| Error::bad_input("event", e))?;
        outbox::enqueue(self.tx, &event, self.now)
    }

    pub(super) fn audit(
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

    pub(super) fn reply(&self, id: &str) -> Result<Reply> {
        Ok(Reply::Assignment(Box::new(assignments::get(self.tx, id)?)))
    }
}
