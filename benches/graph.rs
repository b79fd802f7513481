//! The provenance graph at scale: 10,000 decision events pile up while
//! Neo4j cannot take them (the Bolt server answers, but its database is
//! not there yet), then it can. Prints how fast the backlog drains into
//! the graph (the goal: at least 2,000 events/s), and, as `drain` does, a
//! heartbeat's round trip and a control room's frame time while the graph
//! catches up and after it.
//!
//! It needs the tests' Bolt server: `scripts/bolt-server start` prints the
//! variables; without them this starts one itself.
//!
//! `cargo bench --bench graph`

#[path = "../tests/bolt/mod.rs"]
mod bolt;
#[path = "load.rs"]
mod load;

use auto_assign::store::{Store, graph_delivery};
use load::{
    Sampler, percentile, pile_up, poll_down, room_frames, round_trips, round_trips_until,
    sent_between, start_watched, steady_beat,
};
use std::time::{Duration, Instant};

const EVENTS: usize = 10_000;

/// Events per graph transaction (`graph_batch_size`); `GRAPH_BATCH` overrides.
static BATCH: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("GRAPH_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(2000)
});

/// Catch-ups measured, their samples pooled; `ROUNDS` overrides. One
/// catch-up gives about 160 frames, whose p99 is then their second worst:
/// too few to tell a 10 % change from the machine's noise.
static ROUNDS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
});

/// Events the graph has not taken yet.
fn pending(store: &Store) -> u64 {
    graph_delivery::summary(store.conn()).unwrap().pending
}

/// Events after the graph's cursor, read from the cursor and the newest
/// queue position: the outbox is only appended to, so this is the count
/// without the scan of every row behind the cursor that [`pending`] makes,
/// which polled on these two cores would itself weigh on the figures.
fn behind(store: &Store) -> u64 {
    store
        .conn()
        .query_row(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM outbox) - delivered_seq FROM graph_delivery",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

/// The Bolt server's variables, starting one when none is given.
fn bolt_server() -> bool {
    if std::env::var("AUTO_ASSIGN_TEST_BOLT_URI").is_ok() {
        return false;
    }
    let out = std::process::Command::new("scripts/bolt-server")
        .arg("start")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((key, value)) = line.split_once('=') {
            // SAFETY: no other thread runs yet.
            unsafe { std::env::set_var(key, value) };
        }
    }
    true
}

/// What one catch-up measured: round trips and frame times, each sorted.
struct Round {
    total: u64,
    /// Events written after the first batch, and how long they took.
    timed: (u64, Duration),
    caught_up: Duration,
    quiet: Vec<Duration>,
    outage: Vec<Duration>,
    during: Vec<Duration>,
    after: Vec<Duration>,
    frames_during: Vec<Duration>,
    frames_after: Vec<Duration>,
}

