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
use load::{Phases, Sampler, pile_up, poll_down, room_frames, start_watched, time_drain};
use std::time::{Duration, Instant};

const EVENTS: usize = 10_000;

/// What the drain is, in the figures' lines.
const CATCHING_UP: &str = "the graph catches up";

/// Events per graph transaction (`graph_batch_size`); `GRAPH_BATCH` overrides.
static BATCH: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("GRAPH_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(2000)
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

/// What one catch-up measured.
struct Round {
    total: u64,
    /// Events written after the first batch, and how long they took.
    timed: (u64, Duration),
    caught_up: Duration,
    phases: Phases,
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
    let piled = pile_up(&socket, EVENTS, || pending(&store));
    let total = pending(&store);
    assert_eq!(behind(&store), total);
    db.make();
    let back = Instant::now();
    // The writer notices Neo4j is back at its next retry (capped at a
    // minute); the rate is timed from its first write, over the events
    // written after it, and the figures from its first batch to its last.
    let (mut first_write, mut last_write) = (None, back);
    let phases = time_drain(&socket, room, piled, || {
        poll_down(
            || behind(&store),
            |left| {
                if left < total && first_write.is_none() {
                    first_write = Some((Instant::now(), left));
                }
            },
        );
        last_write = Instant::now();
        (first_write.map_or(back, |(t, _)| t), last_write)
    });
    let caught_up = last_write - back;
    let timed = first_write.map_or((total, caught_up), |(t, left)| (left, last_write - t));
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
        phases,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let started_server = bolt_server();
    let batch = *BATCH;
    let rounds: Vec<Round> = (0..load::rounds()).map(round).collect();
    for (n, r) in rounds.iter().enumerate() {
        let (timed, writing) = r.timed;
        println!(
            "round {}: drained {} events into the graph, {timed} of them in {:.2} s after the \
             first batch: {:.0} events/s (batches of {batch}); caught up {:.2} s after Neo4j \
             came back",
            n + 1,
            r.total,
            writing.as_secs_f64(),
            timed as f64 / writing.as_secs_f64(),
            r.caught_up.as_secs_f64(),
        );
        r.phases.print(CATCHING_UP);
    }
    Phases::print_pooled(rounds.iter().map(|r| &r.phases), CATCHING_UP);
    if started_server {
        let _ = std::process::Command::new("scripts/bolt-server")
            .arg("stop")
            .status();
    }
}
