//! A full tick of 10,000 candidates on a real SQLite file: normalize, score,
//! store each decision, queue its outbox event, audit the transition, all
//! committed in one transaction.

#[path = "fixtures.rs"]
mod fixtures;

use auto_assign::config::{Overrides, load_with};
use auto_assign::domain::worker::Heartbeat;
use auto_assign::engine::{Command, Core, Reply};
use auto_assign::store::Store;
use auto_assign::wire::Action;
use criterion::{BatchSize, Bencher, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use std::sync::Arc;

fn fresh_core(dir: &std::path::Path, n: usize) -> Core {
    core_on(&dir.join(format!("bench-{n}-{}.sqlite3", uuid_like())))
}

fn core_on(path: &std::path::Path) -> Core {
    let overrides = Overrides {
        database: Some(path.display().to_string()),
        config_file: None,
        operator: Some("bench".into()),
        socket: None,
    };
    let settings = load_with(&overrides, &|_| None).unwrap().settings;
    let store = Store::open(&settings.database_path).unwrap();
    let mut core = Core::new(store, settings, Arc::new(chrono::Utc::now));
    let bodies = fixtures::router();
    core.set_router(bodies.as_object().unwrap()).unwrap();
    core
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn tick(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let candidates = fixtures::candidates(10_000);
    let mut group = c.benchmark_group("tick");
    group.sample_size(10);
    group.throughput(Throughput::Elements(candidates.len() as u64));
    group.bench_function("full_tick_10k_new", |b| {
        time_tick(b, || (fresh_core(dir.path(), 10_000), candidates.clone()))
    });
    // AssistX's task ids are UUIDs in the field: keys that arrive in no
    // particular order.
    let uuids = renamed(&candidates, |id| {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, id.as_bytes()).to_string()
    });
    group.bench_function("full_tick_10k_new_uuid_ids", |b| {
        time_tick(b, || (fresh_core(dir.path(), 10_000), uuids.clone()))
    });
    // The same pass with a fleet of 1,000 workers (issue 12): every
    // recommendation also picks its worker; 4,000 places for 10,000 tasks,
    // so most of the pass also finds the fleet full.
    group.bench_function("full_tick_10k_new_1000_workers", |b| {
        time_tick(b, || {
            let mut core = fresh_core(dir.path(), 10_000);
            join_fleet(&mut core, 1_000);
            (core, candidates.clone())
        })
    });
    // The steady state: the same backlog again, every decision unchanged.
    let mut warm = fresh_core(dir.path(), 10_000);
    warm.apply(tick_of(Some(candidates.clone()))).unwrap();
    group.bench_function("full_tick_10k_unchanged", |b| {
        b.iter_batched(
            || candidates.clone(),
            |items| warm.apply(tick_of(Some(items))).unwrap(),
            BatchSize::PerIteration,
        )
    });
    // An engine with history: 50,000 assignments from five earlier
    // backlogs, then a backlog of 10,000 tasks it has not seen. Each sample
    // starts from a copy of that database, synced to disk so the copy's own
    // writeback does not land inside the timing.
    let seeded = dir.path().join("seeded.sqlite3");
    {
        let mut core = core_on(&seeded);
        for round in 0..5 {
            core.apply(tick_of(Some(renamed(&candidates, |id| {
                format!("old{round}-{id}")
            }))))
            .unwrap();
        }
    }
    let fresh = renamed(&candidates, |id| format!("new-{id}"));
    group.bench_function("full_tick_10k_new_on_50k", |b| {
        time_tick(b, || {
            let path = dir.path().join(format!("copy-{}.sqlite3", uuid_like()));
            std::fs::copy(&seeded, &path).unwrap();
            std::fs::File::open(&path).unwrap().sync_all().unwrap();
            (core_on(&path), fresh.clone())
        })
    });
    group.finish();
}

/// Times one tick of a backlog of 10,000 new tasks on the core `setup`
/// makes; the setup and dropping the core afterwards are not timed.
fn time_tick(b: &mut Bencher, setup: impl FnMut() -> (Core, Vec<Value>)) {
    b.iter_batched(
        setup,
        |(mut core, items)| {
            let reply = core.apply(tick_of(Some(items))).unwrap();
            let Reply::Tick(report) = reply else {
                unreachable!()
            };
            assert_eq!(report.counts.candidates, 10_000);
            core
        },
        BatchSize::PerIteration,
    )
}

/// `count` workers heartbeat, spread over the lanes, four places each.
fn join_fleet(core: &mut Core, count: usize) {
    let lanes = ["local_only", "router_model", "free_api"];
    for i in 0..count {
        let mut hb = Heartbeat::new(&format!("node{}", i % 20), &format!("w{i}"));
        hb.lanes = vec![lanes[i % 3].into(), lanes[(i + 1) % 3].into()];
        hb.capabilities = vec!["python".into()];
        hb.max_concurrent = 4;
        core.apply(Command::Heartbeat(hb)).unwrap();
    }
}

/// The same backlog under other task ids.
fn renamed(items: &[Value], id: impl Fn(&str) -> String) -> Vec<Value> {
    items
        .iter()
        .map(|item| {
            let mut item = item.clone();
            item["task_id"] = id(item["task_id"].as_str().unwrap_or_default()).into();
            item
        })
        .collect()
}

criterion_group!(benches, tick);
criterion_main!(benches);

/// The scheduler pass over `items` that every benchmark here times.
fn tick_of(items: Option<Vec<Value>>) -> Command {
    Command::by(
        "bench",
        Action::Tick {
            dry_run: false,
            candidates: items,
            router: None,
        },
    )
}
