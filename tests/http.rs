//! The HTTP API over real HTTP, against a real daemon (issue 13, in part):
//! health, live metrics, the token rule, and the refusal to listen beyond
//! loopback without a token.

mod common;

use common::http::{free_port, post, raw_reply, request, send, serving};
use common::{Connect, Daemon, Sandbox, evaluate};
use serde_json::{Value, json};

/// A gauge's value in a metrics body.
fn figure(body: &str, line_start: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line_start} missing in\n{body}"))
}

#[test]
fn health_and_live_metrics_over_http() {
    let sb = Sandbox::new();
    let (d, port) = serving(&sb, &[]);
    let (status, body) = request(port, "GET", "/health", &[]);
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["service"], "auto-assign");
    assert_eq!(health["deps"]["cache"]["reachable"], true, "{health}");
    assert_eq!(health["scheduler"]["enabled"], false, "{health}");
    let (_, before) = request(port, "GET", "/metrics", &[]);
    assert_eq!(figure(&before, "auto_assign_outbox_pending "), 0.0);
    let mut c = d.connect();
    evaluate(&mut c, "T1");
    evaluate(&mut c, "T2");
    let (status, after) = request(port, "GET", "/metrics", &[]);
    assert_eq!(status, 200);
    assert_eq!(
        figure(&after, "auto_assign_outbox_pending "),
        2.0,
        "{after}"
    );
    assert_eq!(
        figure(&after, "auto_assign_assignments{status=\"recommended\"}"),
        2.0
    );
    assert!(
        figure(&after, "auto_assign_http_requests_total{path=\"/metrics\"") >= 1.0,
        "{after}"
    );
    let (status, body) = request(port, "GET", "/api/nothing-here", &[]);
    assert_eq!(status, 404, "{body}");
    // The old service's counters, the tick's duration and the socket's
    // requests move with the work.
    post(
        port,
        "/api/heartbeats",
        json!({"node_id": "n1", "worker_id": "w1"}),
    );
    post(
        port,
        "/api/events",
        json!({"event_type": "task.candidate.created", "idempotency_key": "k1",
            "payload": {"task_id": "T3"}}),
    );
    let tick = c.ask(json!({"op": "command", "command": "tick", "operator": "t"}));
    assert_eq!(tick["ok"], true, "{tick}");
    let (_, later) = request(port, "GET", "/metrics", &[]);
    for (line, at_least) in [
        (
            "auto_assign_heartbeats_recorded_total{status=\"ready\"}",
            1.0,
        ),
        (
            "auto_assign_events_ingested_total{event_type=\"task.candidate.created\",status=\"new\"}",
            1.0,
        ),
        (
            "auto_assign_assignments_created_total{status=\"recommended\"}",
            3.0,
        ),
        ("auto_assign_scheduler_ticks_total{result=\"ok\"}", 1.0),
        ("auto_assign_scheduler_tick_duration_seconds_count", 1.0),
        (
            "auto_assign_socket_requests_total{op=\"command\",result=\"ok\"}",
            3.0,
        ),
        (
            "auto_assign_socket_request_duration_seconds_count{op=\"command\"}",
            3.0,
        ),
        (
            "auto_assign_http_requests_total{path=\"/api/heartbeats\",method=\"POST\",status=\"200\"}",
            1.0,
        ),
        ("auto_assign_http_requests_total{path=\"unmatched\"", 1.0),
    ] {
        assert!(figure(&later, line) >= at_least, "{line} in\n{later}");
    }
}

