//! Hardening (issue 9) against the real daemon: numbers, names and keys
//! from outside, private files, a bounded WAL, one engine per database,
//! a database that vanishes.

mod common;

use common::{
    Connect, Daemon, Sandbox, evaluate, eventually, resident_kib, stderr, thread_policies,
};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Numbers and names from a client are bounded before they reach the
/// engine: a lease of 2^63-1 seconds once panicked the engine for good.
#[test]
fn out_of_range_numbers_and_names_are_refused_and_the_engine_carries_on() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = d.connect();
    let id = evaluate(&mut c, "T1");
    for lease in [
        json!(9_223_372_036_854_775_807u64),
        json!(260_000_000_000u64),
        json!(604_801),
        json!(0),
    ] {
        let reply = c.ask(
            json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "lease_seconds": lease}),
        );
        assert_eq!(reply["error"]["code"], "bad_field", "{reply}");
        assert_eq!(reply["error"]["field"], "lease_seconds", "{reply}");
    }
    let long = "w".repeat(257);
    for (field, value) in [
        ("worker_id", long.as_str()),
        ("worker_id", "w\u{1b}[2J"),
        ("node_id", "n\u{7}"),
    ] {
        let mut hb = json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1"});
        hb[field] = json!(value);
        let reply = c.ask(hb);
        assert_eq!(reply["error"]["field"], field, "{reply}");
    }
    // The engine is alive and well: a week-long lease, a heartbeat, a snapshot.
    let claim = c.ask(json!({"op": "claim", "assignment_id": id, "worker_id": "w1", "node_id": "n1", "lease_seconds": 604_800}));
    assert_eq!(claim["result"]["data"]["status"], "claimed", "{claim}");
    let hb = c.ask(json!({"op": "heartbeat", "node_id": "n1", "worker_id": "w1"}));
    assert_eq!(hb["ok"], true, "{hb}");
    let snap = c.ask(json!({"op": "snapshot"}));
    assert_eq!(snap["result"]["workers"][0]["worker_id"], "w1");
}

/// The cache, its WAL and shared memory, and the log are private to the
/// user whatever the umask: another user could read task titles in them.
#[test]
fn the_database_its_wal_and_the_log_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let d = Daemon::start_env(
        &sb,
        &[(
            "AUTO_ASSIGN_LOG_FILE",
            sb.path("logs/engine.log").to_str().unwrap(),
        )],
    );
    evaluate(&mut d.connect(), "T1");
    let mode = |name: &str| {
        let path = sb.path(name);
        std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for file in [
        "cache.sqlite3",
        "cache.sqlite3-wal",
        "cache.sqlite3-shm",
        "logs/engine.log",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    assert_eq!(mode("logs"), 0o700);
}

/// The write-ahead log stays bounded under a heartbeat burst, is truncated
/// once the engine is idle, and at a clean stop (it used to grow without
/// bound and was never truncated).
#[test]
fn the_wal_is_bounded_under_load_and_truncated_when_idle_and_at_stop() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let wal = sb.path("cache.sqlite3-wal");
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let burst: Vec<_> = (0..4)
        .map(|client| {
            let socket = d.socket.clone();
            std::thread::spawn(move || {
                let stream = UnixStream::connect(&socket).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                // Written by a thread of its own: the engine stops reading a
                // connection whose replies are not read (backpressure).
                let sending = std::thread::spawn(move || {
                    let mut lines = String::new();
                    for i in 0..5_000 {
                        lines.push_str(&format!(
                            "{{\"op\":\"heartbeat\",\"node_id\":\"n{client}\",\"worker_id\":\"w{}\",\"status\":\"busy\"}}\n",
                            i % 500
                        ));
                    }
                    writer.write_all(lines.as_bytes()).unwrap();
                });
                let mut line = String::new();
                for _ in 0..5_000 {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                }
                sending.join().unwrap();
            })
        })
        .collect();
    let mut largest = 0;
    while !burst.iter().all(|t| t.is_finished()) {
        largest = largest.max(size());
        std::thread::sleep(Duration::from_millis(20));
    }
    for t in burst {
        t.join().unwrap();
    }
    assert!(largest > 0, "the burst wrote to the WAL");
    assert!(largest <= 64 << 20, "the WAL reached {largest} bytes");
    eventually(
        "the WAL truncated while idle",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || (size() == 0).then_some(()),
    );
    evaluate(&mut d.connect(), "T1");
    assert!(size() > 0);
    let (code, _) = d.terminate();
    assert_eq!(code, Some(0));
    assert_eq!(size(), 0, "the WAL is empty after a clean stop");
}

