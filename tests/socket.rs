//! The engine's socket, end to end: a real daemon process, a real Unix
//! socket, clients that misbehave.

mod common;

use common::{Conn, Connect, Daemon, Sandbox, evaluate, eventually, json_lines, ok, stderr};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn code(reply: &Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn hello_names_the_protocol_engine_and_process() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let reply = d.connect().ask(json!({"op": "hello", "id": "h1"}));
    assert_eq!(reply["id"], "h1");
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["result"]["protocol"], 1);
    assert_eq!(reply["result"]["pid"], d.child.id());
    assert!(
        reply["result"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("subscribe"))
    );
}

#[test]
fn every_bad_input_gets_an_error_and_the_connection_stays_open() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = d.connect();
    let mut long = vec![b'x'; 70 * 1024];
    long.push(b'\n');
    c.send_raw(&long);
    assert_eq!(code(&c.read()), "line_too_long");
    c.send_raw(b"\xff\xfe\n");
    assert_eq!(code(&c.read()), "not_utf8");
    c.send_raw(b"{not json\n");
    assert_eq!(code(&c.read()), "bad_json");
    c.send_raw(format!("{}\n", "[".repeat(200)).as_bytes());
    assert_eq!(code(&c.read()), "too_deep");
    assert_eq!(
        code(&c.ask(json!({"op": "teleport", "id": 5}))),
        "unknown_op"
    );
    let missing = c.ask(json!({"op": "heartbeat", "node_id": "n1"}));
    assert_eq!(
        (code(&missing), missing["error"]["field"].as_str()),
        ("missing_field", Some("worker_id"))
    );
    let typed = c.ask(json!({"op": "claim", "assignment_id": 5, "worker_id": "w"}));
    assert_eq!(
        (code(&typed), typed["error"]["field"].as_str()),
        ("bad_field", Some("assignment_id"))
    );
    assert_eq!(code(&c.ask(json!(["op"]))), "bad_request");
    let unheld = c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1", "assignment_id": "assign_nope"}));
    assert_eq!(code(&unheld), "not_found");
    // Still open, still answering.
    assert_eq!(c.ask(json!({"op": "hello"}))["ok"], true);
    let snap = c.ask(json!({"op": "snapshot"}));
    let rejected = &snap["result"]["rejected_lines"];
    for reason in [
        "line_too_long",
        "not_utf8",
        "bad_json",
        "too_deep",
        "unknown_op",
        "missing_field",
        "bad_field",
        "bad_request",
    ] {
        assert_eq!(rejected[reason], 1, "{reason}: {rejected}");
    }
}

#[test]
fn the_socket_and_its_folder_are_private() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.socket), 0o600);
    assert_eq!(mode(d.socket.parent().unwrap()), 0o700);
}

#[test]
fn a_stale_socket_is_removed_and_a_live_one_is_refused_with_its_pid() {
    let sb = Sandbox::new();
    let socket = sb.path("run/engine.sock");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap()); // left behind by a "dead engine"
    let d = Daemon::start(&sb);
    assert_eq!(d.connect().ask(json!({"op": "hello"}))["ok"], true);
    let second = sb.run_env(
        &["daemon"],
        &[("AUTO_ASSIGN_SOCKET_PATH", socket.to_str().unwrap())],
    );
    assert_eq!(second.status.code(), Some(1));
    let err = stderr(&second);
    assert!(err.contains(&format!("pid {}", d.child.id())), "{err}");
    assert_eq!(
        d.connect().ask(json!({"op": "hello"}))["ok"],
        true,
        "the first engine is untouched"
    );
}

