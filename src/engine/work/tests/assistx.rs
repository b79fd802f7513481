//! Contract D: what AssistX must receive so that its `:Task` follows every
//! claim, renewal, failure, release, expiry and completion. One test per row
//! of the table, and per key rule.

use super::*;
use crate::domain::ids;

/// The outbox's events for AssistX as (type, key, payload), oldest first.
fn sent(h: &Harness) -> Vec<(String, String, Value)> {
    let mut events = outbox::list(h.core.store().conn(), None, false, 1000).unwrap();
    events.sort_by_key(|e| e.seq);
    events
        .into_iter()
        .map(|e| {
            let body: Value = serde_json::from_str(&e.body).unwrap();
            (e.event_type, e.idempotency_key, body["payload"].clone())
        })
        .collect()
}

/// The events of one type, in order.
fn of_type(h: &Harness, event_type: &str) -> Vec<(String, Value)> {
    sent(h)
        .into_iter()
        .filter(|(t, _, _)| t == event_type)
        .map(|(_, key, payload)| (key, payload))
        .collect()
}

/// What AssistX's task status would be after the events so far: the
/// status of the last `assignment.*` event (AssistX copies it verbatim).
fn assistx_status(h: &Harness) -> String {
    sent(h)
        .into_iter()
        .rev()
        .find(|(t, _, _)| t.starts_with("assignment."))
        .map(|(_, _, p)| p["status"].as_str().unwrap_or("CLAIMED").to_string())
        .unwrap_or_else(|| "READY".into())
}

fn fail(h: &mut Harness, id: &str, retryable: bool) {
    h.apply(Command::Fail {
        assignment_id: id.into(),
        worker_id: "w1".into(),
        reason: Some("boom".into()),
        retryable,
    })
    .unwrap();
}

#[test]
fn a_claim_tells_assistx_the_worker_node_and_lease() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 900).unwrap();
    let claims = of_type(&h, "assignment.claimed");
    assert_eq!(claims.len(), 1);
    let (key, payload) = &claims[0];
    assert_eq!(
        key,
        &format!(
            "assignment.claimed:{id}:w1:{}",
            ids::claim_correlation_id(&id, 1)
        )
    );
    assert_eq!(payload["status"], "CLAIMED");
    assert_eq!(payload["task_id"], "T1");
    assert_eq!(payload["assignment_id"], id.as_str());
    assert_eq!(payload["worker_id"], "w1");
    assert_eq!(payload["node_id"], "n1");
    assert_eq!(payload["lease_seconds"], 900);
    assert_eq!(payload["lease_expires_at"], "2026-11-24T12:15:00.000000Z");
    assert_eq!(assistx_status(&h), "CLAIMED");
}

#[test]
fn a_retried_failure_puts_the_task_back_to_ready_and_the_next_claim_is_a_new_event() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 900).unwrap();
    h.heartbeat("w1", Some(&id)).unwrap();
    fail(&mut h, &id, true);
    let types: Vec<String> = sent(&h).into_iter().map(|(t, _, _)| t).collect();
    let failed_at = types.iter().position(|t| t == "assignment.failed").unwrap();
    assert_eq!(types[failed_at + 1], "assignment.released", "{types:?}");
    let (_, failed) = &of_type(&h, "assignment.failed")[0];
    assert_eq!(
        (failed["status"].as_str(), failed["retryable"].as_bool()),
        (Some("FAILED"), Some(true))
    );
    let (key, returned) = &of_type(&h, "assignment.released")[0];
    assert_eq!(key, &format!("assignment.released:{id}:1:retry"));
    assert_eq!(returned["reason"], "retry");
    assert_eq!(assistx_status(&h), "READY");
    // The same worker claims the same assignment again: a second event.
    h.claim(&id, "w1", 900).unwrap();
    let claims = of_type(&h, "assignment.claimed");
    assert_eq!(claims.len(), 2);
    assert_ne!(claims[0].0, claims[1].0);
    assert_eq!(assistx_status(&h), "CLAIMED");
}

#[test]
fn the_first_heartbeat_says_running_with_the_lease_and_when_it_was_heard() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 900).unwrap();
    h.advance(10);
    h.heartbeat("w1", Some(&id)).unwrap();
    let beats = of_type(&h, "assignment.heartbeat");
    assert_eq!(beats.len(), 1);
    let (key, payload) = &beats[0];
    assert_eq!(key, &format!("assignment.heartbeat:n1:w1:{id}:0"));
    assert_eq!(payload["status"], "RUNNING");
    assert_eq!(payload["lease_expires_at"], "2026-11-24T12:15:10.000000Z");
    assert_eq!(payload["last_heartbeat_at"], "2026-11-24T12:00:10.000000Z");
    assert_eq!(assistx_status(&h), "RUNNING");
}

