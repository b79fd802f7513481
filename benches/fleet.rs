//! `next` at scale: 10,000 tasks waiting, 1,000 workers heartbeating, each
//! asking for work once. Prints the round trip of `next` (it reads every
//! waiting assignment on the worker's lanes, checks the fleet rules and
//! claims the first by effective priority) and the process's RSS.
//!
//! `cargo bench --bench fleet`

#[path = "load.rs"]
mod load;

use load::{offer_tasks, percentile, round_trips, start};

const TASKS: usize = 10_000;
const WORKERS: usize = 1_000;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (socket, runtime) = start(dir.path(), &[("AUTO_ASSIGN_MAX_QUEUE_DEPTH", "0")]);
    round_trips(&socket, 1_000, 1, |i| {
        format!(
            "{{\"op\":\"heartbeat\",\"id\":{i},\"node_id\":\"bench\",\"worker_id\":\"w{i}\",\"lanes\":[\"local_only\"],\"capabilities\":[\"python\"]}}\n"
        )
    });
    // Each task arrives as its own event, so each is decided (and given a
    // worker) on arrival, with the whole fleet known.
    let started = std::time::Instant::now();
    offer_tasks(&socket, TASKS);
    let intake = started.elapsed();
    println!(
        "{TASKS} task events decided on arrival with {WORKERS} workers: {:.2} s ({:.0} events/s); RSS {:.0} MiB",
        intake.as_secs_f64(),
        TASKS as f64 / intake.as_secs_f64(),
        rss_mib()
    );
    let samples = round_trips(&socket, 50, 20, |i| {
        format!(
            "{{\"op\":\"next\",\"id\":{i},\"node_id\":\"bench\",\"worker_id\":\"w{}\"}}\n",
            i % WORKERS
        )
    });
    println!(
        "next with {TASKS} waiting and {WORKERS} workers: p50 {:?}, p99 {:?}, max {:?} ({} asks); RSS {:.0} MiB",
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default(),
        samples.len(),
        rss_mib()
    );
    drop(runtime);
}
