//! Worker commands and time: claims, heartbeats, leases that end, completion and failure.

use super::*;
use crate::domain::decision::Decision;
use crate::domain::lane::Lane;

#[test]
fn claiming_a_gated_assignment_is_refused_with_the_reason() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1", "approval_required": true}));
    let err = h.claim(&id, "w1", 60).unwrap_err().to_string();
    assert!(err.contains("approval"), "{err}");
    assert_eq!(h.status(&id), Status::ApprovalRequired);
}

/// Only a heartbeat that changes nothing the next one would not change
/// again may commit without waiting for the disk: not a new worker, not a
/// change of status, not a renewal or a start.
#[test]
fn only_a_heartbeat_that_refreshed_nothing_lasting_may_skip_the_fsync() {
    let mut h = Harness::new();
    let refreshed = |reply: Reply| match reply {
        Reply::Heartbeat(report) => report.refreshed_only,
        other => panic!("{other:?}"),
    };
    assert!(!refreshed(h.heartbeat("w1", None).unwrap()), "a new worker");
    assert!(
        refreshed(h.heartbeat("w1", None).unwrap()),
        "the same again"
    );
    let mut busy = Heartbeat::new("n1", "w1");
    busy.status = "busy".parse().unwrap();
    assert!(
        !refreshed(h.apply(Command::Heartbeat(busy)).unwrap()),
        "a new status"
    );
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    assert!(!refreshed(h.heartbeat("w1", Some(&id)).unwrap()), "a start");
    assert!(
        !refreshed(h.heartbeat("w1", Some(&id)).unwrap()),
        "a renewal"
    );
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
    let renewed_until = *h.now.lock().unwrap() + Duration::seconds(60);
    let expected = crate::domain::time::rfc3339(renewed_until);
    assert_eq!(a.lease_expires_at.as_deref(), Some(expected.as_str()));
    assert_eq!(
        (a.decision.status, a.decision.lease_expires_at),
        (Status::Running, Some(renewed_until)),
        "the decision shown with the assignment names the lease it holds"
    );
    h.advance(50);
    h.core.housekeeping().unwrap();
    assert_eq!(
        h.status(&id),
        Status::Running,
        "the renewed lease has not ended"
    );
    let running = outbox::list(h.core.store().conn(), None, false, 100).unwrap();
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
    let expired = outbox::list(h.core.store().conn(), None, false, 100)
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
    let id = h.lose_a_worker_holding_t1();
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
        h.fail(&id, "w1").unwrap();
        let a = h.get(&id);
        assert_eq!((a.status, a.retry_count), (Status::Recommended, attempt));
    }
    h.claim(&id, "w1", 60).unwrap();
    h.fail(&id, "w1").unwrap();
    assert_eq!(h.status(&id), Status::Failed);
    h.tick();
    assert_eq!(h.status(&id), Status::Failed, "fails terminally");
    let failed = outbox::list(h.core.store().conn(), None, false, 100)
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

/// A drained worker keeps what it holds and gets nothing new, across
/// heartbeats and a restart, until it is undrained; every step is audited.
#[test]
fn a_drained_worker_finishes_its_lease_takes_nothing_new_and_stays_drained() {
    let mut h = Harness::new();
    let held = h.evaluate(json!({"task_id": "T1"}));
    let next = h.evaluate(json!({"task_id": "T2"}));
    h.heartbeat("w1", None).unwrap();
    h.claim(&held, "w1", 600).unwrap();
    let drain = |worker: &str| {
        Command::by(
            "scott",
            Action::Drain {
                worker: worker.into(),
                reason: Some("kernel upgrade".into()),
            },
        )
    };
    h.apply(drain("n1/w1")).unwrap();
    h.heartbeat("w1", Some(&held)).unwrap();
    let mut h = h.restart();
    let err = h.claim(&next, "w1", 600).unwrap_err();
    assert_eq!(err.code(), "worker_drained", "{err}");
    assert!(err.to_string().contains("n1/w1"), "{err}");
    // What it holds runs to its end.
    h.complete(&held, "w1").unwrap();
    assert_eq!(h.status(&held), Status::Done);
    // Others still take work; undrained, so does it.
    h.apply(Command::by(
        "scott",
        Action::Undrain {
            worker: "n1/w1".into(),
            reason: None,
        },
    ))
    .unwrap();
    h.claim(&next, "w1", 600).unwrap();
    let audit = audit::recent(h.core.store().conn(), 100, true).unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"drain") && actions.contains(&"undrain"),
        "{actions:?}"
    );
    // A worker never heard from, or a name that is not node/worker.
    assert_eq!(h.apply(drain("n1/ghost")).unwrap_err().code(), "not_found");
    assert_eq!(h.apply(drain("ghost")).unwrap_err().code(), "bad_input");
}

