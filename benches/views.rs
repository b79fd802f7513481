//! Views at scale: a daemon holding 10,000 assignments with 1,000 workers
//! heartbeating once a second (each renewing the lease it holds), one
//! subscriber decoding every view update as an attached control room does,
//! and a real attached control room in tmux. Prints, for docs/benchmarks.md:
//! the size of an update, how long one takes from the daemon starting to
//! write it to the subscriber having decoded it, the daemon's and the
//! room's resident memory.
//!
//! `cargo bench --bench views` (needs tmux for the room's figure)

#[path = "fixtures.rs"]
#[allow(dead_code)] // its router() is for the tick and scoring benchmarks
mod fixtures;

use auto_assign::engine::Snapshot;
use auto_assign::wire::delta::{self, Update};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TASKS: usize = 10_000;
const WORKERS: usize = 1_000;
const SECONDS: u64 = 20;

struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_auto-assign")
}

fn environment(cmd: &mut Command, dir: &Path) {
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTO_ASSIGN_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CONFIG_HOME", dir.join("config"))
        .env("AUTO_ASSIGN_DATABASE_URL", dir.join("cache.sqlite3"))
        .env("AUTO_ASSIGN_SOCKET_PATH", dir.join("run/engine.sock"))
        .env("AUTO_ASSIGN_LOG_FILE", dir.join("engine.log"))
        .env("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "600");
}

fn start(dir: &Path) -> Daemon {
    let mut cmd = Command::new(binary());
    environment(&mut cmd, dir);
    let child = cmd
        .arg("daemon")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.join("run/engine.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { child, socket }
}

struct Client {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    fn connect(socket: &Path) -> Client {
        let stream = UnixStream::connect(socket).unwrap();
        Client {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    fn ask(&mut self, request: Value) -> Value {
        self.writer
            .write_all(format!("{request}\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["ok"], true, "{request} -> {reply}");
        reply
    }
}

/// 10,000 decided tasks, and 1,000 of them claimed by a worker each.
fn seed(socket: &Path) -> Vec<(String, String)> {
    let mut client = Client::connect(socket);
    let candidates: Vec<Value> = fixtures::candidates(TASKS)
        .into_iter()
        .map(|mut c| {
            // Plain work that every worker may take.
            let obj = c.as_object_mut().unwrap();
            obj.retain(|k, _| {
                !matches!(
                    k.as_str(),
                    "privacy" | "sensitive" | "risk_level" | "allow_cloud"
                )
            });
            obj.insert("status".into(), json!("READY"));
            obj.insert("allowed_lanes".into(), json!(["local_only"]));
            c
        })
        .collect();
    for chunk in candidates.chunks(100) {
        client.ask(json!({"op": "command", "command": "evaluate", "operator": "bench", "candidates": chunk}));
    }
    let snapshot = client.ask(json!({"op": "snapshot"}));
    let ids: Vec<String> = snapshot["result"]["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "recommended")
        .map(|r| r["assignment_id"].as_str().unwrap().to_string())
        .take(WORKERS)
        .collect();
    assert_eq!(ids.len(), WORKERS);
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            let worker = format!("w{i:04}");
            client.ask(json!({"op": "claim", "assignment_id": id, "worker_id": worker, "node_id": format!("n{}", i % 10), "lease_seconds": 600}));
            (worker, id)
        })
        .collect()
}

/// Every worker heartbeats once a second, naming its lease, paced evenly.
fn heartbeats(socket: PathBuf, leases: Vec<(String, String)>, until: Instant) {
    let mut client = Client::connect(&socket);
    let every = Duration::from_secs(1) / leases.len() as u32;
    let begin = Instant::now();
    let mut i = 0usize;
    while Instant::now() < until {
        let due = begin + every * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let (worker, lease) = &leases[i % leases.len()];
        let node = format!("n{}", (i % leases.len()) % 10);
        client.ask(json!({"op": "heartbeat", "node_id": node, "worker_id": worker, "assignment_id": lease, "status": "busy"}));
        i += 1;
    }
}

/// Decodes and applies every update until `until`: (bytes, written-to-applied
/// latency, decode-and-apply time).
fn subscribe(socket: &Path, until: Instant) -> Vec<(usize, Duration, Duration)> {
    let mut client = Client::connect(socket);
    client
        .writer
        .write_all(b"{\"op\":\"subscribe\",\"id\":1}\n")
        .unwrap();
    let mut line = String::new();
    client.reader.read_line(&mut line).unwrap();
    #[derive(Deserialize)]
    struct Whole {
        snapshot: Snapshot,
    }
    #[derive(Deserialize)]
    struct First {
        result: Whole,
    }
    let mut shown = serde_json::from_str::<First>(&line)
        .unwrap()
        .result
        .snapshot;
    let mut samples = Vec::new();
    while Instant::now() < until {
        line.clear();
        if client.reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let decoding = Instant::now();
        let Update::Delta { sent_at, delta } = serde_json::from_str(&line).unwrap();
        delta::apply(&mut shown, *delta);
        let decoded = decoding.elapsed();
        assert!(shown.workers.len() >= WORKERS);
        let latency = (chrono::Utc::now() - sent_at).to_std().unwrap_or_default();
        samples.push((line.len(), latency, decoded));
    }
    samples
}

/// (current, peak) resident memory of a process, in MiB.
fn rss(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// An attached control room at 200×50 in tmux; its pid.
fn room(dir: &Path) -> Option<(String, u32)> {
    let server = format!("views-bench-{}", std::process::id());
    let script = format!(
        "XDG_CONFIG_HOME={d}/config AUTO_ASSIGN_SOCKET_PATH={d}/run/engine.sock AUTO_ASSIGN_LOG_FILE={d}/room.log exec {b} --attach",
        d = dir.display(),
        b = binary()
    );
    let started = Command::new("tmux")
        .args([
            "-L",
            &server,
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            &script,
        ])
        .status()
        .ok()?;
    if !started.success() {
        return None;
    }
    std::thread::sleep(Duration::from_secs(2));
    let out = Command::new("tmux")
        .args(["-L", &server, "display", "-p", "#{pane_pid}"])
        .output()
        .ok()?;
    let pid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((server, pid))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path());
    let leases = seed(&daemon.socket);
    let until = Instant::now() + Duration::from_secs(SECONDS);
    let socket = daemon.socket.clone();
    let workers = std::thread::spawn(move || heartbeats(socket, leases, until));
    let room = room(dir.path());
    let samples = subscribe(&daemon.socket, until);
    let (daemon_rss, daemon_peak) = rss(daemon.child.id());
    let room_rss = room.as_ref().map(|(_, pid)| rss(*pid));
    workers.join().unwrap();
    if let Some((server, _)) = &room {
        let _ = Command::new("tmux")
            .args(["-L", server, "kill-server"])
            .status();
    }
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.1).collect();
    latencies.sort();
    let mut decodes: Vec<Duration> = samples.iter().map(|s| s.2).collect();
    decodes.sort();
    let bytes = samples.iter().map(|s| s.0).sum::<usize>() / samples.len().max(1);
    println!(
        "views at {TASKS} assignments, {WORKERS} workers heartbeating 1/s, {SECONDS} s: {} updates, {:.0} KiB each on average",
        samples.len(),
        bytes as f64 / 1024.0
    );
    println!(
        "update written -> decoded and applied by the subscriber: p50 {:?}, p99 {:?}, max {:?} (decode and apply alone p99 {:?})",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        percentile(&decodes, 0.99),
    );
    println!("daemon RSS: {daemon_rss:.0} MiB now, {daemon_peak:.0} MiB peak");
    match room_rss {
        Some((now, peak)) => {
            println!("attached control room RSS: {now:.0} MiB now, {peak:.0} MiB peak")
        }
        None => println!("attached control room RSS: not measured (tmux is missing)"),
    }
}
