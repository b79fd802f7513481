//! Workers as their heartbeats describe them, with the leases they hold.

use super::{Detail, Info, PaneView, gone, grow, leases_by_worker, status, whole};
use crate::domain::worker::WorkerStatus;
use crate::engine::Snapshot;
use crate::tui::attention::{Heard, heard};
use crate::tui::clock::Now;
use crate::tui::rows::{Row, Tone};
use chrono::{DateTime, Utc};

pub struct Workers;

const INFO: Info = Info {
    title: "Workers",
    command: "workers",
    columns: &[
        whole("NODE"),
        whole("WORKER"),
        status("STATUS"),
        grow("LANES", 10),
        whole("LOAD"),
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
                    Heard::Recently
                        if matches!(w.status, WorkerStatus::Degraded | WorkerStatus::Offline) =>
                    {
                        (Tone::Warn, w.status.to_string())
                    }
                    Heard::Recently => (Tone::Normal, w.status.to_string()),
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
            format!("lanes        {}", w.lanes.join(", ")),
            format!("capabilities {}", w.capabilities.join(", ")),
            format!(
                "owner        {}",
                w.owner.clone().unwrap_or_else(|| "-".into())
            ),
            format!("load         {}/{}", w.active, w.max_concurrent),
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
