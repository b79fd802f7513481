use super::*;
use proptest::prelude::*;

pub(super) fn worker(node: &str, id: &str) -> FleetWorker {
    FleetWorker {
        node_id: node.into(),
        worker_id: id.into(),
        lanes: vec!["local_only".into()],
        capabilities: vec!["python".into()],
        owner: Some("scott".into()),
        status: WorkerStatus::Ready,
        max_concurrent: 2,
        active: 0,
        drained: false,
        stale: false,
        breaker_open: false,
        health: Health::default(),
        last_assigned_at: None,
    }
}

pub(super) fn need(capabilities: &[&str]) -> Need {
    Need {
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        owner: Some("scott".into()),
        failed_on: None,
    }
}

/// The choice in `lane` among `workers`, every rejected worker listed.
fn select(lane: Lane, need: &Need, workers: &[FleetWorker], policy: &Policy) -> Selection {
    pool::Pool::new(workers.to_vec(), *policy, usize::MAX)
        .choose(lane, need)
        .0
}

fn chosen(s: &Selection) -> Option<String> {
    s.chosen
        .as_ref()
        .map(|c| format!("{}/{}", c.node_id, c.worker_id))
}

fn code_of(s: &Selection, worker: &str) -> String {
    s.rejected
        .iter()
        .find(|r| r.worker_id == worker)
        .map(|r| r.reason_code.clone())
        .unwrap_or_default()
}

#[test]
fn capabilities_are_all_of_and_case_insensitive() {
    let mut a = worker("n1", "a");
    a.capabilities = vec!["python".into(), "gpu".into()];
    let b = worker("n1", "b");
    let s = select(
        Lane::LocalOnly,
        &need(&["GPU", "Python"]),
        &[a, b],
        &Policy::default(),
    );
    assert_eq!(chosen(&s).as_deref(), Some("n1/a"));
    assert_eq!(code_of(&s, "b"), "missing_capability");
    assert!(s.rejected[0].reason.contains("lacks GPU"), "{s:?}");
}

#[test]
fn no_requirement_matches_every_worker_and_the_idle_one_wins() {
    let mut busy = worker("n1", "busy");
    busy.active = 1;
    busy.status = WorkerStatus::Busy;
    let idle = worker("n2", "idle");
    let s = select(
        Lane::LocalOnly,
        &need(&[]),
        &[busy, idle],
        &Policy::default(),
    );
    assert_eq!(chosen(&s).as_deref(), Some("n2/idle"));
    assert_eq!(code_of(&s, "busy"), "lower_score");
    let reason = &s.chosen.unwrap().reasons[0];
    assert!(reason.contains("availability 1"), "{reason}");
}

#[test]
fn every_unusable_state_has_its_code() {
    let mut workers = Vec::new();
    let mut add = |id: &str, change: &dyn Fn(&mut FleetWorker)| {
        let mut w = worker("n1", id);
        change(&mut w);
        workers.push(w);
    };
    add("lane", &|w| w.lanes = vec!["free_api".into()]);
    add("stale", &|w| w.stale = true);
    add("drained", &|w| w.drained = true);
    add("draining", &|w| w.status = WorkerStatus::Draining);
    add("offline", &|w| w.status = WorkerStatus::Offline);
    add("degraded", &|w| w.status = WorkerStatus::Degraded);
    add("breaker", &|w| w.breaker_open = true);
    add("full", &|w| w.active = 2);
    add("other", &|w| w.owner = Some("alice".into()));
    let policy = Policy {
        owner_filter: true,
        ..Policy::default()
    };
    let s = select(Lane::LocalOnly, &need(&[]), &workers, &policy);
    assert_eq!(
        s.chosen, None,
        "a degraded worker is never chosen, even alone"
    );
    for (id, code) in [
        ("lane", "lane_not_served"),
        ("stale", "worker_stale"),
        ("drained", "worker_draining"),
        ("draining", "worker_draining"),
        ("offline", "worker_offline"),
        ("degraded", "worker_degraded"),
        ("breaker", "breaker_open"),
        ("full", "at_capacity"),
        ("other", "owner_mismatch"),
    ] {
        assert_eq!(code_of(&s, id), code, "{id}");
    }
}

