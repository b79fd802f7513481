//! What the socket-level benchmarks share: an engine with its socket in the
//! benchmark's own process, and clients that time requests.
#![allow(dead_code)] // each benchmark uses its part

use auto_assign::config::{Overrides, load_with};
use auto_assign::engine::Snapshot;
use auto_assign::host::Host;
use auto_assign::tui::app::{App, Connection};
use auto_assign::tui::keymap::Keymap;
use auto_assign::tui::theme::Theme;
use auto_assign::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
            .or_else(|| {
                (name == "AUTO_ASSIGN_REALTIME_PRIORITY").then(|| realtime_priority().to_string())
            })
            // Any other setting from the benchmark's own environment, to
            // measure it (`AUTO_ASSIGN_DISPATCH_CONCURRENCY=1`, say).
            .or_else(|| std::env::var(name).ok())
    })
    .unwrap()
    .settings;
    let runtime = auto_assign::host::service_runtime(&settings).unwrap();
    let host = runtime.block_on(Host::start(&settings)).unwrap();
    (socket_path, runtime, host)
}

/// An engine serving its socket until this is dropped; then it stops as a
/// daemon does (dropping the runtime under a running engine would pull the
/// clock from under its loop).
pub struct Serving {
    runtime: tokio::runtime::Runtime,
    host: Option<Host>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(host) = self.host.take() {
            let _ = self.runtime.block_on(host.stop());
        }
    }
}

/// [`start_host`], serving until the returned guard is dropped.
pub fn start(dir: &Path, env: &[(&str, &str)]) -> (PathBuf, Serving) {
    let (socket_path, serving, _) = start_watched(dir, env);
    (socket_path, serving)
}

/// [`start`], with the engine's snapshots, as a control room in the same
/// process gets them.
pub fn start_watched(
    dir: &Path,
    env: &[(&str, &str)],
) -> (PathBuf, Serving, watch::Receiver<Arc<Snapshot>>) {
    let (socket_path, runtime, host) = start_host(dir, env);
    let snapshots = host.snapshots();
    let serving = Serving {
        runtime,
        host: Some(host),
    };
    (socket_path, serving, snapshots)
}

/// The engine's and the room's `realtime_priority`: `REALTIME_PRIORITY`
/// in the benchmark's environment, 0 (off) by default.
pub fn realtime_priority() -> u8 {
    std::env::var("REALTIME_PRIORITY")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// A control room at 200×50 on its default pane, drawing 50 frames a second
/// from the newest snapshot until `stop` is set: when each frame was drawn,
/// and how long it took (a frame after a new snapshot rebuilds its rows).
pub fn room_frames(
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    stop: &AtomicBool,
) -> Vec<(Instant, Duration)> {
    // As the room's own thread does (`tui::run`).
    auto_assign::engine::prompt::enter(realtime_priority());
    let theme = Theme::load("default", false, false).unwrap();
    let keymap = Keymap::new(&BTreeMap::new()).unwrap();
    let first = snapshots.borrow_and_update().clone();
    let mut app = App::new(first, keymap, "bench".into(), false, Connection::InProcess);
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let mut frames = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        if snapshots.has_changed().unwrap_or(false) {
            app.set_snapshot(snapshots.borrow_and_update().clone());
        }
        app.now = chrono::Utc::now();
        terminal.draw(|f| views::draw(f, &app, &theme)).unwrap();
        frames.push((started, started.elapsed()));
        std::thread::sleep(Duration::from_millis(20).saturating_sub(started.elapsed()));
    }
    frames
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
    let count = (rate * seconds) as usize;
    let mut samples: Vec<_> = beat(socket, rate, |i| i < count, line)
        .into_iter()
        .map(|(_, took)| took)
        .collect();
    samples.sort();
    samples
}

/// [`round_trips`] until `stop` is set; when each request was sent, with
/// its round trip, so a caller can keep those of a time window.
pub fn round_trips_until(
    socket: &Path,
    rate: u32,
    stop: &AtomicBool,
    line: impl Fn(usize) -> String,
) -> Vec<(Instant, Duration)> {
    beat(socket, rate, |_| !stop.load(Ordering::SeqCst), line)
}

/// Samples taken on a thread of their own until [`Sampler::finish`]: when
/// each was taken, and what it measured.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Instant, Duration)>>,
}

impl Sampler {
    pub fn start(
        sample: impl FnOnce(&AtomicBool) -> Vec<(Instant, Duration)> + Send + 'static,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || sample(&stop)
        });
        Sampler { stop, thread }
    }

    pub fn finish(self) -> Vec<(Instant, Duration)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// The round trips sent between `from` and `to`, sorted.
pub fn sent_between(samples: &[(Instant, Duration)], from: Instant, to: Instant) -> Vec<Duration> {
    let mut kept: Vec<_> = samples
        .iter()
        .filter(|(sent, _)| (from..=to).contains(sent))
        .map(|(_, took)| *took)
        .collect();
    kept.sort();
    kept
}

