//! Lifecycle flows through the engine core, on a real SQLite database.

use crate::config::{Overrides, Settings, load_with};
use crate::domain::control::ControlMode;
use crate::domain::lifecycle::Status;
use crate::domain::worker::Heartbeat;
use crate::engine::core::{Clock, Core};
use crate::error::Error;
use crate::store::{Store, approvals, assignments, audit, outbox};
use crate::wire::{Action, Command, Completion, Reply};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

struct Harness {
    core: Core,
    now: Arc<Mutex<DateTime<Utc>>>,
    _dir: tempfile::TempDir,
}

fn settings(dir: &std::path::Path, env: &[(&str, &str)]) -> Settings {
    let pairs: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let overrides = Overrides {
        database: Some(dir.join("cache.sqlite3").display().to_string()),
        config_file: Some(dir.join("absent-is-fine-only-when-default.toml")),
        operator: Some("op".into()),
        socket: None,
    };
    std::fs::write(dir.join("absent-is-fine-only-when-default.toml"), "").unwrap();
    load_with(&overrides, &move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
    .settings
}

impl Harness {
    fn new() -> Self {
        Self::with_env(&[])
    }

    fn with_env(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path(), env);
        let now = Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap(),
        ));
        let core = Self::core_on(&settings, &now);
        Harness {
            core,
            now,
            _dir: dir,
        }
    }

    fn core_on(settings: &Settings, now: &Arc<Mutex<DateTime<Utc>>>) -> Core {
        let store = Store::open(&settings.database_path).unwrap();
        let clock_now = now.clone();
        let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
        Core::new(store, settings.clone(), clock)
    }

    /// Closes and reopens the engine on the same file: a restart.
    fn restart(self) -> Self {
        let settings = self.core.settings().clone();
        let now = self.now.clone();
        drop(self.core);
        let mut core = Self::core_on(&settings, &now);
        core.recover().unwrap();
        Harness {
            core,
            now,
            _dir: self._dir,
        }
    }

    fn advance(&self, seconds: i64) {
        *self.now.lock().unwrap() += Duration::seconds(seconds);
    }

    fn apply(&mut self, command: Command) -> Result<Reply, Error> {
        self.core.apply(command)
    }

    fn evaluate(&mut self, item: Value) -> String {
        match self
            .apply(Command::by(
                "op",
                Action::Evaluate {
                    candidates: vec![item],
                },
            ))
            .unwrap()
        {
            Reply::Outcomes(o) => o[0]
                .decision
                .as_ref()
                .map(|d| d.assignment_id.clone())
                .unwrap_or_default(),
            other => panic!("{other:?}"),
        }
    }

    fn get(&self, id: &str) -> assignments::Assignment {
        assignments::get(self.core.store().conn(), id).unwrap()
    }

    fn status(&self, id: &str) -> Status {
        self.get(id).status
    }

    fn outbox_types(&self) -> Vec<String> {
        outbox::list(self.core.store().conn(), None, 1000)
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    fn claim(&mut self, id: &str, worker: &str, lease: u64) -> Result<Reply, Error> {
        self.apply(Command::Claim {
            assignment_id: id.into(),
            worker_id: worker.into(),
            node_id: Some("n1".into()),
            lease_seconds: Some(lease),
            correlation_id: None,
        })
    }

    fn heartbeat(&mut self, worker: &str, assignment: Option<&str>) -> Result<Reply, Error> {
        let mut hb = Heartbeat::new("n1", worker);
        hb.assignment_id = assignment.map(str::to_string);
        self.apply(Command::Heartbeat(hb))
    }

    fn tick(&mut self) {
        self.apply(Command::by(
            "op",
            Action::Tick {
                dry_run: false,
                candidates: None,
                router: None,
            },
        ))
        .unwrap();
    }

    fn refused_audit(&self) -> Vec<audit::Entry> {
        audit::recent(self.core.store().conn(), 1000, false)
            .unwrap()
            .into_iter()
            .filter(|e| e.outcome == "refused")
            .collect()
    }

    /// The invariant the schema enforces, checked from outside too.
    fn assert_status_matches_decision(&self) {
        let disagree: i64 = self
            .core
            .store()
            .conn()
            .query_row("SELECT COUNT(*) FROM assignments WHERE json_extract(decision, '$.status') <> status", [], |r| r.get(0))
            .unwrap();
        assert_eq!(disagree, 0);
    }
}

