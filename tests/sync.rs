//! Outbox write-back to AssistX, end to end: the daemon (the built binary)
//! posts its outbox to a stand-in that behaves as contract A7 says, and the
//! stand-in's tasks must follow section D through every step. Outages,
//! conflicts, refusals and bad credentials lose nothing and send nothing
//! twice.

mod common;
mod standin;

use auto_assign::domain::ids;
use common::{Conn, Connect, Daemon, Sandbox, eventually, json_lines, ok};
use serde_json::{Value, json};
use standin::{Mode, StandIn};
use std::time::Duration;

fn start(sb: &Sandbox, standin: &StandIn, password: &str) -> Daemon {
    Daemon::start_env(
        sb,
        &[
            ("AUTO_ASSIGN_ASSISTX_BASE_URL", standin.url.as_str()),
            ("AUTO_ASSIGN_ASSISTX_AUTH_USER", "assign"),
            ("AUTO_ASSIGN_ASSISTX_AUTH_PASS", password),
            ("AUTO_ASSIGN_DISPATCH_ENABLED", "true"),
            ("AUTO_ASSIGN_OUTBOX_BACKOFF_BASE_SECONDS", "1"),
            ("AUTO_ASSIGN_OUTBOX_BACKOFF_MAX_SECONDS", "1"),
        ],
    )
}

/// A daemon taking the stand-in's backlog and router snapshot every
/// `tick_seconds`, with `extra` settings.
fn scheduled(
    sb: &Sandbox,
    standin: &StandIn,
    tick_seconds: &str,
    extra: &[(&str, &str)],
) -> Daemon {
    let mut env = vec![
        ("AUTO_ASSIGN_ASSISTX_BASE_URL", standin.url.as_str()),
        ("AUTO_ASSIGN_ROUTER_BASE_URL", standin.url.as_str()),
        ("AUTO_ASSIGN_SCHEDULER_ENABLED", "true"),
        ("AUTO_ASSIGN_TICK_INTERVAL_SECONDS", tick_seconds),
    ];
    env.extend_from_slice(extra);
    Daemon::start_env(sb, &env)
}

fn ask_ok(c: &mut Conn, request: Value) -> Value {
    let reply = c.ask(request);
    assert_eq!(reply["ok"], true, "{reply}");
    reply
}

fn arrive(c: &mut Conn, task: &str) -> String {
    ask_ok(
        c,
        json!({"op": "event", "event": {"event_type": "task.candidate.created",
            "idempotency_key": format!("ax-{task}"), "payload": {"task_id": task, "priority": "batch"}}}),
    );
    ids::assignment_id(task, None)
}

/// The daemon's outbox, as `outbox list --json` prints it.
fn outbox(sb: &Sandbox) -> Vec<Value> {
    json_lines(&ok(
        &sb.run(&["outbox", "list", "--json", "--limit", "1000"])
    ))
}

fn statuses(sb: &Sandbox) -> Vec<String> {
    outbox(sb)
        .iter()
        .map(|e| e["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

#[test]
fn assistx_follows_every_step_of_a_task() {
    let standin = StandIn::start(Some(("assign", "s3cret")));
    let sb = Sandbox::new();
    let daemon = start(&sb, &standin, "s3cret");
    let mut c = daemon.connect();
    let id = arrive(&mut c, "T1");
    let claim = json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "node_id": "n1", "lease_seconds": 900});
    let start = json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1", "assignment_id": id, "status": "busy"});
    ask_ok(&mut c, claim.clone());
    ask_ok(&mut c, start.clone());
    ask_ok(
        &mut c,
        json!({"op": "fail", "assignment_id": id, "worker_id": "w1", "reason": "oom", "retryable": true}),
    );
    ask_ok(&mut c, claim);
    ask_ok(&mut c, start);
    ask_ok(
        &mut c,
        json!({"op": "complete", "assignment_id": id, "worker_id": "w1", "summary": "merged"}),
    );
    let expected = [
        "CLAIMED", "RUNNING", "FAILED", "READY", "CLAIMED", "RUNNING", "DONE",
    ];
    eventually("AssistX's task following every step", WAIT, POLL, || {
        (standin.task_statuses("T1") == expected).then_some(())
    });
    eventually("every outbox event delivered", WAIT, POLL, || {
        statuses(&sb).iter().all(|s| s == "delivered").then_some(())
    });
    assert_eq!(standin.conflicts(), 0);
    // Each event was accepted once; nothing was sent as a second body.
    let accepted = standin.accepted();
    let mut unique = accepted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), accepted.len());
    assert_eq!(accepted.len(), outbox(&sb).len());
}

