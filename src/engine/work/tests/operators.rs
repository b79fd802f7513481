//! Operator commands: approval, rejection, release, the control mode.

use super::*;

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
    let keys: Vec<String> = outbox::list(h.core.store().conn(), None, false, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect();
    assert!(keys.contains(&format!("assign.assignment.released:{id}:stuck:True")));
    // The second claim's release names its attempt: the same reason must
    // not repeat the first release's key (contract D).
    assert!(keys.contains(&format!(
        "assign.assignment.released:{id}:stuck (claim 2):False"
    )));
    // AssistX hears `assignment.released` for each: its task is READY again.
    assert!(keys.contains(&format!("assignment.released:{id}:1:stuck")));
    assert!(keys.contains(&format!("assignment.released:{id}:2:stuck")));
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
