//! Outbox write-back at scale: 10,000 decision events pile up while the
//! AssistX stand-in is down, then it comes back. Prints how fast the
//! backlog drains to it, and a heartbeat's round trip before the tasks,
//! during the outage, during the drain and after it (the same store with
//! nothing to send), with a control room drawing in the same process, and
//! that room's frame time during the drain and after it (the goal: the
//! drain moves either by at most 10 %).
//!
//! `cargo bench --bench drain`

#[path = "load.rs"]
mod load;
#[path = "../tests/standin/mod.rs"]
mod standin;

use auto_assign::store::Store;
use load::{
    Sampler, percentile, pile_up, poll_down, room_frames, round_trips, round_trips_until,
    sent_between, start_watched, steady_beat,
};
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
    let (quiet, outage) = pile_up(&socket, EVENTS, || undelivered(&store));
    let target = standin.accepted_count() as u64 + undelivered(&store);
    standin.set_mode(Mode::Healthy);
    let back = Instant::now();
    let beats = Sampler::start({
        let socket = socket.clone();
        move |stop| round_trips_until(&socket, 1_000, stop, steady_beat)
    });
    // Counted by the stand-in, in memory: reading the outbox's counts scans
    // it, which on these two cores would itself be a load on the figures.
    // The drain is timed from the first event accepted (the events wait for
    // their backoff first) to the last.
    let mut first = None;
    poll_down(
        || target.saturating_sub(standin.accepted_count() as u64),
        |left| {
            if left < target && first.is_none() {
                first = Some(Instant::now());
            }
        },
    );
    let (first, last) = (first.unwrap_or(back), Instant::now());
    let during = sent_between(&beats.finish(), first, last);
    poll_down(|| undelivered(&store), |_| {});
    let settled = Instant::now();
    let after = round_trips(&socket, 1_000, 5, steady_beat);
    let frames = room.finish();
    let frames_after = sent_between(&frames, settled, Instant::now());
    let frames_during = sent_between(&frames, first, last);
    let drained = last - first;
    println!(
        "drained {target} events to the AssistX stand-in in {:.2} s from the first accepted: \
         {:.0} events/s (4 at once); caught up {:.2} s after it came back",
        drained.as_secs_f64(),
        target as f64 / drained.as_secs_f64(),
        (last - back).as_secs_f64()
    );
    println!(
        "heartbeat round trip p99: {:?} before the tasks, {:?} while AssistX is down \
         (every event retried each second), {:?} while the backlog drains ({} sent), \
         {:?} after it (the same store, nothing to send)",
        percentile(&quiet, 0.99),
        percentile(&outage, 0.99),
        percentile(&during, 0.99),
        during.len(),
        percentile(&after, 0.99)
    );
    println!(
        "control room frame at 200x50 (50 a second), p99: {:?} while the backlog drains ({} frames), \
         {:?} after it (the same store)",
        percentile(&frames_during, 0.99),
        frames_during.len(),
        percentile(&frames_after, 0.99),
    );
    assert!(standin.accepted_count() >= EVENTS);
    drop(runtime);
}
