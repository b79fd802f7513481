//! The assignment lifecycle as an explicit state machine. Every change of an
//! assignment's status goes through [`transition`]; an event the current
//! status does not allow is an error, never a silent overwrite.
//!
//! ```text
//!  (new) ──decide──▶ recommended ──claim──▶ claimed ──start──▶ running
//!          │             ▲                     │                  │
//!          ├──▶ approval_required ─approve─▶ approved ─claim─┘    ├─complete─▶ done
//!          │             ▲    └─reject─▶ blocked                  ├─fail─────▶ failed
//!          └──▶ blocked  └─approval lapses─┘                      ├─expire───▶ expired
//!                                                                 └─release──▶ released
//! ```
//! `blocked`, `released`, `expired` and `failed` rows marked `requeue` go back
//! through `decide`; the others stay where they are.

use super::names;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use strum::VariantArray;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    Recommended,
    ApprovalRequired,
    Approved,
    Claimed,
    Running,
    Done,
    Failed,
    Released,
    Expired,
    Blocked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// A worker holds the assignment and its lease is running.
    pub fn holds_lease(self) -> bool {
        matches!(self, Status::Claimed | Status::Running)
    }

    /// Waiting for a worker or an operator: what the queue depth counts.
    pub fn is_waiting(self) -> bool {
        matches!(
            self,
            Status::Recommended | Status::ApprovalRequired | Status::Approved
        )
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        names::parse("status", Self::VARIANTS, s)
    }
}

/// What happens to an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The scorer decided; the outcome is recommended, approval_required or blocked.
    Decide(Status),
    Approve,
    Reject,
    Claim,
    /// The worker reported it is working on it (a heartbeat or progress).
    Start,
    Complete,
    Fail,
    Release,
    Expire,
    /// An approval ran out before the task was claimed.
    ApprovalLapse,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Decide(_) => "decide",
            Event::Approve => "approve",
            Event::Reject => "reject",
            Event::Claim => "claim",
            Event::Start => "start",
            Event::Complete => "complete",
            Event::Fail => "fail",
            Event::Release => "release",
            Event::Expire => "expire",
            Event::ApprovalLapse => "approval_lapse",
        }
    }
}

/// The status after `event`, or why it is refused. `requeue` says whether a
/// blocked, released, expired or failed assignment may be decided again.
pub fn transition(from: Option<Status>, requeue: bool, event: Event) -> Result<Status, String> {
    use Status::*;
    let Some(from) = from else {
        return match event {
            Event::Decide(outcome) => decided(outcome),
            _ => Err("the assignment does not exist yet".into()),
        };
    };
    match (from, event) {
        (Recommended | ApprovalRequired, Event::Decide(outcome)) => decided(outcome),
        (Blocked | Released | Expired | Failed, Event::Decide(outcome)) if requeue => {
            decided(outcome)
        }
        // An approval holds: re-scoring never gates an approved task again.
        (Approved, Event::Decide(_)) => Ok(Approved),
        (Claimed | Running | Done, Event::Decide(_)) => {
            Err(format!("a {from} assignment is never re-decided"))
        }
        (_, Event::Decide(_)) => Err(format!("a {from} assignment is not queued again")),

        (ApprovalRequired, Event::Approve) => Ok(Approved),
        (ApprovalRequired | Approved, Event::Reject) => Ok(Blocked),
        (Approved, Event::ApprovalLapse) => Ok(ApprovalRequired),
        (Recommended | Approved, Event::Claim) => Ok(Claimed),
        (Claimed | Running, Event::Start) => Ok(Running),
        (Claimed | Running, Event::Complete) => Ok(Done),
        (Claimed | Running, Event::Fail) => Ok(Failed),
        (Claimed | Running, Event::Expire) => Ok(Expired),
        (
            Recommended | ApprovalRequired | Approved | Claimed | Running | Expired | Blocked,
            Event::Release,
        ) => Ok(Released),

        (ApprovalRequired, Event::Claim) => {
            Err("it needs an operator's approval before it can be claimed".into())
        }
        (_, event) => Err(format!("{} is not allowed from {from}", event.name())),
    }
}