/// Three failures or timeouts in a row open a worker's breaker: its claims
/// are refused; after the cool-down one trial goes through; its success
/// closes the breaker. Audited when it opens.
#[test]
fn a_failing_worker_trips_its_breaker_then_earns_its_way_back() {
    let mut h = Harness::with_env(&[
        ("AUTO_ASSIGN_BREAKER_FAILURES", "3"),
        ("AUTO_ASSIGN_BREAKER_COOLDOWN_SECONDS", "60"),
        ("AUTO_ASSIGN_MAX_RETRIES", "10"),
    ]);
    h.heartbeat("w1", None).unwrap();
    for task in ["T1", "T2"] {
        let id = h.evaluate(json!({"task_id": task}));
        h.claim(&id, "w1", 600).unwrap();
        h.fail(&id, "w1").unwrap();
    }
    // A lease that runs out is the third.
    let id = h.evaluate(json!({"task_id": "T3"}));
    h.claim(&id, "w1", 30).unwrap();
    h.advance(31);
    h.core.housekeeping().unwrap();
    let next = h.evaluate(json!({"task_id": "T4"}));
    let err = h.claim(&next, "w1", 600).unwrap_err();
    assert_eq!(err.code(), "breaker_open", "{err}");
    assert!(err.to_string().contains("3 failures"), "{err}");
    let audit = audit::recent(h.core.store().conn(), 100, false).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "breaker_open" && e.subject.as_deref() == Some("n1/w1"))
    );
    // Another worker is not held back.
    h.heartbeat("w2", None).unwrap();
    let other = h.evaluate(json!({"task_id": "T5"}));
    h.claim(&other, "w2", 600).unwrap();
    // After the cool-down: one trial, and only one.
    h.advance(61);
    h.heartbeat("w1", None).unwrap();
    h.claim(&next, "w1", 600).unwrap();
    let another = h.evaluate(json!({"task_id": "T6"}));
    assert_eq!(
        h.claim(&another, "w1", 600).unwrap_err().code(),
        "breaker_open"
    );
    h.complete(&next, "w1").unwrap();
    h.claim(&another, "w1", 600).unwrap();
}

/// `next`: a worker is given the waiting assignment it may take that comes
/// first by effective priority; a task needing a capability it lacks is
/// never given to it; an old background task overtakes new critical ones
/// once it has waited its levels; with nothing left it is told why.
#[test]
fn next_offers_by_capability_and_effective_priority() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_AGING_STEP_SECONDS", "300")]);
    let mut hb = Heartbeat::new("n1", "w1");
    hb.lanes = vec!["local_only".into()];
    hb.capabilities = vec!["Python".into()];
    hb.max_concurrent = 10;
    h.apply(Command::Heartbeat(hb)).unwrap();
    let next = |h: &mut Harness| {
        h.apply(Command::Next {
            worker_id: "w1".into(),
            node_id: "n1".into(),
            lease_seconds: Some(3600),
            correlation_id: None,
        })
    };
    let claimed = |reply: Reply| match reply {
        Reply::Assignment(a) => a.task_id,
        other => panic!("{other:?}"),
    };
    h.evaluate(json!({"task_id": "GPU", "priority": "critical", "required_capabilities": ["gpu"]}));
    h.evaluate(
        json!({"task_id": "OLD", "priority": "background", "required_capabilities": ["python"]}),
    );
    h.advance(60);
    h.evaluate(json!({"task_id": "NEW", "priority": "critical"}));
    assert_eq!(claimed(next(&mut h).unwrap()), "NEW");
    h.evaluate(json!({"task_id": "NEW2", "priority": "critical"}));
    // Twenty minutes on, the background task has risen four levels: it
    // goes before a critical task that just arrived, though still after
    // one that has waited as long as it (that one rose four levels too).
    h.advance(20 * 60);
    h.evaluate(json!({"task_id": "NEW3", "priority": "critical"}));
    assert_eq!(claimed(next(&mut h).unwrap()), "NEW2");
    assert_eq!(claimed(next(&mut h).unwrap()), "OLD");
    assert_eq!(claimed(next(&mut h).unwrap()), "NEW3");
    match next(&mut h).unwrap() {
        Reply::NoWork(why) => assert!(why.contains("1 missing_capability"), "{why}"),
        other => panic!("{other:?}"),
    }
    let unknown = h.apply(Command::Next {
        worker_id: "ghost".into(),
        node_id: "n1".into(),
        lease_seconds: None,
        correlation_id: None,
    });
    assert_eq!(unknown.unwrap_err().code(), "not_found");
}