/// A key given twice is refused naming it: which of the two would count
/// depends on the reader, so neither does.
#[test]
fn a_key_given_twice_is_refused_over_the_socket() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = d.connect();
    c.send_raw(b"{\"op\":\"heartbeat\",\"node_id\":\"n1\",\"worker_id\":\"a\",\"worker_id\":\"b\",\"id\":7}\n");
    let reply = c.read();
    assert_eq!(reply["error"]["code"], "bad_request", "{reply}");
    assert_eq!(reply["error"]["field"], "worker_id", "{reply}");
    let snap = c.ask(json!({"op": "snapshot"}));
    assert_eq!(snap["result"]["workers"], json!([]), "nothing was recorded");
    assert_eq!(snap["result"]["rejected_lines"]["bad_request"], 1);
}

/// One database, one engine: a second daemon on the same database, even
/// with a socket of its own, is refused naming the first one's pid.
#[test]
fn a_second_daemon_on_the_same_database_is_refused_naming_the_first() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let other_socket = sb.path("run/other.sock");
    let out = sb.run_env(
        &["daemon"],
        &[("AUTO_ASSIGN_SOCKET_PATH", other_socket.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("another engine") && err.contains(&format!("pid {}", d.child.id())),
        "{err}"
    );
    assert!(!other_socket.exists(), "the refused daemon left no socket");
    // The first one is untouched.
    assert_eq!(d.connect().ask(json!({"op": "hello"}))["ok"], true);
}

/// The database deleted under a running engine (its folder removed): the
/// next write is refused, not acknowledged into a file nobody will open
/// again, and the daemon exits non-zero so it is restarted on a fresh cache.
#[test]
fn a_deleted_database_is_noticed_before_a_write_is_acknowledged() {
    let sb = Sandbox::new();
    let db = sb.path("data/cache.sqlite3");
    let d = Daemon::start_env(&sb, &[("AUTO_ASSIGN_DATABASE_URL", db.to_str().unwrap())]);
    let mut c = d.connect();
    let id = evaluate(&mut c, "T1");
    std::fs::remove_dir_all(sb.path("data")).unwrap();
    let claim = c.ask(json!({"op": "claim", "assignment_id": id, "worker_id": "w1"}));
    assert_eq!(claim["ok"], false, "{claim}");
    assert!(
        claim["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database is gone"),
        "{claim}"
    );
    let mut d = d;
    let status = eventually(
        "the daemon's exit",
        Duration::from_secs(15),
        Duration::from_millis(50),
        || d.child.try_wait().unwrap(),
    );
    assert_eq!(status.code(), Some(1));
    let mut log = String::new();
    use std::io::Read;
    d.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("cache.sqlite3 is gone"), "{log}");
}

/// A command for one database never lands in the database of a daemon
/// that serves another: it is refused, naming both, and creates nothing.
#[test]
fn a_command_for_another_database_than_the_daemons_is_refused() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let elsewhere = sb.path("other.sqlite3");
    sb.write("t.json", r#"[{"task_id": "T1"}]"#);
    let env = [
        ("AUTO_ASSIGN_SOCKET_PATH", d.socket.to_str().unwrap()),
        ("AUTO_ASSIGN_DATABASE_URL", elsewhere.to_str().unwrap()),
    ];
    for args in [
        vec!["tick", "--task-file", "t.json"],
        vec!["status"],
        vec!["heartbeat", "--node", "n1", "--worker", "w1"],
    ] {
        let out = sb.run_env(&args, &env);
        common::bad_input(&out, "other.sqlite3");
        assert!(stderr(&out).contains("cache.sqlite3"), "{}", stderr(&out));
    }
    assert!(
        !elsewhere.exists(),
        "nothing was created for the other database"
    );
    let hello = d.connect().ask(json!({"op": "hello"}));
    let served = std::fs::canonicalize(sb.db()).unwrap();
    assert_eq!(hello["result"]["database"], served.display().to_string());
}

