//! Every lifecycle, operator and worker event the engine authors (contract
//! A2): its type, its idempotency key (A3, in the old service's spelling,
//! made unique per claim attempt, renewal and control change as contract D
//! asks) and its payload, in one place. The engine says what happened; this says
//! how AssistX hears of it. A decision's own event is the decision's
//! (`domain::decision`).

use super::control::ControlMode;
use super::ids;
use super::lane::Lane;
use super::worker::WorkerStatus;
use serde_json::{Value, json};

/// Python's `str(bool)`, which the old service wrote into keys.
fn py_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Python's `str(None)` for absent key parts.
fn py_opt(value: Option<&str>) -> &str {
    value.unwrap_or("None")
}

/// What happened, with what its event needs to say.
#[derive(Debug, Clone, PartialEq)]
pub enum Authored<'a> {
    Claimed {
        assignment_id: &'a str,
        worker_id: &'a str,
        node_id: &'a str,
        /// The claim attempt, 1 for the first: every claim is a new event.
        attempt: u32,
        lease_seconds: u64,
        lease_expires_at: &'a str,
    },
    /// What AssistX must hear of a held lease: the work started (the first
    /// heartbeat or progress of a claimed assignment), or the lease it knows
    /// of runs out within half its length and was renewed.
    Heartbeat {
        assignment_id: &'a str,
        worker_id: &'a str,
        node_id: &'a str,
        /// The renewal's number, counted per assignment and never reset.
        sequence: u32,
        running: bool,
        lease_expires_at: &'a str,
        last_heartbeat_at: &'a str,
    },
    Completed {
        assignment_id: &'a str,
        worker_id: &'a str,
        node_id: Option<&'a str>,
        /// The claim attempt that completes.
        attempt: u32,
        summary: Option<&'a str>,
    },
    Failed {
        assignment_id: &'a str,
        worker_id: &'a str,
        node_id: Option<&'a str>,
        attempt: u32,
        reason: &'a str,
        retryable: bool,
        will_retry: bool,
        retry_count: u32,
    },
    /// A lease ran out, or its worker went stale.
    Expired {
        assignment_id: &'a str,
        lease_expires_at: Option<&'a str>,
        reason: &'a str,
        worker_id: Option<&'a str>,
        node_id: Option<&'a str>,
        retry_count: u32,
    },
    Approved {
        assignment_id: &'a str,
        by: &'a str,
        reason: &'a str,
        selected_lane: Lane,
        expires_at: &'a str,
    },
    Rejected {
        assignment_id: &'a str,
        by: &'a str,
        reason: &'a str,
    },
    Released {
        assignment_id: &'a str,
        by: &'a str,
        reason: &'a str,
        retry: bool,
        worker_id: Option<&'a str>,
        retry_count: u32,
        /// The claim attempt released (0: never claimed).
        attempt: u32,
    },
    /// The task goes back to READY in AssistX (`assignment.released`): a
    /// claimed or running assignment released, taken back from a lost
    /// worker, or failed and about to be retried.
    Returned {
        assignment_id: &'a str,
        attempt: u32,
        reason: &'a str,
        worker_id: Option<&'a str>,
        node_id: Option<&'a str>,
    },
    ControlChanged {
        version: i64,
        mode: ControlMode,
        previous: ControlMode,
        reason: &'a str,
        by: &'a str,
        /// When it changed, in epoch milliseconds: in the key, so that a
        /// fresh cache starting again at version 1 never collides.
        changed_at_ms: i64,
    },
    /// A worker's status changed (or it came back from stale).
    WorkerStatus {
        node_id: &'a str,
        worker_id: &'a str,
        status: WorkerStatus,
        previous: Option<&'a str>,
        lanes: &'a [String],
        capabilities: &'a [String],
        max_concurrent: u32,
        /// The instant, as written on the wire: one event per change.
        at: &'a str,
    },
}

