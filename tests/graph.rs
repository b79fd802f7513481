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

fn start(sb: &Sandbox, env: &[(String, String)]) -> Daemon {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Daemon::start_env(sb, &pairs)
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
    for (id, status) in [("T1", "READY"), ("T2", "READY")] {
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
    // What did worker n1/w1 run?
    let ran = db.column(
        "MATCH (a:Assignment)-[l:LEASED_TO]->(w:AssignWorker {key: $worker}) \
         RETURN a.task_id + ' ' + a.status AS line",
        json!({"worker": "n1/w1"}),
        "line",
    );
    assert_eq!(ran, [json!("T1 done")]);
    // What waits for approval? T2 was approved: its action is recorded.
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
