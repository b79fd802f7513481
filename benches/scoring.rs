//! Pure scoring of 10,000 candidates: normalization excluded, the A4 rules
//! and the ids of every decision included.

#[path = "fixtures.rs"]
mod fixtures;

use auto_assign::domain::candidate::Candidate;
use auto_assign::domain::control::ControlMode;
use auto_assign::domain::lane::DEFAULT_LANES;
use auto_assign::domain::router::{RouterBodies, RouterSnapshot};
use auto_assign::domain::scorer::{DecisionContext, ScoringPolicy, decide};
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

criterion_group!(benches, scoring);
criterion_main!(benches);
