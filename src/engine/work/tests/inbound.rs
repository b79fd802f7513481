//! Inbound AssistX events, replays and restarts.

use super::*;

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
                event_type: None,
                limit: None,
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
                event_type: None,
                limit: None,
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
