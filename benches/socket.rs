//! The socket under load, end to end: an engine and its server in this
//! process, clients on a real Unix socket, state committed to a real SQLite
//! file. Prints one line per figure for docs/benchmarks.md.
//!
//! `cargo bench --bench socket`

use auto_assign::config::{Overrides, load_with};
use auto_assign::host::Host;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn start(
    dir: &Path,
    env: &'static [(&'static str, &'static str)],
) -> (PathBuf, tokio::runtime::Runtime) {
    let socket_path = dir.join("engine.sock");
    let overrides = Overrides {
        database: Some(dir.join("bench.sqlite3").display().to_string()),
        socket: Some(socket_path.display().to_string()),
        ..Default::default()
    };
    let settings = load_with(&overrides, &|name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
    .settings;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host = Host::start(&settings).await.unwrap();
        // The host serves for as long as the runtime runs.
        tokio::spawn(async move {
            let _host = host;
            std::future::pending::<()>().await
        });
    });
    (socket_path, runtime)
}

fn heartbeat_line(id: usize, worker: usize) -> String {
    format!(
        "{{\"op\":\"heartbeat\",\"id\":{id},\"node_id\":\"bench\",\"worker_id\":\"w{worker}\",\"status\":\"ready\"}}\n"
    )
}

/// Clients that pipeline heartbeats as fast as the engine commits them.
fn sustained(socket: &Path, clients: usize, per_client: usize) -> f64 {
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let socket = socket.to_path_buf();
            std::thread::spawn(move || {
                let stream = UnixStream::connect(&socket).unwrap();
                let mut writer = stream.try_clone().unwrap();
                let sender = std::thread::spawn(move || {
                    let mut batch = String::new();
                    for i in 0..per_client {
                        batch.push_str(&heartbeat_line(i, c * 1000 + i % 20));
                    }
                    writer.write_all(batch.as_bytes()).unwrap();
                });
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                for _ in 0..per_client {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    assert!(line.contains("\"ok\":true"), "{line}");
                }
                sender.join().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    (clients * per_client) as f64 / started.elapsed().as_secs_f64()
}

/// One client at a steady rate, sending `line(i)` as request `i`; the round
/// trip of each request.
fn round_trips(
    socket: &Path,
    rate: u32,
    seconds: u32,
    line: impl Fn(usize) -> String,
) -> Vec<Duration> {
    let stream = UnixStream::connect(socket).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let every = Duration::from_secs(1) / rate;
    let mut samples = Vec::new();
    let mut reply = String::new();
    let begin = Instant::now();
    for i in 0..(rate * seconds) as usize {
        let due = begin + every * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let sent = Instant::now();
        writer.write_all(line(i).as_bytes()).unwrap();
        reply.clear();
        reader.read_line(&mut reply).unwrap();
        samples.push(sent.elapsed());
        assert!(reply.contains("\"ok\":true"), "{reply}");
    }
    samples.sort();
    samples
}

/// `count` tasks arrive as AssistX events and are recommended, ready to be
/// claimed.
fn offer_tasks(socket: &Path, count: usize) {
    let stream = UnixStream::connect(socket).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut lines = String::new();
    for i in 0..count {
        let event = json!({"op": "event", "event": {
            "event_type": "task.candidate.created",
            "idempotency_key": format!("bench-{i}"),
            "payload": {"task_id": format!("B{i}"), "priority": "batch"}
        }});
        lines.push_str(&format!("{event}\n"));
    }
    // Written from its own thread: the replies must be read meanwhile.
    let sender = std::thread::spawn(move || writer.write_all(lines.as_bytes()).unwrap());
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    for _ in 0..count {
        reply.clear();
        reader.read_line(&mut reply).unwrap();
        assert!(reply.contains("\"ok\":true"), "{reply}");
    }
    sender.join().unwrap();
}

/// A worker claims task `i` of [`offer_tasks`].
fn claim_line(i: usize) -> String {
    let assignment = auto_assign::domain::ids::assignment_id(&format!("B{i}"), None);
    format!(
        "{{\"op\":\"claim\",\"id\":{i},\"assignment_id\":\"{assignment}\",\"worker_id\":\"w{}\",\"lease_seconds\":600}}\n",
        i % 10
    )
}

fn report(what: &str, samples: &[Duration]) {
    println!(
        "{what}: p50 {:?}, p99 {:?}, max {:?}",
        percentile(samples, 0.50),
        percentile(samples, 0.99),
        samples[samples.len() - 1]
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Seconds from a worker's last heartbeat until the engine shows it stale.
fn stale_detection(socket: &Path, grace: f64) -> f64 {
    let stream = UnixStream::connect(socket).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut ask = |request: Value| -> Value {
        writer.write_all(format!("{request}\n").as_bytes()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    };
    // The engine only judges silence it was up to hear.
    std::thread::sleep(Duration::from_secs_f64(grace + 0.1));
    ask(json!({"op": "heartbeat", "node_id": "n", "worker_id": "quiet"}));
    let last = Instant::now();
    loop {
        let snap = ask(json!({"op": "snapshot"}));
        let stale = snap["result"]["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["worker_id"] == "quiet" && w["stale"] == true);
        if stale {
            return last.elapsed().as_secs_f64();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    // cargo bench passes --bench; cargo test --benches passes nothing useful.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (sock, runtime) = start(dir.path(), &[]);
    // The write-ahead log's size, sampled through the heartbeat runs.
    let wal = dir.path().join("bench.sqlite3-wal");
    let wal_size = move || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        let wal_size = wal_size.clone();
        std::thread::spawn(move || {
            let mut largest = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                largest = largest.max(wal_size());
                std::thread::sleep(Duration::from_millis(10));
            }
            largest
        })
    };
    let _ = sustained(&sock, 4, 2_000); // warm up
    for clients in [1, 4, 16] {
        let rate = sustained(&sock, clients, 50_000 / clients);
        println!(
            "sustained heartbeats, {clients:>2} pipelining client(s): {rate:>9.0} /s (committed)"
        );
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let largest = sampler.join().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "write-ahead log through those runs: at most {:.1} MiB; {:.1} MiB after 2 s idle (goal ≤ 64 MiB)",
        largest as f64 / 1048576.0,
        wal_size() as f64 / 1048576.0
    );
    let samples = round_trips(&sock, 1_000, 10, |i| heartbeat_line(i, i % 10));
    report(
        "heartbeat round trip at 1,000 requests/s for 10 s",
        &samples,
    );
    let claims = 3_000;
    offer_tasks(&sock, claims);
    let samples = round_trips(&sock, 500, (claims / 500) as u32, claim_line);
    report("claim round trip at 500 claims/s for 6 s", &samples);
    drop(runtime);
    let dir = tempfile::tempdir().unwrap();
    let (sock, runtime) = start(dir.path(), &[("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "2")]);
    let delay = stale_detection(&sock, 2.0);
    println!(
        "stale after silence, grace 2 s: marked stale {delay:.2} s after the last heartbeat (goal: within grace + 1 s = 3 s)"
    );
    drop(runtime);
}
