//! The socket under load, end to end: an engine and its server in this
//! process, clients on a real Unix socket, state committed to a real SQLite
//! file. Prints one line per figure for docs/benchmarks.md.
//!
//! `cargo bench --bench socket`

#[path = "load.rs"]
mod load;

use load::{heartbeat_line, offer_tasks, read_ok_replies, report, round_trips, start};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

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
                read_ok_replies(stream, per_client);
                sender.join().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    (clients * per_client) as f64 / started.elapsed().as_secs_f64()
}

/// A worker claims task `i` of [`offer_tasks`].
fn claim_line(i: usize) -> String {
    let assignment = auto_assign::domain::ids::assignment_id(&format!("B{i}"), None);
    format!(
        "{{\"op\":\"claim\",\"id\":{i},\"assignment_id\":\"{assignment}\",\"worker_id\":\"w{}\",\"lease_seconds\":600}}\n",
        i % 10
    )
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
