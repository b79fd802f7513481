//! The provenance graph at scale: 10,000 decision events pile up while
//! Neo4j cannot be reached (a proxy in front of the Bolt server refuses
//! connections), then it comes back. Prints how fast the backlog drains into
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
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const EVENTS: usize = 10_000;

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

/// A TCP proxy to `upstream` that drops every connection while `up` is false.
fn proxy(upstream: String, up: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if !up.load(Ordering::SeqCst) {
                continue; // dropped: the connection is reset
            }
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            // Without it, Nagle's algorithm and delayed ACKs add 40 ms to
            // each statement the proxy passes on.
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 64 * 1024];
                    while let Ok(n) = from.read(&mut buffer) {
                        if n == 0 || std::io::Write::write_all(&mut to, &buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    address
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

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let started_server = bolt_server();
    let db = bolt::BoltDb::fresh("bench").unwrap();
    let up = Arc::new(AtomicBool::new(false));
    let address = proxy(db.settings.uri.clone(), up.clone());
    let dir = tempfile::tempdir().unwrap();
    let (socket, runtime, snapshots) = start_watched(
        dir.path(),
        &[
            ("AUTO_ASSIGN_NEO4J_URI", address.as_str()),
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
    up.store(true, Ordering::SeqCst);
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
    let (writing, timed) = first_write.map_or((caught_up, total), |(t, left)| (t.elapsed(), left));
    // Timed while the graph catches up: from its first batch to its last.
    let from = first_write.map_or(back, |(t, _)| t);
    let (beats, now) = (beats.finish(), Instant::now());
    let during = sent_between(&beats, from, now);
    let settled = Instant::now();
    let after = round_trips(&socket, 1_000, 5, steady_beat);
    let frames = room.finish();
    let frames_during = sent_between(&frames, from, now);
    let frames_after = sent_between(&frames, settled, Instant::now());
    let batch = *BATCH;
    println!(
        "drained {total} events into the graph: {timed} of them in {:.2} s after the first batch, \
         {:.0} events/s (batches of {batch}); caught up {:.2} s after Neo4j came back",
        writing.as_secs_f64(),
        timed as f64 / writing.as_secs_f64(),
        caught_up.as_secs_f64()
    );
    println!(
        "heartbeat round trip p99: {:?} before the tasks, {:?} while Neo4j is down, {:?} while \
         the graph catches up ({} sent), {:?} after it (the same store, nothing to write)",
        percentile(&quiet, 0.99),
        percentile(&outage, 0.99),
        percentile(&during, 0.99),
        during.len(),
        percentile(&after, 0.99)
    );
    println!(
        "control room frame at 200x50 (50 a second), p99: {:?} while the graph catches up \
         ({} frames), {:?} after it (the same store)",
        percentile(&frames_during, 0.99),
        frames_during.len(),
        percentile(&frames_after, 0.99),
    );
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
    drop(db);
    if started_server {
        let _ = std::process::Command::new("scripts/bolt-server")
            .arg("stop")
            .status();
    }
}
