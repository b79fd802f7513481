//! Worker commands worked out before anything is written, as a decision
//! pass is (`engine/pass.rs`). Each function takes the assignment as it was
//! read and the command's inputs, checks everything (who holds the lease,
//! whether the lifecycle allows the step, the control mode, the inputs) and
//! returns what to write. No store and no clock: `now` comes in, so every
//! rule here is tested without a database.

use crate::domain::bounded::MAX_LEASE_SECONDS;
use crate::domain::control::ControlMode;
use crate::domain::ids;
use crate::domain::lifecycle::{Event, Status, transition};
use crate::error::{Error, Result};
use crate::store::assignments::Assignment;
use chrono::{DateTime, Duration, Utc};

/// One lifecycle step of an assignment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Step {
    pub event: Event,
    pub from: Status,
    pub to: Status,
    /// Whether the task may be decided again from `to`.
    pub requeue: bool,
    pub retry_count: u32,
}

/// `event` applied to `a`, if the lifecycle allows it.
pub(super) fn step(a: &Assignment, event: Event, requeue: bool, retry_count: u32) -> Result<Step> {
    let to =
        transition(Some(a.status), a.requeue, event).map_err(|why| Error::IllegalTransition {
            assignment_id: a.assignment_id.clone(),
            from: a.status.to_string(),
            event: event.name().into(),
            why,
        })?;
    Ok(Step {
        event,
        from: a.status,
        to,
        requeue,
        retry_count,
    })
}

/// Only the worker holding a lease may act on its assignment.
pub(super) fn holds(a: &Assignment, worker_id: &str) -> Result<()> {
    if a.status.holds_lease() && a.worker_id.as_deref() == Some(worker_id) {
        Ok(())
    } else {
        Err(Error::NotHeld {
            assignment_id: a.assignment_id.clone(),
            worker_id: worker_id.into(),
        })
    }
}

/// What a claim writes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Claim {
    pub step: Step,
    pub node_id: String,
    pub correlation_id: String,
    pub lease_seconds: u64,
    pub lease_expires_at: DateTime<Utc>,
}

/// What a worker asked for when it claimed.
pub(super) struct Asked<'a> {
    pub worker_id: &'a str,
    pub node_id: Option<&'a str>,
    pub lease_seconds: Option<u64>,
    pub correlation_id: Option<String>,
}

pub(super) fn claim(
    a: &Assignment,
    asked: Asked,
    mode: ControlMode,
    default_lease_seconds: u64,
    now: DateTime<Utc>,
) -> Result<Claim> {
    if asked.worker_id.trim().is_empty() {
        return Err(Error::bad_input("worker_id", "must not be empty"));
    }
    if !mode.allows_new_work() {
        return Err(Error::ControlMode {
            mode: mode.to_string(),
            action: "claiming".into(),
        });
    }
    let lease_seconds = asked.lease_seconds.unwrap_or(default_lease_seconds);
    // The wire refuses these already; a command made in the process is
    // held to the same bounds, so no lease can overflow the clock.
    if !(1..=MAX_LEASE_SECONDS).contains(&lease_seconds) {
        return Err(Error::bad_input(
            "lease_seconds",
            format!("must be from 1 to {MAX_LEASE_SECONDS} seconds (7 days)"),
        ));
    }
    let step = step(a, Event::Claim, a.requeue, a.retry_count)?;
    let correlation_id = match asked.correlation_id {
        Some(c) if ids::is_uuid(&c) => c,
        Some(c) => {
            return Err(Error::bad_input(
                "correlation_id",
                format!("'{c}' is not a UUID"),
            ));
        }
        None => ids::task_correlation_id(&a.task_id),
    };
    let node_id = asked
        .node_id
        .filter(|n| !n.trim().is_empty())
        .unwrap_or("local");
    Ok(Claim {
        step,
        node_id: node_id.into(),
        correlation_id,
        lease_seconds,
        lease_expires_at: now + Duration::seconds(lease_seconds as i64),
    })
}

pub(super) fn complete(a: &Assignment, worker_id: &str) -> Result<Step> {
    holds(a, worker_id)?;
    step(a, Event::Complete, false, a.retry_count)
}

/// A failure, retried while retries are left when the worker says it may be.
pub(super) fn fail(
    a: &Assignment,
    worker_id: &str,
    retryable: bool,
    max_retries: u32,
) -> Result<Step> {
    holds(a, worker_id)?;
    let retry = retryable && a.retry_count < max_retries;
    step(a, Event::Fail, retry, a.retry_count + u32::from(retry))
}

/// A lease taken back: a retryable release costs a retry.
pub(super) fn release(a: &Assignment, retry: bool) -> Result<Step> {
    step(a, Event::Release, retry, a.retry_count + u32::from(retry))
}

/// A lease that ran out costs a retry (and is final without retries left);
/// a lease taken back because its worker went stale does not (contract C).
pub(super) fn expire(a: &Assignment, costs_a_retry: bool, max_retries: u32) -> Result<Step> {
    let requeue = !costs_a_retry || a.retry_count < max_retries;
    step(
        a,
        Event::Expire,
        requeue,
        a.retry_count + u32::from(costs_a_retry),
    )
}

