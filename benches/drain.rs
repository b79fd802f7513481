//! Outbox write-back at scale: 10,000 decision events pile up while the
//! AssistX stand-in is down, then it comes back. Prints how fast the
//! backlog drains to it, and a heartbeat's round trip with nothing to send,
//! during the outage and during the drain (the goal: the drain moves it by
//! at most 10 %).
//!
//! `cargo bench --bench drain`

#[path = "load.rs"]
mod load;
#[path = "../tests/standin/mod.rs"]
mod standin;

use auto_assign::store::Store;
use load::{percentile, pile_up, poll_down, round_trips, start, steady_beat};
use standin::{Mode, StandIn};
use std::time::Instant;

const EVENTS: usize = 10_000;

/// Events not yet delivered (pending or waiting to retry).
fn undelivered(store: &Store) -> u64 {
    let summary = auto_assign::store::outbox::summary(store.conn()).unwrap();
    summary.pending + summary.failed
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let standin = StandIn::start(None);
    standin.set_mode(Mode::Down);
    let dir = tempfile::tempdir().unwrap();
    let (socket, runtime) = start(
        dir.path(),
        &[
            ("AUTO_ASSIGN_ASSISTX_BASE_URL", standin.url.as_str()),
            ("AUTO_ASSIGN_DISPATCH_ENABLED", "true"),
            ("AUTO_ASSIGN_OUTBOX_BACKOFF_BASE_SECONDS", "1"),
            ("AUTO_ASSIGN_OUTBOX_BACKOFF_MAX_SECONDS", "1"),
        ],
    );
    let store = Store::open_read_only(&dir.path().join("bench.sqlite3")).unwrap();
    let (quiet, outage) = pile_up(&socket, EVENTS, || undelivered(&store));
    standin.set_mode(Mode::Healthy);
    let started = Instant::now();
    let during = std::thread::spawn({
        let socket = socket.clone();
        move || round_trips(&socket, 1_000, 5, steady_beat)
    });
    poll_down(|| undelivered(&store), |_| {});
    let drained = started.elapsed();
    let during = during.join().unwrap();
    println!(
        "drained {EVENTS} events to the AssistX stand-in in {:.2} s: {:.0} events/s (4 at once)",
        drained.as_secs_f64(),
        EVENTS as f64 / drained.as_secs_f64()
    );
    println!(
        "heartbeat round trip p99: {:?} with nothing to send, {:?} while AssistX is down \
         (every event retried each second), {:?} while the backlog drains",
        percentile(&quiet, 0.99),
        percentile(&outage, 0.99),
        percentile(&during, 0.99)
    );
    assert!(standin.accepted().len() >= EVENTS);
    drop(runtime);
}
