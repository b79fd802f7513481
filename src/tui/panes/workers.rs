//! Workers as their heartbeats describe them, with the leases they hold.

use super::{Detail, Info, PaneView, fixed, flexible, gone, leases_by_worker};
use crate::domain::time::rfc3339;
use crate::domain::worker::WorkerStatus;
use crate::engine::Snapshot;
use crate::tui::rows::{Row, Tone};
use chrono::{DateTime, Utc};

pub struct Workers;

const INFO: Info = Info {
    title: "Workers",
    command: "workers",
    columns: &[
        fixed("NODE", 14),
        fixed("WORKER", 14),
        fixed("STATUS", 20),
        flexible("LANES", 10),
        fixed("LOAD", 6),
        fixed("SEEN", 7),
        fixed("LEASES", 6),
    ],
};

impl PaneView for Workers {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn rows(&self, s: &Snapshot) -> Vec<Row> {
        let leases = leases_by_worker(s);
        s.workers
            .iter()
            .map(|w| {
                let key = w.key();
                let tone = if w.stale {
                    Tone::Error
                } else if matches!(w.status, WorkerStatus::Degraded | WorkerStatus::Offline) {
                    Tone::Warn
                } else {
                    Tone::Normal
                };
                // The word, not only the colour, says it is stale.
                let status = if w.stale {
                    format!("✖ STALE ({})", w.status)
                } else {
                    w.status.to_string()
                };
                let held = leases.get(&key).map_or(0, Vec::len);
                Row::new(key, tone)
                    .text(&w.node_id)
                    .text(&w.worker_id)
                    .text(status)
                    .text(w.lanes.join(","))
                    .num(
                        format!("{}/{}", w.active, w.max_concurrent),
                        f64::from(w.active) / f64::from(w.max_concurrent.max(1)),
                    )
                    .age(Some(w.last_seen))
                    .num(held.to_string(), held as f64)
            })
            .collect()
    }

    fn describe(
        &self,
        s: &Snapshot,
        id: &str,
        _detail: Option<&Detail>,
        _now: DateTime<Utc>,
    ) -> Vec<String> {
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
            format!("lanes        {}", w.lanes.join(", ")),
            format!("capabilities {}", w.capabilities.join(", ")),
            format!(
                "owner        {}",
                w.owner.clone().unwrap_or_else(|| "-".into())
            ),
            format!("load         {}/{}", w.active, w.max_concurrent),
            format!("metrics      {}", metrics.join(" ")),
            format!("first seen   {}", rfc3339(w.first_seen)),
            format!("last seen    {}", rfc3339(w.last_seen)),
            String::new(),
            "leases held".into(),
        ];
        for lease in leases_by_worker(s).get(id).into_iter().flatten() {
            lines.push(format!(
                "  {}  {}  {}  until {}",
                lease.assignment_id,
                lease.task_id,
                lease.status,
                lease.until.map_or_else(String::new, rfc3339)
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
