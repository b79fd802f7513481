//! Which worker runs a task (contract C): inside a lane, the usable workers
//! are scored and the best one wins, every other one listed with the
//! reason it was not chosen. Pure: a fleet view and a task's needs in, a
//! choice out; the same answer whatever order the workers come in.

pub mod breaker;
pub mod fairness;
pub mod pool;
#[cfg(test)]
mod tests;

use super::lane::Lane;
use super::worker::{Heartbeat, WorkerStatus};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A worker as selection sees it, built once per pass from the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetWorker {
    pub node_id: String,
    pub worker_id: String,
    pub lanes: Vec<String>,
    /// Compared case-insensitively: kept lower-case.
    pub capabilities: Vec<String>,
    pub owner: Option<String>,
    pub status: WorkerStatus,
    pub max_concurrent: u32,
    /// Leases held now.
    pub active: u32,
    pub drained: bool,
    pub stale: bool,
    /// Its circuit breaker is open (failing): nothing is sent to it.
    pub breaker_open: bool,
    pub health: Health,
    /// When it was last given work (epoch seconds), for ties.
    pub last_assigned_at: Option<i64>,
}

/// What a worker reports about itself; a figure not reported counts as
/// middling (0.5), neither trusted nor held against it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Health {
    pub success_rate: Option<f64>,
    pub p50_latency_ms: Option<f64>,
    pub uptime_seconds: Option<f64>,
    /// 0 (free) to 1 (dearest).
    pub cost: Option<f64>,
}

impl Health {
    /// From a worker's reported metrics (`success_rate`, `p50_latency_ms`,
    /// `uptime_seconds`, `cost`).
    pub fn from_metrics(metric: impl Fn(&str) -> Option<f64>) -> Health {
        Health {
            success_rate: metric("success_rate"),
            p50_latency_ms: metric("p50_latency_ms"),
            uptime_seconds: metric("uptime_seconds"),
            cost: metric("cost"),
        }
    }
}

impl FleetWorker {
    pub fn key(&self) -> String {
        super::worker::worker_key(&self.node_id, &self.worker_id)
    }

    /// A worker as its last heartbeat describes it, holding `active` leases.
    pub fn from_heartbeat(hb: &Heartbeat, active: u32, drained: bool) -> FleetWorker {
        FleetWorker {
            node_id: hb.node_id.clone(),
            worker_id: hb.worker_id.clone(),
            lanes: hb.lanes.clone(),
            capabilities: hb.capabilities.iter().map(|c| c.to_lowercase()).collect(),
            owner: hb.owner.clone(),
            status: hb.status,
            max_concurrent: hb.max_concurrent,
            active,
            drained,
            stale: false,
            breaker_open: false,
            health: Health::from_metrics(|name| hb.metrics.get(name).copied()),
            last_assigned_at: None,
        }
    }
}

/// What a task asks of the worker that runs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Need {
    pub capabilities: Vec<String>,
    pub owner: Option<String>,
    /// The worker (`node/worker`) the task just failed or timed out on:
    /// another one is chosen when there is one (failover).
    pub failed_on: Option<String>,
}

/// How much each part of a worker's score weighs (the assigner plan's
/// defaults: health 40 %, idle 30 %, cost 20 %, affinity 10 %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub health: f64,
    pub idle: f64,
    pub cost: f64,
    pub affinity: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            health: 0.4,
            idle: 0.3,
            cost: 0.2,
            affinity: 0.1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Policy {
    pub weights: Weights,
    /// Only the task owner's workers; an unknown owner then fails closed.
    pub owner_filter: bool,
}

/// A worker not chosen, and why (contract C: every one is listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub worker_id: String,
    pub node_id: String,
    pub reason_code: String,
    pub reason: String,
}

/// The worker chosen, its score and the factors that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chosen {
    pub worker_id: String,
    pub node_id: String,
    pub score: f64,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Selection {
    pub chosen: Option<Chosen>,
    pub rejected: Vec<Rejected>,
    /// Rejected workers past the listed ones, counted per reason code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unlisted: BTreeMap<String, usize>,
}

/// Why a worker was not chosen: a reason code for machines, and a
/// sentence built only when it is shown (a pass over a large fleet counts
/// far more of them than it lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    LaneNotServed,
    Stale,
    Draining,
    Offline,
    Degraded,
    BreakerOpen,
    AtCapacity,
    MissingCapability,
    OwnerUnknown,
    OwnerMismatch,
    LowerScore,
    FailedHere,
}