/// Failover: a task that failed on a worker is offered to another one
/// first; after an aging step the first may have it again, so a lane with
/// one worker never starves.
#[test]
fn what_failed_on_a_worker_goes_to_another_first() {
    let mut h = Harness::with_env(&[
        ("AUTO_ASSIGN_AGING_STEP_SECONDS", "300"),
        ("AUTO_ASSIGN_BREAKER_FAILURES", "10"),
    ]);
    for w in ["w1", "w2"] {
        let mut hb = Heartbeat::new("n1", w);
        hb.lanes = vec!["local_only".into()];
        h.apply(Command::Heartbeat(hb)).unwrap();
    }
    let next = |h: &mut Harness, w: &str| {
        h.apply(Command::Next {
            worker_id: w.into(),
            node_id: "n1".into(),
            lease_seconds: None,
            correlation_id: None,
        })
        .unwrap()
    };
    let id = h.evaluate(json!({"task_id": "T1"}));
    assert!(matches!(next(&mut h, "w1"), Reply::Assignment(_)));
    h.fail(&id, "w1").unwrap();
    match next(&mut h, "w1") {
        Reply::NoWork(why) => assert!(why.contains("1 failed_here"), "{why}"),
        other => panic!("{other:?}"),
    }
    match next(&mut h, "w2") {
        Reply::Assignment(a) => assert_eq!(a.assignment_id, id),
        other => panic!("{other:?}"),
    }
    // w2 fails it too; an aging step later w1 may have it again.
    h.fail(&id, "w2").unwrap();
    assert!(matches!(next(&mut h, "w2"), Reply::NoWork(_)));
    assert!(
        matches!(next(&mut h, "w1"), Reply::Assignment(_)),
        "w2 failed it last, not w1"
    );
    h.fail(&id, "w1").unwrap();
    h.advance(301);
    assert!(matches!(next(&mut h, "w1"), Reply::Assignment(_)));
}

impl Harness {
    /// Worker `worker` of node n1 heartbeats serving `lanes`, with
    /// `capabilities` and room for `max` tasks.
    fn join(&mut self, worker: &str, lanes: &[&str], capabilities: &[&str], max: u32) {
        let mut hb = Heartbeat::new("n1", worker);
        hb.lanes = lanes.iter().map(|l| l.to_string()).collect();
        hb.capabilities = capabilities.iter().map(|c| c.to_string()).collect();
        hb.max_concurrent = max;
        self.apply(Command::Heartbeat(hb)).unwrap();
    }

    /// One pass over `items`: each one's decision.
    fn decide(&mut self, items: Vec<Value>) -> Vec<Decision> {
        let command = Command::by("op", Action::Evaluate { candidates: items });
        match self.apply(command).unwrap() {
            Reply::Outcomes(o) => o.into_iter().filter_map(|o| o.decision).collect(),
            other => panic!("{other:?}"),
        }
    }

    /// What `worker` is given when it asks for work: the task id, or why not.
    fn next(&mut self, worker: &str) -> Result<String, String> {
        let reply = self.apply(Command::Next {
            worker_id: worker.into(),
            node_id: "n1".into(),
            lease_seconds: None,
            correlation_id: None,
        });
        match reply.unwrap() {
            Reply::Assignment(a) => Ok(a.task_id),
            Reply::NoWork(why) => Err(why),
            other => panic!("{other:?}"),
        }
    }
}

fn local(task: &str) -> Value {
    json!({"task_id": task, "allowed_lanes": ["local_only"], "required_capabilities": ["python"]})
}