#[test]
fn with_a_token_only_health_and_metrics_are_open() {
    let sb = Sandbox::new();
    let port = free_port();
    let _d = Daemon::start_env(
        &sb,
        &[
            ("AUTO_ASSIGN_HTTP_BIND", &format!("127.0.0.1:{port}")),
            ("AUTO_ASSIGN_API_TOKEN", "s3cret"),
        ],
    );
    assert_eq!(request(port, "GET", "/health", &[]).0, 200);
    assert_eq!(request(port, "GET", "/metrics", &[]).0, 200);
    let (status, body) = request(port, "GET", "/api/assignments", &[]);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("unauthorized"), "{body}");
    let wrong = request(
        port,
        "GET",
        "/api/assignments",
        &["Authorization: Bearer nope"],
    );
    assert_eq!(wrong.0, 401);
    let bearer = request(
        port,
        "GET",
        "/api/assignments",
        &["Authorization: Bearer s3cret"],
    );
    assert_eq!(bearer.0, 200, "{}", bearer.1);
    // AssistX's Basic, the token as the password: "assistx:s3cret".
    let basic = request(
        port,
        "GET",
        "/api/assignments",
        &["Authorization: Basic YXNzaXN0eDpzM2NyZXQ="],
    );
    assert_eq!(basic.0, 200, "{}", basic.1);
}

