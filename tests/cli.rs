//! The built binary, end to end, on a real SQLite file.

mod common;

use common::{Sandbox, bad_input, exists, json_lines, ok, stderr};
use serde_json::json;

const ROUTER: &str = r#"{"context": {"revision": "rev-1", "nodes": [{"id": "n1"}]}, "quota": {"mode": "normal"}, "circuits": {}, "agent_clis": {}, "ops_summary": {}}"#;

#[test]
fn evaluate_reproduces_contract_ids_keys_and_scores() {
    let sb = Sandbox::new();
    sb.write("t1.json", r#"{"task_id": "T1"}"#);
    sb.write("router.json", ROUTER);
    let out = ok(&sb.run(&[
        "evaluate",
        "--task",
        "t1.json",
        "--router",
        "router.json",
        "--json",
    ]));
    let d = &json_lines(&out)[0];
    assert_eq!(d["assignment_id"], "assign_7f4e620a70c33afa");
    assert_eq!(d["decision_id"], "decision_19cae20fb9019307");
    assert_eq!(
        d["idempotency_key"],
        "assign.assignment.decision:T1:ready:unknown"
    );
    assert_eq!(d["status"], "recommended");
    assert_eq!(d["selected_lane"], "local_only");
    assert_eq!(d["selected_target"], "local_only");
    assert_eq!(d["score"], 0.78);
    assert_eq!(d["context_revision"], "rev-1");
    assert_eq!(d["reasons"], json!(["router context revision used: rev-1"]));
    assert_eq!(d["skipped_lanes"], json!([]));
    assert_eq!(d["canonical_status"], serde_json::Value::Null);
    assert_eq!(d["cache_only"], true);
    assert_eq!(d["approval_required"], false);
    assert!(d["lease_expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(d["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(!exists(&sb.db()), "evaluate writes nothing");
}

#[test]
fn evaluate_an_assistx_backlog_body_one_line_per_task() {
    let sb = Sandbox::new();
    let body = json!({
        "tasks": [
            {"task_id": "a", "title": "A", "priority": "critical", "status": "READY", "privacy": "public", "local_only": false, "sensitive": false, "allow_cloud": true},
            {"task_id": "b", "status": "REVIEW"},
            {"task_id": "c", "status": "READY", "privacy": "private", "metadata": {}}
        ],
        "count": 3, "queue": "backlog", "dry_run": true, "read_only": true
    });
    sb.write("backlog.json", &body.to_string());
    sb.write("router.json", ROUTER);
    let out = ok(&sb.run(&[
        "evaluate",
        "--task",
        "backlog.json",
        "--router",
        "router.json",
        "--json",
    ]));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["idempotency_key"],
        "assign.assignment.decision:a:READY:unknown"
    );
    assert_eq!(lines[0]["score"], 0.83);
    assert_eq!(lines[1]["status"], "blocked");
    assert_eq!(
        lines[1]["skipped_lanes"][0]["reason_code"],
        "awaiting_review"
    );
    assert_eq!(lines[2]["selected_lane"], "local_only");
    assert_eq!(lines[2]["score"], 0.88);
}

#[test]
fn evaluate_reads_stdin_and_honours_lanes_canonical_status_and_env() {
    let sb = Sandbox::new();
    let out = sb.run_stdin(
        &[
            "evaluate",
            "--task",
            "-",
            "--lanes",
            "direct_worker",
            "--json",
        ],
        r#"{"id": "T2"}"#,
    );
    assert_eq!(
        json_lines(&ok(&out))[0]["skipped_lanes"][0]["reason_code"],
        "direct_workers_disabled"
    );
    let out = sb.run_env(
        &[
            "evaluate",
            "--task",
            "t.json",
            "--lanes",
            "direct_worker",
            "--json",
        ],
        &[
            ("AUTO_ASSIGN_DIRECT_WORKERS_ENABLED", "true"),
            ("AUTO_ASSIGN_LANE_BASE_SCORES", "direct_worker=0.9"),
        ],
    );
    bad_input(&out, "t.json");
    sb.write("t.json", r#"{"id": "T2"}"#);
    let out = sb.run_env(
        &[
            "evaluate",
            "--task",
            "t.json",
            "--lanes",
            "direct_worker",
            "--json",
        ],
        &[
            ("AUTO_ASSIGN_DIRECT_WORKERS_ENABLED", "true"),
            ("AUTO_ASSIGN_LANE_BASE_SCORES", "direct_worker=0.9"),
        ],
    );
    let d = &json_lines(&ok(&out))[0];
    assert_eq!(
        (d["selected_lane"].as_str(), d["score"].as_f64()),
        (Some("direct_worker"), Some(0.9))
    );
    let out = ok(&sb.run(&[
        "evaluate",
        "--task",
        "t.json",
        "--canonical-status",
        "DONE",
        "--json",
    ]));
    let d = &json_lines(&out)[0];
    assert_eq!(
        d["reasons"],
        json!(["AssistX/Neo4j reports terminal state: DONE"])
    );
    assert_eq!(
        d["idempotency_key"],
        "assign.assignment.decision:T2:ready:DONE"
    );
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_problem() {
    let sb = Sandbox::new();
    sb.write("t.json", r#"{"id": "T"}"#);
    sb.write("broken.json", "{\"id\": ");
    sb.write(
        "list.json",
        r#"[{"id": "ok"}, {"retry_count": -3, "id": "x"}]"#,
    );
    bad_input(
        &sb.run(&["evaluate", "--task", "broken.json"]),
        "broken.json",
    );
    bad_input(
        &sb.run(&["evaluate", "--task", "missing.json"]),
        "missing.json",
    );
    bad_input(
        &sb.run(&["evaluate", "--task", "t.json", "--lanes", "moon"]),
        "moon",
    );
    bad_input(&sb.run(&["evaluate", "--task", "list.json"]), "retry_count");
    bad_input(
        &sb.run_env(
            &["evaluate", "--task", "t.json"],
            &[("AUTO_ASSIGN_RETRY_PENALTY_MAX", "lots")],
        ),
        "AUTO_ASSIGN_RETRY_PENALTY_MAX",
    );
    bad_input(&sb.run(&["control", "sideways"]), "sideways");
    bad_input(&sb.run(&["approve", "assign_missing"]), "assign_missing");
    bad_input(&sb.run(&["outbox", "list", "--status", "sent"]), "sent");
    // A flag the view does not take is refused, not ignored.
    bad_input(
        &sb.run(&["outbox", "list", "5"]),
        "SEQ: only `outbox retry`",
    );
    bad_input(
        &sb.run(&["outbox", "retry", "5", "--dry-run"]),
        "--dry-run: only `outbox dispatch`",
    );
    bad_input(
        &sb.run(&["outbox", "summary", "--status", "pending"]),
        "--status: only `outbox list`",
    );
    bad_input(&sb.run(&["assignments", "--status", "stuck"]), "stuck");
    std::fs::create_dir_all(sb.path("config/auto-assign")).unwrap();
    sb.write(
        "config/auto-assign/config.toml",
        "tick_interval_seconds = \"often\"\n",
    );
    bad_input(&sb.run(&["status"]), "tick_interval_seconds in");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let sb = Sandbox::new();
    let notes = sb.write(
        "notes.sqlite3",
        "my precious notes, which are certainly not a SQLite database file",
    );
    let out = sb.run(&["--database", notes.to_str().unwrap(), "status"]);
    bad_input(&out, "notes.sqlite3");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "my precious notes, which are certainly not a SQLite database file"
    );
}

fn ids_by_status(sb: &Sandbox, status: &str) -> Vec<String> {
    let out = ok(&sb.run(&["assignments", "--status", status, "--json"]));
    json_lines(&out)
        .iter()
        .map(|a| a["assignment_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_lifecycle_through_the_cli_lands_in_the_audit() {
    let sb = Sandbox::new();
    sb.write(
        "backlog.json",
        r#"{"items": [{"id": "A", "risk_level": "critical"}, {"id": "B"}]}"#,
    );
    let out = ok(&sb.run(&["tick", "--task-file", "backlog.json", "--json"]));
    assert_eq!(
        json_lines(&out)[0]["data"]["counts"]["approval_required"],
        1
    );
    let gated = ids_by_status(&sb, "approval_required").remove(0);
    bad_input(&sb.run(&["claim", &gated, "--worker", "w1"]), "approval");
    ok(&sb.run(&[
        "approve",
        &gated,
        "--by",
        "scott",
        "--reason",
        "reviewed",
        "--expected-version",
        "1",
    ]));
    bad_input(
        &sb.run(&["approve", &gated, "--expected-version", "1"]),
        "stale version",
    );
    ok(&sb.run(&[
        "claim",
        &gated,
        "--worker",
        "w1",
        "--node",
        "n1",
        "--lease-seconds",
        "600",
    ]));
    ok(&sb.run(&["complete", &gated, "--worker", "w1", "--summary", "done"]));
    let other = ids_by_status(&sb, "recommended").remove(0);
    ok(&sb.run(&["claim", &other, "--worker", "w2"]));
    ok(&sb.run(&["release", &other, "--reason", "operator says", "--no-retry"]));
    assert_eq!(ids_by_status(&sb, "done"), vec![gated.clone()]);
    assert_eq!(ids_by_status(&sb, "released"), vec![other.clone()]);
    let audit = json_lines(&ok(&sb.run(&["audit", "--operators", "--json"])));
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("claim", "refused"),
            ("approve", "ok"),
            ("approve", "refused"),
            ("claim", "ok"),
            ("complete", "ok"),
            ("claim", "ok"),
            ("release", "ok")
        ]
    );
    let outbox = json_lines(&ok(&sb.run(&["outbox", "list", "--json"])));
    let types: Vec<&str> = outbox
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    for t in [
        "assign.assignment.approval_required",
        "assign.assignment.recommended",
        "assign.assignment.approved",
        "assignment.claimed",
        "assignment.completed",
        "assign.assignment.released",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    let summary = json_lines(&ok(&sb.run(&["outbox", "summary", "--json"])));
    assert_eq!(summary[0]["pending"], outbox.len());
}

#[test]
fn control_modes_through_the_cli() {
    let sb = Sandbox::new();
    let out = ok(&sb.run(&["control", "draining", "--reason", "reboot", "--json"]));
    assert_eq!(json_lines(&out)[0]["data"]["mode"], "draining");
    sb.write("b.json", r#"[{"id": "X"}]"#);
    let out = ok(&sb.run(&["tick", "--task-file", "b.json"]));
    assert!(out.contains("draining"), "{out}");
    let status = json_lines(&ok(&sb.run(&["status", "--json"])));
    assert_eq!(status[0]["control"]["mode"], "draining");
}

#[test]
fn events_ingest_accepts_assistx_loose_shapes_and_processes_once() {
    let sb = Sandbox::new();
    let loose = r#"{"event_type": "task.candidate.created", "idempotency_key": "ax-1", "subject": {"task_id": "T5"}, "links": {"task": "T5"}}"#;
    let out = ok(&sb.run_stdin(&["events", "ingest", "-", "--json"], loose));
    let reply = &json_lines(&out)[0]["data"];
    assert_eq!(reply["mirrored"], "new");
    assert_eq!(reply["processed"]["action"], "evaluated");
    let out = ok(&sb.run_stdin(&["events", "ingest", "-", "--json"], loose));
    assert_eq!(json_lines(&out)[0]["data"]["mirrored"], "duplicate");
    let out = ok(&sb.run(&[
        "events",
        "process",
        "--include-processed",
        "--dry-run",
        "--json",
    ]));
    assert_eq!(json_lines(&out)[0]["data"].as_array().unwrap().len(), 1);
    bad_input(
        &sb.run_stdin(&["events", "ingest", "-"], r#"{"event_type": "x"}"#),
        "idempotency_key",
    );
    assert_eq!(ids_by_status(&sb, "recommended").len(), 1);
}

#[test]
fn batch_answers_every_line_and_keeps_going_after_a_bad_one() {
    let sb = Sandbox::new();
    let input = [
        r#"{"op": "command", "command": "evaluate", "operator": "tester", "id": 1, "candidates": [{"id": "T1"}]}"#,
        "not json",
        r#"{"op": "teleport", "id": 3}"#,
        r#"{"op": "claim", "id": 4, "assignment_id": "assign_7f4e620a70c33afa", "worker_id": "w1"}"#,
        r#"{"op": "claim", "id": 5, "assignment_id": "assign_7f4e620a70c33afa", "worker_id": "w2"}"#,
    ]
    .join("\n");
    let lines = json_lines(&ok(&sb.run_stdin(&["batch"], &input)));
    assert_eq!(lines.len(), 5);
    let oks: Vec<bool> = lines.iter().map(|l| l["ok"].as_bool().unwrap()).collect();
    assert_eq!(oks, vec![true, false, false, true, false]);
    assert_eq!(lines[1]["error"]["code"], "bad_json");
    assert_eq!(lines[2]["error"]["code"], "unknown_op");
    assert_eq!(lines[4]["error"]["code"], "illegal_transition");
    assert_eq!(lines[3]["id"], 4);
}

#[test]
fn config_show_masks_secrets_and_names_sources() {
    let sb = Sandbox::new();
    let out = ok(&sb.run_env(
        &["config", "show", "--json"],
        &[("AUTO_ASSIGN_ASSISTX_AUTH_PASS", "hunter2")],
    ));
    let shown = &json_lines(&out)[0];
    assert_eq!(shown["assistx_auth_pass"]["value"], "********");
    assert_eq!(
        shown["assistx_auth_pass"]["source"],
        "env AUTO_ASSIGN_ASSISTX_AUTH_PASS"
    );
    assert_eq!(shown["tick_interval_seconds"]["source"], "default");
    assert!(!out.contains("hunter2"));
    let template = ok(&sb.run(&["config", "template"]));
    assert!(template.contains("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS"));
}

#[test]
fn deleting_the_database_while_stopped_is_safe() {
    let sb = Sandbox::new();
    sb.write("b.json", r#"[{"id": "T1"}]"#);
    ok(&sb.run(&["tick", "--task-file", "b.json"]));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sb.db().display()));
    }
    let out = ok(&sb.run(&["status", "--json"]));
    assert_eq!(json_lines(&out)[0]["status_counts"], json!({}));
    assert!(stderr(&sb.run(&["status"])).is_empty());
}

#[test]
fn the_control_room_checks_its_theme_and_keymap_before_taking_the_terminal() {
    let sb = Sandbox::new();
    bad_input(&sb.run(&["--theme", "neon-dreams"]), "neon-dreams");
    std::fs::create_dir_all(sb.path("config/auto-assign")).unwrap();
    sb.write(
        "config/auto-assign/config.toml",
        "[keymap]\nteleport = \"t\"\n",
    );
    bad_input(&sb.run(&[]), "teleport");
}

#[test]
fn worker_commands_name_their_bad_flags() {
    let sb = Sandbox::new();
    let heartbeat = |flag: &str, value: &str| {
        sb.run(&["heartbeat", "--node", "n1", "--worker", "w1", flag, value])
    };
    bad_input(&heartbeat("--status", "napping"), "napping");
    for every in ["0", "0.01", "nan", "1e30"] {
        bad_input(
            &heartbeat("--every", every),
            "--every: must be from 0.1 to 86400 seconds",
        );
    }
    bad_input(&heartbeat("--max-concurrent", "0"), "max_concurrent");
    sb.write("b.json", r#"[{"id": "T1"}]"#);
    ok(&sb.run(&["tick", "--task-file", "b.json"]));
    let id = ids_by_status(&sb, "recommended").remove(0);
    ok(&sb.run(&["claim", &id, "--worker", "w1"]));
    bad_input(
        &sb.run(&["progress", &id, "--worker", "w1", "--percent", "200"]),
        "percent",
    );
    bad_input(
        &sb.run(&["progress", &id, "--worker", "w2"]),
        "does not hold",
    );
    assert_eq!(ids_by_status(&sb, "claimed"), vec![id], "nothing changed");
}

#[test]
fn settings_out_of_range_or_not_utf8_are_refused_with_their_name() {
    use std::os::unix::ffi::OsStrExt;
    let sb = Sandbox::new();
    bad_input(
        &sb.run_env(
            &["config", "show"],
            &[(
                "AUTO_ASSIGN_TICK_INTERVAL_SECONDS",
                "99999999999999999999999",
            )],
        ),
        "AUTO_ASSIGN_TICK_INTERVAL_SECONDS",
    );
    bad_input(
        &sb.run_env(
            &["status"],
            &[("AUTO_ASSIGN_DEFAULT_LEASE_SECONDS", "9223372036854775807")],
        ),
        "AUTO_ASSIGN_DEFAULT_LEASE_SECONDS",
    );
    let out = sb
        .command()
        .env(
            "AUTO_ASSIGN_OPERATOR",
            std::ffi::OsStr::from_bytes(&[0x66, 0xff, 0x6f]),
        )
        .args(["config", "show"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    bad_input(&out, "AUTO_ASSIGN_OPERATOR");
}

/// `auto-assign assignments | head -1` and the like: a reader that goes
/// away ends the command quietly (status 141, as a shell reports SIGPIPE),
/// never with a backtrace.
#[test]
fn every_listing_ends_quietly_when_its_reader_goes_away() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let sb = Sandbox::new();
    let backlog: Vec<String> = (0..2000)
        .map(|i| format!(r#"{{"task_id": "T{i}", "title": "task {i}"}}"#))
        .collect();
    sb.write("b.json", &format!("[{}]", backlog.join(",")));
    ok(&sb.run(&["tick", "--task-file", "b.json"]));
    for args in [
        vec!["assignments", "--limit", "2000"],
        vec!["outbox", "--limit", "2000"],
        vec!["audit", "--limit", "2000"],
        vec!["tick", "--task-file", "b.json"],
        vec!["config", "show"],
    ] {
        let mut child = sb
            .command()
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone (its end of the pipe dropped with it).
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!first.is_empty(), "{args:?} printed nothing");
        assert!(
            matches!(out.status.code(), Some(0 | 141)),
            "{args:?}: {:?} {err}",
            out.status
        );
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

/// A task id or title holding terminal escapes is printed escaped, in every
/// table and every decision line: printed raw it would retitle or clear the
/// operator's terminal.
#[test]
fn text_from_outside_is_printed_terminal_safe() {
    let sb = Sandbox::new();
    sb.write(
        "b.json",
        r#"[{"task_id": "T1\u001b]0;owned\u0007", "title": "clear\u001b[2J"}]"#,
    );
    for out in [
        ok(&sb.run(&["tick", "--task-file", "b.json"])),
        ok(&sb.run(&["assignments"])),
        ok(&sb.run(&["outbox"])),
        ok(&sb.run(&["status"])),
    ] {
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    }
    assert!(ok(&sb.run(&["assignments"])).contains("T1\\x1b]0;owned\\x07"));
}

/// Flags are held to the wire's bounds whether or not a daemon runs: a
/// lease of 2^63-1 seconds panicked an engine started by the command itself.
#[test]
fn flags_out_of_range_are_refused_like_lines_from_outside() {
    let sb = Sandbox::new();
    sb.write("b.json", r#"[{"task_id": "T1"}]"#);
    ok(&sb.run(&["tick", "--task-file", "b.json"]));
    bad_input(
        &sb.run(&[
            "claim",
            "assign_7f4e620a70c33afa",
            "--worker",
            "w1",
            "--lease-seconds",
            "9223372036854775807",
        ]),
        "lease_seconds",
    );
    bad_input(
        &sb.run(&["heartbeat", "--node", "n1", "--worker", "w\u{1b}[2J"]),
        "worker_id",
    );
    bad_input(
        &sb.run(&[
            "approve",
            "assign_7f4e620a70c33afa",
            "--by",
            &"x".repeat(300),
        ]),
        "operator",
    );
}

/// A one-shot `tick` opens the engine, whose start expires the leases that
/// ran out while nothing ran: the tick reports them (it used to say 0).
#[test]
fn a_one_shot_tick_reports_the_leases_its_own_start_expired() {
    let sb = Sandbox::new();
    sb.write("b.json", r#"[{"task_id": "T1"}, {"task_id": "T2"}]"#);
    ok(&sb.run(&["tick", "--task-file", "b.json"]));
    for id in ids_by_status(&sb, "recommended") {
        ok(&sb.run(&["claim", &id, "--worker", "w1", "--lease-seconds", "1"]));
    }
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = ok(&sb.run(&["tick", "--json"]));
    let counts = &json_lines(&out)[0]["data"]["counts"];
    assert_eq!(counts["expired"], 2, "{out}");
    // Counted once: the next tick has nothing left to expire.
    let out = ok(&sb.run(&["tick", "--json"]));
    assert_eq!(json_lines(&out)[0]["data"]["counts"]["expired"], 0, "{out}");
    let status = json_lines(&ok(&sb.run(&["status", "--json"])))[0].clone();
    let runs = status["runs"].as_array().unwrap();
    assert!(
        runs.iter()
            .any(|r| r["counts"]["expired"] == 2 || r["expired"] == 2),
        "{runs:?}"
    );
}

/// The control room needs a terminal that can draw a screen: without one
/// it says what to use instead, and starts nothing.
#[test]
fn the_control_room_without_a_terminal_says_what_to_use_instead() {
    let sb = Sandbox::new();
    let out = sb.run(&[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = common::stderr(&out);
    assert!(
        err.contains("needs a terminal") && err.contains("auto-assign status"),
        "{err}"
    );
    assert!(!common::exists(&sb.db()), "nothing was started");
}

/// What needs Neo4j says so, naming the setting, when it is not configured.
#[test]
fn graph_commands_without_neo4j_name_the_setting() {
    let sb = Sandbox::new();
    for args in [&["cache", "rebuild"][..], &["outbox", "reconcile"][..]] {
        let out = sb.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = common::stderr(&out);
        assert!(err.contains("AUTO_ASSIGN_NEO4J_URI"), "{args:?}: {err}");
    }
    let out = sb.run_env(
        &["status"],
        &[("AUTO_ASSIGN_NEO4J_URI", "http://graph:7474")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("AUTO_ASSIGN_NEO4J_URI"));
}

/// `evaluate --workers FILE` names the worker its lane would run on and why
/// each other one was not chosen; without the flag the JSON is contract
/// A4's, unchanged; a bad worker is refused naming its item and field.
#[test]
fn evaluate_with_workers_names_the_worker_and_every_rejection() {
    let sb = Sandbox::new();
    sb.write(
        "t.json",
        r#"{"task_id": "T1", "required_capabilities": ["GPU"], "owner": "scott"}"#,
    );
    sb.write(
        "workers.json",
        r#"[
          {"node_id": "n1", "worker_id": "gpu-busy", "lanes": ["local_only"], "capabilities": ["gpu"], "max_concurrent": 2, "active_tasks": 1, "status": "busy"},
          {"node_id": "n1", "worker_id": "gpu-idle", "lanes": ["local_only"], "capabilities": ["Gpu"], "max_concurrent": 2},
          {"node_id": "n2", "worker_id": "cpu", "lanes": ["local_only"], "capabilities": ["python"]},
          {"node_id": "n2", "worker_id": "full", "lanes": ["local_only"], "capabilities": ["gpu"], "active_tasks": 1},
          {"node_id": "n3", "worker_id": "drained", "lanes": ["local_only"], "capabilities": ["gpu"], "drained": true}
        ]"#,
    );
    let out = ok(&sb.run(&[
        "evaluate",
        "--task",
        "t.json",
        "--workers",
        "workers.json",
        "--json",
    ]));
    let d = &json_lines(&out)[0];
    assert_eq!(d["selected_lane"], "local_only");
    assert_eq!(d["selected_worker"], "gpu-idle", "{d}");
    assert_eq!(d["selected_node"], "n1");
    assert!(d["worker_score"].as_f64().unwrap() > 0.0);
    let codes: Vec<(String, String)> = d["rejected_workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["worker_id"].as_str().unwrap().to_string(),
                r["reason_code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("gpu-busy", "lower_score"),
        ("cpu", "missing_capability"),
        ("full", "at_capacity"),
        ("drained", "worker_draining"),
    ];
    for (worker, code) in expect {
        assert!(
            codes.contains(&(worker.to_string(), code.to_string())),
            "{worker} {code} in {codes:?}"
        );
    }
    // Without workers, contract A4's fields only.
    let plain = &json_lines(&ok(&sb.run(&["evaluate", "--task", "t.json", "--json"])))[0];
    assert!(plain.get("selected_worker").is_none(), "{plain}");
    sb.write(
        "bad.json",
        r#"[{"node_id": "n1", "worker_id": "w", "max_concurrent": 0}]"#,
    );
    let out = sb.run(&["evaluate", "--task", "t.json", "--workers", "bad.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("item 0") && err.contains("max_concurrent"),
        "{err}"
    );
}

/// `drain` and `undrain` from the command line, against the cache: a
/// drained worker's claim exits 2 naming it; a typo is not found.
#[test]
fn drain_and_undrain_a_worker_from_the_cli() {
    let sb = Sandbox::new();
    ok(&sb.run(&["heartbeat", "--node", "n1", "--worker", "w1"]));
    sb.write("t.json", r#"{"task_id": "T1"}"#);
    ok(&sb.run(&["tick", "--task-file", "t.json"]));
    let id = ids_by_status(&sb, "recommended").remove(0);
    ok(&sb.run(&["drain", "n1/w1", "--reason", "kernel upgrade"]));
    let out = sb.run(&["claim", &id, "--worker", "w1", "--node", "n1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("n1/w1 is drained"),
        "{}",
        stderr(&out)
    );
    let out = sb.run(&["drain", "n1/w9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    ok(&sb.run(&["undrain", "n1/w1"]));
    ok(&sb.run(&["claim", &id, "--worker", "w1", "--node", "n1"]));
}