/// Contract C in a pass: each decision names the best usable worker and
/// reserves a place on it, so three tasks over two one-place workers go
/// one each and the third waits for capacity, saying why of every worker.
/// The named worker is given its task first; a freed worker takes the
/// waiting one. A second pass changes nothing.
#[test]
fn a_pass_names_a_worker_per_decision_and_the_rest_wait_for_capacity() {
    let mut h = Harness::new();
    h.join("w1", &["local_only"], &["Python"], 1);
    h.join("w2", &["local_only"], &["python"], 1);
    let d = h.decide(vec![local("T1"), local("T2"), local("T3")]);
    let named: Vec<Option<&str>> = d
        .iter()
        .map(|d| d.worker.selected_worker.as_deref())
        .collect();
    assert_eq!(named, [Some("w1"), Some("w2"), None]);
    assert!(
        d[0].reasons
            .iter()
            .any(|r| r.contains("worker n1/w1 chosen")),
        "{:?}",
        d[0].reasons
    );
    let waits = &d[2];
    assert!(
        waits
            .reasons
            .iter()
            .any(|r| r.contains("waits for capacity (2 at_capacity)")),
        "{:?}",
        waits.reasons
    );
    let codes: Vec<&str> = waits
        .worker
        .rejected_workers
        .iter()
        .map(|r| r.reason_code.as_str())
        .collect();
    assert_eq!(codes, ["at_capacity", "at_capacity"]);
    // The stored decision and the event AssistX receives name the worker.
    let stored = h.get(&d[0].assignment_id).decision;
    assert_eq!(stored.worker.selected_worker.as_deref(), Some("w1"));
    let event = outbox::list(h.core.store().conn(), None, false, 100)
        .unwrap()
        .into_iter()
        .find(|e| e.body.contains("\"T2\"") && e.event_type == "assign.assignment.recommended")
        .unwrap();
    let body: Value = serde_json::from_str(&event.body).unwrap();
    assert_eq!(body["payload"]["selected_worker"], "w2");
    assert_eq!(body["payload"]["selected_node"], "n1");
    // A tick decides the same again: nothing new is written or reserved.
    let events = h.outbox_types().len();
    h.tick();
    assert_eq!(h.outbox_types().len(), events);
    let targets: Vec<Option<String>> = h
        .core
        .store()
        .conn()
        .prepare("SELECT target FROM assignments ORDER BY task_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(targets, [Some("n1/w1".into()), Some("n1/w2".into()), None]);
    // w2 asks first but is given its own task, not w1's.
    assert_eq!(h.next("w2").unwrap(), "T2");
    assert_eq!(h.next("w1").unwrap(), "T1");
    assert!(h.next("w1").unwrap_err().contains("at its limit"));
    h.complete(&d[0].assignment_id, "w1").unwrap();
    assert_eq!(
        h.next("w1").unwrap(),
        "T3",
        "the freed worker takes the waiting task"
    );
}

/// The best lane has no usable worker (its only one is degraded): the
/// decision falls back to the next lane that has one, says so, and lists
/// the lane passed over as a skip; without workers the decision is A4's.
#[test]
fn a_lane_without_a_usable_worker_falls_back_to_one_with_a_worker() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_DIRECT_WORKERS_ENABLED", "true")]);
    let both =
        |task: &str| json!({"task_id": task, "allowed_lanes": ["local_only", "direct_worker"]});
    let plain = h.decide(vec![both("T0")]);
    assert_eq!(plain[0].selected_lane, Lane::LocalOnly);
    assert_eq!(
        plain[0].worker,
        Default::default(),
        "no workers: A4's decision"
    );
    h.join("direct", &["direct_worker"], &[], 4);
    let mut hb = Heartbeat::new("n1", "local");
    hb.lanes = vec!["local_only".into()];
    hb.status = crate::domain::worker::WorkerStatus::Degraded;
    h.apply(Command::Heartbeat(hb)).unwrap();
    let d = h.decide(vec![both("T1")]).remove(0);
    assert_eq!(d.selected_lane, Lane::DirectWorker);
    assert_eq!(d.worker.selected_worker.as_deref(), Some("direct"));
    assert!(
        d.reasons[0].contains("lane local_only has no usable worker: fell back to direct_worker"),
        "{:?}",
        d.reasons
    );
    let skip = d
        .skipped_lanes
        .iter()
        .find(|s| s.lane == Lane::LocalOnly)
        .unwrap();
    assert_eq!(&*skip.reason_code, "no_usable_worker");
    assert!(skip.reason.contains("1 worker_degraded"), "{skip:?}");
    assert_eq!(h.get(&d.assignment_id).lane, "direct_worker");
}

