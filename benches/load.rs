//! What the socket-level benchmarks share: an engine with its socket in the
//! benchmark's own process, and clients that time requests.
#![allow(dead_code)] // each benchmark uses its part

use auto_assign::config::{Overrides, load_with};
use auto_assign::host::Host;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An engine and its socket on a database in `dir`, with these settings
/// (as environment variables); the socket's path, the runtime it serves
/// on, and its host, to stop at the end.
pub fn start_host(dir: &Path, env: &[(&str, &str)]) -> (PathBuf, tokio::runtime::Runtime, Host) {
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
    let host = runtime.block_on(Host::start(&settings)).unwrap();
    (socket_path, runtime, host)
}

/// [`start_host`], serving for as long as the runtime lives.
pub fn start(dir: &Path, env: &[(&str, &str)]) -> (PathBuf, tokio::runtime::Runtime) {
    let (socket_path, runtime, host) = start_host(dir, env);
    runtime.spawn(async move {
        let _host = host;
        std::future::pending::<()>().await
    });
    (socket_path, runtime)
}

pub fn heartbeat_line(id: usize, worker: usize) -> String {
    format!(
        "{{\"op\":\"heartbeat\",\"id\":{id},\"node_id\":\"bench\",\"worker_id\":\"w{worker}\",\"status\":\"ready\"}}\n"
    )
}

/// One client at a steady rate, sending `line(i)` as request `i`; the round
/// trip of each request.
pub fn round_trips(
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
pub fn offer_tasks(socket: &Path, count: usize) {
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
    read_ok_replies(stream, count);
    sender.join().unwrap();
}

/// Reads `count` replies from `stream`, each of which must be a success.
pub fn read_ok_replies(stream: UnixStream, count: usize) {
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    for _ in 0..count {
        reply.clear();
        reader.read_line(&mut reply).unwrap();
        assert!(reply.contains("\"ok\":true"), "{reply}");
    }
}

pub fn report(what: &str, samples: &[Duration]) {
    println!(
        "{what}: p50 {:?}, p99 {:?}, max {:?}",
        percentile(samples, 0.50),
        percentile(samples, 0.99),
        samples[samples.len() - 1]
    );
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Heartbeats (1,000/s for 5 s, one client) timed while the engine has
/// nothing to send; then `count` tasks offered while a destination is down,
/// each leaving one more event `waiting()` for it; then heartbeats timed
/// again during the outage. The two sets of round trips.
pub fn pile_up(
    socket: &Path,
    count: usize,
    waiting: impl Fn() -> u64,
) -> (Vec<Duration>, Vec<Duration>) {
    let quiet = round_trips(socket, 1_000, 5, steady_beat);
    let before = waiting(); // the workers' first heartbeats
    offer_tasks(socket, count);
    assert_eq!(waiting(), before + count as u64);
    let outage = round_trips(socket, 1_000, 5, steady_beat);
    (quiet, outage)
}

/// A heartbeat from one of ten workers.
pub fn steady_beat(i: usize) -> String {
    heartbeat_line(i, i % 10)
}

/// Reads `left` (a count from the cache) until it is 0, handing each
/// reading to `seen`. Each reading scans the outbox, so it is taken every
/// 200 ms while much is left and every 10 ms only at the edges (before the
/// first change, and near the end): polling every 20 ms throughout was
/// itself a load on the two cores the heartbeat figures are taken on.
pub fn poll_down(mut left: impl FnMut() -> u64, mut seen: impl FnMut(u64)) {
    let first = left();
    let mut now = first;
    while now > 0 {
        seen(now);
        let near_an_edge = now == first || now < 300;
        std::thread::sleep(Duration::from_millis(if near_an_edge { 10 } else { 200 }));
        now = left();
    }
    seen(0);
}