impl Why {
    const ALL: [Why; 12] = [
        Why::LaneNotServed,
        Why::Stale,
        Why::Draining,
        Why::Offline,
        Why::Degraded,
        Why::BreakerOpen,
        Why::AtCapacity,
        Why::MissingCapability,
        Why::OwnerUnknown,
        Why::OwnerMismatch,
        Why::LowerScore,
        Why::FailedHere,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Why::LaneNotServed => "lane_not_served",
            Why::Stale => "worker_stale",
            Why::Draining => "worker_draining",
            Why::Offline => "worker_offline",
            Why::Degraded => "worker_degraded",
            Why::BreakerOpen => "breaker_open",
            Why::AtCapacity => "at_capacity",
            Why::MissingCapability => "missing_capability",
            Why::OwnerUnknown => "owner_unknown",
            Why::OwnerMismatch => "owner_mismatch",
            Why::LowerScore => "lower_score",
            Why::FailedHere => "failed_here",
        }
    }

    /// The sentence, said of `w` (without its name) for a task of `need`
    /// on `lane`.
    pub fn sentence(self, w: &FleetWorker, lane: Lane, need: &Need) -> String {
        match self {
            Why::LaneNotServed => format!("does not serve lane {}", lane.as_str()),
            Why::Stale => "has stopped sending heartbeats".into(),
            Why::Draining => "is draining: it takes nothing new".into(),
            Why::Offline => "is offline".into(),
            Why::Degraded => "is degraded".into(),
            Why::BreakerOpen => "its circuit breaker is open after repeated failures".into(),
            Why::AtCapacity => format!("is at its limit ({}/{})", w.active, w.max_concurrent),
            Why::MissingCapability => format!("lacks {}", missing(w, need).join(", ")),
            Why::OwnerUnknown => "the task's owner is unknown and the owner filter is on".into(),
            Why::OwnerMismatch => format!(
                "does not belong to {}",
                need.owner.as_deref().unwrap_or_default()
            ),
            Why::LowerScore => "scored below the chosen worker".into(),
            Why::FailedHere => "the task just failed or timed out here".into(),
        }
    }
}

impl Selection {
    /// The refusals counted per reason code, e.g. `2 at_capacity, 1
    /// worker_stale`; "no workers" for an empty fleet.
    pub fn summary(&self) -> String {
        let mut counts = self.unlisted.clone();
        for r in &self.rejected {
            *counts.entry(r.reason_code.clone()).or_default() += 1;
        }
        if counts.is_empty() {
            return "no workers".into();
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(code, n)| format!("{n} {code}"))
            .collect();
        parts.join(", ")
    }
}

/// Why `w` may not take any task now, whatever it is.
pub fn worker_why_not(w: &FleetWorker) -> Option<Why> {
    if w.stale {
        return Some(Why::Stale);
    }
    if w.drained || w.status == WorkerStatus::Draining {
        return Some(Why::Draining);
    }
    match w.status {
        WorkerStatus::Offline => return Some(Why::Offline),
        WorkerStatus::Degraded => return Some(Why::Degraded),
        _ => {}
    }
    if w.breaker_open {
        return Some(Why::BreakerOpen);
    }
    (w.active >= w.max_concurrent).then_some(Why::AtCapacity)
}

/// The capabilities of `need` that `w` lacks.
fn missing<'a>(w: &FleetWorker, need: &'a Need) -> Vec<&'a str> {
    need.capabilities
        .iter()
        .filter(|c| {
            !w.capabilities
                .iter()
                .any(|have| have.eq_ignore_ascii_case(c))
        })
        .map(String::as_str)
        .collect()
}

/// Whether `w` serves `lane` (case ignored).
fn serves(w: &FleetWorker, lane: Lane) -> bool {
    w.lanes
        .iter()
        .any(|l| l.eq_ignore_ascii_case(lane.as_str()))
}

/// Why `w` may not take a task of `need` on `lane`, or `None` when it may.
pub fn why_not(w: &FleetWorker, lane: Lane, need: &Need, policy: &Policy) -> Option<Why> {
    if !serves(w, lane) {
        return Some(Why::LaneNotServed);
    }
    worker_why_not(w).or_else(|| why_not_for(w, need, policy))
}

/// [`why_not`] for a worker known to serve the lane and to be usable: what
/// the task itself asks.
fn why_not_for(w: &FleetWorker, need: &Need, policy: &Policy) -> Option<Why> {
    let has_all = need.capabilities.iter().all(|c| {
        w.capabilities
            .iter()
            .any(|have| have.eq_ignore_ascii_case(c))
    });
    if !has_all {
        return Some(Why::MissingCapability);
    }
    if policy.owner_filter {
        match (&need.owner, &w.owner) {
            (None, _) => return Some(Why::OwnerUnknown),
            (Some(want), Some(have)) if want.eq_ignore_ascii_case(have) => {}
            (Some(_), _) => return Some(Why::OwnerMismatch),
        }
    }
    let failed_here = need
        .failed_on
        .as_deref()
        .and_then(|key| key.split_once('/'))
        .is_some_and(|(node, worker)| node == w.node_id && worker == w.worker_id);
    failed_here.then_some(Why::FailedHere)
}

