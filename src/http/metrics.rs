//! `/metrics` in Prometheus' text format, written with `prometheus-client`.
//! The old service's names are kept (`auto_assign_active_assignments`,
//! `auto_assign_stale_heartbeats`, `auto_assign_outbox_pending`, the HTTP
//! request counter and histogram) so existing dashboards keep working; the
//! rest say what the snapshot knows. The figures are the engine's latest
//! snapshot, read at each scrape: none is a counter kept here that could
//! stick at zero, except the door's own requests.

use crate::engine::Snapshot;
use crate::engine::meters::{Meters, request_buckets};
use crate::engine::snapshot::HealthState;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

/// The HTTP door's own requests, counted as they end.
#[derive(Clone)]
pub(super) struct Requests {
    total: Family<Labels, Counter>,
    seconds: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            total: Family::default(),
            seconds: Family::new_with_constructor(request_buckets),
        }
    }
}

impl Requests {
    pub(super) fn record(&self, path: &str, method: &str, status: u16, took: Duration) {
        let (path, method) = (path.to_string(), method.to_string());
        self.total
            .get_or_create(&vec![
                ("path", path.clone()),
                ("method", method.clone()),
                ("status", status.to_string()),
            ])
            .inc();
        self.seconds
            .get_or_create(&vec![("path", path), ("method", method)])
            .observe(took.as_secs_f64());
    }
}

/// A gauge family filled from `rows` of (labels, value).
fn gauges(rows: impl IntoIterator<Item = (Labels, i64)>) -> Family<Labels, Gauge> {
    let family = Family::<Labels, Gauge>::default();
    for (labels, value) in rows {
        family.get_or_create(&labels).set(value);
    }
    family
}

fn gauge(value: i64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(value);
    gauge
}

/// The text Prometheus scrapes.
pub(super) fn render(
    s: &Snapshot,
    requests: &Requests,
    done: &Meters,
) -> Result<String, std::fmt::Error> {
    let mut r = Registry::default();
    engine_counters(&mut r, done);
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let leased = s
        .status_counts
        .iter()
        .filter(|(status, _)| status.holds_lease())
        .map(|(_, n)| *n)
        .sum();
    let stale = s.workers.iter().filter(|w| w.stale).count() as u64;
    r.register(
        "auto_assign_active_assignments",
        "Assignments claimed or running",
        gauge(count(leased)),
    );
    r.register(
        "auto_assign_stale_heartbeats",
        "Workers whose heartbeats stopped",
        gauge(count(stale)),
    );
    r.register(
        "auto_assign_outbox_pending",
        "Outbox events not yet delivered to AssistX",
        gauge(count(s.outbox.pending + s.outbox.failed)),
    );
    r.register(
        "auto_assign_http_requests",
        "HTTP requests",
        requests.total.clone(),
    );
    r.register(
        "auto_assign_http_request_duration_seconds",
        "HTTP request duration",
        requests.seconds.clone(),
    );
    r.register(
        "auto_assign_queue_depth",
        "Waiting, gated and blocked assignments by status, lane and priority",
        gauges(s.queue.iter().map(|q| {
            let labels = vec![
                ("status", q.status.as_str().to_string()),
                ("lane", q.lane.as_str().to_string()),
                ("priority", q.priority.clone()),
            ];
            (labels, count(q.count))
        })),
    );
    r.register(
        "auto_assign_assignments",
        "Assignments by status",
        gauges(
            s.status_counts
                .iter()
                .map(|(status, n)| (vec![("status", status.as_str().to_string())], count(*n))),
        ),
    );
    let outbox = &s.outbox;
    r.register(
        "auto_assign_outbox_events",
        "Outbox events by delivery status and destination",
        gauges(
            [
                ("pending", outbox.pending),
                ("failed", outbox.failed),
                ("delivered", outbox.delivered),
                ("conflict", outbox.conflict),
                ("dead_letter", outbox.dead_letter),
            ]
            .into_iter()
            .map(|(status, n)| {
                let labels = vec![
                    ("status", status.to_string()),
                    ("destination", "assistx".to_string()),
                ];
                (labels, count(n))
            }),
        ),
    );
    let lag = outbox.oldest_pending_at.map_or(0.0, |at| {
        (s.taken_at - at).num_milliseconds().max(0) as f64 / 1000.0
    });
    let oldest = Gauge::<f64, AtomicU64>::default();
    oldest.set(lag);
    r.register(
        "auto_assign_outbox_oldest_pending_seconds",
        "Age of the oldest event not yet delivered (the write-back lag)",
        oldest,
    );
    let mut by_status = std::collections::BTreeMap::<String, u64>::new();
    for w in &s.workers {
        *by_status.entry(w.status.as_str().to_string()).or_default() += 1;
    }
    r.register(
        "auto_assign_workers",
        "Workers by reported status",
        gauges(
            by_status
                .into_iter()
                .map(|(status, n)| (vec![("status", status)], count(n))),
        ),
    );
    let open = s
        .workers
        .iter()
        .filter(|w| w.breaker.opened_at.is_some())
        .count() as u64;
    r.register(
        "auto_assign_breakers_open",
        "Workers whose circuit breaker is open or half-open",
        gauge(count(open)),
    );
    r.register(
        "auto_assign_dependency_up",
        "Whether each dependency answered last time (1) or not (0)",
        gauges(s.health.iter().map(|h| {
            let up = i64::from(h.state == HealthState::Ok);
            (vec![("dependency", h.name.clone())], up)
        })),
    );
    // Every kind, 0 when it does not hold, so a dashboard sees it clear.
    let mut alerts: std::collections::BTreeMap<String, u64> = crate::domain::alerts::KINDS
        .iter()
        .map(|k| (k.to_string(), 0))
        .collect();
    for a in &s.alerts {
        *alerts.entry(a.code.clone()).or_default() += 1;
    }
    r.register(
        "auto_assign_alerts",
        "The fleet's alerts holding now, by kind",
        gauges(
            alerts
                .into_iter()
                .map(|(code, n)| (vec![("alert", code)], count(n))),
        ),
    );
    let rejected = Family::<Labels, Counter>::default();
    for (reason, n) in &s.rejected_lines {
        rejected
            .get_or_create(&vec![("reason", reason.clone())])
            .inc_by(*n);
    }
    r.register(
        "auto_assign_socket_rejected_lines",
        "Socket lines refused, by reason",
        rejected,
    );
    let mut text = String::new();
    encode(&mut text, &r)?;
    Ok(text)
}