/// Clients that ask for snapshot after snapshot without reading a reply do
/// not grow the daemon: every request answered by one build shares it (each
/// reply was a copy, and four such clients drove a daemon to 10 GB).
#[test]
fn a_flood_of_unread_snapshot_requests_keeps_memory_bounded() {
    let sb = Sandbox::new();
    let d = Daemon::start(&sb);
    let mut c = d.connect();
    for chunk in 0..10 {
        let candidates: Vec<_> = (0..100)
            .map(|i| json!({"task_id": format!("T{chunk}-{i}"), "title": "x".repeat(200)}))
            .collect();
        let reply = c.ask(json!({"op": "command", "command": "evaluate", "operator": "t", "candidates": candidates}));
        assert_eq!(reply["ok"], true);
    }
    let rss = || resident_kib(d.child.id()) / 1024;
    let clients: Vec<UnixStream> = (0..4)
        .map(|_| {
            let stream = UnixStream::connect(&d.socket).unwrap();
            let mut writer = stream.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = writer.write_all("{\"op\":\"snapshot\"}\n".repeat(256).as_bytes());
            });
            stream
        })
        .collect();
    // Long enough for the engine to answer what it can into full sockets.
    std::thread::sleep(Duration::from_secs(3));
    let flooded = rss();
    assert!(flooded <= 256, "the daemon grew to {flooded} MiB");
    for stream in clients {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        for _ in 0..256 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            assert!(
                line.starts_with("{\"id\":null,\"ok\":true,\"op\":\"snapshot\""),
                "{}",
                &line[..line.len().min(200)]
            );
        }
    }
    assert_eq!(c.ask(json!({"op": "hello"}))["ok"], true);
}

/// With few files to spare, connections past the limit are told why and
/// closed, the engine does not spin, and it serves again once they leave.
#[test]
fn connections_past_the_file_limit_are_refused_clearly() {
    let sb = Sandbox::new();
    let socket = sb.path("run/engine.sock");
    let mut cmd = sb.command();
    cmd.env("AUTO_ASSIGN_SOCKET_PATH", &socket)
        .args([
            "-c",
            &format!(
                "ulimit -n 64 && exec {} daemon",
                env!("CARGO_BIN_EXE_auto-assign")
            ),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut shell = std::process::Command::new("sh");
    shell.args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    shell
        .current_dir(sb.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = shell.spawn().unwrap();
    eventually(
        "the daemon's start",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || UnixStream::connect(&socket).ok(),
    );
    // 64 files, 32 kept by the engine: 32 clients at most.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..40 {
        let stream = UnixStream::connect(&socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => {
                assert!(line.contains("too_many_connections"), "{line}");
                refused += 1;
            }
            _ => held.push(stream),
        }
    }
    assert!(refused >= 8, "{refused} refused, {} held", held.len());
    let cpu = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(1));
    let ticks = cpu() - before;
    assert!(
        ticks < 50,
        "the engine used {ticks} ticks of CPU in a second while full"
    );
    drop(held);
    let served = eventually(
        "a connection served again",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let stream = UnixStream::connect(&socket).ok()?;
            let mut writer = stream.try_clone().ok()?;
            writer.write_all(b"{\"op\":\"hello\"}\n").ok()?;
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line).ok()?;
            line.contains("\"ok\":true").then_some(line)
        },
    );
    assert!(served.contains("protocol"));
    let _ = child.kill();
    let _ = child.wait();
}

/// A socket folder others may write to (a shared 1777 one) is refused and
/// left as it was; it used to be chmod-ed to 0700 and never restored.
#[test]
fn a_socket_folder_others_can_write_is_refused_and_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let shared = sb.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = sb.run_env(
        &["daemon"],
        &[(
            "AUTO_ASSIGN_SOCKET_PATH",
            shared.join("e.sock").to_str().unwrap(),
        )],
    );
    common::bad_input(&out, "other users can write to the folder");
    let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o1777, "the folder was left as it was");
}

