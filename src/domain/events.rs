//! Every lifecycle, operator and worker event the engine authors (contract
//! A2): its type, its idempotency key (A3, in the old service's spelling)
//! and its payload, in one place. The engine says what happened; this says
//! how AssistX hears of it. A decision's own event is the decision's
//! (`domain::decision`).

use super::control::ControlMode;
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
        correlation_id: &'a str,
        lease_expires_at: Option<&'a str>,
    },
    /// The first heartbeat naming a claimed assignment: it is running.
    Started {
        assignment_id: &'a str,
        worker_id: &'a str,
        node_id: &'a str,
        heartbeat_id: Option<&'a str>,
    },
    Completed {
        assignment_id: &'a str,
        worker_id: &'a str,
        node_id: Option<&'a str>,
        /// Retries before this attempt: a retried task completes once per attempt.
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
    },
    ControlChanged {
        version: i64,
        mode: ControlMode,
        previous: ControlMode,
        reason: &'a str,
        by: &'a str,
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
            Authored::Started { .. } => "assignment.heartbeat",
            Authored::Completed { .. } => "assignment.completed",
            Authored::Failed { .. } => "assignment.failed",
            Authored::Expired { .. } => "assignment.expired",
            Authored::Approved { .. } => "assign.assignment.approved",
            Authored::Rejected { .. } => "assign.assignment.skipped",
            Authored::Released { .. } => "assign.assignment.released",
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
                correlation_id,
                ..
            } => format!("assignment.claimed:{assignment_id}:{worker_id}:{correlation_id}"),
            Authored::Started {
                assignment_id,
                worker_id,
                node_id,
                heartbeat_id,
            } => format!(
                "assignment.heartbeat:{node_id}:{worker_id}:{assignment_id}:{}",
                py_opt(*heartbeat_id)
            ),
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
                ..
            } => format!(
                "assign.assignment.released:{assignment_id}:{reason}:{}",
                py_bool(*retry)
            ),
            Authored::ControlChanged { version, mode, .. } => {
                format!("assign.control.changed:{version}:{mode}")
            }
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
                lease_expires_at,
                ..
            } => json!({
                "status": "CLAIMED",
                "claimed_by": worker_id,
                "worker_id": worker_id,
                "node_id": node_id,
                "lease_expires_at": lease_expires_at,
            }),
            Authored::Started {
                worker_id, node_id, ..
            } => json!({"status": "RUNNING", "worker_id": worker_id, "node_id": node_id}),
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
        let released = |reason, retry| Authored::Released {
            assignment_id: "assign_1",
            by: "scott",
            reason,
            retry,
            worker_id: None,
            retry_count: 0,
        };
        assert_eq!(
            released("stale", true).key(),
            "assign.assignment.released:assign_1:stale:True"
        );
        assert_eq!(
            released("done", false).key(),
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
        let claimed = Authored::Claimed {
            assignment_id: "assign_1",
            worker_id: "w1",
            node_id: "n1",
            correlation_id: "c",
            lease_expires_at: None,
        };
        assert_eq!(claimed.key(), "assignment.claimed:assign_1:w1:c");
        let started = Authored::Started {
            assignment_id: "assign_1",
            worker_id: "w1",
            node_id: "n1",
            heartbeat_id: None,
        };
        assert_eq!(started.key(), "assignment.heartbeat:n1:w1:assign_1:None");
    }

    #[test]
    fn node_events_name_their_node_and_assignment_events_none() {
        let control = Authored::ControlChanged {
            version: 3,
            mode: ControlMode::Paused,
            previous: ControlMode::Enabled,
            reason: "maint",
            by: "scott",
        };
        assert_eq!(control.node(), Some("auto-assign"));
        assert_eq!(control.key(), "assign.control.changed:3:paused");
        assert_eq!(control.payload()["previous_mode"], "enabled");
        let rejected = Authored::Rejected {
            assignment_id: "a",
            by: "s",
            reason: "no",
        };
        assert_eq!(rejected.node(), None);
        assert_eq!(rejected.event_type(), "assign.assignment.skipped");
    }
}
