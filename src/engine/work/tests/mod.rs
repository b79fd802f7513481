//! Lifecycle flows through the engine core, on a real SQLite database: the
//! harness here, the flows by concern in the files beside it; decisions,
//! ticks and passes below.

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
        outbox::list(self.core.store().conn(), None, false, 1000)
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

    /// `worker` reports a retryable failure of `id`.
    fn fail(&mut self, id: &str, worker: &str) -> Result<Reply, Error> {
        self.apply(Command::Fail {
            assignment_id: id.into(),
            worker_id: worker.into(),
            reason: Some("boom".into()),
            retryable: true,
        })
    }

    /// `worker` reports `id` done.
    fn complete(&mut self, id: &str, worker: &str) -> Result<Reply, Error> {
        self.apply(Command::Complete {
            assignment_id: id.into(),
            worker_id: worker.into(),
            status: None,
            summary: None,
        })
    }

    fn heartbeat(&mut self, worker: &str, assignment: Option<&str>) -> Result<Reply, Error> {
        let mut hb = Heartbeat::new("n1", worker);
        hb.assignment_id = assignment.map(str::to_string);
        self.apply(Command::Heartbeat(hb))
    }

    /// A worker heartbeats, claims T1's assignment for an hour, then goes
    /// silent past a 30 s grace (the harness must have that grace); the
    /// engine takes the lease back. The assignment's id.
    fn lose_a_worker_holding_t1(&mut self) -> String {
        let id = self.evaluate(json!({"task_id": "T1"}));
        self.heartbeat("w1", None).unwrap();
        self.claim(&id, "w1", 3600).unwrap();
        self.advance(31);
        self.core.housekeeping().unwrap();
        id
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
            expires_in_seconds: None,
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

mod assistx;
mod inbound;
mod operators;
mod workers;

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
        assignments::list(h.core.store().conn(), Default::default(), 10)
            .unwrap()
            .is_empty()
    );
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
    let events = outbox::list(conn, None, false, 10_000).unwrap();
    let subjects: Vec<String> = events.iter().map(|e| e.subject_id.clone()).collect();
    let expected: Vec<String> = (0..1_500).map(|i| format!("T{i:04}")).collect();
    assert_eq!(subjects, expected, "one event per task, in backlog order");
    assert_eq!(
        assignments::list(conn, Default::default(), 10_000)
            .unwrap()
            .len(),
        1_500
    );
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
    let s = snapshot::build(h.core.store().conn(), &h.core.inputs()).unwrap();
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

#[test]
fn dependency_health_is_an_input_the_snapshot_reports() {
    use crate::engine::snapshot::{Health, HealthState};
    let mut h = Harness::new();
    let state = |h: &Harness, name: &str| {
        let s = h.core.snapshot().unwrap();
        s.health.iter().find(|d| d.name == name).map(|d| d.state)
    };
    assert_eq!(state(&h, "assistx"), Some(HealthState::Unknown));
    assert_eq!(state(&h, "cache"), Some(HealthState::Ok));
    h.core.set_health(Health {
        name: "assistx".into(),
        state: HealthState::Down,
        last_success_at: None,
        last_error: Some("connection refused".into()),
        detail: None,
    });
    assert_eq!(state(&h, "assistx"), Some(HealthState::Down));
    assert_eq!(state(&h, "neo4j"), Some(HealthState::Unknown));
}

/// Two clients report on AssistX, each knowing only its own successes: a
/// report without one keeps the badge's last success, a later one moves it.
#[test]
fn a_dependency_keeps_its_latest_success_whoever_reported_it() {
    use crate::engine::snapshot::{Health, HealthState};
    let mut h = Harness::new();
    let seen = |state, at| Health {
        name: "assistx".into(),
        state,
        last_success_at: at,
        last_error: None,
        detail: None,
    };
    let last = |h: &Harness| {
        let s = h.core.snapshot().unwrap();
        let d = s.health.iter().find(|d| d.name == "assistx").cloned();
        d.map(|d| (d.state, d.last_success_at))
    };
    let early = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let late = early + Duration::seconds(30);
    h.core.set_health(seen(HealthState::Ok, Some(late)));
    h.core.set_health(seen(HealthState::Down, None));
    assert_eq!(last(&h), Some((HealthState::Down, Some(late))));
    h.core.set_health(seen(HealthState::Ok, Some(early)));
    assert_eq!(
        last(&h),
        Some((HealthState::Ok, Some(late))),
        "not moved back"
    );
}

/// A dependency down is an alert, with what its client met, raised and
/// cleared in the audit once each; a degraded one only has its badge.
#[test]
fn a_dependency_down_is_an_alert_until_it_is_back() {
    use crate::engine::snapshot::{Health, HealthState};
    let mut h = Harness::new();
    let router = |state, error: Option<&str>| Health {
        name: "router".into(),
        state,
        last_success_at: None,
        last_error: error.map(str::to_string),
        detail: Some("router lanes closed".into()),
    };
    let alerts = |h: &Harness| -> Vec<(String, String)> {
        let s = h.core.snapshot().unwrap();
        s.alerts.into_iter().map(|a| (a.code, a.text)).collect()
    };
    let audited = |h: &Harness| -> Vec<String> {
        audit::recent(h.core.store().conn(), 100, false)
            .unwrap()
            .into_iter()
            .filter(|e| e.action.starts_with("alert_"))
            .map(|e| format!("{} {}", e.action, e.subject.unwrap_or_default()))
            .collect()
    };
    h.core.set_health(router(
        HealthState::Degraded,
        Some("GET /admin/quota: answered 500"),
    ));
    h.core.housekeeping().unwrap();
    assert!(alerts(&h).is_empty(), "{:?}", alerts(&h));
    h.core.set_health(router(
        HealthState::Down,
        Some("GET /admin/context: answered 503"),
    ));
    h.advance(5);
    h.core.housekeeping().unwrap();
    assert_eq!(
        alerts(&h),
        [(
            "dependency_down".to_string(),
            "router is down: GET /admin/context: answered 503; router lanes closed".to_string()
        )]
    );
    h.advance(5);
    h.core.housekeeping().unwrap();
    assert_eq!(audited(&h), ["alert_raised router"], "said once");
    h.core.set_health(router(HealthState::Ok, None));
    h.advance(5);
    h.core.housekeeping().unwrap();
    assert!(alerts(&h).is_empty());
    assert_eq!(audited(&h).len(), 2);
    assert!(audited(&h).contains(&"alert_cleared router".to_string()));
}