/// Running as root (as CI does): a socket folder owned by another user is
/// refused, and so is a socket another user planted, which the CLI would
/// otherwise have trusted (an impostor once answered "control mode: paused"
/// while the real engine stayed enabled).
#[test]
fn sockets_and_folders_of_another_user_are_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: changing a file's owner needs root (CI runs as root)");
        return;
    }
    let nobody = rustix::process::Uid::from_raw(65534);
    let sb = Sandbox::new();
    let theirs = sb.path("theirs");
    std::fs::create_dir(&theirs).unwrap();
    rustix::fs::chown(&theirs, Some(nobody), None).unwrap();
    let out = sb.run_env(
        &["daemon"],
        &[(
            "AUTO_ASSIGN_SOCKET_PATH",
            theirs.join("e.sock").to_str().unwrap(),
        )],
    );
    common::bad_input(&out, "belongs to uid 65534");
    // An impostor's socket in a folder the operator can reach.
    let planted = sb.path("planted.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&planted).unwrap();
    rustix::fs::chown(&planted, Some(nobody), None).unwrap();
    let out = sb.run_env(
        &["control", "paused"],
        &[("AUTO_ASSIGN_SOCKET_PATH", planted.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing to trust it"),
        "{}",
        stderr(&out)
    );
    assert!(
        !sb.db().exists(),
        "no engine of its own was started instead"
    );
}

/// A database on a filesystem that became read-only is the machine's
/// fault, not the caller's: exit 1 with what happened (it was "invalid
/// database", exit 2). Needs root to mount one, as CI has.
#[test]
fn a_read_only_filesystem_is_the_machines_fault() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: mounting a filesystem needs root (CI runs as root)");
        return;
    }
    struct Mounted(std::path::PathBuf);
    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let mount = |args: &[&str]| {
        let status = std::process::Command::new("mount")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "mount {args:?}");
    };
    let sb = Sandbox::new();
    let dir = sb.path("ro");
    std::fs::create_dir(&dir).unwrap();
    mount(&[
        "-t",
        "tmpfs",
        "-o",
        "size=8m",
        "tmpfs",
        dir.to_str().unwrap(),
    ]);
    let _mounted = Mounted(dir.clone());
    let db = dir.join("cache.sqlite3");
    let env = [("AUTO_ASSIGN_DATABASE_URL", db.to_str().unwrap())];
    sb.write("b.json", r#"[{"task_id": "T1"}]"#);
    common::ok(&sb.run_env(&["tick", "--task-file", "b.json"], &env));
    mount(&["-o", "remount,ro", dir.to_str().unwrap()]);
    let out = sb.run_env(&["tick", "--task-file", "b.json"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cache.sqlite3") && err.contains("Read-only file system"),
        "{err}"
    );
    assert!(!err.contains("invalid"), "{err}");
}

/// `realtime_priority`: when the system grants it, the threads that answer
/// run round-robin and the background ones stay idle; when it does not,
/// the daemon says what would grant it, and serves all the same.
#[test]
fn realtime_priority_is_taken_when_granted_and_named_when_refused() {
    let sb = Sandbox::new();
    let d = Daemon::start_env(&sb, &[("AUTO_ASSIGN_REALTIME_PRIORITY", "1")]);
    let mut c = d.connect();
    evaluate(&mut c, "T1");
    let policies = thread_policies(d.child.id());
    let realtime: Vec<_> = policies.iter().filter(|(_, p)| *p == 2).collect();
    let (code, log) = d.terminate();
    assert_eq!(code, Some(0), "{log}");
    if realtime.is_empty() {
        assert!(
            log.contains("realtime_priority = 1 was refused") && log.contains("LimitRTPRIO=1"),
            "{policies:?} {log}"
        );
    } else {
        // The engine's thread and the runtime's two workers at least.
        assert!(realtime.len() >= 3, "{policies:?}");
        for background in ["snapshots", "checkpoints"] {
            assert!(
                policies.iter().any(|(n, p)| n == background && *p == 5),
                "{background} is not idle: {policies:?}"
            );
        }
    }
}
