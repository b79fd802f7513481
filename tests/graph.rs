//! The provenance graph and the reads of contract A8, end to end, against
//! a real Bolt server (ArcadeDB; see tests/bolt). The daemon (the built
//! binary) writes its outbox into the graph; the checks are the queries
//! an operator would run (docs/graph.md).

mod bolt;
mod common;
mod standin;

use auto_assign::domain::ids;
use auto_assign::store::{Store, outbox};
use auto_assign::sync::graph::{provenance, writer};
use bolt::BoltDb;
use common::{Conn, Connect, Daemon, Sandbox, eventually, json_lines, ok};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

fn env(db: &BoltDb, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    db.env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// The daemon, once its engine answers (the socket is bound before the
/// engine opens the cache, which a read of the file must wait for).
fn start(sb: &Sandbox, env: &[(String, String)]) -> Daemon {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let daemon = Daemon::start_env(sb, &pairs);
    ask_ok(&mut daemon.connect(), json!({"op": "hello"}));
    daemon
}

fn ask_ok(c: &mut Conn, request: Value) -> Value {
    let reply = c.ask(request);
    assert_eq!(reply["ok"], true, "{reply}");
    reply
}

/// A task arrives as AssistX announces it; its assignment id.
fn arrive(c: &mut Conn, task: &str, payload: Value) -> String {
    let mut payload = payload;
    payload["task_id"] = json!(task);
    ask_ok(
        c,
        json!({"op": "event", "event": {"event_type": "task.candidate.created",
            "idempotency_key": format!("ax-{task}"), "payload": payload}}),
    );
    ids::assignment_id(task, None)
}

/// `outbox graph --json`: the graph's delivery state.
fn graph_state(sb: &Sandbox) -> Value {
    json_lines(&ok(&sb.run(&["outbox", "graph", "--json"])))[0].clone()
}

fn all_written(sb: &Sandbox) -> Option<Value> {
    let state = graph_state(sb);
    (state["summary"]["pending"] == 0 && state["summary"]["delivered_seq"].as_i64() > Some(0))
        .then_some(state)
}

/// Nodes and relationships of this program's labels.
fn census(db: &BoltDb) -> Vec<i64> {
    let labels = [
        "AssignDecision",
        "AssignReason",
        "Assignment",
        "AssignWorker",
        "AssignAction",
        "AssignControl",
    ];
    let mut counts: Vec<i64> = labels
        .iter()
        .map(|l| db.count(&format!("MATCH (n:{l}) RETURN count(n) AS n"), json!({})))
        .collect();
    for rel in ["HAS_REASON", "FOR_TASK", "DECIDED_BY", "LEASED_TO", "ON"] {
        counts.push(db.count(
            &format!("MATCH ()-[r:{rel}]->() RETURN count(r) AS n"),
            json!({}),
        ));
    }
    counts
}

#[test]
fn the_graph_explains_every_decision_and_writing_it_again_changes_nothing() {
    let Some(db) = BoltDb::fresh("explains") else {
        return;
    };
    // The tasks as AssistX holds them.
    for (id, status) in [("T1", "READY"), ("T2", "READY"), ("T3", "READY")] {
        db.run(
            "CREATE (t:Task {id: $id, status: $status, created_at_ts: 1})",
            json!({"id": id, "status": status}),
        );
    }
    let sb = Sandbox::new();
    let daemon = start(&sb, &env(&db, &[]));
    let mut c = daemon.connect();
    let t1 = arrive(&mut c, "T1", json!({"priority": "interactive"}));
    ask_ok(
        &mut c,
        json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1", "status": "ready"}),
    );
    ask_ok(
        &mut c,
        json!({"op": "claim", "assignment_id": t1, "worker_id": "w1", "node_id": "n1"}),
    );
    ask_ok(
        &mut c,
        json!({"op": "complete", "assignment_id": t1, "worker_id": "w1", "summary": "ok"}),
    );
    let t2 = arrive(&mut c, "T2", json!({"risk_level": "high"}));
    ask_ok(
        &mut c,
        json!({"op": "command", "command": "approve", "operator": "tester", "assignment_id": t2, "reason": "looked at it"}),
    );
    let t3 = arrive(&mut c, "T3", json!({"risk_level": "critical"}));
    ask_ok(
        &mut c,
        json!({"op": "command", "command": "control", "operator": "tester", "mode": "draining", "reason": "maintenance window"}),
    );
    eventually("every event in the graph", WAIT, POLL, || all_written(&sb));

    // Why did T1 go to its lane? (docs/graph.md)
    let why = db.column(
        "MATCH (:Task {id: $task})<-[:FOR_TASK]-(a:Assignment)-[:DECIDED_BY]->(d:AssignDecision) \
         MATCH (d)-[:HAS_REASON]->(r:AssignReason) \
         RETURN d.selected_lane + ' | ' + r.kind + ' | ' + r.text AS line ORDER BY r.position",
        json!({"task": "T1"}),
        "line",
    );
    let why: Vec<&str> = why.iter().filter_map(Value::as_str).collect();
    assert!(
        why.contains(&"local_only | reason | priority boost applied for interactive"),
        "{why:?}"
    );
    assert!(
        why.iter().any(|l| l.contains("| skip |")),
        "skipped lanes are reasons too: {why:?}"
    );
    // What did worker n1/w1 run today? (docs/graph.md)
    let today = chrono::Utc::now().format("%Y-%m-%dT00:00:00Z").to_string();
    let ran = db.column(
        "MATCH (a:Assignment)-[l:LEASED_TO]->(w:AssignWorker {key: $worker}) \
         WHERE l.claimed_at >= $since \
         RETURN a.task_id + ' ' + a.status + ' ' + toString(l.attempt) AS line ORDER BY l.claimed_at",
        json!({"worker": "n1/w1", "since": today}),
        "line",
    );
    assert_eq!(ran, [json!("T1 done 1")]);
    let tomorrow = "9999-01-01T00:00:00Z";
    let none = db.column(
        "MATCH (a:Assignment)-[l:LEASED_TO]->(w:AssignWorker {key: $worker}) \
         WHERE l.claimed_at >= $since RETURN a.task_id AS line",
        json!({"worker": "n1/w1", "since": tomorrow}),
        "line",
    );
    assert!(none.is_empty(), "{none:?}");
    // What is waiting for approval, and since when? (docs/graph.md)
    let waiting = db.column(
        "MATCH (a:Assignment {status: 'approval_required'}) \
         RETURN a.task_id + ' ' + a.approval_gate + ' ' + a.approval_requested_at AS line \
         ORDER BY a.approval_requested_at",
        json!({}),
        "line",
    );
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert!(
        waiting[0].as_str().unwrap().starts_with("T3 "),
        "{waiting:?}"
    );
    assert!(
        waiting[0].as_str().unwrap().contains(&today[..10]),
        "{waiting:?}"
    );
    let _ = t3;
    // Who did what to T2? T2 was approved: its action is recorded.
    let actions = db.column(
        "MATCH (x:AssignAction)-[:ON]->(a:Assignment {assignment_id: $id}) RETURN x.kind + ' by ' + x.actor AS line",
        json!({"id": t2}),
        "line",
    );
    assert_eq!(actions, [json!("approve by tester")]);
    let control = db.column(
        "MATCH (c:AssignControl {id: 'auto-assign'}) RETURN c.mode + ' v' + toString(c.version) AS line",
        json!({}),
        "line",
    );
    assert_eq!(control, [json!("draining v1")]);

    // Writing every event again, as a replay after a crash would, adds
    // nothing and changes nothing.
    let before = census(&db);
    let store = Store::open_read_only(&sb.db()).unwrap();
    let events = outbox::after(store.conn(), 0, 1000).unwrap();
    let current = writer::current_rows(&store, &provenance::touched(&events)).unwrap();
    let batch = provenance::batch(&events, &current);
    db.block_on(db.graph().write(&batch)).unwrap();
    assert_eq!(census(&db), before);
    // The keys are unique: a second decision node of one key is refused.
    let taken = db.column(
        "MATCH (d:AssignDecision) RETURN d.decision_id AS id LIMIT 1",
        json!({}),
        "id",
    );
    let graph = db.graph();
    let duplicate = db.block_on(graph.run(bolt::with_params(
        "CREATE (d:AssignDecision {decision_id: $id})",
        json!({"id": taken[0]}),
    )));
    assert!(duplicate.is_err(), "the unique constraint holds");
}

/// The daemon's outbox, as `outbox list --json` prints it.
fn outbox_events(sb: &Sandbox) -> Vec<Value> {
    json_lines(&ok(
        &sb.run(&["outbox", "list", "--json", "--limit", "1000"])
    ))
}

/// Posts an event's sealed bytes to AssistX, as an engine that then died
/// before recording the answer would have.
fn post_behind_the_engines_back(url: &str, body: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/api/events"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    });
    assert_eq!(answer.status().as_u16(), 200);
}

fn health_of(c: &mut Conn, name: &str) -> Option<Value> {
    let snapshot = c.ask(json!({"op": "snapshot"}));
    snapshot["result"]["health"]
        .as_array()?
        .iter()
        .find(|h| h["name"] == name)
        .cloned()
}

#[test]
fn reconcile_marks_delivered_what_assistx_recorded_and_sends_none_of_it_again() {
    let Some(db) = BoltDb::fresh("reconcile") else {
        return;
    };
    let standin = standin::StandIn::with_graph(None, &db.settings);
    for task in ["T1", "T2"] {
        standin.set_task(task, json!({"status": "READY", "created_at_ts": 1}));
    }
    let sb = Sandbox::new();
    let assistx = [("AUTO_ASSIGN_ASSISTX_BASE_URL", standin.url.as_str())];
    let daemon = start(&sb, &env(&db, &assistx));
    let mut c = daemon.connect();
    let t1 = arrive(&mut c, "T1", json!({}));
    arrive(&mut c, "T2", json!({}));
    ask_ok(
        &mut c,
        json!({"op": "claim", "assignment_id": t1, "worker_id": "w1", "node_id": "n1"}),
    );
    // Write-back is off: everything waits. An earlier engine had posted
    // T1's events before it died.
    let about = |e: &Value, task: &str| {
        serde_json::from_str::<Value>(&outbox_body(&sb, e))
            .ok()
            .is_some_and(|b| b["payload"]["task_id"] == task)
    };
    let events = outbox_events(&sb);
    assert!(
        events.iter().all(|e| e["status"] == "pending"),
        "{events:?}"
    );
    let t1_events: Vec<&Value> = events.iter().filter(|e| about(e, "T1")).collect();
    assert!(
        t1_events.len() >= 2,
        "T1's decision and claim: {t1_events:?}"
    );
    for e in &t1_events {
        post_behind_the_engines_back(&standin.url, &outbox_body(&sb, e));
    }
    let posts = standin.posts();
    // The operator reconciles: T1's events are delivered, T2's still wait.
    let socket = daemon.socket.display().to_string();
    let on_daemon = [("AUTO_ASSIGN_SOCKET_PATH", socket.as_str())];
    ok(&sb.run_env(&["outbox", "reconcile"], &on_daemon));
    eventually("T1's events reconciled", WAIT, POLL, || {
        let events = outbox_events(&sb);
        let done = events.iter().filter(|e| e["status"] == "delivered").count();
        (done == t1_events.len()).then_some(events)
    });
    assert!(
        outbox_events(&sb)
            .iter()
            .filter(|e| about(e, "T2"))
            .all(|e| e["status"] == "pending")
    );
    // At the next start, reconcile runs by itself: T2's events, posted
    // meanwhile, are found too.
    drop(c);
    drop(daemon);
    for e in outbox_events(&sb).iter().filter(|e| about(e, "T2")) {
        post_behind_the_engines_back(&standin.url, &outbox_body(&sb, e));
    }
    let posts_before_restart = standin.posts();
    let daemon = start(&sb, &env(&db, &assistx));
    eventually("everything reconciled at start", WAIT, POLL, || {
        outbox_events(&sb)
            .iter()
            .all(|e| e["status"] == "delivered")
            .then_some(())
    });
    assert_eq!(
        standin.posts(),
        posts_before_restart,
        "nothing was sent again"
    );
    assert!(posts_before_restart > posts);
    assert_eq!(standin.conflicts(), 0);
    drop(daemon);
}

/// An outbox event's sealed body, read from the cache.
fn outbox_body(sb: &Sandbox, event: &Value) -> String {
    let store = Store::open_read_only(&sb.db()).unwrap();
    outbox::get(store.conn(), event["seq"].as_i64().unwrap())
        .unwrap()
        .body
}

#[test]
fn neo4j_down_holds_back_only_the_graph_and_it_catches_up_after() {
    let Some(db) = BoltDb::fresh("outage") else {
        return;
    };
    db.run("CREATE (t:Task {id: 'T1', status: 'READY'})", json!({}));
    let standin = standin::StandIn::start(None);
    // A Bolt address where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = closed.local_addr().unwrap().to_string();
    drop(closed);
    let assistx = [
        ("AUTO_ASSIGN_ASSISTX_BASE_URL", standin.url.as_str()),
        ("AUTO_ASSIGN_DISPATCH_ENABLED", "true"),
    ];
    let mut down = env(&db, &assistx);
    down.retain(|(k, _)| k != "AUTO_ASSIGN_NEO4J_URI");
    down.push(("AUTO_ASSIGN_NEO4J_URI".into(), nowhere));
    let sb = Sandbox::new();
    let daemon = start(&sb, &down);
    let mut c = daemon.connect();
    let t1 = arrive(&mut c, "T1", json!({}));
    ask_ok(
        &mut c,
        json!({"op": "claim", "assignment_id": t1, "worker_id": "w1", "node_id": "n1"}),
    );
    // AssistX hears everything; the graph waits, and the badge says why.
    eventually("AssistX has every event", WAIT, POLL, || {
        outbox_events(&sb)
            .iter()
            .all(|e| e["status"] == "delivered")
            .then_some(())
    });
    let neo4j = eventually("the graph reported down", WAIT, POLL, || {
        health_of(&mut c, "neo4j").filter(|h| h["state"] == "down")
    });
    assert!(
        neo4j["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{neo4j}"
    );
    let state = graph_state(&sb);
    assert!(state["summary"]["pending"].as_u64() >= Some(2), "{state}");
    assert!(state["summary"]["last_error"].is_string(), "{state}");
    // Heartbeats and commands are not held back.
    for _ in 0..20 {
        ask_ok(
            &mut c,
            json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1", "assignment_id": t1, "status": "busy"}),
        );
    }
    assert_eq!(
        db.count("MATCH (a:Assignment) RETURN count(a) AS n", json!({})),
        0
    );
    eventually("AssistX has the start too", WAIT, POLL, || {
        outbox_events(&sb)
            .iter()
            .all(|e| e["status"] == "delivered")
            .then_some(())
    });
    // Neo4j is back (the daemon restarted with its address): the graph
    // catches up, AssistX hears nothing twice.
    drop(c);
    drop(daemon);
    let accepted = standin.accepted().len();
    let daemon = start(&sb, &env(&db, &assistx));
    let mut c = daemon.connect();
    eventually("the graph caught up", WAIT, POLL, || all_written(&sb));
    assert_eq!(
        db.column(
            "MATCH (a:Assignment)-[:FOR_TASK]->(t:Task {id: 'T1'}) RETURN a.status AS s",
            json!({}),
            "s"
        ),
        [json!("running")]
    );
    let neo4j = eventually("the graph reported ok", WAIT, POLL, || {
        health_of(&mut c, "neo4j").filter(|h| h["state"] == "ok")
    });
    assert!(neo4j["last_success_at"].is_string());
    assert_eq!(standin.accepted().len(), accepted);
}

/// A backlog item as AssistX lists it (A7): no risk, no capabilities.
fn backlog_item(task: &str) -> Value {
    json!({"task_id": task, "title": format!("task {task}"), "prompt": "p", "priority": "batch",
        "status": "READY", "queue": "backlog", "privacy": "", "local_only": false,
        "sensitive": false, "allow_cloud": true, "metadata": {}})
}

fn assignment_of(sb: &Sandbox, task: &str) -> Option<Value> {
    json_lines(&ok(&sb.run(&["assignments", "--json"])))
        .into_iter()
        .find(|a| a["task_id"] == task)
}

#[test]
fn the_intake_completes_its_backlog_from_the_graph_and_reads_the_graph_when_assistx_is_down() {
    let Some(db) = BoltDb::fresh("intake") else {
        return;
    };
    let standin = standin::StandIn::with_graph(None, &db.settings);
    standin.set_task(
        "T1",
        json!({"status": "READY", "created_at_ts": 1,
        "payload_json": "{\"risk_level\": \"high\"}"}),
    );
    standin.set_task("T2", json!({"status": "CLAIMED", "created_at_ts": 2}));
    standin.set_task("T3", json!({"status": "READY", "created_at_ts": 3}));
    standin.set_task_outside_the_graph(
        "T4",
        json!({"id": "T4", "status": "READY", "risk_level": "critical"}),
    );
    standin.set_backlog(vec![
        backlog_item("T1"),
        backlog_item("T2"),
        backlog_item("T4"),
    ]);
    let sb = Sandbox::new();
    let settings = [
        ("AUTO_ASSIGN_ASSISTX_BASE_URL", standin.url.as_str()),
        ("AUTO_ASSIGN_SCHEDULER_ENABLED", "true"),
        ("AUTO_ASSIGN_TICK_INTERVAL_SECONDS", "1"),
    ];
    let daemon = start(&sb, &env(&db, &settings));
    let mut c = daemon.connect();
    // T1's risk is on its :Task only: the approval gate fires anyway.
    let t1 = eventually("T1 decided", WAIT, POLL, || assignment_of(&sb, "T1"));
    assert_eq!(t1["status"], "approval_required", "{t1}");
    // T4 is not in the graph: AssistX is asked for it, and its risk gates it.
    let t4 = eventually("T4 decided", WAIT, POLL, || assignment_of(&sb, "T4"));
    assert_eq!(t4["status"], "approval_required", "{t4}");
    // T2 is listed, but the graph says it is claimed: not recommended.
    let t2 = eventually("T2 decided", WAIT, POLL, || assignment_of(&sb, "T2"));
    assert_eq!(t2["status"], "blocked", "{t2}");
    assert!(
        t2.to_string().contains("duplicate_active_assignment"),
        "{t2}"
    );
    assert!(
        assignment_of(&sb, "T3").is_none(),
        "AssistX did not list T3"
    );
    // AssistX goes down: the backlog comes from the graph (READY and
    // REVIEW tasks), and the badge says so.
    standin.set_mode(standin::Mode::Down);
    let t3 = eventually("T3 read from the graph", WAIT, POLL, || {
        assignment_of(&sb, "T3")
    });
    assert_eq!(t3["status"], "recommended", "{t3}");
    let assistx = eventually(
        "the badge says where the backlog came from",
        WAIT,
        POLL,
        || health_of(&mut c, "assistx").filter(|h| h["state"] == "down"),
    );
    assert_eq!(assistx["detail"], "backlog read from Neo4j", "{assistx}");
}

/// What an operator sees of the cache: every assignment's state, the
/// approvals waiting, the workers and the control state.
fn what_the_cache_holds(sb: &Sandbox) -> Value {
    let assignments: Vec<Value> = json_lines(&ok(&sb.run(&["assignments", "--json"])))
        .into_iter()
        .map(|a| {
            json!([
                a["task_id"],
                a["status"],
                a["version"],
                a["retry_count"],
                a["claims"],
                a["heartbeats_sent"],
                a["worker_id"],
                a["lease_expires_at"],
                a["decision"]["decision_id"],
                a["decision"]["selected_lane"]
            ])
        })
        .collect();
    let status = json_lines(&ok(&sb.run(&["status", "--json"])))[0].clone();
    let workers: Vec<Value> = status["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            json!([
                w["node_id"],
                w["worker_id"],
                w["status"],
                w["lanes"],
                w["capabilities"]
            ])
        })
        .collect();
    let approvals: Vec<Value> = status["approvals"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!([p["assignment_id"], p["gate"]]))
        .collect();
    json!({
        "assignments": assignments,
        "workers": workers,
        "approvals": approvals,
        "control": [status["control"]["mode"], status["control"]["version"]],
    })
}