/// A JSON object literal as a map.
fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

fn approve(id: &str, expected_version: Option<i64>) -> Command {
    Command::by(
        "scott",
        Action::Approve {
            assignment_id: id.into(),
            reason: Some("looked".into()),
            expected_version,
        },
    )
}

fn release(id: &str, retry: bool) -> Command {
    Command::by(
        "op",
        Action::Release {
            assignment_id: id.into(),
            reason: Some("stuck".into()),
            retry,
            expected_version: None,
        },
    )
}

#[test]
fn evaluating_stores_one_decision_one_event_and_an_audit_line() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    assert_eq!(id, "assign_7f4e620a70c33afa");
    assert_eq!(h.status(&id), Status::Recommended);
    assert_eq!(h.outbox_types(), vec!["assign.assignment.recommended"]);
    h.evaluate(json!({"task_id": "T1"}));
    assert_eq!(
        h.outbox_types().len(),
        1,
        "the same decision is not announced twice"
    );
    assert_eq!(
        h.get(&id).version,
        1,
        "an unchanged decision is not rewritten"
    );
    let audit = audit::recent(h.core.store().conn(), 10, false).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].action.as_str(), audit[0].to_status.as_deref()),
        ("decide", Some("recommended"))
    );
}

#[test]
fn approval_makes_a_gated_assignment_dispatchable_and_rescoring_does_not_regate() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1", "risk_level": "high"}));
    assert_eq!(h.status(&id), Status::ApprovalRequired);
    let pending = approvals::pending(h.core.store().conn()).unwrap();
    assert_eq!(pending[0].gate, "risk high");
    let version = h.get(&id).version;
    h.apply(approve(&id, Some(version))).unwrap();
    let a = h.get(&id);
    assert_eq!(a.status, Status::Approved);
    assert_eq!(a.decision.selected_lane.as_str(), "local_only");
    assert_eq!(a.decision.reasons[0], "approved by scott: looked");
    h.evaluate(json!({"task_id": "T1", "risk_level": "high"}));
    assert_eq!(
        h.status(&id),
        Status::Approved,
        "contract B: an approval holds"
    );
    h.claim(&id, "w1", 60).unwrap();
    assert_eq!(h.status(&id), Status::Claimed);
    assert!(
        h.outbox_types()
            .contains(&"assign.assignment.approved".to_string())
    );
    h.assert_status_matches_decision();
}

#[test]
fn approving_twice_is_refused_and_audited() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1", "approval_required": "yes"}));
    h.apply(approve(&id, None)).unwrap();
    let err = h.apply(approve(&id, None)).unwrap_err();
    assert!(matches!(err, Error::IllegalTransition { .. }), "{err}");
    let refused = h.refused_audit();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].action, "approve");
    assert_eq!(refused[0].actor, "scott");
}

#[test]
fn a_stale_version_is_refused() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1", "approval_required": true}));
    let seen = h.get(&id).version;
    h.apply(Command::by(
        "op",
        Action::Reject {
            assignment_id: id.clone(),
            reason: None,
            expected_version: Some(seen),
        },
    ))
    .unwrap();
    let err = h.apply(approve(&id, Some(seen))).unwrap_err();
    assert!(matches!(err, Error::StaleVersion { .. }), "{err}");
    assert_eq!(h.status(&id), Status::Blocked);
}

#[test]
fn a_rejected_task_stays_blocked_through_ticks() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1", "approval_required": true}));
    h.apply(Command::by(
        "op",
        Action::Reject {
            assignment_id: id.clone(),
            reason: Some("no".into()),
            expected_version: None,
        },
    ))
    .unwrap();
    h.tick();
    let a = h.get(&id);
    assert_eq!(a.status, Status::Blocked);
    assert_eq!(a.decision.reasons, vec!["rejected by op: no"]);
    assert_eq!(
        approvals::get(h.core.store().conn(), &id)
            .unwrap()
            .unwrap()
            .decision
            .as_deref(),
        Some("rejected")
    );
}

