//! Outbox write-back at scale: 10,000 decision events pile up while the
//! AssistX stand-in is down, then it comes back. Prints how fast the
//! backlog drains to it, and a heartbeat's round trip before the tasks,
//! during the outage, during the drain and after it (the same store with
//! nothing to send), with a control room drawing in the same process, and
//! that room's frame time during the drain and after it (the goal: the
//! drain moves either by at most 10 %). Each round is a fresh engine and
//! stand-in; the figures of every round are pooled (`ROUNDS`, 3 by default).
//!
//! `cargo bench --bench drain`

#[path = "load.rs"]
mod load;
#[path = "../tests/standin/mod.rs"]
mod standin;

use auto_assign::store::Store;
use load::{Phases, Sampler, pile_up, poll_down, room_frames, start_watched, time_drain};
use standin::{Mode, StandIn};
use std::time::{Duration, Instant};

const EVENTS: usize = 10_000;

/// What the drain is, in the figures' lines.
const DRAINING: &str = "the backlog drains";

/// Events not yet delivered (pending or waiting to retry).
fn undelivered(store: &Store) -> u64 {
    let summary = auto_assign::store::outbox::summary(store.conn()).unwrap();
    summary.pending + summary.failed
}

/// What one drain measured.
struct Round {
    total: u64,
    /// From the first event accepted to the last.
    drained: Duration,
    caught_up: Duration,
    phases: Phases,
}

fn round() -> Round {
    let standin = StandIn::start(None);
    standin.set_mode(Mode::Down);
    let dir = tempfile::tempdir().unwrap();
    let (socket, runtime, snapshots) = start_watched(
        dir.path(),
        &[
            ("AUTO_ASSIGN_ASSISTX_BASE_URL", standin.url.as_str()),
            ("AUTO_ASSIGN_DISPATCH_ENABLED", "true"),
            ("AUTO_ASSIGN_OUTBOX_BACKOFF_BASE_SECONDS", "1"),
            ("AUTO_ASSIGN_OUTBOX_BACKOFF_MAX_SECONDS", "1"),
        ],
    );
    let store = Store::open_read_only(&dir.path().join("bench.sqlite3")).unwrap();
    let room = Sampler::start(move |stop| room_frames(snapshots, stop));
    let piled = pile_up(&socket, EVENTS, || undelivered(&store));
    let total = standin.accepted_count() as u64 + undelivered(&store);
    standin.set_mode(Mode::Healthy);
    let back = Instant::now();
    // Counted by the stand-in, in memory: reading the outbox's counts scans
    // it, which on these two cores would itself be a load on the figures.
    // The drain is timed from the first event accepted (the events wait
    // for their backoff first) to the last.
    let (mut first, mut last) = (None, back);
    let phases = time_drain(&socket, room, piled, || {
        poll_down(
            || total.saturating_sub(standin.accepted_count() as u64),
            |left| {
                if left < total && first.is_none() {
                    first = Some(Instant::now());
                }
            },
        );
        last = Instant::now();
        // Every verdict recorded before "after" begins.
        poll_down(|| undelivered(&store), |_| {});
        (first.unwrap_or(back), last)
    });
    assert!(standin.accepted_count() >= EVENTS);
    drop(runtime);
    Round {
        total,
        drained: last - first.unwrap_or(back),
        caught_up: last - back,
        phases,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds: Vec<Round> = (0..load::rounds()).map(|_| round()).collect();
    for (n, r) in rounds.iter().enumerate() {
        println!(
            "round {}: drained {} events to the AssistX stand-in in {:.2} s from the first \
             accepted: {:.0} events/s; caught up {:.2} s after it came back",
            n + 1,
            r.total,
            r.drained.as_secs_f64(),
            r.total as f64 / r.drained.as_secs_f64(),
            r.caught_up.as_secs_f64()
        );
        r.phases.print(DRAINING);
    }
    Phases::print_pooled(rounds.iter().map(|r| &r.phases), DRAINING);
}