fn beat(
    socket: &Path,
    rate: u32,
    more: impl Fn(usize) -> bool,
    line: impl Fn(usize) -> String,
) -> Vec<(Instant, Duration)> {
    // A worker is a process of its own, in the normal class unless its
    // unit grants it more: `WORKER_REALTIME=1` gives this one the engine's.
    if std::env::var("WORKER_REALTIME").is_ok_and(|v| v == "1") {
        auto_assign::engine::prompt::enter(realtime_priority());
    }
    let stream = UnixStream::connect(socket).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let every = Duration::from_secs(1) / rate;
    let mut samples = Vec::new();
    let mut reply = String::new();
    let begin = Instant::now();
    let mut i = 0;
    while more(i) {
        let due = begin + every * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let sent = Instant::now();
        writer.write_all(line(i).as_bytes()).unwrap();
        reply.clear();
        reader.read_line(&mut reply).unwrap();
        samples.push((sent, sent.elapsed()));
        assert!(reply.contains("\"ok\":true"), "{reply}");
        i += 1;
    }
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

/// What one drain measured, as the `drain` and `graph` benchmarks time it
/// (each sorted): a heartbeat's round trips before the tasks and while the
/// destination is down; then the round trips and the control room's frames
/// while the backlog drains, after it and again.
pub struct Phases {
    quiet: Vec<Duration>,
    outage: Vec<Duration>,
    beats: Stretches,
    frames: Stretches,
}

/// One figure's samples (each sorted) while the backlog drains, after it
/// (the same store, nothing to send), and again for as long with still
/// nothing to send: the control, which says how far the figure moves with
/// no drain at all.
struct Stretches {
    during: Vec<Duration>,
    after: Vec<Duration>,
    again: Vec<Duration>,
}

/// Times a drain once [`pile_up`] has given `piled`: heartbeats at 1,000/s
/// while `drain` runs, kept between the instants it returns (its first and
/// last event sent); then 5 s of them after it, and 5 s more for the
/// control; `room`'s frames the same way.
pub fn time_drain(
    socket: &Path,
    room: Sampler,
    piled: (Vec<Duration>, Vec<Duration>),
    drain: impl FnOnce() -> (Instant, Instant),
) -> Phases {
    let beats = Sampler::start({
        let socket = socket.to_path_buf();
        move |stop| round_trips_until(&socket, 1_000, stop, steady_beat)
    });
    let (from, to) = drain();
    let during = sent_between(&beats.finish(), from, to);
    let settled = Instant::now();
    let after = round_trips(socket, 1_000, 5, steady_beat);
    let halfway = Instant::now();
    let again = round_trips(socket, 1_000, 5, steady_beat);
    let frames = room.finish();
    let (quiet, outage) = piled;
    Phases {
        quiet,
        outage,
        beats: Stretches {
            during,
            after,
            again,
        },
        frames: Stretches {
            during: sent_between(&frames, from, to),
            after: sent_between(&frames, settled, halfway),
            again: sent_between(&frames, halfway, Instant::now()),
        },
    }
}

/// Drains measured, their samples pooled: `ROUNDS` in the environment, 3 by
/// default. One drain of 10,000 events gives a few thousand round trips
/// and under two hundred frames, whose p99 moves by ±15 % between runs on
/// these shared cores: too few to tell a 10 % change from the noise.
pub fn rounds() -> usize {
    std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

impl Stretches {
    /// Every drain's samples of this figure, each stretch sorted.
    fn pooled<'a>(all: impl Iterator<Item = &'a Stretches> + Clone) -> Stretches {
        let pool = |part: fn(&Stretches) -> &Vec<Duration>| {
            let mut samples: Vec<Duration> = all.clone().flat_map(|s| part(s).clone()).collect();
            samples.sort();
            samples
        };
        Stretches {
            during: pool(|s| &s.during),
            after: pool(|s| &s.after),
            again: pool(|s| &s.again),
        }
    }

    /// p99 while the backlog drains against after it, and the change in
    /// percent; `draining` says what the drain is. Then the control: the
    /// next 5 s against the same, with no drain.
    fn moved(&self, draining: &str) -> String {
        let p99 = |samples| percentile(samples, 0.99);
        let change = |a: Duration, b: Duration| 100.0 * (a.as_secs_f64() / b.as_secs_f64() - 1.0);
        let (d, a, c) = (p99(&self.during), p99(&self.after), p99(&self.again));
        format!(
            "{d:?} while {draining} ({} samples), {a:?} after it: {:+.0} % (control: {c:?}, {:+.0} %)",
            self.during.len(),
            change(d, a),
            change(c, a),
        )
    }
}

impl Phases {
    /// One drain's figures, two indented lines.
    pub fn print(&self, draining: &str) {
        println!(
            "  heartbeat p99: {:?} before the tasks, {:?} while down; {}",
            percentile(&self.quiet, 0.99),
            percentile(&self.outage, 0.99),
            self.beats.moved(draining)
        );
        println!("  frame p99: {}", self.frames.moved(draining));
    }

    /// Every drain's samples pooled: the figures the goal is judged by.
    pub fn print_pooled<'a>(rounds: impl Iterator<Item = &'a Phases> + Clone, draining: &str) {
        let n = rounds.clone().count();
        let beats = Stretches::pooled(rounds.clone().map(|p| &p.beats));
        let frames = Stretches::pooled(rounds.map(|p| &p.frames));
        println!(
            "all {n} rounds, heartbeat round trip p99: {}",
            beats.moved(draining)
        );
        println!(
            "all {n} rounds, control room frame at 200x50 (50 a second) p99: {}",
            frames.moved(draining)
        );
    }
}
