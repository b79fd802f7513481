//! An old caller pointed at this program (issue 13): the old service's
//! paths, parameters, defaults and answer keys over real HTTP against a
//! real daemon, with the AssistX stand-in taking the write-back.

mod common;
mod standin;

use common::http::{get, post, send, serving};
use common::{Conn, Connect, Daemon, Sandbox, eventually};
use serde_json::{Value, json};
use standin::StandIn;
use std::time::Duration;

const TOKEN: &str = "s3cret";
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
const BEARER: &str = "Authorization: Bearer s3cret";

/// A daemon serving HTTP with the token and the `extra` settings.
fn daemon(sb: &Sandbox, extra: &[(&str, &str)]) -> (Daemon, u16) {
    let mut env = vec![("AUTO_ASSIGN_API_TOKEN", TOKEN)];
    env.extend_from_slice(extra);
    serving(sb, &env)
}

/// A POST with the token; the status and the body as JSON.
fn call(port: u16, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = send(port, "POST", path, &[BEARER], &body.to_string());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A GET with the token.
fn read(port: u16, path: &str) -> (u16, Value) {
    let (status, text) = send(port, "GET", path, &[BEARER], "");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn decide(c: &mut Conn, candidate: Value) -> Value {
    let reply = c.ask(
        json!({"op": "command", "command": "evaluate", "operator": "t",
        "candidates": [candidate]}),
    );
    assert_eq!(reply["ok"], true, "{reply}");
    reply["result"]["data"][0]["decision"].clone()
}

/// The homelab's cron script (expire-stale, events/process, scheduler
/// tick, outbox dispatch), each answering 200 with the old keys, after
/// AssistX posted its task; the decision reaches the AssistX stand-in.
#[test]
fn the_old_cron_sequence_runs_end_to_end() {
    let sb = Sandbox::new();
    let assistx = StandIn::start(Some(("assign", "pw")));
    let (_d, port) = daemon(
        &sb,
        &[
            ("AUTO_ASSIGN_ASSISTX_BASE_URL", assistx.url.as_str()),
            ("AUTO_ASSIGN_ASSISTX_AUTH_USER", "assign"),
            ("AUTO_ASSIGN_ASSISTX_AUTH_PASS", "pw"),
            ("AUTO_ASSIGN_DISPATCH_ENABLED", "true"),
        ],
    );
    let event = json!({"event_type": "task.candidate.created", "idempotency_key": "ax-T1",
        "subject": {"kind": "task", "id": "T1"}, "payload": {"task_id": "T1", "status": "READY"}});
    let (status, reply) = call(port, "/api/events", event);
    assert_eq!((status, &reply["accepted"]), (200, &json!(true)), "{reply}");

    let (status, expired) = call(port, "/api/assignments/expire-stale", json!({}));
    assert_eq!(status, 200, "{expired}");
    assert_eq!(expired["expired_count"], 0, "{expired}");
    assert_eq!(expired["events_emitted"], 0, "{expired}");

    let (status, processed) = call(port, "/api/events/process?dry_run=false", json!({}));
    assert_eq!(status, 200, "{processed}");
    // Processed when it arrived: nothing is left to process.
    assert_eq!(processed["processed"], 0, "{processed}");
    assert_eq!(processed["dry_run"], false);
    assert_eq!(processed["source"], "sqlite_inbound_event_cache");

    let (status, tick) = call(port, "/api/scheduler/tick", json!({"dry_run": false}));
    assert_eq!(status, 200, "{tick}");
    assert!(
        tick["scheduler_run_id"]
            .as_str()
            .unwrap()
            .starts_with("tick_"),
        "{tick}"
    );
    for key in [
        "evaluated",
        "recommended",
        "approval_required",
        "skipped",
        "released_expired",
        "decisions",
    ] {
        assert!(tick.get(key).is_some(), "{key} missing: {tick}");
    }
    assert_eq!(
        tick["evaluated"], 1,
        "the cached backlog is decided again: {tick}"
    );

    let (status, runs) = read(port, "/api/scheduler/runs?limit=5");
    assert_eq!(status, 200);
    assert_eq!(
        runs["runs"][0]["scheduler_run_id"], tick["scheduler_run_id"],
        "{runs}"
    );

    let (status, dispatched) = call(port, "/api/outbox/dispatch?dry_run=false", json!({}));
    assert_eq!(status, 200, "{dispatched}");
    assert_eq!(dispatched["dry_run"], false);
    assert_eq!(dispatched["dispatcher_woken"], true, "{dispatched}");
    let key = "assign.assignment.decision:T1:READY";
    eventually("AssistX takes the decision", WAIT, POLL, || {
        assistx
            .accepted()
            .iter()
            .any(|k| k.starts_with(key))
            .then_some(())
    });
    eventually("the summary shows the delivery", WAIT, POLL, || {
        let (_, s) = read(port, "/api/outbox/summary");
        (s["summary"]["delivered"].as_u64() >= Some(1)).then_some(s)
    });
}

/// Approve and release keep the old default `dry_run: true` (nothing
/// changes), and really change state when asked; control, evaluate and
/// tick keep their old bodies; each mistake is refused naming the field.
#[test]
fn operator_endpoints_keep_the_old_bodies_and_defaults() {
    let sb = Sandbox::new();
    let (d, port) = daemon(&sb, &[]);
    let mut c = d.connect();
    let gated = decide(&mut c, json!({"task_id": "R1", "risk_level": "high"}));
    assert_eq!(gated["status"], "approval_required", "{gated}");
    let id = gated["assignment_id"].as_str().unwrap();
    let status_of =
        |id: &str| read(port, &format!("/api/assignments/{id}")).1["assignment"]["status"].clone();

    let (status, tried) = call(port, &format!("/api/assignments/{id}/approve"), json!({}));
    assert_eq!(status, 200, "{tried}");
    assert_eq!(
        (&tried["accepted"], &tried["dry_run"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        tried["assignment"]["status"], "approved",
        "what it would be: {tried}"
    );
    assert_eq!(
        status_of(id),
        "approval_required",
        "a dry run changes nothing"
    );

    let (status, approved) = call(
        port,
        &format!("/api/assignments/{id}/approve"),
        json!({"dry_run": false, "approved_by": "scott", "expires_in_seconds": 600}),
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["cache_role"], "outbox_replay_buffer");
    assert!(
        approved["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("assign.assignment.approved"),
        "{approved}"
    );
    assert_eq!(status_of(id), "approved");

    let (status, refused) = call(
        port,
        &format!("/api/assignments/{id}/approve"),
        json!({"expires_in_seconds": 0}),
    );
    assert_eq!(
        (status, &refused["field"]),
        (422, &json!("expires_in_seconds")),
        "{refused}"
    );
    let (status, refused) = call(
        port,
        &format!("/api/assignments/{id}/release"),
        json!({"retryable": "maybe"}),
    );
    assert_eq!(
        (status, &refused["field"]),
        (422, &json!("retryable")),
        "{refused}"
    );
    let (status, missing) = call(port, "/api/assignments/assign_nope/approve", json!({}));
    assert_eq!(status, 404, "{missing}");
    assert_eq!(
        missing["detail"]["reason"],
        "assignment_not_found_in_local_cache"
    );

    let (status, _) = call(port, &format!("/api/assignments/{id}/release"), json!({}));
    assert_eq!(status, 200);
    assert_eq!(status_of(id), "approved", "a dry run changes nothing");
    let (status, released) = call(
        port,
        &format!("/api/assignments/{id}/release"),
        json!({"dry_run": false, "retryable": false}),
    );
    assert_eq!(status, 200, "{released}");
    assert_eq!(status_of(id), "released");
    let (status, again) = call(
        port,
        &format!("/api/assignments/{id}/approve"),
        json!({"dry_run": false}),
    );
    assert_eq!(status, 409, "an illegal transition: {again}");

    // Evaluate: a dry run stores nothing; a real one does.
    let (status, tried) = call(port, "/api/assignments/evaluate", json!({"task_id": "E1"}));
    assert_eq!(status, 200, "{tried}");
    assert_eq!(
        (&tried["task_id"], &tried["dry_run"]),
        (&json!("E1"), &json!(true)),
        "{tried}"
    );
    assert_eq!(
        read(port, "/api/assignments?task_id=E1").1["assignments"],
        json!([])
    );
    let (status, done) = call(
        port,
        "/api/assignments/evaluate",
        json!({"task_id": "E1", "dry_run": false, "candidate_lanes": ["local_only"]}),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["selected_lane"], "local_only", "{done}");
    assert_eq!(
        read(port, "/api/assignments?task_id=E1").1["assignments"][0]["task_id"],
        "E1"
    );
    // The old service's claim body (extra keys are read past); a
    // correlation id that is not a UUID is refused naming it.
    let (status, bad) = call(
        port,
        &format!(
            "/api/assignments/{}/claim",
            done["assignment_id"].as_str().unwrap()
        ),
        json!({"worker_id": "w1", "node_id": "n1", "task_id": "E1", "route_id": "r1",
            "capabilities": ["gpu"], "metadata": {"x": 1}, "correlation_id": "c1"}),
    );
    assert_eq!(
        (status, &bad["field"]),
        (422, &json!("correlation_id")),
        "{bad}"
    );
    let (status, bad) = call(port, "/api/assignments/evaluate", json!({"task_id": " "}));
    assert_eq!((status, &bad["field"]), (422, &json!("task_id")), "{bad}");
    let (status, bad) = call(port, "/api/scheduler/tick", json!({"task_ids": ["T1", ""]}));
    assert_eq!((status, &bad["field"]), (422, &json!("task_ids")), "{bad}");
    let (status, bad) = call(port, "/api/assignments/evaluate", json!({"dry_run": false}));
    assert_eq!((status, &bad["field"]), (422, &json!("task_id")), "{bad}");
    let (status, bad) = call(
        port,
        "/api/assignments/evaluate",
        json!({"task_id": "E2", "candidate_lanes": ["moon"]}),
    );
    assert_eq!(
        (status, &bad["field"]),
        (422, &json!("candidate_lanes")),
        "{bad}"
    );

    // Control: a change always takes effect (as in the old service), and a
    // paused engine's tick says why it decided nothing.
    let (status, control) = read(port, "/api/assignment-control");
    assert_eq!(status, 200);
    assert_eq!(
        (&control["mode"], &control["new_assignments_allowed"]),
        (&json!("enabled"), &json!(true))
    );
    let (status, paused) = call(
        port,
        "/api/assignment-control",
        json!({"mode": "paused", "reason": "upgrade"}),
    );
    assert_eq!(status, 200, "{paused}");
    assert_eq!(
        (
            &paused["mode"],
            &paused["dry_run"],
            &paused["scheduler_ticks_allowed"]
        ),
        (&json!("paused"), &json!(true), &json!(false)),
        "{paused}"
    );
    assert!(
        paused["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("assign.control.changed"),
        "{paused}"
    );
    assert_eq!(read(port, "/api/assignment-control").1["mode"], "paused");
    let (status, tick) = call(port, "/api/scheduler/tick", json!({"task_ids": ["T5"]}));
    assert_eq!(status, 200, "{tick}");
    assert!(tick["note"].as_str().unwrap().contains("paused"), "{tick}");
    let (status, bad) = call(port, "/api/assignment-control", json!({"mode": "asleep"}));
    assert_eq!((status, &bad["field"]), (422, &json!("mode")), "{bad}");
    let (status, bad) = call(port, "/api/scheduler/tick", json!({"limit": 0}));
    assert_eq!((status, &bad["field"]), (422, &json!("limit")), "{bad}");
    let (status, _) = post(port, "/api/assignment-control", json!({"mode": "enabled"}));
    assert_eq!(status, 401, "the token is asked");

    // A worker's release goes by the same path, told apart by its worker_id.
    call(port, "/api/assignment-control", json!({"mode": "enabled"}));
    decide(&mut c, json!({"task_id": "W1"}));
    let beat = json!({"node_id": "n9", "worker_id": "w9", "lanes": ["local_only"]});
    assert_eq!(call(port, "/api/heartbeats", beat.clone()).0, 200);
    let (status, taken) = call(port, "/api/next", beat);
    assert_eq!(status, 200, "{taken}");
    let taken = taken["data"]["assignment_id"].as_str().unwrap().to_string();
    let path = format!("/api/assignments/{taken}/release");
    let (status, wrong) = call(port, &path, json!({"worker_id": "w8"}));
    assert_eq!(status, 409, "not its lease: {wrong}");
    let (status, given) = call(port, &path, json!({"worker_id": "w9", "reason": "too big"}));
    assert_eq!(
        (status, &given["kind"]),
        (200, &json!("assignment")),
        "{given}"
    );
    assert_ne!(status_of(&taken), "claimed", "{given}");
}

/// The old service's lists and summaries, in its keys, their filters and
/// limits checked.
#[test]
fn the_old_reads_answer_in_their_shapes() {
    let sb = Sandbox::new();
    let (d, port) = daemon(&sb, &[]);
    let mut c = d.connect();
    decide(&mut c, json!({"task_id": "R1", "risk_level": "high"}));
    for (key, kind) in [
        ("ax-1", "task.candidate.created"),
        ("ax-2", "router.nodes.snapshot"),
    ] {
        let event = json!({"event_type": kind, "idempotency_key": key, "subject": "T7",
            "payload": {"task_id": "T7"}});
        assert_eq!(call(port, "/api/events", event).0, 200);
    }
    let (status, events) = read(port, "/api/events");
    assert_eq!(status, 200);
    assert_eq!(events["source"], "sqlite_inbound_event_cache");
    assert_eq!(
        events["events"][0]["idempotency_key"], "ax-2",
        "newest first: {events}"
    );
    assert_eq!(
        events["events"][1]["payload"]["payload"]["task_id"], "T7",
        "{events}"
    );
    let (_, only) = read(port, "/api/events?event_type=task.candidate.created");
    assert_eq!(only["events"].as_array().unwrap().len(), 1, "{only}");
    let (status, processing) = read(port, "/api/events/processing?limit=1");
    assert_eq!(status, 200);
    assert_eq!(
        processing["processing"].as_array().unwrap().len(),
        1,
        "{processing}"
    );
    assert!(
        processing["processing"][0]["status"].is_string(),
        "{processing}"
    );

    let beat = json!({"node_id": "n1", "worker_id": "w1"});
    assert_eq!(call(port, "/api/heartbeats", beat).0, 200);
    let (status, beats) = read(port, "/api/heartbeats");
    assert_eq!(status, 200);
    assert_eq!(
        (
            &beats["heartbeats"][0]["node_id"],
            &beats["heartbeats"][0]["worker_id"]
        ),
        (&json!("n1"), &json!("w1")),
        "{beats}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let (status, stale) = read(port, "/api/heartbeats/stale?stale_after_seconds=1");
    assert_eq!(status, 200, "{stale}");
    assert_eq!(
        (&stale["count"], &stale["stale_after_seconds"]),
        (&json!(1), &json!(1)),
        "{stale}"
    );
    let (_, fresh) = read(port, "/api/heartbeats/stale");
    assert_eq!(fresh["count"], 0, "the engine's own threshold: {fresh}");

    let (status, outbox) = read(port, "/api/outbox/events?status=pending&limit=2");
    assert_eq!(status, 200);
    let rows = outbox["events"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{outbox}");
    assert!(
        rows[0]["seq"].as_i64() > rows[1]["seq"].as_i64(),
        "newest first: {outbox}"
    );
    assert!(
        rows[0]["payload"]["idempotency_key"].is_string(),
        "{outbox}"
    );
    let (status, summary) = read(port, "/api/outbox/summary");
    assert_eq!(status, 200);
    assert_eq!(summary["cache_role"], "outbox_replay_buffer");
    assert!(
        summary["summary"]["pending"].as_u64() >= Some(2),
        "{summary}"
    );
    let (status, tried) = call(port, "/api/outbox/dispatch", json!({}));
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["dry_run"], true);
    assert!(
        !tried["dry_run_events"].as_array().unwrap().is_empty(),
        "{tried}"
    );
    let (status, off) = call(port, "/api/outbox/dispatch", json!({"dry_run": false}));
    assert_eq!(status, 200, "{off}");
    assert!(
        off["note"].as_str().unwrap().contains("DISPATCH_ENABLED"),
        "{off}"
    );
    let (status, off) = call(port, "/api/outbox/reconcile", json!({}));
    assert_eq!(status, 200, "{off}");
    assert!(off["note"].as_str().unwrap().contains("NEO4J"), "{off}");

    let (status, ops) = read(port, "/api/ops/summary");
    assert_eq!(status, 200);
    assert_eq!(ops["cache_role"], "cache_outbox_only");
    assert_eq!(
        ops["assignments_by_status"]["approval_required"], 1,
        "{ops}"
    );
    assert_eq!(ops["inbound_by_type"]["router.nodes.snapshot"], 1, "{ops}");
    assert_eq!(ops["control"]["mode"], "enabled");
    let (status, summary) = read(port, "/api/assignments/summary?limit=5");
    assert_eq!(status, 200);
    let actions: Vec<&str> = summary["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for expected in ["review_required_approvals", "dispatch_or_reconcile_outbox"] {
        assert!(actions.contains(&expected), "{expected} missing: {summary}");
    }
    assert_eq!(summary["safety"]["cache_is_canonical"], false);

    for (path, field) in [
        ("/api/events?limit=501", "limit"),
        (
            "/api/heartbeats/stale?stale_after_seconds=0",
            "stale_after_seconds",
        ),
        ("/api/outbox/events?status=lost", "status"),
        ("/api/assignments/summary?limit=101", "limit"),
        ("/api/scheduler/runs?limit=x", "limit"),
    ] {
        let (status, body) = read(port, path);
        assert_eq!(
            (status, &body["field"]),
            (422, &json!(field)),
            "{path}: {body}"
        );
    }
    let (status, body) = call(port, "/api/events/process?dry_run=perhaps", json!({}));
    assert_eq!((status, &body["field"]), (422, &json!("dry_run")), "{body}");
    let (status, _) = get(port, "/api/ops/summary");
    assert_eq!(status, 401, "the token is asked");
}

/// `/openapi.json` is the document in `assets/`, and every path and
/// method it lists is served (none falls through to "no such path").
#[test]
fn the_openapi_document_lists_what_is_served() {
    let sb = Sandbox::new();
    let (_d, port) = daemon(&sb, &[]);
    let (status, served) = read(port, "/openapi.json");
    assert_eq!(status, 200);
    let file: Value =
        serde_json::from_str(include_str!("../assets/openapi.json")).expect("valid JSON");
    assert_eq!(served, file);
    let paths = file["paths"].as_object().unwrap();
    assert!(paths.len() >= 28, "{}", paths.len());
    for (path, methods) in paths {
        let path = path.replace("{id}", "assign_nope");
        for method in methods.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let (status, body) = send(port, &method, &path, &[BEARER], "{}");
            assert!(
                status != 405 && !body.contains("no such path"),
                "{method} {path}: {status} {body}"
            );
        }
    }
}