#[test]
fn the_owner_filter_fails_closed_when_the_owner_is_unknown() {
    let policy = Policy {
        owner_filter: true,
        ..Policy::default()
    };
    let unknown = Need {
        capabilities: Vec::new(),
        owner: None,
        failed_on: None,
    };
    let s = select(Lane::LocalOnly, &unknown, &[worker("n1", "a")], &policy);
    assert_eq!(s.chosen, None);
    assert_eq!(code_of(&s, "a"), "owner_unknown");
    // Filter off: anyone's worker.
    let s = select(
        Lane::LocalOnly,
        &unknown,
        &[worker("n1", "a")],
        &Policy::default(),
    );
    assert_eq!(chosen(&s).as_deref(), Some("n1/a"));
}

#[test]
fn ties_go_to_fewer_active_then_longest_unassigned_then_the_name() {
    let (a, mut b) = (worker("n1", "a"), worker("n1", "b"));
    b.last_assigned_at = Some(100);
    let s = select(
        Lane::LocalOnly,
        &need(&[]),
        &[b.clone(), a.clone()],
        &Policy::default(),
    );
    assert_eq!(
        chosen(&s).as_deref(),
        Some("n1/a"),
        "never assigned goes first"
    );
    let mut a2 = a.clone();
    a2.last_assigned_at = Some(200);
    let s = select(Lane::LocalOnly, &need(&[]), &[a2, b], &Policy::default());
    assert_eq!(chosen(&s).as_deref(), Some("n1/b"), "assigned longest ago");
    let s = select(
        Lane::LocalOnly,
        &need(&[]),
        &[worker("n2", "z"), worker("n1", "z")],
        &Policy::default(),
    );
    assert_eq!(chosen(&s).as_deref(), Some("n1/z"), "then the name");
}

#[test]
fn health_weighs_success_latency_and_uptime() {
    let perfect = Health {
        success_rate: Some(1.0),
        p50_latency_ms: Some(0.0),
        uptime_seconds: Some(86_400.0),
        cost: None,
    };
    assert!((health_score(&perfect) - 1.0).abs() < 1e-9);
    assert!((health_score(&Health::default()) - 0.5).abs() < 1e-9);
    let flaky = Health {
        success_rate: Some(0.2),
        ..perfect
    };
    assert!(health_score(&flaky) < health_score(&perfect));
    let nonsense = Health {
        success_rate: Some(f64::NAN),
        p50_latency_ms: Some(-5.0),
        uptime_seconds: Some(f64::INFINITY),
        cost: Some(7.0),
    };
    assert!(
        (health_score(&nonsense) - 0.5).abs() < 1e-9,
        "bad figures count as unknown"
    );
}

fn any_worker() -> impl Strategy<Value = FleetWorker> {
    (
        (0u8..3, 0u8..6),
        proptest::sample::subsequence(vec!["local_only", "router_model", "free_api"], 0..=3),
        proptest::sample::subsequence(vec!["python", "GPU", "rust"], 0..=3),
        prop_oneof![Just(None), Just(Some("scott")), Just(Some("alice"))],
        0usize..6,
        (1u32..4, 0u32..5),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (
            proptest::option::of(0.0f64..1.0),
            proptest::option::of(0u32..3_000),
        ),
        proptest::option::of(0i64..1000),
    )
        .prop_map(
            |(
                (n, w),
                lanes,
                caps,
                owner,
                status,
                (max, active),
                (drained, stale, open),
                (rate, ms),
                last,
            )| {
                FleetWorker {
                    node_id: format!("n{n}"),
                    worker_id: format!("w{w}"),
                    lanes: lanes.into_iter().map(str::to_string).collect(),
                    capabilities: caps.into_iter().map(|c| c.to_lowercase()).collect(),
                    owner: owner.map(str::to_string),
                    status: [
                        WorkerStatus::Ready,
                        WorkerStatus::Sleeping,
                        WorkerStatus::Busy,
                        WorkerStatus::Degraded,
                        WorkerStatus::Draining,
                        WorkerStatus::Offline,
                    ][status],
                    max_concurrent: max,
                    active: active.min(max + 1),
                    drained,
                    stale,
                    breaker_open: open,
                    health: Health {
                        success_rate: rate,
                        p50_latency_ms: ms.map(f64::from),
                        ..Health::default()
                    },
                    last_assigned_at: last,
                }
            },
        )
}