#[test]
fn an_outage_loses_nothing_and_each_task_keeps_its_order() {
    let standin = StandIn::start(None);
    standin.set_mode(Mode::Down);
    let sb = Sandbox::new();
    let daemon = start(&sb, &standin, "unused");
    let mut c = daemon.connect();
    let tasks: Vec<String> = (0..20).map(|n| format!("T{n}")).collect();
    for task in &tasks {
        let id = arrive(&mut c, task);
        ask_ok(
            &mut c,
            json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "node_id": "n1"}),
        );
    }
    eventually("attempts failing during the outage", WAIT, POLL, || {
        outbox(&sb)
            .iter()
            .any(|e| {
                e["status"] == "failed"
                    && e["last_error"].as_str().is_some_and(|x| x.contains("503"))
            })
            .then_some(())
    });
    assert!(standin.accepted().is_empty());
    standin.set_mode(Mode::Healthy);
    eventually("the backlog drained after the outage", WAIT, POLL, || {
        statuses(&sb).iter().all(|s| s == "delivered").then_some(())
    });
    let accepted = standin.accepted();
    assert_eq!(accepted.len(), 40, "{accepted:?}");
    for task in &tasks {
        let decided = accepted
            .iter()
            .position(|k| k.starts_with(&format!("assign.assignment.decision:{task}:")))
            .unwrap();
        let id = ids::assignment_id(task, None);
        let claimed = accepted
            .iter()
            .position(|k| k.starts_with(&format!("assignment.claimed:{id}:")))
            .unwrap();
        assert!(
            decided < claimed,
            "{task}: the claim went before its decision"
        );
        assert_eq!(standin.task_statuses(task), ["CLAIMED"]);
    }
}

#[test]
fn conflicts_refusals_and_bad_credentials_are_told_apart() {
    let standin = StandIn::start(Some(("assign", "right")));
    // Another sender already recorded T1's decision key with another body.
    standin.seed("assign.assignment.decision:T1:ready:unknown", "{}");
    // AssistX finds claims malformed (400).
    standin.refuse("assignment.claimed");
    let sb = Sandbox::new();
    let daemon = start(&sb, &standin, "right");
    let mut c = daemon.connect();
    arrive(&mut c, "T1");
    let id = arrive(&mut c, "T2");
    ask_ok(
        &mut c,
        json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "node_id": "n1"}),
    );
    eventually("a conflict and a dead letter", WAIT, POLL, || {
        let events = outbox(&sb);
        let of = |key: &str| {
            events
                .iter()
                .find(|e| {
                    e["idempotency_key"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with(key)
                })
                .map(|e| e["status"].as_str().unwrap_or_default().to_string())
        };
        let conflict = of("assign.assignment.decision:T1:");
        let dead = of(&format!("assignment.claimed:{id}:"));
        (conflict.as_deref() == Some("conflict") && dead.as_deref() == Some("dead_letter"))
            .then_some(())
    });
    let dead = outbox(&sb)
        .into_iter()
        .find(|e| e["status"] == "dead_letter")
        .unwrap();
    assert!(
        dead["last_error"].as_str().unwrap().contains("refused"),
        "the dead letter keeps AssistX's answer: {dead}"
    );
    // AssistX is fixed; the operator retries the dead letter.
    standin.accept_all();
    let socket = daemon.socket.display().to_string();
    let seq = dead["seq"].to_string();
    let on_daemon = [("AUTO_ASSIGN_SOCKET_PATH", socket.as_str())];
    ok(&sb.run_env(&["outbox", "retry", &seq], &on_daemon));
    eventually("the retried event delivered", WAIT, POLL, || {
        let events = outbox(&sb);
        let retried = events.iter().find(|e| e["seq"] == dead["seq"])?;
        (retried["status"] == "delivered").then_some(())
    });
    // Which event is the operator's to say.
    common::bad_input(&sb.run_env(&["outbox", "retry"], &on_daemon), "SEQ");
    // Only a dead letter is retried.
    let again = sb.run_env(&["outbox", "retry", &seq], &on_daemon);
    assert!(!again.status.success());
    assert!(common::stderr(&again).contains("only a dead-lettered event"));
    drop(c);
    drop(daemon);
    // Wrong credentials: nothing is dead-lettered, the badge says why.
    let standin = StandIn::start(Some(("assign", "right")));
    let sb = Sandbox::new();
    let daemon = start(&sb, &standin, "wrong");
    let mut c = daemon.connect();
    arrive(&mut c, "T3");
    eventually("the credentials reported", WAIT, POLL, || {
        let snapshot = c.ask(json!({"op": "snapshot"}));
        let assistx = snapshot["result"]["health"]
            .as_array()?
            .iter()
            .find(|h| h["name"] == "assistx")?
            .clone();
        (assistx["state"] == "down" && assistx["last_error"].as_str()?.contains("credentials"))
            .then_some(())
    });
    assert!(
        statuses(&sb)
            .iter()
            .all(|s| s == "failed" || s == "pending")
    );
    assert!(standin.accepted().is_empty());
}

