//! Pure scoring of 10,000 candidates: normalization excluded, the A4 rules
//! and the ids of every decision included.

#[path = "fixtures.rs"]
mod fixtures;

use auto_assign::domain::candidate::Candidate;
use auto_assign::domain::control::ControlMode;
use auto_assign::domain::fleet::pool::{LISTED, Pool};
use auto_assign::domain::fleet::{FleetWorker, Policy};
use auto_assign::domain::lane::DEFAULT_LANES;
use auto_assign::domain::router::{RouterBodies, RouterSnapshot};
use auto_assign::domain::scorer::{DecisionContext, ScoringPolicy, decide, place};
use auto_assign::domain::worker::Heartbeat;
use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn scoring(c: &mut Criterion) {
    let candidates: Vec<Candidate> = fixtures::candidates(10_000)
        .iter()
        .map(|v| Candidate::from_json(v).unwrap())
        .collect();
    let bodies: RouterBodies = serde_json::from_value(fixtures::router()).unwrap();
    let router = RouterSnapshot::from_bodies(&bodies);
    let policy = ScoringPolicy::default();
    let ctx = DecisionContext {
        policy: &policy,
        router: &router,
        control: ControlMode::Enabled,
        lanes: None,
        default_lanes: &DEFAULT_LANES,
        canonical_status: None,
        now: Utc::now(),
        lease_seconds: 900,
        cache_only: true,
    };
    let mut group = c.benchmark_group("scoring");
    group.throughput(Throughput::Elements(candidates.len() as u64));
    group.bench_function("decide_10k", |b| {
        b.iter(|| {
            for candidate in &candidates {
                black_box(decide(black_box(candidate), &ctx));
            }
        })
    });
    // The worker choice alone (issue 12's goal: at most 50 ms more than
    // deciding): 1,000 workers over two lanes each, four places each.
    let fleet = fleet(1_000);
    group.bench_function("decide_and_place_10k_1000_workers", |b| {
        b.iter(|| {
            let mut pool = Pool::new(fleet.clone(), Policy::default(), LISTED);
            for candidate in &candidates {
                let mut decision = decide(black_box(candidate), &ctx);
                place(&mut decision, candidate, &ctx, None, &mut pool);
                black_box(decision);
            }
        })
    });
    let raw = fixtures::candidates(10_000);
    group.bench_function("normalize_and_decide_10k", |b| {
        b.iter(|| {
            for item in &raw {
                let candidate = Candidate::from_json(black_box(item)).unwrap();
                black_box(decide(&candidate, &ctx));
            }
        })
    });
    group.finish();
}

/// `count` workers spread over the lanes, four places each.
fn fleet(count: usize) -> Vec<FleetWorker> {
    let lanes = ["local_only", "router_model", "free_api"];
    (0..count)
        .map(|i| {
            let mut hb = Heartbeat::new(&format!("node{}", i % 20), &format!("w{i}"));
            hb.lanes = vec![lanes[i % 3].into(), lanes[(i + 1) % 3].into()];
            hb.capabilities = vec!["python".into()];
            hb.max_concurrent = 4;
            FleetWorker::from_heartbeat(&hb, 0, false)
        })
        .collect()
}

criterion_group!(benches, scoring);
criterion_main!(benches);