/// Contract C's availability multipliers (ready 1.0, sleeping 0.8, busy
/// under its limit 0.5); a worker [`why_not`] refuses would not get here.
fn availability(w: &FleetWorker) -> f64 {
    match w.status {
        WorkerStatus::Ready if w.active == 0 => 1.0,
        WorkerStatus::Sleeping => 0.8,
        _ => 0.5,
    }
}

fn or_middling(value: Option<f64>) -> f64 {
    value
        .filter(|v| v.is_finite())
        .map_or(0.5, |v| v.clamp(0.0, 1.0))
}

/// Health from 0 to 1: success rate, latency and uptime weighted 0.4 /
/// 0.3 / 0.3 (the assigner plan). A second of median latency halves the
/// latency part; a day of uptime fills the uptime part.
pub fn health_score(h: &Health) -> f64 {
    let latency = h
        .p50_latency_ms
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|ms| 1.0 / (1.0 + ms / 1000.0));
    let uptime = h
        .uptime_seconds
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|s| s / 86_400.0);
    0.4 * or_middling(h.success_rate) + 0.3 * or_middling(latency) + 0.3 * or_middling(uptime)
}

/// The parts of a worker's score that no task changes: weighted health
/// and cost.
fn fixed_part(w: &FleetWorker, health: f64, weights: &Weights) -> f64 {
    weights.health * health + weights.cost * (1.0 - or_middling(w.health.cost))
}

/// A usable worker's score for a task, from its [`fixed_part`]: what a
/// pass compares (the same as [`Score`]'s value, unrounded).
fn score_value(w: &FleetWorker, fixed: f64, need: &Need, weights: &Weights) -> f64 {
    let idle = 1.0 - f64::from(w.active) / f64::from(w.max_concurrent.max(1));
    let affinity = match (&need.owner, &w.owner) {
        (Some(want), Some(have)) if want.eq_ignore_ascii_case(have) => 1.0,
        _ => 0.0,
    };
    availability(w) * (fixed + weights.idle * idle + weights.affinity * affinity)
}

/// A usable worker's score for a task, and the weighted parts it is made
/// of.
struct Score {
    value: f64,
    available: f64,
    parts: [f64; 4],
}

impl Score {
    /// `health` is `health_score(&w.health)`, worked out once per pass.
    fn of(w: &FleetWorker, health: f64, need: &Need, weights: &Weights) -> Score {
        let available = availability(w);
        // The spread term: the emptier a worker, the more it gets.
        let idle = 1.0 - f64::from(w.active) / f64::from(w.max_concurrent.max(1));
        let cost = 1.0 - or_middling(w.health.cost);
        let affinity = match (&need.owner, &w.owner) {
            (Some(want), Some(have)) if want.eq_ignore_ascii_case(have) => 1.0,
            _ => 0.0,
        };
        let parts = [
            weights.health * health,
            weights.idle * idle,
            weights.cost * cost,
            weights.affinity * affinity,
        ];
        Score {
            value: round(available * parts.iter().sum::<f64>()),
            available,
            parts,
        }
    }

    /// The factors, as the chosen worker's reason.
    fn reason(&self, w: &FleetWorker) -> String {
        let [health, idle, cost, affinity] = self.parts.map(round);
        format!(
            "worker {} chosen: score {} = availability {} × (health {health} + idle {idle} + cost {cost} + affinity {affinity})",
            w.key(),
            self.value,
            self.available,
        )
    }
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Higher score, then fewer active tasks, then the longest since last
/// assigned (never first), then `node/worker` (given as each worker's
/// place in that order): a total order, so the list order never decides.
fn better(a: (f64, &FleetWorker, usize), b: (f64, &FleetWorker, usize)) -> Ordering {
    b.0.total_cmp(&a.0)
        .then(a.1.active.cmp(&b.1.active))
        .then(match (a.1.last_assigned_at, b.1.last_assigned_at) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(&y),
        })
        .then(a.2.cmp(&b.2))
}

/// `node`, then `worker`: the order workers are listed in.
fn order(a: &FleetWorker, b: &FleetWorker) -> Ordering {
    (&a.node_id, &a.worker_id).cmp(&(&b.node_id, &b.worker_id))
}