#[test]
fn a_deleted_cache_is_rebuilt_from_the_graph_and_the_engine_carries_on_sending_nothing_twice() {
    let Some(db) = BoltDb::fresh("rebuild") else {
        return;
    };
    let standin = standin::StandIn::with_graph(None, &db.settings);
    for (n, task) in ["T1", "T2", "T3", "T4"].iter().enumerate() {
        standin.set_task(task, json!({"status": "READY", "created_at_ts": n}));
    }
    let settings = [
        ("AUTO_ASSIGN_ASSISTX_BASE_URL", standin.url.as_str()),
        ("AUTO_ASSIGN_DISPATCH_ENABLED", "true"),
    ];
    let everything = env(&db, &settings);
    let sb = Sandbox::new();
    let daemon = start(&sb, &everything);
    let mut c = daemon.connect();
    ask_ok(
        &mut c,
        json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1", "status": "ready",
        "lanes": ["local_only"], "capabilities": ["gpu"]}),
    );
    let t1 = arrive(&mut c, "T1", json!({}));
    ask_ok(
        &mut c,
        json!({"op": "claim", "assignment_id": t1, "worker_id": "w1", "node_id": "n1"}),
    );
    ask_ok(
        &mut c,
        json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1", "assignment_id": t1, "status": "busy"}),
    );
    let t2 = arrive(&mut c, "T2", json!({"risk_level": "high"}));
    let t3 = arrive(&mut c, "T3", json!({"risk_level": "critical"}));
    let operator = |command: &str, extra: Value| {
        let mut request = json!({"op": "command", "command": command, "operator": "tester"});
        for (k, v) in extra.as_object().unwrap() {
            request[k] = v.clone();
        }
        request
    };
    ask_ok(
        &mut c,
        operator("approve", json!({"assignment_id": t3, "reason": "fine"})),
    );
    let t4 = arrive(&mut c, "T4", json!({}));
    ask_ok(
        &mut c,
        json!({"op": "claim", "assignment_id": t4, "worker_id": "w1", "node_id": "n1"}),
    );
    ask_ok(
        &mut c,
        json!({"op": "complete", "assignment_id": t4, "worker_id": "w1", "summary": "ok"}),
    );
    ask_ok(
        &mut c,
        operator("control", json!({"mode": "draining", "reason": "window"})),
    );
    ask_ok(
        &mut c,
        operator("control", json!({"mode": "enabled", "reason": "done"})),
    );
    eventually("AssistX and the graph have everything", WAIT, POLL, || {
        let delivered = outbox_events(&sb)
            .iter()
            .all(|e| e["status"] == "delivered");
        (delivered && all_written(&sb).is_some()).then_some(())
    });
    let before = what_the_cache_holds(&sb);
    drop(c);
    drop(daemon);

    // The cache is lost.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sb.db().display()));
    }
    let pairs: Vec<(&str, &str)> = everything
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let rebuilt = ok(&sb.run_env(&["cache", "rebuild", "--json"], &pairs));
    let report = &json_lines(&rebuilt)[0];
    assert_eq!(report["assignments"], 4, "{report}");
    assert!(
        report["delivered_keys"].as_u64() >= Some(10),
        "AssistX's keys: {report}"
    );
    assert_eq!(
        report["control"],
        json!({"mode": "enabled", "version": 2}),
        "{report}"
    );
    assert_eq!(what_the_cache_holds(&sb), before);
    // A second rebuild would mix rows: refused, the cache untouched.
    let again = sb.run_env(&["cache", "rebuild"], &pairs);
    assert!(!again.status.success());
    assert!(
        common::stderr(&again).contains("already holds"),
        "{}",
        common::stderr(&again)
    );
    assert_eq!(what_the_cache_holds(&sb), before);

    // The engine carries on: the lease is renewed and completed, the gate
    // answered, control changed, and AssistX hears each once.
    let accepted = standin.accepted().len();
    let daemon = start(&sb, &everything);
    let mut c = daemon.connect();
    ask_ok(
        &mut c,
        operator("approve", json!({"assignment_id": t2, "reason": "looked"})),
    );
    ask_ok(
        &mut c,
        json!({"op": "complete", "assignment_id": t1, "worker_id": "w1", "summary": "ok"}),
    );
    // The cached backlog decided again changes nothing.
    ask_ok(&mut c, operator("tick", json!({})));
    ask_ok(
        &mut c,
        operator("control", json!({"mode": "paused", "reason": "later"})),
    );
    eventually("the new events delivered", WAIT, POLL, || {
        let events = outbox_events(&sb);
        let fresh: Vec<&Value> = events.iter().filter(|e| e["subject_id"] != "").collect();
        (fresh.len() >= 3 && fresh.iter().all(|e| e["status"] == "delivered")).then_some(())
    });
    assert_eq!(
        standin.conflicts(),
        0,
        "no key was sent again with another body"
    );
    let keys = standin.accepted();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "no key accepted twice");
    assert_eq!(
        keys.len(),
        accepted + 3,
        "approve, complete, control: {:?}",
        &keys[accepted..]
    );
    assert_eq!(
        standin.task_statuses("T1").last().map(String::as_str),
        Some("DONE")
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("assign.control.changed:3:paused:")),
        "{keys:?}"
    );
    drop(daemon);
    let _ = t2;
}