fn decided(outcome: Status) -> Result<Status, String> {
    match outcome {
        Status::Recommended | Status::ApprovalRequired | Status::Blocked => Ok(outcome),
        other => Err(format!("a decision cannot produce {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    const EVENTS: [Event; 12] = [
        Event::Decide(Recommended),
        Event::Decide(ApprovalRequired),
        Event::Decide(Blocked),
        Event::Approve,
        Event::Reject,
        Event::Claim,
        Event::Start,
        Event::Complete,
        Event::Fail,
        Event::Release,
        Event::Expire,
        Event::ApprovalLapse,
    ];

    /// Every allowed (from, requeue, event) → to. Anything not listed must be refused.
    fn allowed() -> Vec<(Option<Status>, bool, Event, Status)> {
        let mut rows = Vec::new();
        for outcome in [Recommended, ApprovalRequired, Blocked] {
            for requeue in [false, true] {
                rows.push((None, requeue, Event::Decide(outcome), outcome));
                rows.push((Some(Recommended), requeue, Event::Decide(outcome), outcome));
                rows.push((
                    Some(ApprovalRequired),
                    requeue,
                    Event::Decide(outcome),
                    outcome,
                ));
                rows.push((Some(Approved), requeue, Event::Decide(outcome), Approved));
            }
            for from in [Blocked, Released, Expired, Failed] {
                rows.push((Some(from), true, Event::Decide(outcome), outcome));
            }
        }
        for requeue in [false, true] {
            let r = requeue;
            rows.extend([
                (Some(ApprovalRequired), r, Event::Approve, Approved),
                (Some(ApprovalRequired), r, Event::Reject, Blocked),
                (Some(Approved), r, Event::Reject, Blocked),
                (Some(Approved), r, Event::ApprovalLapse, ApprovalRequired),
                (Some(Recommended), r, Event::Claim, Claimed),
                (Some(Approved), r, Event::Claim, Claimed),
                (Some(Claimed), r, Event::Start, Running),
                (Some(Running), r, Event::Start, Running),
                (Some(Claimed), r, Event::Complete, Done),
                (Some(Running), r, Event::Complete, Done),
                (Some(Claimed), r, Event::Fail, Failed),
                (Some(Running), r, Event::Fail, Failed),
                (Some(Claimed), r, Event::Expire, Expired),
                (Some(Running), r, Event::Expire, Expired),
            ]);
            for from in [
                Recommended,
                ApprovalRequired,
                Approved,
                Claimed,
                Running,
                Expired,
                Blocked,
            ] {
                rows.push((Some(from), r, Event::Release, Released));
            }
        }
        rows
    }

    #[test]
    fn every_allowed_transition_lands_where_the_table_says() {
        for (from, requeue, event, to) in allowed() {
            assert_eq!(
                transition(from, requeue, event),
                Ok(to),
                "{from:?} {requeue} {event:?}"
            );
        }
    }

    #[test]
    fn every_other_transition_is_refused() {
        let allowed = allowed();
        let froms = std::iter::once(None).chain(Status::VARIANTS.iter().copied().map(Some));
        let mut refused = 0;
        for from in froms {
            for requeue in [false, true] {
                for event in EVENTS {
                    if allowed
                        .iter()
                        .any(|(f, r, e, _)| *f == from && *r == requeue && *e == event)
                    {
                        continue;
                    }
                    let result = transition(from, requeue, event);
                    assert!(
                        result.is_err(),
                        "{from:?} {requeue} {event:?} gave {result:?}"
                    );
                    refused += 1;
                }
            }
        }
        assert!(refused > 100, "only {refused} refusals checked");
    }

    #[test]
    fn a_tick_never_overwrites_claimed_or_running() {
        for from in [Claimed, Running, Done] {
            let err = transition(Some(from), true, Event::Decide(Recommended)).unwrap_err();
            assert!(err.contains("never re-decided"), "{err}");
        }
    }

    #[test]
    fn claiming_a_gated_assignment_says_why() {
        let err = transition(Some(ApprovalRequired), false, Event::Claim).unwrap_err();
        assert!(err.contains("approval"), "{err}");
    }

    #[test]
    fn decide_cannot_invent_lifecycle_states() {
        assert!(transition(None, false, Event::Decide(Running)).is_err());
    }

    #[test]
    fn status_names_round_trip() {
        for &status in Status::VARIANTS {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        assert!("stuck".parse::<Status>().unwrap_err().contains("'stuck'"));
    }
}