#[test]
fn a_file_that_is_not_a_socket_is_never_removed() {
    let sb = Sandbox::new();
    let path = sb.write("precious.txt", "keep me");
    let out = sb.run_env(
        &["daemon"],
        &[("AUTO_ASSIGN_SOCKET_PATH", path.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a socket"));
    assert_eq!(std::fs::read_to_string(path).unwrap(), "keep me");
}

#[test]
fn a_heartbeat_renews_the_lease_it_holds_and_workers_do_everything_through_the_socket() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = d.connect();
    let id = evaluate(&mut c, "T1");
    let claim = c.ask(json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "node_id": "n1", "lease_seconds": 60}));
    assert_eq!(claim["result"]["data"]["status"], "claimed", "{claim}");
    let first_expiry = claim["result"]["data"]["lease_expires_at"]
        .as_str()
        .unwrap()
        .to_string();
    // Time must pass for a renewed lease to end later than the first.
    std::thread::sleep(Duration::from_millis(20));
    let hb = c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1", "assignment_id": id, "status": "busy"}));
    assert_eq!(hb["result"]["data"]["renewed"], json!([id]));
    let progress = c.ask(json!({"op": "progress", "assignment_id": id, "worker_id": "w1", "percent": 50, "message": "halfway"}));
    assert_eq!(progress["result"]["data"]["status"], "running");
    assert!(
        progress["result"]["data"]["lease_expires_at"]
            .as_str()
            .unwrap()
            > first_expiry.as_str()
    );
    let other =
        c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w2", "assignment_id": id}));
    assert_eq!(code(&other), "assignment_not_held");
    let done =
        c.ask(json!({"op": "complete", "assignment_id": id, "worker_id": "w1", "summary": "ok"}));
    assert_eq!(done["result"]["data"]["status"], "done");
    let id2 = evaluate(&mut c, "T2");
    c.ask(json!({"op": "claim", "assignment_id": id2, "worker_id": "w1", "node_id": "n1"}));
    let released = c.ask(
        json!({"op": "release", "assignment_id": id2, "worker_id": "w1", "reason": "too big"}),
    );
    assert_eq!(
        released["result"]["data"]["status"], "recommended",
        "{released}"
    );
    let event = c.ask(json!({"op": "event", "event": {"event_type": "task.candidate.created", "idempotency_key": "k", "subject": {"task_id": "T3"}}}));
    assert_eq!(event["result"]["data"]["processed"]["action"], "evaluated");
    let control = c.ask(
        json!({"op": "command", "command": "control", "operator": "scott", "mode": "draining"}),
    );
    assert_eq!(control["result"]["data"]["mode"], "draining");
    let audit = json_lines(&ok(&sb.run(&["audit", "--operators", "--json"])));
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "control" && e["actor"] == "scott")
    );
}

#[test]
fn a_silent_workers_lease_expires_and_its_task_is_offered_again() {
    let sb = Sandbox::new();
    let d = Daemon::start_env(&sb, &[("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "1")]);
    let mut c = d.connect();
    let id = evaluate(&mut c, "T1");
    std::thread::sleep(Duration::from_millis(1100)); // the engine has been up for the grace
    c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1"}));
    c.ask(json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "node_id": "n1", "lease_seconds": 3600}));
    let (worker, rec) = eventually(
        "the silent worker's task offered again",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let snap = c.ask(json!({"op": "snapshot"}))["result"].clone();
            let find = |list: &str, key: &str, value: &str| {
                snap[list]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x[key] == value)
                    .cloned()
                    .unwrap()
            };
            let worker = find("workers", "worker_id", "w1");
            let rec = find("recommendations", "assignment_id", &id);
            (worker["stale"] == true && rec["status"] == "recommended").then_some((worker, rec))
        },
    );
    assert_eq!(worker["stale"], true);
    assert_eq!(
        rec["retry_count"], 0,
        "a dead worker does not use up a retry"
    );
    // Taken back from a lost worker: AssistX hears a release (contract D).
    let events = json_lines(&ok(&sb.run(&["outbox", "list", "--json"])));
    assert!(
        events
            .iter()
            .any(|e| e["event_type"] == "assignment.released")
    );
}

#[test]
fn a_hundred_concurrent_clients_all_get_answers() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let socket = d.socket.clone();
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut c = Conn::open(&socket);
                for j in 0..5 {
                    let reply = c.ask(json!({"op": "heartbeat", "id": j, "node_id": format!("n{}", i % 4), "worker_id": format!("w{i}")}));
                    assert_eq!(reply["ok"], true, "{reply}");
                    assert_eq!(reply["id"], j);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let snap = d.connect().ask(json!({"op": "snapshot"}));
    assert_eq!(snap["result"]["workers"].as_array().unwrap().len(), 100);
}

#[test]
fn a_flooding_client_slows_down_alone_and_loses_nothing() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    const FLOOD: usize = 20_000;
    let socket = d.socket.clone();
    let flooder = std::thread::spawn(move || {
        let stream = UnixStream::connect(&socket).unwrap();
        let mut writer = stream.try_clone().unwrap();
        // Write everything without reading: the server must push back.
        let sending = std::thread::spawn(move || {
            let mut batch = String::new();
            for i in 0..FLOOD {
                batch.push_str(&format!("{{\"op\":\"heartbeat\",\"id\":{i},\"node_id\":\"flood\",\"worker_id\":\"f{}\"}}\n", i % 50));
            }
            writer.write_all(batch.as_bytes()).unwrap();
        });
        // Let the flood fill the socket's buffers before reading anything.
        std::thread::sleep(Duration::from_millis(300));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut seen = 0;
        let mut line = String::new();
        while seen < FLOOD {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let reply: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(reply["id"], seen, "replies come in order, none dropped");
            assert_eq!(reply["ok"], true);
            seen += 1;
        }
        sending.join().unwrap();
        seen
    });
    // The flood is under way (nothing to ask: it is the point that the
    // engine is busy) when the calm client starts.
    std::thread::sleep(Duration::from_millis(100));
    let mut other = d.connect();
    for i in 0..20 {
        let started = Instant::now();
        assert_eq!(
            other.ask(json!({"op": "heartbeat", "id": i, "node_id": "n", "worker_id": "calm"}))["ok"],
            true
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "another client was starved"
        );
    }
    assert_eq!(flooder.join().unwrap(), FLOOD);
}