fn any_need() -> impl Strategy<Value = Need> {
    (
        proptest::sample::subsequence(vec!["python", "gpu", "Rust"], 0..=2),
        prop_oneof![Just(None), Just(Some("scott")), Just(Some("alice"))],
    )
        .prop_map(|(caps, owner)| Need {
            capabilities: caps.into_iter().map(str::to_string).collect(),
            owner: owner.map(str::to_string),
            failed_on: None,
        })
}

/// One worker per name: the registry holds one row per `node/worker`.
fn distinct(workers: Vec<FleetWorker>) -> Vec<FleetWorker> {
    let mut seen = std::collections::BTreeSet::new();
    workers
        .into_iter()
        .filter(|w| seen.insert(w.key()))
        .collect()
}

proptest! {
    /// Whatever the fleet, the chosen worker serves the lane, has every
    /// capability, is under its limit, and is not stale, draining,
    /// degraded, offline, behind an open breaker or (filter on) another
    /// owner's.
    #[test]
    fn the_chosen_worker_is_always_usable(
        workers in proptest::collection::vec(any_worker(), 0..12),
        need in any_need(),
        owner_filter in any::<bool>(),
    ) {
        let workers = distinct(workers);
        let policy = Policy { owner_filter, ..Policy::default() };
        let s = select(Lane::LocalOnly, &need, &workers, &policy);
        if let Some(c) = &s.chosen {
            let w = workers.iter().find(|w| w.node_id == c.node_id && w.worker_id == c.worker_id).unwrap();
            prop_assert!(w.lanes.iter().any(|l| l == "local_only"));
            for cap in &need.capabilities {
                prop_assert!(w.capabilities.iter().any(|have| have.eq_ignore_ascii_case(cap)));
            }
            prop_assert!(w.active < w.max_concurrent);
            prop_assert!(!w.stale && !w.drained && !w.breaker_open);
            prop_assert!(!matches!(w.status, WorkerStatus::Degraded | WorkerStatus::Draining | WorkerStatus::Offline));
            if owner_filter {
                prop_assert!(need.owner.is_some());
                prop_assert_eq!(w.owner.as_deref().map(str::to_lowercase), need.owner.as_deref().map(str::to_lowercase));
            }
        }
        prop_assert_eq!(s.rejected.len() + usize::from(s.chosen.is_some()), workers.len());
    }

    /// The order the workers come in never changes the choice.
    #[test]
    fn the_choice_does_not_depend_on_the_order_of_the_workers(
        workers in proptest::collection::vec(any_worker(), 0..12),
        need in any_need(),
        seed in any::<u64>(),
    ) {
        let workers = distinct(workers);
        let mut shuffled = workers.clone();
        let n = shuffled.len();
        for i in 0..n {
            let j = (seed.wrapping_mul(i as u64 + 7) % n as u64) as usize;
            shuffled.swap(i, j);
        }
        let a = select(Lane::LocalOnly, &need, &workers, &Policy::default());
        let b = select(Lane::LocalOnly, &need, &shuffled, &Policy::default());
        prop_assert_eq!(a, b);
    }
}