#[test]
fn claiming_a_gated_assignment_is_refused_with_the_reason() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1", "approval_required": true}));
    let err = h.claim(&id, "w1", 60).unwrap_err().to_string();
    assert!(err.contains("approval"), "{err}");
    assert_eq!(h.status(&id), Status::ApprovalRequired);
}

#[test]
fn unknown_assignment_is_not_found() {
    let mut h = Harness::new();
    assert!(matches!(
        h.claim("assign_nope", "w1", 60).unwrap_err(),
        Error::NotFound { .. }
    ));
}

#[test]
fn a_heartbeat_renews_the_lease_for_its_claimed_length_and_starts_the_work() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    h.advance(50);
    match h.heartbeat("w1", Some(&id)).unwrap() {
        Reply::Heartbeat(r) => {
            assert_eq!(r.renewed, vec![id.clone()]);
            assert_eq!(r.started, vec![id.clone()]);
        }
        other => panic!("{other:?}"),
    }
    let a = h.get(&id);
    assert_eq!(a.status, Status::Running);
    let expected = crate::domain::time::rfc3339(*h.now.lock().unwrap() + Duration::seconds(60));
    assert_eq!(a.lease_expires_at.as_deref(), Some(expected.as_str()));
    h.advance(50);
    h.core.housekeeping().unwrap();
    assert_eq!(
        h.status(&id),
        Status::Running,
        "the renewed lease has not ended"
    );
    let running = outbox::list(h.core.store().conn(), None, 100).unwrap();
    let hb = running
        .iter()
        .find(|e| e.event_type == "assignment.heartbeat")
        .unwrap();
    let body: Value = serde_json::from_str(&hb.body).unwrap();
    assert_eq!(body["payload"]["status"], "RUNNING");
    assert_eq!(body["payload"]["task_id"], "T1");
}

#[test]
fn a_heartbeat_naming_an_assignment_the_worker_does_not_hold_is_refused() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    let err = h.heartbeat("w2", Some(&id)).unwrap_err();
    assert_eq!(err.code(), "assignment_not_held");
    assert!(
        h.core
            .store()
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM workers WHERE worker_id = 'w2'",
                [],
                |r| r.get::<_, i64>(0)
            )
            .unwrap()
            == 0
    );
}

#[test]
fn a_lease_that_ends_expires_costs_a_retry_and_offers_the_task_again() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    h.advance(60);
    h.core.housekeeping().unwrap();
    assert_eq!(
        h.status(&id),
        Status::Claimed,
        "strictly after the limit, not at it"
    );
    h.advance(1);
    assert!(h.core.housekeeping().unwrap());
    let a = h.get(&id);
    assert_eq!(a.status, Status::Recommended);
    assert_eq!(a.retry_count, 1);
    assert!(
        a.decision
            .reasons
            .iter()
            .any(|r| r == "retry penalty applied: 1")
    );
    let expired = outbox::list(h.core.store().conn(), None, 100)
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "assignment.expired")
        .unwrap();
    let body: Value = serde_json::from_str(&expired.body).unwrap();
    assert_eq!(body["payload"]["status"], "READY");
    h.assert_status_matches_decision();
}

#[test]
fn expiry_after_max_retries_is_final() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_MAX_RETRIES", "1")]);
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 10).unwrap();
    h.advance(11);
    h.core.housekeeping().unwrap();
    assert_eq!(h.status(&id), Status::Recommended);
    h.claim(&id, "w1", 10).unwrap();
    h.advance(11);
    h.core.housekeeping().unwrap();
    assert_eq!(h.status(&id), Status::Expired);
    h.tick();
    assert_eq!(h.status(&id), Status::Expired, "not queued again");
}

#[test]
fn a_stale_worker_loses_its_leases_without_using_a_retry() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "30")]);
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.heartbeat("w1", None).unwrap();
    h.claim(&id, "w1", 3600).unwrap();
    h.advance(31);
    h.core.housekeeping().unwrap();
    let a = h.get(&id);
    assert_eq!(a.status, Status::Recommended);
    assert_eq!(a.retry_count, 0);
    let stale = audit::recent(h.core.store().conn(), 100, false)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "worker_stale")
        .count();
    assert_eq!(stale, 1);
    h.advance(31);
    h.core.housekeeping().unwrap();
    let stale = audit::recent(h.core.store().conn(), 100, false)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "worker_stale")
        .count();
    assert_eq!(stale, 1, "a worker is declared lost only once");
}