#[test]
fn an_operators_dispatch_wakes_the_dispatcher_or_says_why_it_is_off() {
    let standin = StandIn::start(None);
    let sb = Sandbox::new();
    let daemon = start(&sb, &standin, "unused");
    let mut c = daemon.connect();
    let dispatch = json!({"op": "command", "command": "dispatch", "operator": "scott"});
    ask_ok(&mut c, dispatch.clone());
    let audit = ok(&sb.run(&["audit", "--operators"]));
    assert!(audit.contains("dispatch"), "{audit}");
    drop(c);
    drop(daemon);
    // Without AUTO_ASSIGN_DISPATCH_ENABLED nothing is sent, and the
    // operator is told which setting turns it on.
    let sb = Sandbox::new();
    let daemon = Daemon::start(&sb);
    let mut c = daemon.connect();
    let reply = c.ask(dispatch);
    assert_eq!(reply["error"]["code"], "unavailable", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("AUTO_ASSIGN_DISPATCH_ENABLED"),
        "{message}"
    );
    let socket = daemon.socket.display().to_string();
    let refused = sb.run_env(
        &["outbox", "dispatch"],
        &[("AUTO_ASSIGN_SOCKET_PATH", socket.as_str())],
    );
    assert!(!refused.status.success());
    assert!(common::stderr(&refused).contains("AUTO_ASSIGN_DISPATCH_ENABLED"));
    // What would go: each task's next event, one per task, nothing sent.
    let id = arrive(&mut c, "T1");
    ask_ok(
        &mut c,
        json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "node_id": "n1"}),
    );
    arrive(&mut c, "T2");
    let due = json_lines(&ok(&sb.run(&["outbox", "dispatch", "--dry-run", "--json"])));
    let keys: Vec<&str> = due
        .iter()
        .map(|e| e["idempotency_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("assign.assignment.decision:"))
    );
    assert!(statuses(&sb).iter().all(|s| s == "pending"));
}

/// A backlog shaped as AssistX sends it: upper-case statuses, privacy as a
/// string, and none of the risk, approval or capability fields, which only
/// the task itself holds.
#[test]
fn the_backlog_arrives_on_scheduled_ticks_completed_from_each_task() {
    let standin = StandIn::start(Some(("assign", "s3cret")));
    standin.set_backlog(vec![
        json!({"task_id": "T-risky", "title": "Rotate keys", "priority": "interactive",
            "status": "READY", "queue": "backlog", "privacy": "public", "local_only": false,
            "sensitive": false, "allow_cloud": true, "metadata": {}}),
        json!({"task_id": "T-plain", "title": "Fix typo", "priority": "batch",
            "status": "READY", "queue": "backlog", "privacy": "public", "metadata": {}}),
    ]);
    standin.set_task(
        "T-risky",
        json!({"id": "T-risky", "status": "READY",
            "payload_json": "{\"risk_level\": \"high\", \"prompt\": \"rotate\"}"}),
    );
    standin.set_task("T-plain", json!({"id": "T-plain", "status": "READY"}));
    standin.set_router_context(json!({"revision": "rev-7", "nodes": [{"id": "n1"}]}));
    let sb = Sandbox::new();
    let credentials = [
        ("AUTO_ASSIGN_ASSISTX_AUTH_USER", "assign"),
        ("AUTO_ASSIGN_ASSISTX_AUTH_PASS", "s3cret"),
    ];
    let daemon = scheduled(&sb, &standin, "1", &credentials);
    let mut c = daemon.connect();
    let decided = eventually("both tasks decided", WAIT, POLL, || {
        let snapshot = c.ask(json!({"op": "snapshot"}));
        let find = |list: &str, task: &str| {
            snapshot["result"][list]
                .as_array()?
                .iter()
                .find(|r| r["task_id"] == task)
                .cloned()
        };
        Some((
            find("approvals", "T-risky")?,
            find("recommendations", "T-plain")?,
        ))
    });
    let (risky, plain) = decided;
    // The risk came from the task's payload_json, not from the backlog.
    assert_eq!(risky["gate"], "risk high", "{risky}");
    let explained = ask_ok(
        &mut c,
        json!({"op": "explain", "assignment_id": plain["assignment_id"]}),
    );
    let reasons = explained["result"]["data"]["reasons"].to_string();
    assert!(
        reasons.contains("rev-7"),
        "the router's snapshot was used: {reasons}"
    );
}