/// The router's badge follows what the last tick's bodies said, until the
/// intake reports on the router itself (with what its calls met).
#[test]
fn the_router_badge_is_the_intakes_report_once_there_is_one() {
    use crate::engine::snapshot::{Health, HealthState};
    let mut h = Harness::new();
    let router = |h: &Harness| {
        let s = h.core.snapshot().unwrap();
        let found: Vec<_> = s
            .health
            .iter()
            .filter(|d| d.name == "router")
            .cloned()
            .collect();
        assert_eq!(found.len(), 1, "one router badge: {found:?}");
        found[0].clone()
    };
    assert_eq!(router(&h).state, HealthState::Unknown);
    h.core.set_health(Health {
        name: "router".into(),
        state: HealthState::Down,
        last_success_at: None,
        last_error: Some("GET /admin/context: cannot reach the router".into()),
        detail: Some("router lanes closed".into()),
    });
    let badge = router(&h);
    assert_eq!(badge.state, HealthState::Down);
    assert_eq!(
        badge.last_error.as_deref(),
        Some("GET /admin/context: cannot reach the router")
    );
}

/// `older` pages back through the audit and the outbox past any snapshot,
/// and searches them; a limit out of range is refused, naming it.
#[test]
fn older_pages_and_searches_the_audit_and_the_outbox() {
    let mut h = Harness::new();
    for i in 0..30 {
        h.evaluate(json!({"task_id": format!("T{i}")}));
        h.heartbeat(&format!("w{i}"), None).unwrap();
    }
    let older = |h: &mut Harness, log, before, contains: Option<&str>, limit| {
        h.apply(Command::Older {
            log,
            before,
            contains: contains.map(str::to_string),
            limit,
        })
    };
    let Reply::AuditRows(page) =
        older(&mut h, crate::wire::Log::Audit, None, None, Some(10)).unwrap()
    else {
        panic!()
    };
    assert_eq!(page.len(), 10);
    assert!(page.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let before = page.last().unwrap().seq;
    let Reply::AuditRows(next) = older(
        &mut h,
        crate::wire::Log::Audit,
        Some(before),
        None,
        Some(10),
    )
    .unwrap() else {
        panic!()
    };
    assert!(next.iter().all(|e| e.seq < before));
    let Reply::AuditRows(found) =
        older(&mut h, crate::wire::Log::Audit, None, Some("N1/W17"), None).unwrap()
    else {
        panic!()
    };
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|e| e.subject.as_deref() == Some("n1/w17")),
        "{found:?}"
    );
    let Reply::OutboxRows(events) =
        older(&mut h, crate::wire::Log::Outbox, None, Some("T29"), None).unwrap()
    else {
        panic!()
    };
    assert_eq!(events.len(), 1, "{events:?}");
    let err = older(&mut h, crate::wire::Log::Outbox, None, None, Some(5000)).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

/// Back-pressure: with `max_queue_depth` waiting, new candidates are
/// deferred (not stored), the most urgent let in first; known tasks are
/// decided again as usual; the run records how many were deferred.
#[test]
fn a_full_queue_defers_new_candidates_most_urgent_first() {
    let mut h = Harness::with_env(&[("AUTO_ASSIGN_MAX_QUEUE_DEPTH", "3")]);
    h.evaluate(json!({"task_id": "OLD"}));
    let backlog = vec![
        json!({"task_id": "A", "priority": "batch"}),
        json!({"task_id": "B", "priority": "critical"}),
        json!({"task_id": "C", "priority": "background"}),
        json!({"task_id": "D", "priority": "interactive"}),
        json!({"task_id": "OLD"}),
    ];
    let Reply::Tick(report) = h
        .apply(Command::by(
            "op",
            Action::Tick {
                dry_run: false,
                candidates: Some(backlog),
                router: None,
            },
        ))
        .unwrap()
    else {
        panic!()
    };
    let result = |task: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.task_id == task)
            .map(|o| o.result.clone())
            .unwrap()
    };
    assert_eq!(result("B"), "decided");
    assert_eq!(result("D"), "decided");
    assert_eq!(result("A"), "deferred");
    assert_eq!(result("C"), "deferred");
    assert_eq!(result("OLD"), "unchanged", "a known task is not held back");
    assert_eq!(report.counts.deferred, 2);
    let deferred = report.outcomes.iter().find(|o| o.task_id == "A").unwrap();
    assert!(
        deferred
            .note
            .as_deref()
            .unwrap()
            .contains("max_queue_depth 3")
    );
    // Nothing of a deferred candidate is kept.
    let conn = h.core.store().conn();
    assert!(crate::store::candidates::get(conn, "A").unwrap().is_none());
    let runs = crate::store::runs::recent(conn, 1).unwrap();
    assert_eq!(runs[0].counts.deferred, 2);
}