impl Authored<'_> {
    pub fn event_type(&self) -> &'static str {
        match self {
            Authored::Claimed { .. } => "assignment.claimed",
            Authored::Heartbeat { .. } => "assignment.heartbeat",
            Authored::Completed { .. } => "assignment.completed",
            Authored::Failed { .. } => "assignment.failed",
            Authored::Expired { .. } => "assignment.expired",
            Authored::Approved { .. } => "assign.assignment.approved",
            Authored::Rejected { .. } => "assign.assignment.skipped",
            Authored::Released { .. } => "assign.assignment.released",
            Authored::Returned { .. } => "assignment.released",
            Authored::ControlChanged { .. } => "assign.control.changed",
            Authored::WorkerStatus { .. } => "assign.worker.heartbeat.recorded",
        }
    }

    /// The idempotency key: the same happening always gets the same key.
    pub fn key(&self) -> String {
        match self {
            Authored::Claimed {
                assignment_id,
                worker_id,
                attempt,
                ..
            } => format!(
                "assignment.claimed:{assignment_id}:{worker_id}:{}",
                ids::claim_correlation_id(assignment_id, *attempt)
            ),
            Authored::Heartbeat {
                assignment_id,
                worker_id,
                node_id,
                sequence,
                ..
            } => format!("assignment.heartbeat:{node_id}:{worker_id}:{assignment_id}:{sequence}"),
            Authored::Completed {
                assignment_id,
                worker_id,
                attempt,
                ..
            } => format!("assignment.completed:{assignment_id}:{worker_id}:{attempt}"),
            Authored::Failed {
                assignment_id,
                worker_id,
                attempt,
                ..
            } => format!("assignment.failed:{assignment_id}:{worker_id}:{attempt}"),
            Authored::Expired {
                assignment_id,
                lease_expires_at,
                ..
            } => format!(
                "assignment.expired:{assignment_id}:{}",
                py_opt(*lease_expires_at)
            ),
            Authored::Approved {
                assignment_id,
                by,
                reason,
                ..
            } => format!("assign.assignment.approved:{assignment_id}:{by}:{reason}"),
            Authored::Rejected {
                assignment_id,
                by,
                reason,
            } => format!("assign.assignment.rejected:{assignment_id}:{by}:{reason}"),
            Authored::Released {
                assignment_id,
                reason,
                retry,
                attempt,
                ..
            } => {
                // A3's form for the first claim; a later claim's release
                // names its attempt, or it would repeat the first's key.
                let reason = match attempt {
                    0 | 1 => reason.to_string(),
                    n => format!("{reason} (claim {n})"),
                };
                format!(
                    "assign.assignment.released:{assignment_id}:{reason}:{}",
                    py_bool(*retry)
                )
            }
            Authored::Returned {
                assignment_id,
                attempt,
                reason,
                ..
            } => format!("assignment.released:{assignment_id}:{attempt}:{reason}"),
            Authored::ControlChanged {
                version,
                mode,
                changed_at_ms,
                ..
            } => format!("assign.control.changed:{version}:{mode}:{changed_at_ms}"),
            Authored::WorkerStatus {
                node_id,
                worker_id,
                at,
                ..
            } => format!("assign.worker.heartbeat.recorded:{node_id}:{worker_id}:{at}"),
        }
    }

    pub fn payload(&self) -> Value {
        match self {
            Authored::Claimed {
                worker_id,
                node_id,
                attempt,
                lease_seconds,
                lease_expires_at,
                ..
            } => json!({
                "status": "CLAIMED",
                "claimed_by": worker_id,
                "worker_id": worker_id,
                "node_id": node_id,
                "attempt": attempt,
                "lease_seconds": lease_seconds,
                "lease_expires_at": lease_expires_at,
            }),
            Authored::Heartbeat {
                worker_id,
                node_id,
                running,
                lease_expires_at,
                last_heartbeat_at,
                ..
            } => json!({
                // Every assignment.* event sets the task's status; a
                // renewal of a claim not started yet must not say RUNNING.
                "status": if *running { "RUNNING" } else { "CLAIMED" },
                "worker_id": worker_id,
                "node_id": node_id,
                "lease_expires_at": lease_expires_at,
                "last_heartbeat_at": last_heartbeat_at,
            }),
            Authored::Completed {
                worker_id,
                node_id,
                summary,
                ..
            } => {
                json!({"status": "DONE", "worker_id": worker_id, "node_id": node_id, "summary": summary})
            }
            Authored::Failed {
                worker_id,
                node_id,
                reason,
                retryable,
                will_retry,
                retry_count,
                ..
            } => json!({
                "status": "FAILED",
                "worker_id": worker_id,
                "node_id": node_id,
                "reason": reason,
                "retryable": retryable,
                "will_retry": will_retry,
                "retry_count": retry_count,
            }),
            Authored::Expired {
                reason,
                worker_id,
                node_id,
                retry_count,
                ..
            } => json!({
                "status": "READY",
                "reason": reason,
                "worker_id": worker_id,
                "node_id": node_id,
                "retry_count": retry_count,
            }),
            Authored::Approved {
                by,
                reason,
                selected_lane,
                expires_at,
                ..
            } => json!({
                "approved_by": by,
                "approval_reason": reason,
                "selected_lane": selected_lane,
                "approval_expires_at": expires_at,
            }),
            Authored::Rejected { by, reason, .. } => {
                json!({"reason_code": "rejected_by_operator", "reason": reason, "rejected_by": by})
            }
            Authored::Released {
                by,
                reason,
                retry,
                worker_id,
                retry_count,
                ..
            } => json!({
                "reason": reason,
                "retryable": retry,
                "released_by": by,
                "worker_id": worker_id,
                "retry_count": retry_count,
            }),
            Authored::Returned {
                reason,
                worker_id,
                node_id,
                ..
            } => json!({
                "status": "READY",
                "reason": reason,
                "worker_id": worker_id,
                "node_id": node_id,
            }),
            Authored::ControlChanged {
                mode,
                previous,
                reason,
                by,
                ..
            } => {
                json!({"mode": mode, "previous_mode": previous, "reason": reason, "changed_by": by})
            }
            Authored::WorkerStatus {
                node_id,
                worker_id,
                status,
                previous,
                lanes,
                capabilities,
                max_concurrent,
                ..
            } => json!({
                "node_id": node_id,
                "worker_id": worker_id,
                "status": status,
                "previous_status": previous,
                "lanes": lanes,
                "capabilities": capabilities,
                "max_concurrent": max_concurrent,
            }),
        }
    }

    /// The node an event about a node (not an assignment) is about.
    pub fn node(&self) -> Option<&str> {
        match self {
            Authored::ControlChanged { .. } => Some("auto-assign"),
            Authored::WorkerStatus { node_id, .. } => Some(node_id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_keys_use_python_spelling() {
        let released = |reason, retry, attempt| Authored::Released {
            assignment_id: "assign_1",
            by: "scott",
            reason,
            retry,
            worker_id: None,
            retry_count: 0,
            attempt,
        };
        assert_eq!(
            released("stale", true, 1).key(),
            "assign.assignment.released:assign_1:stale:True"
        );
        assert_eq!(
            released("done", false, 0).key(),
            "assign.assignment.released:assign_1:done:False"
        );
        let approved = Authored::Approved {
            assignment_id: "assign_1",
            by: "scott",
            reason: "ok",
            selected_lane: Lane::LocalOnly,
            expires_at: "2026-11-24T12:00:00Z",
        };
        assert_eq!(
            approved.key(),
            "assign.assignment.approved:assign_1:scott:ok"
        );
    }

    fn claimed(attempt: u32) -> Authored<'static> {
        Authored::Claimed {
            assignment_id: "assign_1",
            worker_id: "w1",
            node_id: "n1",
            attempt,
            lease_seconds: 900,
            lease_expires_at: "2026-11-24T12:15:00.000000Z",
        }
    }

    #[test]
    fn every_claim_attempt_is_its_own_event_with_what_assistx_reads() {
        assert_eq!(
            claimed(1).key(),
            format!(
                "assignment.claimed:assign_1:w1:{}",
                ids::correlation_id("claim", "assign_1/1")
            )
        );
        assert_ne!(claimed(1).key(), claimed(2).key());
        let payload = claimed(1).payload();
        assert_eq!(payload["status"], "CLAIMED");
        assert_eq!(payload["lease_seconds"], 900);
        assert_eq!(payload["lease_expires_at"], "2026-11-24T12:15:00.000000Z");
        assert_eq!(payload["node_id"], "n1");
    }

    #[test]
    fn renewals_are_numbered_and_say_the_status_the_task_has() {
        let beat = |sequence, running| Authored::Heartbeat {
            assignment_id: "assign_1",
            worker_id: "w1",
            node_id: "n1",
            sequence,
            running,
            lease_expires_at: "2026-11-24T12:15:00.000000Z",
            last_heartbeat_at: "2026-11-24T12:00:00.000000Z",
        };
        assert_eq!(beat(0, true).key(), "assignment.heartbeat:n1:w1:assign_1:0");
        assert_ne!(beat(0, true).key(), beat(1, true).key());
        assert_eq!(beat(0, true).payload()["status"], "RUNNING");
        assert_eq!(beat(3, false).payload()["status"], "CLAIMED");
        assert_eq!(
            beat(0, true).payload()["last_heartbeat_at"],
            "2026-11-24T12:00:00.000000Z"
        );
    }

    #[test]
    fn a_later_claims_release_never_repeats_the_first_ones_key() {
        let released = |attempt| Authored::Released {
            assignment_id: "assign_1",
            by: "scott",
            reason: "too big",
            retry: false,
            worker_id: Some("w1"),
            retry_count: 0,
            attempt,
        };
        assert_ne!(released(1).key(), released(2).key());
        let returned = |attempt| Authored::Returned {
            assignment_id: "assign_1",
            attempt,
            reason: "retry",
            worker_id: Some("w1"),
            node_id: Some("n1"),
        };
        assert_eq!(returned(2).event_type(), "assignment.released");
        assert_eq!(returned(2).key(), "assignment.released:assign_1:2:retry");
        assert_ne!(returned(1).key(), returned(2).key());
        assert_eq!(returned(1).payload()["status"], "READY");
    }

    #[test]
    fn node_events_name_their_node_and_assignment_events_none() {
        let control = |changed_at_ms| Authored::ControlChanged {
            version: 3,
            mode: ControlMode::Paused,
            previous: ControlMode::Enabled,
            reason: "maint",
            by: "scott",
            changed_at_ms,
        };
        assert_eq!(control(1).node(), Some("auto-assign"));
        assert_eq!(
            control(1_795_000_000_000).key(),
            "assign.control.changed:3:paused:1795000000000"
        );
        // The same version and mode from a fresh cache, later: another key.
        assert_ne!(control(1).key(), control(2).key());
        assert_eq!(control(1).payload()["previous_mode"], "enabled");
        let rejected = Authored::Rejected {
            assignment_id: "a",
            by: "s",
            reason: "no",
        };
        assert_eq!(rejected.node(), None);
        assert_eq!(rejected.event_type(), "assign.assignment.skipped");
    }
}
