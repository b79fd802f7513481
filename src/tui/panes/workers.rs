//! Workers as their heartbeats describe them, with the leases they hold.

use super::{Detail, Info, PaneView, extra, gone, grow, leases_by_worker, status, text, whole};
use crate::domain::fleet::breaker::{BreakerPolicy, BreakerState};
use crate::domain::fleet::{Health, health_score};
use crate::domain::worker::WorkerStatus;
use crate::engine::Snapshot;
use crate::engine::snapshot::Worker;
use crate::tui::attention::{Heard, heard};
use crate::tui::clock::Now;
use crate::tui::rows::{Row, Tone};
use chrono::{DateTime, Utc};

pub struct Workers;

/// The breaker as of the snapshot (its cool-down is the engine's setting).
fn breaker_state(w: &Worker, s: &Snapshot) -> BreakerState {
    let policy = BreakerPolicy {
        failures: 1,
        cooldown_seconds: s.limits.breaker_cooldown_seconds,
    };
    w.breaker.state(&policy, s.taken_at)
}

/// A worker heard from, with nothing else to say: its own status.
fn plain(w: &Worker) -> (Tone, String) {
    let tone = if matches!(w.status, WorkerStatus::Degraded | WorkerStatus::Offline) {
        Tone::Warn
    } else {
        Tone::Normal
    };
    (tone, w.status.to_string())
}

const INFO: Info = Info {
    title: "Workers",
    command: "workers",
    columns: &[
        whole("NODE"),
        whole("WORKER"),
        status("STATUS"),
        grow("LANES", 10),
        text("CAPS", 8),
        whole("LOAD"),
        extra("HEALTH"),
        whole("SEEN"),
        whole("LEASES"),
    ],
};

impl PaneView for Workers {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn rows(&self, s: &Snapshot, now: DateTime<Utc>) -> Vec<Row> {
        let leases = leases_by_worker(s);
        s.workers
            .iter()
            .map(|w| {
                let key = w.key();
                // The word, not only the colour, says it is late or stale.
                let (tone, status) = match heard(w, s.limits.stale_heartbeat_seconds, now) {
                    Heard::Stale => (Tone::Error, format!("✖ STALE ({})", w.status)),
                    Heard::Late => (Tone::Warn, format!("! LATE ({})", w.status)),
                    Heard::Recently if w.drained => {
                        (Tone::Muted, format!("⏸ DRAINED ({})", w.status))
                    }
                    Heard::Recently => match breaker_state(w, s) {
                        BreakerState::Open => {
                            (Tone::Error, format!("⚡ BREAKER OPEN ({})", w.status))
                        }
                        BreakerState::HalfOpen => (Tone::Warn, format!("⚡ TRIAL ({})", w.status)),
                        BreakerState::Closed => plain(w),
                    },
                };
                let held = leases.get(&key).map_or(0, Vec::len);
                let health =
                    health_score(&Health::from_metrics(|name| w.metrics.get(name).copied()));
                Row::new(key, tone)
                    .text(&w.node_id)
                    .text(&w.worker_id)
                    .text(status)
                    .text(w.lanes.join(","))
                    .text(w.capabilities.join(","))
                    .num(
                        format!("{}/{}", w.active, w.max_concurrent),
                        f64::from(w.active) / f64::from(w.max_concurrent.max(1)),
                    )
                    .num(format!("{health:.2}"), health)
                    .age(Some(w.last_seen))
                    .num(held.to_string(), held as f64)
            })
            .collect()
    }

    /// A breaker's state is judged at the snapshot's time, so a worker's
    /// row is rebuilt with every snapshot (there are a few hundred at most).
    fn same_rows(&self, old: &Snapshot, new: &Snapshot) -> bool {
        old.taken_at == new.taken_at
            && old.workers == new.workers
            && old.recommendations == new.recommendations
            && old.limits == new.limits
    }

    fn describe(&self, s: &Snapshot, id: &str, _detail: Option<&Detail>, now: Now) -> Vec<String> {
        let Some(w) = s.workers.iter().find(|w| w.key() == id) else {
            return gone(id);
        };
        let metrics: Vec<String> = w.metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut lines = vec![
            format!("worker       {}", w.key()),
            format!(
                "status       {}{}",
                w.status,
                if w.stale { "  ✖ STALE" } else { "" }
            ),
            format!("drained      {}", w.drained),
            format!(
                "breaker      {}, {} failure(s) or timeout(s) in a row{}",
                breaker_state(w, s),
                w.breaker.failures,
                w.breaker
                    .trial
                    .as_ref()
                    .map(|t| format!(", trial {t}"))
                    .unwrap_or_default()
            ),
            format!("lanes        {}", w.lanes.join(", ")),
            format!("capabilities {}", w.capabilities.join(", ")),
            format!(
                "owner        {}",
                w.owner.clone().unwrap_or_else(|| "-".into())
            ),
            format!("load         {}/{}", w.active, w.max_concurrent),
            format!(
                "health       {:.2} (success rate, latency and uptime; 0.5 for what it does not report)",
                health_score(&Health::from_metrics(|name| w.metrics.get(name).copied()))
            ),
            format!("metrics      {}", metrics.join(" ")),
            format!("first seen   {}", now.when(w.first_seen)),
            format!("last seen    {}", now.when(w.last_seen)),
            String::new(),
            "leases held".into(),
        ];
        for lease in leases_by_worker(s).get(id).into_iter().flatten() {
            lines.push(format!(
                "  {}  {}  {}  until {}",
                lease.assignment_id,
                lease.task_id,
                lease.status,
                now.when_opt(lease.until)
            ));
        }
        lines
    }

    fn empty_hint(&self) -> &'static str {
        "no worker has sent a heartbeat yet"
    }

    fn badge(&self, s: &Snapshot) -> Option<String> {
        let stale = s.workers.iter().filter(|w| w.stale).count();
        (stale > 0).then(|| format!("{stale} stale"))
    }
}