#[test]
fn workers_are_not_blamed_for_the_engines_own_downtime() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "30")]);
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.heartbeat("w1", None).unwrap();
    h.claim(&id, "w1", 3600).unwrap();
    h.advance(600);
    let mut h = h.restart();
    assert_eq!(h.status(&id), Status::Claimed);
    h.heartbeat("w1", Some(&id)).unwrap();
    assert_eq!(h.status(&id), Status::Running);
}

#[test]
fn done_work_is_never_decided_again() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    h.apply(Command::Complete {
        assignment_id: id.clone(),
        worker_id: "w1".into(),
        status: None,
        summary: Some("ok".into()),
    })
    .unwrap();
    h.evaluate(json!({"task_id": "T1"}));
    h.tick();
    assert_eq!(h.status(&id), Status::Done);
    assert!(
        h.outbox_types()
            .contains(&"assignment.completed".to_string())
    );
}

#[test]
fn a_tick_never_overwrites_claimed_or_running() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 600).unwrap();
    let report = h
        .apply(Command::by(
            "op",
            Action::Tick {
                dry_run: false,
                candidates: Some(vec![json!({"task_id": "T1"})]),
                router: None,
            },
        ))
        .unwrap();
    match report {
        Reply::Tick(t) => assert_eq!(t.outcomes[0].result, "held"),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.status(&id), Status::Claimed);
}

#[test]
fn only_the_holder_completes_or_fails() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    let err = h
        .apply(Command::Fail {
            assignment_id: id.clone(),
            worker_id: "w2".into(),
            reason: None,
            retryable: true,
        })
        .unwrap_err();
    assert_eq!(err.code(), "assignment_not_held");
    assert_eq!(h.status(&id), Status::Claimed);
}

#[test]
fn a_retryable_failure_goes_back_to_the_queue_until_retries_run_out() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_MAX_RETRIES", "2")]);
    let id = h.evaluate(json!({"task_id": "T1"}));
    for attempt in 1..=2 {
        h.claim(&id, "w1", 60).unwrap();
        h.apply(Command::Fail {
            assignment_id: id.clone(),
            worker_id: "w1".into(),
            reason: Some("boom".into()),
            retryable: true,
        })
        .unwrap();
        let a = h.get(&id);
        assert_eq!((a.status, a.retry_count), (Status::Recommended, attempt));
    }
    h.claim(&id, "w1", 60).unwrap();
    h.apply(Command::Fail {
        assignment_id: id.clone(),
        worker_id: "w1".into(),
        reason: None,
        retryable: true,
    })
    .unwrap();
    assert_eq!(h.status(&id), Status::Failed);
    h.tick();
    assert_eq!(h.status(&id), Status::Failed, "fails terminally");
    let failed = outbox::list(h.core.store().conn(), None, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "assignment.failed")
        .count();
    assert_eq!(failed, 3, "one event per attempt, keyed by attempt");
}

#[test]
fn a_non_retryable_failure_is_final() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    h.apply(Command::Complete {
        assignment_id: id.clone(),
        worker_id: "w1".into(),
        status: Some(Completion::Failure),
        summary: None,
    })
    .unwrap();
    assert_eq!(
        h.status(&id),
        Status::Recommended,
        "complete --status failure retries"
    );
    h.claim(&id, "w1", 60).unwrap();
    h.apply(Command::Fail {
        assignment_id: id.clone(),
        worker_id: "w1".into(),
        reason: None,
        retryable: false,
    })
    .unwrap();
    assert_eq!(h.status(&id), Status::Failed);
}