/// The daemon is killed while it posts; the restarted one finishes the job.
/// Nothing is lost, and nothing reaches AssistX as a second, different body
/// for a key it already has.
#[test]
fn a_daemon_killed_mid_dispatch_resends_the_same_bytes_and_loses_nothing() {
    let standin = StandIn::start(None);
    standin.set_delay(Duration::from_millis(15));
    let sb = Sandbox::new();
    let mut daemon = start(&sb, &standin, "unused");
    let mut c = daemon.connect();
    for n in 0..30 {
        let id = arrive(&mut c, &format!("T{n}"));
        ask_ok(
            &mut c,
            json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "node_id": "n1"}),
        );
    }
    eventually(
        "some, not all, events accepted",
        WAIT,
        Duration::from_millis(5),
        || (standin.accepted().len() >= 10).then_some(()),
    );
    daemon.child.kill().unwrap(); // SIGKILL, mid-dispatch
    daemon.child.wait().unwrap();
    let before = standin.accepted().len();
    assert!(
        before < 60,
        "the kill came too late to test anything: {before}"
    );
    drop(c);
    let _daemon = start(&sb, &standin, "unused");
    eventually("the rest delivered after the restart", WAIT, POLL, || {
        statuses(&sb).iter().all(|s| s == "delivered").then_some(())
    });
    assert_eq!(standin.conflicts(), 0, "a key came back with another body");
    let accepted = standin.accepted();
    assert_eq!(accepted.len(), 60, "every event accepted exactly once");
}

/// A router snapshot event brings AssistX's backlog at once, not at the
/// next scheduled tick (an hour away here).
#[test]
fn a_router_snapshot_event_fetches_the_backlog_at_once() {
    let standin = StandIn::start(None);
    let sb = Sandbox::new();
    let daemon = scheduled(&sb, &standin, "3600", &[]);
    let mut c = daemon.connect();
    // The first tick runs at start, on an empty backlog.
    eventually("the first scheduled tick", WAIT, POLL, || {
        let snapshot = c.ask(json!({"op": "snapshot"}));
        (!snapshot["result"]["last_tick_at"].is_null()).then_some(())
    });
    standin.set_backlog(vec![json!({"task_id": "T-new", "status": "READY"})]);
    ask_ok(
        &mut c,
        json!({"op": "event", "event": {"event_type": "router.quota_snapshot.recorded",
            "idempotency_key": "router-1", "payload": {}}}),
    );
    eventually("the new backlog decided", WAIT, POLL, || {
        let snapshot = c.ask(json!({"op": "snapshot"}));
        snapshot["result"]["recommendations"]
            .as_array()?
            .iter()
            .any(|r| r["task_id"] == "T-new")
            .then_some(())
    });
}

/// The router's badge says what its calls met: down, naming the call and
/// its answer, while the router has no context to give; ok with its
/// revision once it has, the lanes it gates open again.
#[test]
fn the_router_badge_follows_what_its_calls_meet() {
    let standin = StandIn::start(None);
    let sb = Sandbox::new();
    let daemon = scheduled(&sb, &standin, "1", &[]);
    let mut c = daemon.connect();
    let mut badge_when = |what: &str, state: &str| {
        eventually(what, WAIT, POLL, || {
            let snapshot = c.ask(json!({"op": "snapshot"}));
            let health = snapshot["result"]["health"].as_array()?.clone();
            let routers: Vec<&Value> = health.iter().filter(|h| h["name"] == "router").collect();
            assert_eq!(routers.len(), 1, "one router badge: {health:?}");
            (routers[0]["state"] == state).then(|| routers[0].clone())
        })
    };
    let down = badge_when("the router down", "down");
    assert_eq!(
        down["last_error"], "GET /admin/context: answered 503 Service Unavailable",
        "{down}"
    );
    assert_eq!(down["detail"], "router lanes closed");
    // `status` asks the daemon, so it says why, and raises it as an alert.
    let status = eventually("the router an alert in status", WAIT, POLL, || {
        let socket = daemon.socket.to_str().unwrap();
        let out = ok(&sb.run(&["--socket", socket, "status"]));
        out.contains("dependency_down").then_some(out)
    });
    let router_row = status
        .lines()
        .find(|l| l.starts_with("router "))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        router_row.contains(" down ")
            && router_row.contains("GET /admin/context: answered 503 Service Unavailable"),
        "{status}"
    );
    standin.set_router_context(json!({"revision": "rev-9", "nodes": [{"id": "n1"}]}));
    let ok = badge_when("the router back", "ok");
    assert_eq!(ok["detail"], "revision rev-9", "{ok}");
    assert!(ok["last_error"].is_null(), "{ok}");
    assert!(ok["last_success_at"].is_string(), "{ok}");
}