#[test]
fn a_client_killed_mid_line_loses_only_that_line() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    {
        let mut c = d.connect();
        c.send_raw(br#"{"op": "heartbeat", "node_id": "n1", "worker_id": "half"#);
    } // dropped mid-line
    let mut c = d.connect();
    assert_eq!(c.ask(json!({"op": "hello"}))["ok"], true);
    let workers = c.ask(json!({"op": "snapshot"}))["result"]["workers"].clone();
    assert_eq!(workers, json!([]));
}

#[test]
fn sigterm_finishes_cleanly_and_removes_the_socket() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = d.connect();
    let id = evaluate(&mut c, "T1");
    let socket = d.socket.clone();
    let (code, log) = d.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
    assert!(!socket.exists());
    let after = json_lines(&ok(&sb.run(&["assignments", "--json"])));
    assert_eq!(
        after[0]["assignment_id"],
        id.as_str(),
        "committed before the reply, kept after the stop"
    );
}

#[test]
fn the_cli_reaches_a_running_engine_through_its_socket() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let id = evaluate(&mut d.connect(), "T1");
    let env = [("AUTO_ASSIGN_SOCKET_PATH", d.socket.to_str().unwrap())];
    let out = sb.run_env(
        &["claim", &id, "--worker", "w1", "--node", "n1", "--json"],
        &env,
    );
    assert_eq!(json_lines(&ok(&out))[0]["data"]["status"], "claimed");
    let out = sb.run_env(
        &[
            "heartbeat",
            "--node",
            "n1",
            "--worker",
            "w1",
            "--assignment",
            &id,
            "--status",
            "busy",
            "--json",
        ],
        &env,
    );
    assert_eq!(json_lines(&ok(&out))[0]["data"]["started"], json!([id]));
    let out = sb.run_env(&["approve", &id], &env);
    assert_eq!(
        out.status.code(),
        Some(2),
        "illegal transition comes back as a refusal"
    );
    let status = json_lines(&ok(&sb.run_env(&["status", "--json"], &env)));
    assert_eq!(status[0]["workers"][0]["worker_id"], "w1");
    let database = std::fs::canonicalize(sb.db()).unwrap();
    assert_eq!(status[0]["database"], database.display().to_string());
}

#[test]
fn watch_prints_a_line_per_change() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut watch = sb
        .command()
        .env("AUTO_ASSIGN_SOCKET_PATH", &d.socket)
        .args(["watch"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("recommended 0"), "{first}");
    evaluate(&mut d.connect(), "T1");
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains("recommended 1"), "{second}");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn watch_without_an_engine_says_so() {
    let sb = Sandbox::new();
    let out = sb.run_env(
        &["watch"],
        &[(
            "AUTO_ASSIGN_SOCKET_PATH",
            sb.path("none.sock").to_str().unwrap(),
        )],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no engine answers"),
        "{}",
        stderr(&out)
    );
}