#[test]
fn beyond_loopback_without_a_token_the_daemon_will_not_start() {
    let sb = Sandbox::new();
    let port = free_port().to_string();
    let out = sb.run_env(
        &["daemon"],
        &[
            ("AUTO_ASSIGN_HOST", "0.0.0.0"),
            ("AUTO_ASSIGN_PORT", &port),
            (
                "AUTO_ASSIGN_SOCKET_PATH",
                &sb.path("run/e.sock").display().to_string(),
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("AUTO_ASSIGN_API_TOKEN") && err.contains("0.0.0.0"),
        "{err}"
    );
    assert!(!sb.path("run/e.sock").exists(), "nothing left behind");
}

/// A worker on another machine lives over HTTP alone: heartbeat (the old
/// service's body too), ask for work, renew, report progress, complete;
/// each refusal has the status that says why and names the field.
#[test]
fn a_remote_worker_lives_over_http() {
    let sb = Sandbox::new();
    let (d, port) = serving(&sb, &[]);
    let beat = json!({"node_id": "far", "worker_id": "w1", "lanes": ["local_only"]});
    let (status, reply) = post(port, "/api/heartbeats", beat.clone());
    assert_eq!((status, &reply["accepted"]), (200, &json!(true)), "{reply}");
    assert_eq!(
        reply["cache_role"], "outbox_replay_buffer",
        "the old keys: {reply}"
    );
    // The old service's heartbeat: a node without a worker id, `online`,
    // services as objects, a metric that is not a number.
    let old = json!({"node_id": "gpu-box", "status": "online", "capabilities": ["gpu"],
        "services": [{"name": "ollama", "port": 11434}], "metrics": {"load": 0.5, "gpu": "rtx"}});
    let (status, reply) = post(port, "/api/heartbeats", old);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"]["worker_id"], "gpu-box", "{reply}");
    let mut c = d.connect();
    evaluate(&mut c, "T1");
    let (status, got) = post(
        port,
        "/api/next",
        json!({"node_id": "far", "worker_id": "w1"}),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["kind"], "assignment", "{got}");
    let id = got["data"]["assignment_id"].as_str().unwrap().to_string();
    assert_eq!(
        got["assignment_id"],
        json!(id),
        "the old keys at the top: {got}"
    );
    assert_eq!(got["worker_id"], "w1");
    assert!(
        got["event_id"]
            .as_str()
            .is_some_and(|e| e.starts_with("evt_")),
        "{got}"
    );
    assert!(got["lease_expires_at"].is_string(), "{got}");
    let mut renew = beat.clone();
    renew["assignment_id"] = json!(id);
    let (status, reply) = post(port, "/api/heartbeats", renew);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"]["started"][0], json!(id), "{reply}");
    let path = |op: &str| format!("/api/assignments/{id}/{op}");
    let (status, _) = post(
        port,
        &path("progress"),
        json!({"worker_id": "w1", "percent": 50}),
    );
    assert_eq!(status, 200);
    let (status, done) = post(port, &path("complete"), json!({"worker_id": "w1"}));
    assert_eq!(
        (status, &done["data"]["status"]),
        (200, &json!("done")),
        "{done}"
    );
    assert_eq!(done["status"], "done", "{done}");
    assert!(
        done["event_id"].is_string(),
        "the completion's event: {done}"
    );
    // Refusals: done is done (409), an unknown assignment (404), a field
    // of the wrong kind (422, named), a body that is not JSON (422).
    let (status, again) = post(port, &path("complete"), json!({"worker_id": "w1"}));
    assert_eq!(status, 409, "{again}");
    let (status, _) = post(
        port,
        "/api/assignments/nope/claim",
        json!({"worker_id": "w1"}),
    );
    assert_eq!(status, 404);
    let (status, bad) = post(
        port,
        "/api/heartbeats",
        json!({"node_id": "far", "worker_id": "w1", "max_concurrent": "many"}),
    );
    assert_eq!(
        (status, &bad["field"]),
        (422, &json!("max_concurrent")),
        "{bad}"
    );
    let (status, _) = send(port, "POST", "/api/heartbeats", &[], "{not json");
    assert_eq!(status, 422);
    let (status, none) = post(
        port,
        "/api/next",
        json!({"node_id": "far", "worker_id": "w1"}),
    );
    assert_eq!((status, &none["accepted"]), (200, &json!(false)), "{none}");
}

/// A body over 1 MiB is refused before it is read whole.
#[test]
fn a_body_over_a_mebibyte_is_refused() {
    let sb = Sandbox::new();
    let (_d, port) = serving(&sb, &[]);
    let big = format!("{{\"node_id\": \"{}\"}}", "x".repeat(1024 * 1024 + 1));
    let (status, _) = send(port, "POST", "/api/heartbeats", &[], &big);
    assert_eq!(status, 413);
}

/// AssistX's callback (contract A7): its loose `task.candidate.created`
/// with Basic auth is accepted and evaluated at once; the same key again
/// changes nothing; a subject object with no `payload.task_id` is
/// processed as skipped, `missing_task_id` (the old service answered 500).
#[test]
fn assistx_posts_its_loose_events() {
    let sb = Sandbox::new();
    let (d, port) = serving(&sb, &[("AUTO_ASSIGN_API_TOKEN", "s3cret")]);
    let basic = "Authorization: Basic YXNzaXN0eDpzM2NyZXQ=";
    let event = json!({
        "event_type": "task.candidate.created",
        "idempotency_key": "task.candidate.created:T9",
        "subject": {"kind": "task", "id": "T9"},
        "payload": {"task_id": "T9", "status": "READY", "priority": "interactive"},
        "links": [{"rel": "FOR_TASK", "target_type": "Task", "target_id": "T9"}]
    })
    .to_string();
    let (status, reply) = send(port, "POST", "/api/events", &[basic], &event);
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["accepted"], true, "{reply}");
    assert_eq!(reply["event_type"], "task.candidate.created");
    assert_eq!(reply["cache_role"], "received_event_mirror");
    assert_eq!(reply["data"]["processed"]["action"], "evaluated", "{reply}");
    let (status, _) = send(port, "POST", "/api/events", &[basic], &event);
    assert_eq!(status, 200);
    let snap = d.connect().ask(json!({"op": "snapshot"}));
    let tasks: Vec<&Value> = snap["result"]["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["task_id"])
        .collect();
    assert_eq!(tasks, [&json!("T9")], "decided once: {snap}");
    let loose = json!({"event_type": "task.candidate.created", "idempotency_key": "k-no-task",
        "subject": {"kind": "task"}, "payload": {}})
    .to_string();
    let (status, reply) = send(port, "POST", "/api/events", &[basic], &loose);
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["data"]["processed"]["action"], "skipped", "{reply}");
    assert_eq!(
        reply["data"]["processed"]["reason"], "missing_task_id",
        "{reply}"
    );
    let (status, _) = send(port, "POST", "/api/events", &[], &event);
    assert_eq!(status, 401, "the token is asked of AssistX too");
}

/// The old service's assignment reads, with the filters it ignored
/// working, and every bad filter refused naming it.
#[test]
fn assignments_are_read_with_working_filters() {
    let sb = Sandbox::new();
    let (d, port) = serving(&sb, &[]);
    let mut c = d.connect();
    let t1 = evaluate(&mut c, "T1");
    evaluate(&mut c, "T2");
    let get = |path: &str| {
        let (status, body) = request(port, "GET", path, &[]);
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        )
    };
    let count = |path: &str| get(path).1["assignments"].as_array().map(Vec::len);
    assert_eq!(count("/api/assignments"), Some(2));
    assert_eq!(count("/api/assignments?task_id=T1"), Some(1));
    assert_eq!(
        count("/api/assignments?status=recommended&lane=local_only"),
        Some(2)
    );
    assert_eq!(count("/api/assignments?status=running"), Some(0));
    assert_eq!(count("/api/assignments?limit=1"), Some(1));
    for (query, field) in [
        ("lane=moon", "lane"),
        ("status=lost", "status"),
        ("limit=0", "limit"),
    ] {
        let (status, body) = get(&format!("/api/assignments?{query}"));
        assert_eq!(
            (status, &body["field"]),
            (422, &json!(field)),
            "{query}: {body}"
        );
    }
    let (status, one) = get(&format!("/api/assignments/{t1}"));
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["assignment"]["task_id"], "T1");
    assert_eq!(one["source"], "sqlite_cache_mirror");
    let (status, none) = get("/api/assignments/assign_nope");
    assert_eq!(status, 404);
    assert_eq!(none["detail"], "assignment not found in local cache mirror");
}