/// Whether AssistX must hear of `a`'s renewed lease: it never heard of one,
/// or the one it heard of runs out within half the lease's length, after
/// which AssistX's own reaper could take the task back (contract D).
pub(super) fn assistx_must_hear(a: &Assignment, now: DateTime<Utc>) -> bool {
    let told = a
        .told_lease_expires_at
        .as_deref()
        .and_then(crate::domain::time::parse_utc);
    let half = Duration::seconds(a.lease_seconds.unwrap_or(0) as i64 / 2);
    told.is_none_or(|told| told - now < half)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decision::Decision;
    use crate::store::assignments::Assignment;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    fn assignment(status: Status, worker: Option<&str>, retry_count: u32) -> Assignment {
        let decision: Decision = serde_json::from_value(serde_json::json!({
            "decision_id": "d", "assignment_id": "a1", "task_id": "T1", "status": status,
            "selected_lane": "local_only", "selected_target": null, "score": 0.5,
            "reasons": [], "skipped_lanes": [], "idempotency_key": "k",
            "lease_expires_at": null, "approval_required": false,
            "cache_only": false, "created_at": "2026-11-24T11:00:00.000000Z",
        }))
        .unwrap();
        Assignment {
            assignment_id: "a1".into(),
            task_id: "T1".into(),
            status,
            version: 1,
            requeue: true,
            retry_count,
            lane: "local_only".into(),
            priority: "batch".into(),
            decision,
            worker_id: worker.map(str::to_string),
            node_id: worker.map(|_| "n1".to_string()),
            correlation_id: None,
            lease_seconds: Some(60),
            lease_expires_at: None,
            claimed_at: None,
            created_at: "2026-11-24T11:00:00.000000Z".into(),
            updated_at: "2026-11-24T11:00:00.000000Z".into(),
            claims: u32::from(worker.is_some()),
            heartbeats_sent: 0,
            told_lease_expires_at: None,
        }
    }

    fn asked(worker_id: &str) -> Asked<'_> {
        Asked {
            worker_id,
            node_id: None,
            lease_seconds: None,
            correlation_id: None,
        }
    }

    #[test]
    fn a_claim_works_out_its_lease_node_and_correlation() {
        let a = assignment(Status::Recommended, None, 0);
        let c = claim(&a, asked("w1"), ControlMode::Enabled, 600, now()).unwrap();
        assert_eq!(c.step.to, Status::Claimed);
        assert_eq!(c.node_id, "local");
        assert_eq!(c.lease_expires_at, now() + Duration::seconds(600));
        assert_eq!(c.correlation_id, ids::task_correlation_id("T1"));
    }

    #[test]
    fn a_claim_is_refused_for_each_reason_with_its_own_error() {
        let a = assignment(Status::Recommended, None, 0);
        let paused = claim(&a, asked("w1"), ControlMode::Paused, 600, now()).unwrap_err();
        assert!(matches!(paused, Error::ControlMode { .. }), "{paused}");
        let mut zero = asked("w1");
        zero.lease_seconds = Some(0);
        let e = claim(&a, zero, ControlMode::Enabled, 600, now()).unwrap_err();
        assert!(e.to_string().contains("lease_seconds"), "{e}");
        let mut huge = asked("w1");
        huge.lease_seconds = Some(u64::MAX);
        let e = claim(&a, huge, ControlMode::Enabled, 600, now()).unwrap_err();
        assert!(e.to_string().contains("7 days"), "{e}");
        let mut bad = asked("w1");
        bad.correlation_id = Some("nope".into());
        let e = claim(&a, bad, ControlMode::Enabled, 600, now()).unwrap_err();
        assert!(e.to_string().contains("correlation_id"), "{e}");
        let gated = assignment(Status::ApprovalRequired, None, 0);
        let e = claim(&gated, asked("w1"), ControlMode::Enabled, 600, now()).unwrap_err();
        assert!(matches!(e, Error::IllegalTransition { .. }), "{e}");
    }

    #[test]
    fn only_the_holder_ends_a_lease() {
        let a = assignment(Status::Running, Some("w1"), 0);
        assert!(matches!(complete(&a, "w2"), Err(Error::NotHeld { .. })));
        assert_eq!(complete(&a, "w1").unwrap().to, Status::Done);
        let waiting = assignment(Status::Recommended, None, 0);
        assert!(matches!(
            complete(&waiting, "w1"),
            Err(Error::NotHeld { .. })
        ));
    }

    #[test]
    fn failures_and_expiries_cost_retries_until_none_are_left() {
        let a = assignment(Status::Running, Some("w1"), 1);
        let retried = fail(&a, "w1", true, 3).unwrap();
        assert_eq!((retried.requeue, retried.retry_count), (true, 2));
        let last = assignment(Status::Running, Some("w1"), 3);
        let final_failure = fail(&last, "w1", true, 3).unwrap();
        assert_eq!(
            (final_failure.requeue, final_failure.retry_count),
            (false, 3)
        );
        let not_retryable = fail(&a, "w1", false, 3).unwrap();
        assert!(!not_retryable.requeue);
        let expired = expire(&last, true, 3).unwrap();
        assert_eq!((expired.requeue, expired.retry_count), (false, 4));
        let stale = expire(&last, false, 3).unwrap();
        assert_eq!((stale.requeue, stale.retry_count), (true, 3));
    }

    #[test]
    fn assistx_hears_of_a_renewal_only_when_its_lease_is_half_gone() {
        let mut a = assignment(Status::Running, Some("w1"), 0);
        a.lease_seconds = Some(900);
        assert!(assistx_must_hear(&a, now()), "never told");
        let told = |a: &mut Assignment, seconds_left: i64| {
            a.told_lease_expires_at = Some(crate::domain::time::rfc3339(
                now() + Duration::seconds(seconds_left),
            ));
        };
        told(&mut a, 900);
        assert!(!assistx_must_hear(&a, now()));
        told(&mut a, 451);
        assert!(!assistx_must_hear(&a, now()));
        told(&mut a, 449);
        assert!(assistx_must_hear(&a, now()));
    }
}