#[test]
fn renewals_reach_assistx_once_per_half_lease_not_per_heartbeat() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 900).unwrap();
    h.heartbeat("w1", Some(&id)).unwrap();
    // Twenty minutes of heartbeats a minute apart.
    for _ in 0..20 {
        h.advance(60);
        h.heartbeat("w1", None).unwrap();
    }
    let beats = of_type(&h, "assignment.heartbeat");
    // The start at 0 s, then whenever the lease AssistX knows of has under
    // 450 s left: at 480 s (told 900 s) and 960 s (told 1,380 s).
    let keys: Vec<&str> = beats.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<String> = (0..3)
        .map(|n| format!("assignment.heartbeat:n1:w1:{id}:{n}"))
        .collect();
    assert_eq!(keys, expected);
    assert_eq!(
        beats[1].1["lease_expires_at"],
        "2026-11-24T12:23:00.000000Z"
    );
    assert!(beats.iter().all(|(_, p)| p["status"] == "RUNNING"));
    // AssistX's lease never ran out while the worker heartbeated.
    let a = h.get(&id);
    assert_eq!(a.heartbeats_sent, 3);
}

#[test]
fn a_renewal_of_a_claim_not_started_yet_keeps_it_claimed() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 100).unwrap();
    h.advance(60);
    h.heartbeat("w1", None).unwrap();
    let beats = of_type(&h, "assignment.heartbeat");
    assert_eq!(beats.len(), 1);
    assert_eq!(beats[0].1["status"], "CLAIMED");
    assert_eq!(assistx_status(&h), "CLAIMED");
}

#[test]
fn completion_says_done() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 900).unwrap();
    h.heartbeat("w1", Some(&id)).unwrap();
    h.apply(Command::Complete {
        assignment_id: id.clone(),
        worker_id: "w1".into(),
        status: None,
        summary: Some("merged".into()),
    })
    .unwrap();
    let (key, payload) = &of_type(&h, "assignment.completed")[0];
    assert_eq!(key, &format!("assignment.completed:{id}:w1:1"));
    assert_eq!(payload["status"], "DONE");
    assert_eq!(assistx_status(&h), "DONE");
}

#[test]
fn a_terminal_failure_leaves_the_task_failed() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 900).unwrap();
    fail(&mut h, &id, false);
    assert!(of_type(&h, "assignment.released").is_empty());
    assert_eq!(assistx_status(&h), "FAILED");
}

#[test]
fn an_operator_release_of_a_running_assignment_puts_the_task_back_to_ready() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 900).unwrap();
    h.heartbeat("w1", Some(&id)).unwrap();
    h.apply(release(&id, false)).unwrap();
    assert_eq!(of_type(&h, "assign.assignment.released").len(), 1);
    let (_, payload) = &of_type(&h, "assignment.released")[0];
    assert_eq!(payload["reason"], "stuck");
    assert_eq!(assistx_status(&h), "READY");
}

#[test]
fn releasing_an_unclaimed_assignment_tells_assistx_nothing_about_its_task() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.apply(release(&id, false)).unwrap();
    assert_eq!(of_type(&h, "assign.assignment.released").len(), 1);
    assert!(of_type(&h, "assignment.released").is_empty());
}

#[test]
fn a_lost_workers_task_is_taken_back_as_a_release() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "30")]);
    h.lose_a_worker_holding_t1();
    assert!(of_type(&h, "assignment.expired").is_empty());
    let (_, released) = &of_type(&h, "assign.assignment.released")[0];
    assert_eq!(released["reason"], "worker stale");
    let (_, returned) = &of_type(&h, "assignment.released")[0];
    assert_eq!(returned["reason"], "worker stale");
    assert_eq!(assistx_status(&h), "READY");
}

#[test]
fn a_lease_that_ran_out_expires_in_assistx_too() {
    let mut h = Harness::new();
    let id = h.evaluate(json!({"task_id": "T1"}));
    h.claim(&id, "w1", 60).unwrap();
    h.advance(61);
    h.core.housekeeping().unwrap();
    let (key, payload) = &of_type(&h, "assignment.expired")[0];
    assert_eq!(
        key,
        &format!("assignment.expired:{id}:2026-11-24T12:01:00.000000Z")
    );
    assert_eq!(payload["status"], "READY");
    assert_eq!(assistx_status(&h), "READY");
}

#[test]
fn two_fresh_caches_never_send_the_same_control_key() {
    let control = |h: &mut Harness| {
        h.apply(Command::by(
            "scott",
            Action::Control {
                mode: ControlMode::Paused,
                reason: Some("maintenance".into()),
            },
        ))
        .unwrap();
        of_type(h, "assign.control.changed")[0].0.clone()
    };
    let mut first = Harness::new();
    let mut second = Harness::new();
    second.advance(1);
    let (a, b) = (control(&mut first), control(&mut second));
    // Both caches are at version 1 and mode paused; only the time differs.
    assert!(a.starts_with("assign.control.changed:1:paused:"), "{a}");
    assert!(b.starts_with("assign.control.changed:1:paused:"), "{b}");
    assert_ne!(a, b);
}
