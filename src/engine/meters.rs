//! What the engine did, counted as it commits, for `/metrics`: the old
//! service's four counters under their old names (so its dashboards keep
//! working), decisions by outcome, and how long each tick took. Kept as
//! prometheus-client's own types, which the HTTP door registers as they
//! are; they count from the process's start, as Prometheus expects.

use crate::wire::{Command, Reply};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::time::Duration;

pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
pub struct Meters {
    /// `auto_assign_events_ingested_total{event_type, status}`.
    pub events_ingested: Family<Labels, Counter>,
    /// `auto_assign_assignments_created_total{status}`: decisions stored.
    pub assignments_created: Family<Labels, Counter>,
    /// `auto_assign_heartbeats_recorded_total{status}`.
    pub heartbeats_recorded: Family<Labels, Counter>,
    /// `auto_assign_scheduler_ticks_total{result}`.
    pub scheduler_ticks: Family<Labels, Counter>,
    /// `auto_assign_scheduler_tick_duration_seconds`.
    pub tick_seconds: Histogram,
    /// `auto_assign_socket_requests_total{op, result}`.
    pub socket_requests: Family<Labels, Counter>,
    /// `auto_assign_socket_request_duration_seconds{op}`: from the line
    /// read to its committed reply.
    pub socket_seconds: Family<Labels, Histogram, fn() -> Histogram>,
}

/// 0.1 ms to about 1.6 s: a request's time at a door.
pub fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

impl Default for Meters {
    fn default() -> Self {
        Meters {
            events_ingested: Family::default(),
            assignments_created: Family::default(),
            heartbeats_recorded: Family::default(),
            scheduler_ticks: Family::default(),
            // 1 ms to about 16 s.
            tick_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            socket_requests: Family::default(),
            socket_seconds: Family::new_with_constructor(request_buckets),
        }
    }
}

/// What a command will count once committed, read before it is handed
/// to the store.
#[derive(Debug, Clone)]
pub enum Metered {
    Heartbeat {
        status: String,
    },
    Event {
        event_type: String,
    },
    Tick,
    /// Any other command that decides (evaluate, process events).
    Decides,
}

impl Metered {
    pub fn of(command: &Command) -> Option<Metered> {
        match command {
            Command::Heartbeat(h) => Some(Metered::Heartbeat {
                status: h.status.to_string(),
            }),
            Command::Event { event } => Some(Metered::Event {
                event_type: event
                    .get("event_type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("unknown")
                    .chars()
                    .take(80)
                    .collect(),
            }),
            c if c.is_tick() => Some(Metered::Tick),
            c if c.is_pass() => Some(Metered::Decides),
            _ => None,
        }
    }
}

fn one(family: &Family<Labels, Counter>, labels: Labels) {
    family.get_or_create(&labels).inc();
}

impl Meters {
    /// One socket request answered (`ok`) or refused by the engine.
    pub fn socket(&self, op: &str, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "refused" };
        one(
            &self.socket_requests,
            vec![("op", op.to_string()), ("result", result.into())],
        );
        self.socket_seconds
            .get_or_create(&vec![("op", op.to_string())])
            .observe(took.as_secs_f64());
    }

    /// Counts one committed (or, `Err`, refused) command.
    pub fn count(&self, what: &Metered, reply: Result<&Reply, ()>, took: Duration) {
        match (what, reply) {
            (Metered::Heartbeat { status }, Ok(_)) => {
                one(&self.heartbeats_recorded, vec![("status", status.clone())]);
            }
            (Metered::Event { event_type }, reply) => {
                let status = match reply {
                    Ok(Reply::Ingested(i)) => serde_json::to_value(i.mirrored)
                        .map_or("new".into(), |v| v.as_str().unwrap_or("new").to_string()),
                    _ => "refused".to_string(),
                };
                let labels = vec![("event_type", event_type.clone()), ("status", status)];
                one(&self.events_ingested, labels);
            }
            (Metered::Tick, reply) => {
                let result = match reply {
                    Ok(Reply::Tick(t)) if t.note.is_some() => "held",
                    Ok(_) => "ok",
                    Err(()) => "error",
                };
                one(&self.scheduler_ticks, vec![("result", result.into())]);
                self.tick_seconds.observe(took.as_secs_f64());
            }
            _ => {}
        }
        if let Ok(reply) = reply {
            for status in decided(reply) {
                one(&self.assignments_created, vec![("status", status)]);
            }
        }
    }
}

/// The statuses of the decisions a reply says were stored.
fn decided(reply: &Reply) -> Vec<String> {
    let outcomes = match reply {
        Reply::Tick(t) => &t.outcomes,
        Reply::Outcomes(o) => o,
        Reply::Ingested(i) => {
            return i
                .processed
                .iter()
                .filter_map(|p| p.decided)
                .map(|s| s.to_string())
                .collect();
        }
        _ => return Vec::new(),
    };
    outcomes
        .iter()
        .filter(|o| o.result == "decided")
        .filter_map(|o| o.decision.as_ref())
        .map(|d| d.status.to_string())
        .collect()
}