/// What the engine counted as it committed: the old service's four
/// counters under their names, the tick's duration, the socket's requests.
fn engine_counters(r: &mut Registry, done: &Meters) {
    r.register(
        "auto_assign_events_ingested",
        "Events ingested, by type and whether they were new",
        done.events_ingested.clone(),
    );
    r.register(
        "auto_assign_assignments_created",
        "Decisions stored, by the status they gave",
        done.assignments_created.clone(),
    );
    r.register(
        "auto_assign_heartbeats_recorded",
        "Heartbeats recorded, by the status they reported",
        done.heartbeats_recorded.clone(),
    );
    r.register(
        "auto_assign_scheduler_ticks",
        "Scheduler ticks, by result (ok, held by the control mode, error)",
        done.scheduler_ticks.clone(),
    );
    r.register(
        "auto_assign_scheduler_tick_duration_seconds",
        "How long a scheduler tick took, its commit included",
        done.tick_seconds.clone(),
    );
    r.register(
        "auto_assign_socket_requests",
        "Socket requests answered, by op and result",
        done.socket_requests.clone(),
    );
    r.register(
        "auto_assign_socket_request_duration_seconds",
        "Socket requests' time from the line read to the committed reply",
        done.socket_seconds.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;

    #[test]
    fn the_old_names_and_the_new_figures_are_written() {
        let requests = Requests::default();
        requests.record("/health", "GET", 200, Duration::from_millis(2));
        requests.record("unmatched", "GET", 404, Duration::from_millis(1));
        let text = render(&fixtures::busy(), &requests, &Meters::default()).unwrap();
        for name in [
            "auto_assign_active_assignments ",
            "auto_assign_stale_heartbeats 1",
            "auto_assign_outbox_pending ",
            "auto_assign_http_requests_total{path=\"/health\",method=\"GET\",status=\"200\"} 1",
            "auto_assign_http_requests_total{path=\"unmatched\",method=\"GET\",status=\"404\"} 1",
            "auto_assign_scheduler_tick_duration_seconds_count 0",
            "auto_assign_http_request_duration_seconds_bucket",
            "auto_assign_queue_depth{",
            "auto_assign_assignments{status=",
            "auto_assign_outbox_events{status=\"pending\",destination=\"assistx\"}",
            "auto_assign_workers{status=",
            "auto_assign_dependency_up{dependency=\"router\"} 0",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