/// Deadlines (issue 12, item 4): a task whose deadline is less than an
/// aging step away gains two levels and goes before a more urgent task
/// that has none; between equals, the earlier deadline first; a deadline
/// that cannot be read refuses the item, naming the field.
#[test]
fn a_near_deadline_goes_first_and_an_unreadable_one_is_refused() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_AGING_STEP_SECONDS", "300")]);
    h.join("w1", &["local_only"], &[], 10);
    let now = *h.now.lock().unwrap();
    let soon = crate::domain::time::rfc3339(now + Duration::seconds(200));
    let later = crate::domain::time::rfc3339(now + Duration::seconds(3600));
    let task = |id: &str, priority: &str, deadline: Option<&str>| json!({"task_id": id, "priority": priority, "allowed_lanes": ["local_only"], "deadline": deadline});
    h.decide(vec![
        task("LATER", "batch", Some(&later)),
        task("URGENT", "interactive", None),
        task("SOON", "batch", Some(&soon)),
        task("PLAIN", "batch", None),
    ]);
    let order: Vec<String> = (0..4).map(|_| h.next("w1").unwrap()).collect();
    assert_eq!(order, ["SOON", "URGENT", "LATER", "PLAIN"]);
    let bad = h.apply(Command::by(
        "op",
        Action::Evaluate {
            candidates: vec![json!({"task_id": "BAD", "deadline": "friday"})],
        },
    ));
    match bad.unwrap() {
        Reply::Outcomes(o) => {
            assert_eq!(o[0].result, "invalid");
            let note = o[0].note.clone().unwrap_or_default();
            assert!(
                note.contains("deadline") && note.contains("friday"),
                "{note}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Alerts (issue 12, item 8): judged by the engine every few seconds from
/// its own thresholds, in the snapshot while they hold, and written to the
/// audit once when they begin and once when they end.
#[test]
fn alerts_begin_and_end_once_each_and_are_in_the_snapshot() {
    let mut h = Harness::with_env(&[
        ("AUTO_ASSIGN_ALERT_QUEUE_DEPTH", "2"),
        ("AUTO_ASSIGN_ALERT_STUCK_MINUTES", "1"),
    ]);
    let alert_lines = |h: &Harness| -> Vec<(String, String)> {
        audit::recent(h.core.store().conn(), 1000, false)
            .unwrap()
            .into_iter()
            .filter(|e| e.action.starts_with("alert_"))
            .map(|e| (e.action, e.subject.unwrap_or_default()))
            .collect()
    };
    let ids: Vec<String> = ["T1", "T2", "T3"]
        .iter()
        .map(|t| h.evaluate(json!({"task_id": t})))
        .collect();
    h.core.housekeeping().unwrap();
    let codes = |h: &Harness| -> Vec<String> {
        h.core
            .snapshot()
            .unwrap()
            .alerts
            .into_iter()
            .map(|a| a.code)
            .collect()
    };
    assert_eq!(codes(&h), ["queue_depth"]);
    assert_eq!(
        alert_lines(&h),
        [("alert_raised".into(), "queue_depth".into())]
    );
    // Still over the limit a look later: nothing new is said.
    h.advance(5);
    h.core.housekeeping().unwrap();
    assert_eq!(alert_lines(&h).len(), 1);
    // A claim brings the queue to its limit; held past a minute, the lease
    // makes its worker stuck.
    h.heartbeat("w1", None).unwrap();
    h.claim(&ids[0], "w1", 3600).unwrap();
    h.advance(61);
    h.heartbeat("w1", Some(&ids[0])).unwrap();
    h.core.housekeeping().unwrap();
    assert_eq!(codes(&h), ["worker_stuck"]);
    let lines = alert_lines(&h);
    assert_eq!(
        lines[1..],
        [
            ("alert_raised".to_string(), "n1/w1".to_string()),
            ("alert_cleared".to_string(), "queue_depth".to_string()),
        ]
    );
    h.complete(&ids[0], "w1").unwrap();
    h.advance(5);
    h.core.housekeeping().unwrap();
    assert!(codes(&h).is_empty());
    assert_eq!(alert_lines(&h).last().unwrap().0, "alert_cleared");
}

/// The fleet view is kept between passes (a stream of task events would
/// otherwise read the whole fleet per event) but never outlives a change:
/// what one pass reserved the next one sees, and a drain in between is
/// heeded at once.
#[test]
fn the_kept_fleet_view_carries_reservations_and_forgets_a_drain() {
    let mut h = Harness::new();
    h.join("w1", &["local_only"], &["python"], 1);
    h.join("w2", &["local_only"], &["python"], 2);
    let first = h.decide(vec![local("T1")]).remove(0);
    assert_eq!(first.worker.selected_worker.as_deref(), Some("w1"));
    // Same second, kept view: w1 is full now, so T2 goes to w2.
    let second = h.decide(vec![local("T2")]).remove(0);
    assert_eq!(second.worker.selected_worker.as_deref(), Some("w2"));
    h.apply(Command::by(
        "op",
        Action::Drain {
            worker: "n1/w2".into(),
            reason: None,
        },
    ))
    .unwrap();
    let third = h.decide(vec![local("T3")]).remove(0);
    assert_eq!(third.worker.selected_worker, None, "{third:?}");
    let codes: Vec<&str> = third
        .worker
        .rejected_workers
        .iter()
        .map(|r| r.reason_code.as_str())
        .collect();
    assert_eq!(codes, ["at_capacity", "worker_draining"]);
}

/// A worker's own `active_tasks` counts when it is more than the leases it
/// holds here: work it runs from elsewhere still takes its places.
#[test]
fn reported_active_tasks_fill_a_worker_as_leases_do() {
    let mut h = Harness::new();
    let mut hb = Heartbeat::new("n1", "w1");
    hb.lanes = vec!["local_only".into()];
    hb.max_concurrent = 2;
    hb.active_tasks = Some(2);
    h.apply(Command::Heartbeat(hb.clone())).unwrap();
    let d = h.decide(vec![
        json!({"task_id": "T1", "allowed_lanes": ["local_only"]}),
    ]);
    assert_eq!(d[0].worker.rejected_workers[0].reason_code, "at_capacity");
    assert!(h.next("w1").unwrap_err().contains("at its limit (2/2)"));
    hb.active_tasks = Some(1);
    h.apply(Command::Heartbeat(hb)).unwrap();
    assert_eq!(h.next("w1").unwrap(), "T1");
}

/// Failover in the decision: a task that failed on a worker is decided
/// again for another one, the first worker listed as `failed_here`; with
/// no other worker it waits, named for nobody.
#[test]
fn a_failed_task_is_named_for_another_worker() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_BREAKER_FAILURES", "10")]);
    h.join("w1", &["local_only"], &["python"], 1);
    h.join("w2", &["local_only"], &["python"], 1);
    let d = h.decide(vec![local("T1")]).remove(0);
    assert_eq!(d.worker.selected_worker.as_deref(), Some("w1"));
    assert_eq!(h.next("w1").unwrap(), "T1");
    h.fail(&d.assignment_id, "w1").unwrap();
    let again = h.get(&d.assignment_id).decision;
    assert_eq!(
        again.worker.selected_worker.as_deref(),
        Some("w2"),
        "{again:?}"
    );
    let w1 = again
        .worker
        .rejected_workers
        .iter()
        .find(|r| r.worker_id == "w1")
        .unwrap();
    assert_eq!(w1.reason_code, "failed_here");
    assert_eq!(h.next("w2").unwrap(), "T1");
}

/// Workers declared in the config are in the registry from the start,
/// offline until heard from: a decision says so of them, and a heartbeat
/// makes them usable. A restart does not reset one that was heard.
#[test]
fn workers_declared_in_the_config_are_known_offline_until_heard() {
    let mut h = Harness::new();
    let mut settings = h.core.settings().clone();
    let mut known = Heartbeat::new("n1", "gpu-1");
    known.lanes = vec!["local_only".into()];
    settings.known_workers = vec![known];
    h.core = Harness::core_on(&settings, &h.now);
    h.core.recover().unwrap();
    let d = h.decide(vec![
        json!({"task_id": "T1", "allowed_lanes": ["local_only"]}),
    ]);
    assert_eq!(
        d[0].worker.rejected_workers[0].reason_code,
        "worker_offline"
    );
    h.join("gpu-1", &["local_only"], &[], 1);
    let h = h.restart();
    let w = crate::store::workers::get(h.core.store().conn(), "n1", "gpu-1")
        .unwrap()
        .unwrap();
    assert_eq!(
        w.status, "ready",
        "heard from: the declaration does not reset it"
    );
}
