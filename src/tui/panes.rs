//! The panes: which columns each has, how a snapshot becomes its rows, and
//! what its describe view says.

use super::rows::{Row, Tone, seconds_since};
use crate::engine::Snapshot;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    Queue,
    Recommendations,
    Approvals,
    Workers,
    Outbox,
    Audit,
}

impl Pane {
    pub const ALL: [Pane; 6] = [
        Pane::Queue,
        Pane::Recommendations,
        Pane::Approvals,
        Pane::Workers,
        Pane::Outbox,
        Pane::Audit,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Queue => "Queue",
            Pane::Recommendations => "Recommendations",
            Pane::Approvals => "Approvals",
            Pane::Workers => "Workers",
            Pane::Outbox => "Outbox",
            Pane::Audit => "Audit",
        }
    }

    /// The `:` command that opens the pane.
    pub fn command(self) -> &'static str {
        match self {
            Pane::Queue => "queue",
            Pane::Recommendations => "recs",
            Pane::Approvals => "approvals",
            Pane::Workers => "workers",
            Pane::Outbox => "outbox",
            Pane::Audit => "audit",
        }
    }

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Pane::Queue => &["STATUS", "LANE", "PRIORITY", "COUNT"],
            Pane::Recommendations => &["TASK", "TITLE", "LANE", "WORKER", "SCORE", "STATUS", "AGE"],
            Pane::Approvals => &["TASK", "TITLE", "GATE", "WAITING", "VERSION"],
            Pane::Workers => &[
                "NODE", "WORKER", "STATUS", "LANES", "LOAD", "SEEN", "LEASES",
            ],
            Pane::Outbox => &["SEQ", "STATUS", "TYPE", "SUBJECT", "TRIES", "AGE", "ERROR"],
            Pane::Audit => &[
                "AGE", "ACTOR", "ACTION", "SUBJECT", "CHANGE", "OUTCOME", "DETAIL",
            ],
        }
    }

    pub fn rows(self, s: &Snapshot) -> Vec<Row> {
        match self {
            Pane::Queue => s
                .queue
                .iter()
                .map(|q| {
                    let tone = if q.status == "blocked" {
                        Tone::Muted
                    } else {
                        Tone::Normal
                    };
                    Row::new(format!("{}/{}/{}", q.status, q.lane, q.priority), tone)
                        .text(&q.status)
                        .text(&q.lane)
                        .text(&q.priority)
                        .num(q.count.to_string(), q.count as f64)
                })
                .collect(),
            Pane::Recommendations => s
                .recommendations
                .iter()
                .map(|r| {
                    let tone = match r.status.as_str() {
                        "approval_required" => Tone::Warn,
                        "blocked" => Tone::Muted,
                        "claimed" | "running" => Tone::Ok,
                        _ => Tone::Normal,
                    };
                    let mut row = Row::new(&r.assignment_id, tone)
                        .text(&r.task_id)
                        .text(r.title.clone().unwrap_or_default())
                        .text(&r.lane)
                        .text(r.worker.clone().unwrap_or_else(|| "-".into()))
                        .num(format!("{:.2}", r.score), r.score)
                        .text(&r.status)
                        .age(Some(&r.created_at));
                    row.version = Some(r.version);
                    row
                })
                .collect(),
            Pane::Approvals => s
                .approvals
                .iter()
                .map(|a| {
                    let mut row = Row::new(&a.assignment_id, Tone::Warn)
                        .text(&a.task_id)
                        .text(a.title.clone().unwrap_or_default())
                        .text(&a.gate)
                        .age(Some(&a.requested_at))
                        .num(a.version.to_string(), a.version as f64);
                    row.version = Some(a.version);
                    row
                })
                .collect(),
            Pane::Workers => {
                let leases = leases_by_worker(s);
                s.workers
                    .iter()
                    .map(|w| {
                        let key = format!("{}/{}", w.node_id, w.worker_id);
                        let degraded = matches!(w.status.as_str(), "degraded" | "offline");
                        let tone = if w.stale {
                            Tone::Error
                        } else if degraded {
                            Tone::Warn
                        } else {
                            Tone::Normal
                        };
                        // The word, not only the colour, says it is stale.
                        let status = if w.stale {
                            format!("✖ STALE ({})", w.status)
                        } else {
                            w.status.clone()
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
                            .age(Some(&w.last_seen))
                            .num(held.to_string(), held as f64)
                    })
                    .collect()
            }
            Pane::Outbox => s
                .outbox_recent
                .iter()
                .map(|e| {
                    let tone = match e.status.as_str() {
                        "dead_letter" => Tone::Error,
                        "failed" | "conflict" => Tone::Warn,
                        "delivered" => Tone::Muted,
                        _ => Tone::Normal,
                    };
                    Row::new(e.seq.to_string(), tone)
                        .num(e.seq.to_string(), e.seq as f64)
                        .text(&e.status)
                        .text(&e.event_type)
                        .text(&e.subject_id)
                        .num(e.attempts.to_string(), f64::from(e.attempts))
                        .age(Some(&e.created_at))
                        .text(e.last_error.clone().unwrap_or_default())
                })
                .collect(),
            Pane::Audit => s
                .audit
                .iter()
                .rev()
                .map(|e| {
                    let tone = if e.outcome == "refused" {
                        Tone::Error
                    } else {
                        Tone::Normal
                    };
                    let change = match (&e.from_status, &e.to_status) {
                        (None, None) => String::new(),
                        (from, to) => format!(
                            "{} → {}",
                            from.as_deref().unwrap_or("-"),
                            to.as_deref().unwrap_or("-")
                        ),
                    };
                    let outcome = if e.outcome == "refused" {
                        "✖ refused".to_string()
                    } else {
                        e.outcome.clone()
                    };
                    Row::new(e.seq.to_string(), tone)
                        .age(Some(&e.at))
                        .text(&e.actor)
                        .text(&e.action)
                        .text(e.subject.clone().unwrap_or_default())
                        .text(change)
                        .text(outcome)
                        .text(e.detail.clone().unwrap_or_default())
                })
                .collect(),
        }
    }

    /// The describe view of the row `id`.
    pub fn describe(self, s: &Snapshot, id: &str, now: DateTime<Utc>) -> Vec<String> {
        match self {
            Pane::Recommendations | Pane::Approvals => {
                let Some(r) = s.recommendations.iter().find(|r| r.assignment_id == id) else {
                    return vec![format!("{id}: not in the current snapshot")];
                };
                let mut lines = vec![
                    format!("assignment   {}", r.assignment_id),
                    format!(
                        "task         {}  {}",
                        r.task_id,
                        r.title.clone().unwrap_or_default()
                    ),
                    format!("status       {} (version {})", r.status, r.version),
                    format!(
                        "lane         {} → {}",
                        r.lane,
                        r.target.clone().unwrap_or_else(|| "-".into())
                    ),
                    format!("score        {}", r.score),
                    format!("priority     {}   retries {}", r.priority, r.retry_count),
                    format!(
                        "worker       {}",
                        r.worker.clone().unwrap_or_else(|| "-".into())
                    ),
                    format!(
                        "lease ends   {}",
                        r.lease_expires_at.clone().unwrap_or_else(|| "-".into())
                    ),
                    format!("decision     {}", r.decision_id),
                    format!("key          {}", r.idempotency_key),
                ];
                if let Some(a) = s.approvals.iter().find(|a| a.assignment_id == id) {
                    let waited = seconds_since(&a.requested_at, now)
                        .map(super::rows::format_age)
                        .unwrap_or_default();
                    lines.push(format!("gated by     {} (waiting {waited})", a.gate));
                }
                lines.push(String::new());
                lines.push("reasons".into());
                lines.extend(r.reasons.iter().map(|x| format!("  • {x}")));
                lines.push(String::new());
                lines.push("skipped lanes".into());
                if r.skipped_lanes.is_empty() {
                    lines.push("  (none)".into());
                }
                lines.extend(r.skipped_lanes.iter().map(|k| {
                    format!(
                        "  {:<14} {:<28} {}",
                        k.lane.as_str(),
                        k.reason_code,
                        k.reason
                    )
                }));
                lines
            }
            Pane::Workers => {
                let Some(w) = s
                    .workers
                    .iter()
                    .find(|w| format!("{}/{}", w.node_id, w.worker_id) == id)
                else {
                    return vec![format!("{id}: not in the current snapshot")];
                };
                let mut lines = vec![
                    format!("worker       {}/{}", w.node_id, w.worker_id),
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
                    format!("metrics      {}", w.metrics),
                    format!("first seen   {}", w.first_seen),
                    format!("last seen    {}", w.last_seen),
                    String::new(),
                    "leases held".into(),
                ];
                for r in leases_by_worker(s).get(id).into_iter().flatten() {
                    lines.push(format!("  {}  {}  {}  until {}", r.0, r.1, r.2, r.3));
                }
                lines
            }
            Pane::Outbox => match s.outbox_recent.iter().find(|e| e.seq.to_string() == id) {
                Some(e) => {
                    let mut lines = vec![
                        format!("event        {} ({})", e.event_id, e.event_type),
                        format!("key          {}", e.idempotency_key),
                        format!("status       {} after {} attempt(s)", e.status, e.attempts),
                        format!(
                            "next attempt {}",
                            e.next_attempt_at.clone().unwrap_or_else(|| "-".into())
                        ),
                        format!(
                            "last error   {}",
                            e.last_error.clone().unwrap_or_else(|| "-".into())
                        ),
                        String::new(),
                    ];
                    let pretty = serde_json::from_str::<serde_json::Value>(&e.body)
                        .and_then(|v| serde_json::to_string_pretty(&v))
                        .unwrap_or_else(|_| e.body.clone());
                    lines.extend(pretty.lines().map(str::to_string));
                    lines
                }
                None => vec![format!("{id}: not in the current snapshot")],
            },
            Pane::Audit => match s.audit.iter().find(|e| e.seq.to_string() == id) {
                Some(e) => vec![
                    format!("at           {}", e.at),
                    format!("actor        {}", e.actor),
                    format!("action       {}  ({})", e.action, e.outcome),
                    format!("subject      {}", e.subject.clone().unwrap_or_default()),
                    format!(
                        "change       {} → {}",
                        e.from_status.clone().unwrap_or_default(),
                        e.to_status.clone().unwrap_or_default()
                    ),
                    format!("detail       {}", e.detail.clone().unwrap_or_default()),
                ],
                None => vec![format!("{id}: not in the current snapshot")],
            },
            Pane::Queue => vec![format!(
                "{id}: {} waiting",
                s.queue
                    .iter()
                    .filter(|q| format!("{}/{}/{}", q.status, q.lane, q.priority) == id)
                    .map(|q| q.count)
                    .sum::<u64>()
            )],
        }
    }
}

/// (assignment, task, status, lease end) per `node/worker`, for leases held.
pub fn leases_by_worker(s: &Snapshot) -> BTreeMap<String, Vec<(String, String, String, String)>> {
    let mut map: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in &s.recommendations {
        if !matches!(r.status.as_str(), "claimed" | "running") {
            continue;
        }
        if let Some(worker) = &r.worker {
            let node = r.node.clone().unwrap_or_else(|| "local".into());
            map.entry(format!("{node}/{worker}")).or_default().push((
                r.assignment_id.clone(),
                r.task_id.clone(),
                r.status.clone(),
                r.lease_expires_at.clone().unwrap_or_default(),
            ));
        }
    }
    map
}