#[test]
fn release_really_releases() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    h.heartbeat("w1", Some(&id)).unwrap();
    h.apply(release(&id, true)).unwrap();
    let a = h.get(&id);
    assert_eq!(
        (a.status, a.retry_count),
        (Status::Recommended, 1),
        "retryable: eligible again with retry_count + 1"
    );
    assert_eq!(a.worker_id, None);
    h.claim(&id, "w1", 60).unwrap();
    h.apply(release(&id, false)).unwrap();
    assert_eq!(h.status(&id), Status::Released);
    h.tick();
    assert_eq!(h.status(&id), Status::Released);
    let keys: Vec<String> = outbox::list(h.core.store().conn(), None, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect();
    assert!(keys.contains(&format!("assign.assignment.released:{id}:stuck:True")));
    assert!(keys.contains(&format!("assign.assignment.released:{id}:stuck:False")));
    let err = h.apply(release(&id, false)).unwrap_err();
    assert!(matches!(err, Error::IllegalTransition { .. }));
}

#[test]
fn paused_control_blocks_new_decisions_claims_and_renewals() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    let other = h.evaluate(json!({"task_id": "T2"}));
    h.apply(Command::by(
        "op",
        Action::Control {
            mode: ControlMode::Paused,
            reason: Some("maint".into()),
        },
    ))
    .unwrap();
    let reply = h
        .apply(Command::by(
            "op",
            Action::Evaluate {
                candidates: vec![json!({"task_id": "T3"})],
            },
        ))
        .unwrap();
    let Reply::Outcomes(outcomes) = reply else {
        panic!()
    };
    let d = outcomes[0].decision.as_ref().unwrap();
    assert_eq!(d.skipped_lanes[0].reason_code, "assignment_control_paused");
    assert!(
        assignments::get(h.core.store().conn(), &d.assignment_id).is_err(),
        "not stored"
    );
    let err = h.claim(&other, "w1", 60).unwrap_err();
    assert_eq!(err.code(), "control_mode");
    match h.heartbeat("w1", Some(&id)).unwrap() {
        Reply::Heartbeat(r) => assert!(r.renewed.is_empty()),
        other => panic!("{other:?}"),
    }
    h.advance(3600);
    h.core.housekeeping().unwrap();
    assert_eq!(
        h.status(&id),
        Status::Running,
        "a pause never expires what it froze"
    );
    let Reply::Tick(t) = h
        .apply(Command::by(
            "op",
            Action::Tick {
                dry_run: false,
                candidates: None,
                router: None,
            },
        ))
        .unwrap()
    else {
        panic!()
    };
    assert!(t.note.unwrap().contains("paused"));
    assert!(
        h.outbox_types()
            .contains(&"assign.control.changed".to_string())
    );
}

#[test]
fn draining_keeps_renewing_leases_but_takes_no_new_claims() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    let other = h.evaluate(json!({"task_id": "T2"}));
    h.claim(&id, "w1", 60).unwrap();
    h.apply(Command::by(
        "op",
        Action::Control {
            mode: ControlMode::Draining,
            reason: None,
        },
    ))
    .unwrap();
    match h.heartbeat("w1", None).unwrap() {
        Reply::Heartbeat(r) => assert_eq!(r.renewed, vec![id.clone()]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.claim(&other, "w1", 60).unwrap_err().code(),
        "control_mode"
    );
}

#[test]
fn an_approval_lapses_if_nobody_claims_in_time() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_APPROVAL_TTL_SECONDS", "100")]);
    let id = h.evaluate(json!({"task_id": "T1", "approval_required": true}));
    h.apply(approve(&id, None)).unwrap();
    h.advance(101);
    h.core.housekeeping().unwrap();
    assert_eq!(h.status(&id), Status::ApprovalRequired);
    assert_eq!(approvals::pending(h.core.store().conn()).unwrap().len(), 1);
    h.assert_status_matches_decision();
}