/// One catch-up on a fresh engine and a fresh graph database.
fn round(n: usize) -> Round {
    // Neo4j is down as its database is missing: the server answers, and
    // says the database is not there. A proxy that dropped connections
    // would also carry every byte of the catch-up, on the same two cores.
    let db = bolt::BoltDb::unmade(&format!("bench{n}")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (socket, runtime, snapshots) = start_watched(
        dir.path(),
        &[
            ("AUTO_ASSIGN_NEO4J_URI", db.settings.uri.as_str()),
            ("AUTO_ASSIGN_NEO4J_USER", db.settings.user.as_str()),
            ("AUTO_ASSIGN_NEO4J_PASSWORD", db.settings.password.as_str()),
            ("AUTO_ASSIGN_NEO4J_DATABASE", db.settings.database.as_str()),
            ("AUTO_ASSIGN_GRAPH_BATCH_SIZE", &BATCH.to_string()),
            ("AUTO_ASSIGN_OUTBOX_BACKOFF_BASE_SECONDS", "1"),
            ("AUTO_ASSIGN_OUTBOX_BACKOFF_MAX_SECONDS", "1"),
        ],
    );
    let store = Store::open_read_only(&dir.path().join("bench.sqlite3")).unwrap();
    let room = Sampler::start(move |stop| room_frames(snapshots, stop));
    let (quiet, outage) = pile_up(&socket, EVENTS, || pending(&store));
    let total = pending(&store);
    assert_eq!(behind(&store), total);
    db.make();
    let back = Instant::now();
    let beats = Sampler::start({
        let socket = socket.clone();
        move |stop| round_trips_until(&socket, 1_000, stop, steady_beat)
    });
    // The writer notices Neo4j is back at its next retry (capped at a
    // minute); the rate is timed from its first write, over the events
    // written after it.
    let mut first_write = None;
    poll_down(
        || behind(&store),
        |left| {
            if left < total && first_write.is_none() {
                first_write = Some((Instant::now(), left));
            }
        },
    );
    let caught_up = back.elapsed();
    let timed = first_write.map_or((total, caught_up), |(t, left)| (left, t.elapsed()));
    // Timed while the graph catches up: from its first batch to its last.
    let from = first_write.map_or(back, |(t, _)| t);
    let (beats, now) = (beats.finish(), Instant::now());
    let during = sent_between(&beats, from, now);
    let settled = Instant::now();
    let after = round_trips(&socket, 1_000, 5, steady_beat);
    let frames = room.finish();
    let frames_during = sent_between(&frames, from, now);
    let frames_after = sent_between(&frames, settled, Instant::now());
    assert_eq!(pending(&store), 0);
    let decisions = db.count(
        "MATCH (d:AssignDecision) RETURN count(d) AS n",
        serde_json::json!({}),
    );
    assert!(
        decisions >= EVENTS as i64,
        "{decisions} decisions in the graph"
    );
    drop(runtime);
    Round {
        total,
        timed,
        caught_up,
        quiet,
        outage,
        during,
        after,
        frames_during,
        frames_after,
    }
}

/// The samples of every round, sorted.
fn pooled(rounds: &[Round], part: impl Fn(&Round) -> &Vec<Duration>) -> Vec<Duration> {
    let mut all: Vec<Duration> = rounds.iter().flat_map(|r| part(r).clone()).collect();
    all.sort();
    all
}

/// p99 during against after, and the change in percent.
fn moved(during: &[Duration], after: &[Duration]) -> String {
    let (d, a) = (percentile(during, 0.99), percentile(after, 0.99));
    let change = 100.0 * (d.as_secs_f64() / a.as_secs_f64() - 1.0);
    format!(
        "{d:?} while the graph catches up ({} samples), {a:?} after it: {change:+.0} %",
        during.len()
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let started_server = bolt_server();
    let batch = *BATCH;
    let rounds: Vec<Round> = (0..*ROUNDS).map(round).collect();
    for (n, r) in rounds.iter().enumerate() {
        let (timed, writing) = r.timed;
        println!(
            "round {}: drained {} events into the graph, {timed} of them in {:.2} s after the \
             first batch: {:.0} events/s (batches of {batch}); caught up {:.2} s after Neo4j \
             came back. Heartbeat p99 {:?} before the tasks, {:?} while Neo4j is down",
            n + 1,
            r.total,
            writing.as_secs_f64(),
            timed as f64 / writing.as_secs_f64(),
            r.caught_up.as_secs_f64(),
            percentile(&r.quiet, 0.99),
            percentile(&r.outage, 0.99),
        );
        println!("  heartbeat p99: {}", moved(&r.during, &r.after));
        println!("  frame p99: {}", moved(&r.frames_during, &r.frames_after));
    }
    type Part = fn(&Round) -> &Vec<Duration>;
    let figures: [(&str, Part, Part); 2] = [
        ("heartbeat round trip", |r| &r.during, |r| &r.after),
        (
            "control room frame at 200x50 (50 a second)",
            |r| &r.frames_during,
            |r| &r.frames_after,
        ),
    ];
    for (what, during, after) in figures {
        println!(
            "all {} rounds, {what} p99: {}",
            rounds.len(),
            moved(&pooled(&rounds, during), &pooled(&rounds, after))
        );
    }
    if started_server {
        let _ = std::process::Command::new("scripts/bolt-server")
            .arg("stop")
            .status();
    }
}