/// A slow client (headers sent, its body never finished) is cut off at
/// `http_timeout_seconds` with 503; while it holds the only slot, another
/// request is refused at once (503, Retry-After) rather than queued; the
/// caller's correlation and trace ids come back on every answer.
#[test]
fn a_slow_client_and_a_flood_cannot_hold_the_door() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let sb = Sandbox::new();
    let (_d, port) = serving(
        &sb,
        &[
            ("AUTO_ASSIGN_HTTP_TIMEOUT_SECONDS", "1"),
            ("AUTO_ASSIGN_HTTP_MAX_CONCURRENT", "1"),
        ],
    );
    let (status, body) = request(
        port,
        "GET",
        "/health",
        &["X-Correlation-ID: c-42", "X-Trace-ID: t-7"],
    );
    assert_eq!(status, 200, "{body}");
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(
        b"POST /api/heartbeats HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nX-Correlation-ID: slow-1\r\n\r\n{\"node",
    )
    .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    let raw = raw_reply(
        port,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        raw.starts_with("HTTP/1.1 503"),
        "the only slot is held: {raw}"
    );
    assert!(raw.to_ascii_lowercase().contains("retry-after: 1"), "{raw}");
    let mut cut = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = slow.read(&mut buf).unwrap();
    cut.push_str(&String::from_utf8_lossy(&buf[..n]));
    assert!(cut.starts_with("HTTP/1.1 503"), "{cut}");
    assert!(
        cut.to_ascii_lowercase()
            .contains("x-correlation-id: slow-1"),
        "{cut}"
    );
    assert!(cut.contains("http_timeout_seconds"), "{cut}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "cut at the limit, not before: {waited:?}"
    );
    let raw = raw_reply(
        port,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Correlation-ID: c-42\r\nX-Trace-ID: t-7\r\n\r\n",
    );
    assert!(
        raw.starts_with("HTTP/1.1 200"),
        "the slot is free again: {raw}"
    );
    let lower = raw.to_ascii_lowercase();
    assert!(
        lower.contains("x-correlation-id: c-42") && lower.contains("x-trace-id: t-7"),
        "{raw}"
    );
}