#[test]
fn inbound_events_are_processed_once_with_their_action_kept() {
    let mut h = Harness::new();
    let candidate = json!({"event_type": "task.candidate.created", "idempotency_key": "k1", "subject": {"task_id": "T9"}, "links": {}});
    let Reply::Ingested(first) = h
        .apply(Command::Event {
            event: object(candidate.clone()),
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(first.processed.unwrap().action, "evaluated");
    let Reply::Ingested(again) = h
        .apply(Command::Event {
            event: object(candidate),
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(again.mirrored, crate::store::events::Mirrored::Duplicate);
    assert!(again.processed.is_none());
    let missing =
        json!({"event_type": "task.candidate.created", "idempotency_key": "k2", "payload": {}});
    let Reply::Ingested(m) = h
        .apply(Command::Event {
            event: object(missing),
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        m.processed.as_ref().unwrap().reason.as_deref(),
        Some("missing_task_id")
    );
    let other = json!({"event_type": "something.else", "idempotency_key": "k3"});
    let Reply::Ingested(o) = h
        .apply(Command::Event {
            event: object(other),
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(o.processed.unwrap().action, "ignored");
    let Reply::Processed(none) = h
        .apply(Command::by(
            "op",
            Action::ProcessEvents {
                include_processed: false,
                dry_run: false,
            },
        ))
        .unwrap()
    else {
        panic!()
    };
    assert!(none.is_empty());
    let Reply::Processed(all) = h
        .apply(Command::by(
            "op",
            Action::ProcessEvents {
                include_processed: true,
                dry_run: false,
            },
        ))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(all.len(), 3);
    assert!(
        !h.outbox_types().iter().any(|t| t.starts_with("task.")),
        "inbound events are never echoed"
    );
    let err = h
        .apply(Command::Event {
            event: object(json!({"event_type": "x"})),
        })
        .unwrap_err();
    assert!(err.to_string().contains("idempotency_key"));
}

#[test]
fn a_router_snapshot_event_runs_a_tick() {
    let mut h = Harness::new();
    let e = json!({"event_type": "router.quota_snapshot.recorded", "idempotency_key": "r1"});
    let Reply::Ingested(i) = h.apply(Command::Event { event: object(e) }).unwrap() else {
        panic!()
    };
    let p = i.processed.unwrap();
    assert_eq!(p.action, "tick");
    assert!(p.detail.unwrap().starts_with("run "));
}

#[test]
fn a_dry_run_tick_writes_nothing() {
    let mut h = Harness::new();
    let Reply::Tick(t) = h
        .apply(Command::by(
            "op",
            Action::Tick {
                dry_run: true,
                candidates: Some(vec![json!({"task_id": "T1"}), json!({"priority": "x"})]),
                router: None,
            },
        ))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(t.counts.recommended, 1);
    assert_eq!(t.outcomes[1].result, "invalid");
    assert_eq!(t.run_id, None);
    assert!(h.outbox_types().is_empty());
    assert!(
        assignments::list(h.core.store().conn(), None, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn state_survives_a_restart_and_unprocessed_events_are_replayed() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    // An event mirrored by an older build that crashed before processing it.
    h.core.store().conn().execute(
        "INSERT INTO inbound_events (idempotency_key, event_type, body, received_at) VALUES ('late', 'task.candidate.created', '{\"event_type\":\"task.candidate.created\",\"idempotency_key\":\"late\",\"subject\":\"T7\"}', 'x')",
        [],
    ).unwrap();
    let h = h.restart();
    assert_eq!(h.status(&id), Status::Claimed);
    let t7 = crate::domain::ids::assignment_id("T7", None);
    assert_eq!(h.status(&t7), Status::Recommended);
}

#[test]
fn the_router_snapshot_opens_router_lanes() {
    let mut h = Harness::new();
    let bodies = object(json!({"context": {"revision": "rev-1", "nodes": []}}));
    h.core.set_router(&bodies).unwrap();
    let id = h.evaluate(json!({"task_id": "T1", "allowed_lanes": ["router_model"]}));
    let a = h.get(&id);
    assert_eq!(a.decision.selected_lane.as_str(), "router_model");
    assert_eq!(a.decision.context_revision.as_deref(), Some("rev-1"));
}

#[test]
fn a_refused_command_in_a_group_commit_changes_nothing_and_the_others_land() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    let results = h.core.apply_batch(vec![
        Command::by(
            "op",
            Action::Evaluate {
                candidates: vec![json!({"task_id": "T2"})],
            },
        ),
        Command::Claim {
            assignment_id: "assign_missing".into(),
            worker_id: "w1".into(),
            node_id: None,
            lease_seconds: None,
            correlation_id: None,
        },
        Command::Claim {
            assignment_id: id.clone(),
            worker_id: "w1".into(),
            node_id: None,
            lease_seconds: None,
            correlation_id: None,
        },
        Command::Claim {
            assignment_id: id.clone(),
            worker_id: "w2".into(),
            node_id: None,
            lease_seconds: None,
            correlation_id: None,
        },
    ]);
    let oks: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(oks, vec![true, false, true, false]);
    assert_eq!(
        h.status(&crate::domain::ids::assignment_id("T2", None)),
        Status::Recommended
    );
    let a = h.get(&id);
    assert_eq!(
        (a.status, a.worker_id.as_deref()),
        (Status::Claimed, Some("w1"))
    );
    assert_eq!(h.refused_audit().len(), 2);
}

#[test]
fn a_big_backlog_is_written_whole_in_order_and_a_repeated_task_is_decided_once() {
    let mut h = Harness::new();
    // Big enough to be planned on a helper thread, in several chunks.
    let mut items: Vec<Value> = (0..1_500)
        .map(|i| {
            let risk = if i % 5 == 0 { "high" } else { "low" };
            json!({"task_id": format!("T{i:04}"), "risk_level": risk})
        })
        .collect();
    items.insert(700, json!({"task_id": "T0003", "title": "listed twice"}));
    let Reply::Tick(t) = h
        .apply(Command::by(
            "op",
            Action::Tick {
                dry_run: false,
                candidates: Some(items),
                router: None,
            },
        ))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(t.counts.candidates, 1_501);
    assert_eq!(t.counts.approval_required, 300);
    assert_eq!(t.counts.recommended, 1_200);
    assert_eq!(t.counts.unchanged, 1);
    let repeated: Vec<_> = t
        .outcomes
        .iter()
        .filter(|o| o.result == "duplicate")
        .collect();
    assert_eq!(repeated.len(), 1);
    assert_eq!(repeated[0].task_id, "T0003");
    let conn = h.core.store().conn();
    let events = outbox::list(conn, None, 10_000).unwrap();
    let subjects: Vec<String> = events.iter().map(|e| e.subject_id.clone()).collect();
    let expected: Vec<String> = (0..1_500).map(|i| format!("T{i:04}")).collect();
    assert_eq!(subjects, expected, "one event per task, in backlog order");
    assert_eq!(assignments::list(conn, None, 10_000).unwrap().len(), 1_500);
    assert_eq!(approvals::pending(conn).unwrap().len(), 300);
    assert_eq!(audit::recent(conn, 10_000, false).unwrap().len(), 1_500);
    h.assert_status_matches_decision();
}

#[test]
fn a_snapshot_lists_gated_and_plain_work_with_titles_and_typed_rows() {
    use crate::domain::lane::Lane;
    use crate::engine::snapshot;
    let mut h = Harness::new();
    let gated =
        h.evaluate(json!({"task_id": "G1", "title": "push to prod", "risk_level": "critical"}));
    let plain =
        h.evaluate(json!({"task_id": "P1", "title": "tidy", "allowed_lanes": ["local_only"]}));
    h.claim(&plain, "w1", 60).unwrap();
    let now = *h.now.lock().unwrap();
    let s = snapshot::build(h.core.store().conn(), &Default::default(), now, None).unwrap();
    // The gated one waits in the blocked lane: its queue row is there.
    assert!(
        s.queue.iter().any(|q| q.status == Status::ApprovalRequired
            && q.lane == Lane::Blocked
            && q.count == 1)
    );
    let row = |id: &str| {
        s.recommendations
            .iter()
            .find(|r| r.assignment_id == id)
            .unwrap()
    };
    assert_eq!(row(&gated).title.as_deref(), Some("push to prod"));
    assert_eq!(row(&plain).status, Status::Claimed);
    assert_eq!(row(&plain).lane, Lane::LocalOnly);
    assert_eq!(row(&plain).holder().as_deref(), Some("n1/w1"));
    assert!(row(&plain).lease_expires_at.is_some_and(|at| at > now));
    assert!(row(&plain).score > 0.0);
    assert_eq!(s.count(Status::Claimed), 1);
    assert_eq!(s.recommendations_total, 2);
    assert_eq!(s.approvals[0].assignment_id, gated);
}
