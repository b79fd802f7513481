//! Which worker runs a task (contract C): inside a lane, the usable workers
//! are scored and the best one wins, every other one listed with the
//! reason it was not chosen. Pure: a fleet view and a task's needs in, a
//! choice out; the same answer whatever order the workers come in.

pub mod breaker;
pub mod fairness;
#[cfg(test)]
mod tests;

use super::lane::Lane;
use super::worker::{Heartbeat, WorkerStatus};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

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
}

/// Why `w` may not take any task now, whatever it is: a reason code and a
/// sentence, or `None`.
pub fn worker_unusable(w: &FleetWorker) -> Option<(&'static str, String)> {
    if w.stale {
        return Some(("worker_stale", "has stopped sending heartbeats".into()));
    }
    if w.drained || w.status == WorkerStatus::Draining {
        return Some((
            "worker_draining",
            "is draining: it takes nothing new".into(),
        ));
    }
    match w.status {
        WorkerStatus::Offline => return Some(("worker_offline", "is offline".into())),
        WorkerStatus::Degraded => return Some(("worker_degraded", "is degraded".into())),
        _ => {}
    }
    if w.breaker_open {
        return Some((
            "breaker_open",
            "its circuit breaker is open after repeated failures".into(),
        ));
    }
    (w.active >= w.max_concurrent).then(|| {
        (
            "at_capacity",
            format!("is at its limit ({}/{})", w.active, w.max_concurrent),
        )
    })
}

/// Why `w` may not take a task of `need` on `lane`: a reason code and a
/// sentence, or `None` when it may.
pub fn unusable(
    w: &FleetWorker,
    lane: Lane,
    need: &Need,
    policy: &Policy,
) -> Option<(&'static str, String)> {
    let lane = lane.as_str();
    if !w.lanes.iter().any(|l| l.eq_ignore_ascii_case(lane)) {
        return Some(("lane_not_served", format!("does not serve lane {lane}")));
    }
    if let Some(why) = worker_unusable(w) {
        return Some(why);
    }
    let missing: Vec<&str> = need
        .capabilities
        .iter()
        .filter(|c| {
            !w.capabilities
                .iter()
                .any(|have| have.eq_ignore_ascii_case(c))
        })
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Some((
            "missing_capability",
            format!("lacks {}", missing.join(", ")),
        ));
    }
    if policy.owner_filter {
        match (&need.owner, &w.owner) {
            (None, _) => {
                return Some((
                    "owner_unknown",
                    "the task's owner is unknown and the owner filter is on".into(),
                ));
            }
            (Some(want), Some(have)) if want.eq_ignore_ascii_case(have) => {}
            (Some(want), _) => {
                return Some(("owner_mismatch", format!("does not belong to {want}")));
            }
        }
    }
    None
}

/// Contract C's availability multipliers (ready 1.0, sleeping 0.8, busy
/// under its limit 0.5); a worker [`unusable`] would not get here.
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

/// A usable worker's score for a task, with the factors as reasons.
fn score(w: &FleetWorker, need: &Need, weights: &Weights) -> (f64, Vec<String>) {
    let available = availability(w);
    let health = health_score(&w.health);
    // The spread term: the emptier a worker, the more it gets.
    let idle = 1.0 - f64::from(w.active) / f64::from(w.max_concurrent.max(1));
    let cost = 1.0 - or_middling(w.health.cost);
    let affinity = match (&need.owner, &w.owner) {
        (Some(want), Some(have)) if want.eq_ignore_ascii_case(have) => 1.0,
        _ => 0.0,
    };
    let inner = weights.health * health
        + weights.idle * idle
        + weights.cost * cost
        + weights.affinity * affinity;
    let score = round(available * inner);
    let reasons = vec![format!(
        "worker {} chosen: score {score} = availability {available} × (health {} + idle {} + cost {} + affinity {})",
        w.key(),
        round(weights.health * health),
        round(weights.idle * idle),
        round(weights.cost * cost),
        round(weights.affinity * affinity),
    )];
    (score, reasons)
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Higher score, then fewer active tasks, then the longest since last
/// assigned (never first), then `node/worker`: a total order, so the list
/// order never decides.
fn better(a: &(f64, &FleetWorker), b: &(f64, &FleetWorker)) -> Ordering {
    b.0.total_cmp(&a.0)
        .then(a.1.active.cmp(&b.1.active))
        .then(match (a.1.last_assigned_at, b.1.last_assigned_at) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(&y),
        })
        .then_with(|| a.1.key().cmp(&b.1.key()))
}

/// The best usable worker of `workers` for a task of `need` on `lane`, and
/// every other one with its reason.
pub fn select(lane: Lane, need: &Need, workers: &[FleetWorker], policy: &Policy) -> Selection {
    let mut rejected = Vec::new();
    let mut usable: Vec<(f64, &FleetWorker, Vec<String>)> = Vec::new();
    for w in workers {
        match unusable(w, lane, need, policy) {
            Some((code, reason)) => rejected.push(Rejected {
                worker_id: w.worker_id.clone(),
                node_id: w.node_id.clone(),
                reason_code: code.into(),
                reason: format!("{} {reason}", w.key()),
            }),
            None => {
                let (score, reasons) = score(w, need, &policy.weights);
                usable.push((score, w, reasons));
            }
        }
    }
    usable.sort_by(|a, b| better(&(a.0, a.1), &(b.0, b.1)));
    let mut usable = usable.into_iter();
    let chosen = usable.next().map(|(score, w, reasons)| Chosen {
        worker_id: w.worker_id.clone(),
        node_id: w.node_id.clone(),
        score,
        reasons,
    });
    rejected.extend(usable.map(|(score, w, _)| Rejected {
        worker_id: w.worker_id.clone(),
        node_id: w.node_id.clone(),
        reason_code: "lower_score".into(),
        reason: format!("{} scored {score}, below the chosen worker", w.key()),
    }));
    rejected.sort_by(|a, b| (&a.node_id, &a.worker_id).cmp(&(&b.node_id, &b.worker_id)));
    Selection { chosen, rejected }
}