/// A worker on another machine needs only the URL and the token: the
/// CLI's worker commands go over HTTP (`--url`, `AUTO_ASSIGN_URL`), with
/// the engine's own refusals; no local database or socket is touched.
#[test]
fn the_cli_works_as_a_remote_worker_with_url() {
    let sb = Sandbox::new();
    let (d, port) = serving(&sb, &[("AUTO_ASSIGN_API_TOKEN", "s3cret")]);
    evaluate(&mut d.connect(), "T1");
    let far = Sandbox::new();
    let url = format!("http://127.0.0.1:{port}");
    let env = [
        ("AUTO_ASSIGN_API_TOKEN", "s3cret"),
        ("AUTO_ASSIGN_URL", url.as_str()),
    ];
    let beat = [
        "heartbeat",
        "--node",
        "far",
        "--worker",
        "w1",
        "--lane",
        "local_only",
    ];
    common::ok(&far.run_env(&beat, &env));
    let taken =
        common::ok(&far.run_env(&["next", "--node", "far", "--worker", "w1", "--json"], &env));
    let taken: Value = serde_json::from_str(taken.trim()).unwrap();
    let id = taken["data"]["assignment_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{taken}"));
    let refused = far.run_env(&["complete", id, "--worker", "w2"], &env);
    assert!(!refused.status.success());
    assert!(
        common::stderr(&refused).contains("w2"),
        "{}",
        common::stderr(&refused)
    );
    common::ok(&far.run_env(
        &["--url", &url, "complete", id, "--worker", "w1"],
        &[("AUTO_ASSIGN_API_TOKEN", "s3cret")],
    ));
    let snap = d.connect().ask(json!({"op": "snapshot"}));
    assert!(snap.to_string().contains("\"done\""), "{snap}");
    assert!(!common::exists(&far.db()), "nothing local was opened");
    let no_token = far.run(&["--url", &url, "next", "--node", "far", "--worker", "w1"]);
    assert!(
        common::stderr(&no_token).contains("unauthorized"),
        "{}",
        common::stderr(&no_token)
    );
    let tick = far.run_env(&["tick"], &env);
    assert!(
        common::stderr(&tick).contains("--url"),
        "{}",
        common::stderr(&tick)
    );
    common::bad_input(
        &far.run(&[
            "--url",
            "homelab:8080",
            "next",
            "--node",
            "n",
            "--worker",
            "w",
        ]),
        "--url",
    );
}

/// Every metric the Grafana dashboard in `assets/` queries is one the
/// engine exports (`# TYPE` lines of a live scrape after some work).
#[test]
fn the_grafana_dashboard_queries_exported_metrics() {
    let sb = Sandbox::new();
    let (d, port) = serving(&sb, &[]);
    let mut c = d.connect();
    evaluate(&mut c, "T1");
    c.ask(json!({"op": "command", "command": "tick", "operator": "t"}));
    c.ask(json!({"op": "nonsense"}));
    post(
        port,
        "/api/heartbeats",
        json!({"node_id": "n", "worker_id": "w"}),
    );
    post(
        port,
        "/api/events",
        json!({"event_type": "x.y", "idempotency_key": "k"}),
    );
    let (_, scrape) = request(port, "GET", "/metrics", &[]);
    let families: Vec<&str> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let dashboard: Value =
        serde_json::from_str(include_str!("../assets/grafana-dashboard.json")).unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !word.starts_with("auto_assign_") {
                    continue;
                }
                queried += 1;
                let family = ["_bucket", "_total", "_count", "_sum"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s))
                    .unwrap_or(word);
                assert!(
                    families.contains(&family),
                    "{} queries {word}, which is not exported:\n{scrape}",
                    panel["title"]
                );
            }
        }
    }
    assert!(queried >= 19, "{queried}");
}