/// An attached room's subscription: one whole snapshot, then only what
/// changed, which the client applies to arrive at what the engine holds.
#[test]
fn a_subscription_sends_changes_that_rebuild_the_engines_snapshot() {
    use auto_assign::domain::lifecycle::Status;
    use auto_assign::ingest::client::Client;
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = d.connect();
    let ids: Vec<String> = (0..5).map(|i| evaluate(&mut c, &format!("T{i}"))).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = Client::connect(&d.socket).await.unwrap();
        let first = client.subscribe().await.unwrap();
        assert_eq!(first.recommendations.len(), 5);
        c.ask(json!({"op": "claim", "assignment_id": ids[2], "worker_id": "w1", "node_id": "n1"}));
        c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1", "status": "busy"}));
        let deadline = Instant::now() + Duration::from_secs(10);
        let shown = loop {
            let shown = tokio::time::timeout(Duration::from_secs(10), client.next_snapshot())
                .await
                .expect("an update")
                .unwrap()
                .unwrap();
            let claimed = shown
                .recommendations
                .iter()
                .any(|r| r.assignment_id == ids[2] && r.status == Status::Claimed);
            if claimed && shown.workers.iter().any(|w| w.worker_id == "w1") {
                break shown;
            }
            assert!(Instant::now() < deadline, "the claim never showed");
        };
        // What the client rebuilt from changes is what the engine holds.
        let mut other = Client::connect(&d.socket).await.unwrap();
        let engine = other.snapshot().await.unwrap();
        let ids_of = |s: &auto_assign::engine::Snapshot| -> Vec<(String, Status)> {
            s.recommendations
                .iter()
                .map(|r| (r.assignment_id.clone(), r.status))
                .collect()
        };
        assert_eq!(ids_of(&shown), ids_of(&engine));
        assert_eq!(shown.workers, engine.workers);
    });
    // On the wire, an update after the first is a delta naming only what changed.
    let stream = UnixStream::connect(&d.socket).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer.write_all(b"{\"op\":\"subscribe\"}\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    c.ask(json!({"op": "heartbeat", "node_id": "n2", "worker_id": "w2"}));
    let update = eventually(
        "a delta naming w2",
        Duration::from_secs(10),
        Duration::ZERO,
        || {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let update: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(update["event"], "delta");
            let named = update["delta"]["workers"]["upsert"]
                .as_array()
                .is_some_and(|rows| !rows.is_empty());
            named.then_some(update)
        },
    );
    assert!(update["sent_at"].is_string());
    let upserted: Vec<&Value> = update["delta"]["workers"]["upsert"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(upserted.len(), 1, "{update}");
    assert_eq!(upserted[0]["worker_id"], "w2");
    assert!(
        update["delta"]["recommendations"]["upsert"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// `tick --task-file F --router R` through a running daemon: the router
/// snapshot travels with the tick, as it does without a daemon. And `older`
/// pages the audit over the real socket.
#[test]
fn a_tick_with_a_router_file_through_the_daemon_and_older_rows_over_the_socket() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    sb.write("backlog.json", r#"[{"task_id": "R1"}, {"task_id": "R2"}]"#);
    sb.write(
        "router.json",
        r#"{"context": {"revision": "rev-7", "nodes": [{"id": "n1"}]}, "quota": {"mode": "normal"}, "circuits": {}, "agent_clis": {}, "ops_summary": {}}"#,
    );
    let env = [("AUTO_ASSIGN_SOCKET_PATH", d.socket.to_str().unwrap())];
    let out = sb.run_env(
        &[
            "tick",
            "--task-file",
            "backlog.json",
            "--router",
            "router.json",
            "--json",
        ],
        &env,
    );
    let reply = &json_lines(&ok(&out))[0];
    assert_eq!(reply["data"]["counts"]["recommended"], 2, "{reply}");
    let reasons = reply["data"]["outcomes"][0]["decision"]["reasons"].to_string();
    assert!(
        reasons.contains("rev-7"),
        "the router file was used: {reasons}"
    );
    let mut conn = d.connect();
    for i in 0..5 {
        conn.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": format!("w{i}")}));
    }
    let reply = conn.ask(json!({"op": "older", "log": "audit", "contains": "n1/w3", "limit": 10}));
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["kind"], "audit_rows", "{reply}");
    let rows = reply["result"]["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{reply}");
    assert_eq!(rows[0]["subject"], "n1/w3");
    let reply = conn.ask(json!({"op": "older", "log": "everything"}));
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(reply.to_string().contains("log"), "{reply}");
}

/// A worker's life through the daemon's socket with the fleet rules: it
/// asks for work with `next`, fails twice and its breaker opens (its next
/// ask is refused, naming the breaker); once the cool-down passes a trial
/// is given and its success closes the breaker; drained, it is refused;
/// undrained, it works again. Another worker takes what it cannot.
#[test]
fn next_breaker_and_drain_through_the_socket() {
    let sb = Sandbox::new();
    let d = Daemon::start_env(
        &sb,
        &[
            ("AUTO_ASSIGN_BREAKER_FAILURES", "2"),
            ("AUTO_ASSIGN_BREAKER_COOLDOWN_SECONDS", "1"),
            ("AUTO_ASSIGN_MAX_RETRIES", "10"),
        ],
    );
    let mut c = d.connect();
    for w in ["w1", "w2"] {
        let beat = c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": w, "lanes": ["local_only"], "max_concurrent": 4}));
        assert_eq!(beat["ok"], true, "{beat}");
    }
    for i in 0..6 {
        evaluate(&mut c, &format!("T{i}"));
    }
    let next =
        |c: &mut Conn, w: &str| c.ask(json!({"op": "next", "node_id": "n1", "worker_id": w}));
    for _ in 0..2 {
        let got = next(&mut c, "w1");
        assert_eq!(got["result"]["kind"], "assignment", "{got}");
        let id = got["result"]["data"]["assignment_id"].clone();
        let failed =
            c.ask(json!({"op": "fail", "assignment_id": id, "worker_id": "w1", "reason": "crash"}));
        assert_eq!(failed["ok"], true, "{failed}");
    }
    let refused = next(&mut c, "w1");
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["error"]["code"], "breaker_open", "{refused}");
    let other = next(&mut c, "w2");
    assert_eq!(other["result"]["kind"], "assignment", "{other}");
    // After the cool-down, a trial; its success closes the breaker.
    std::thread::sleep(Duration::from_millis(1100));
    let trial = next(&mut c, "w1");
    assert_eq!(trial["result"]["kind"], "assignment", "{trial}");
    let id = trial["result"]["data"]["assignment_id"].clone();
    let done = c.ask(json!({"op": "complete", "assignment_id": id, "worker_id": "w1"}));
    assert_eq!(done["ok"], true, "{done}");
    let again = next(&mut c, "w1");
    assert_eq!(again["result"]["kind"], "assignment", "{again}");
    // Drained: refused; undrained: it works again.
    let drain = c.ask(json!({"op": "command", "command": "drain", "operator": "scott", "worker": "n1/w1", "reason": "upgrade"}));
    assert_eq!(drain["ok"], true, "{drain}");
    let refused = next(&mut c, "w1");
    assert_eq!(refused["error"]["code"], "worker_drained", "{refused}");
    let undrain = c.ask(
        json!({"op": "command", "command": "undrain", "operator": "scott", "worker": "n1/w1"}),
    );
    assert_eq!(undrain["ok"], true, "{undrain}");
    let back = next(&mut c, "w1");
    assert_eq!(back["result"]["kind"], "assignment", "{back}");
}

/// Issue 12 through the daemon's socket: with workers heartbeating, each
/// task event (AssistX's `task.candidate.created`) is decided on arrival
/// and its decision names a worker; the snapshot shows whom it was named
/// for, `explain` says why not the others, the named worker is given it
/// first, and with every place taken a task waits for capacity. A worker
/// sending nonsense in the fleet's fields is refused naming the field.
#[test]
fn decisions_name_workers_through_the_socket() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = d.connect();
    for w in ["w1", "w2"] {
        let beat = c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": w,
            "lanes": ["local_only"], "capabilities": ["python"], "max_concurrent": 1, "active_tasks": 0}));
        assert_eq!(beat["ok"], true, "{beat}");
    }
    let nonsense =
        c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w3", "active_tasks": -2}));
    assert_eq!(nonsense["error"]["field"], "active_tasks", "{nonsense}");
    for task in ["T1", "T2", "T3"] {
        let event = c.ask(json!({"op": "event", "event": {
            "event_type": "task.candidate.created",
            "idempotency_key": format!("assistx-{task}"),
            "subject": {"kind": "task", "id": task},
            "payload": {"task_id": task, "status": "READY", "priority": "batch",
                "allowed_lanes": ["local_only"], "required_capabilities": ["Python"]}
        }}));
        assert_eq!(event["ok"], true, "{event}");
    }
    let snap = c.ask(json!({"op": "snapshot"}))["result"].clone();
    let targets: std::collections::BTreeMap<String, Value> = snap["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["task_id"].as_str().unwrap().to_string(),
                r["target"].clone(),
            )
        })
        .collect();
    assert_eq!(targets["T1"], "n1/w1", "{targets:?}");
    assert_eq!(targets["T2"], "n1/w2", "{targets:?}");
    assert_eq!(targets["T3"], Value::Null, "no place left: {targets:?}");
    let t3 = snap["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["task_id"] == "T3")
        .unwrap()["assignment_id"]
        .clone();
    let why = c.ask(json!({"op": "explain", "assignment_id": t3}))["result"]["data"].clone();
    let codes: Vec<&str> = why["worker"]["rejected_workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["at_capacity", "at_capacity"], "{why}");
    assert!(
        why["reasons"].to_string().contains("waits for capacity"),
        "{why}"
    );
    let next = c.ask(json!({"op": "next", "node_id": "n1", "worker_id": "w2"}));
    assert_eq!(next["result"]["data"]["task_id"], "T2", "{next}");
}
