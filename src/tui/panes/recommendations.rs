//! Assignments waiting, gated, blocked or in flight; their describe view
//! fetches the decision's reasons and skipped lanes from the engine.

use super::{Detail, Info, PaneView, gone, grow, status, text, whole};
use crate::domain::decision::WorkerChoice;
use crate::domain::fleet::fairness;
use crate::domain::lifecycle::Status;
use crate::engine::Snapshot;
use crate::tui::clock::Now;
use crate::tui::rows::{Row, Tone};
use crate::wire::Command;
use chrono::{DateTime, Utc};

pub struct Recommendations;

const INFO: Info = Info {
    title: "Recommendations",
    command: "recs",
    columns: &[
        whole("TASK"),
        grow("TITLE", 24),
        whole("LANE"),
        text("WORKER", 8),
        whole("SCORE"),
        status("STATUS"),
        whole("AGE"),
    ],
};

impl PaneView for Recommendations {
    fn info(&self) -> &'static Info {
        &INFO
    }

    /// The snapshot lists the newest changes only; the title says so.
    fn total(&self, s: &Snapshot) -> Option<u64> {
        Some(s.recommendations_total)
    }

    fn rows(&self, s: &Snapshot, _now: DateTime<Utc>) -> Vec<Row> {
        s.recommendations
            .iter()
            .map(|r| {
                let tone = match r.status {
                    Status::ApprovalRequired => Tone::Warn,
                    Status::Blocked => Tone::Muted,
                    Status::Claimed | Status::Running => Tone::Ok,
                    _ => Tone::Normal,
                };
                let mut row = Row::new(&r.assignment_id, tone)
                    .text(&r.task_id)
                    .text(r.title.clone().unwrap_or_default())
                    .text(r.lane.as_str())
                    .text(worker_cell(r))
                    .num(format!("{:.2}", r.score), r.score)
                    .text(r.status.as_str())
                    .age(Some(r.created_at));
                row.version = Some(r.version);
                row
            })
            .collect()
    }

    fn same_rows(&self, old: &Snapshot, new: &Snapshot) -> bool {
        old.recommendations == new.recommendations
    }

    fn describe(&self, s: &Snapshot, id: &str, detail: Option<&Detail>, now: Now) -> Vec<String> {
        describe_assignment(s, id, detail, now)
    }

    fn detail_for(&self, id: &str) -> Option<Command> {
        Some(explain(id))
    }
}

/// What the engine is asked for an assignment's describe view.
pub(super) fn explain(id: &str) -> Command {
    Command::Explain {
        assignment_id: id.into(),
    }
}

/// An assignment's describe view (the recommendations' and the approvals').
pub(super) fn describe_assignment(
    s: &Snapshot,
    id: &str,
    detail: Option<&Detail>,
    now: Now,
) -> Vec<String> {
    let Some(r) = s.recommendations.iter().find(|r| r.assignment_id == id) else {
        return gone(id);
    };
    let explanation = match detail {
        Some(Detail::Explanation(e)) if e.assignment_id == id => Some(e),
        _ => None,
    };
    let target = explanation
        .and_then(|e| e.target.as_ref())
        .map_or_else(|| "-".into(), ToString::to_string);
    let mut lines = vec![
        format!("assignment   {}", r.assignment_id),
        format!(
            "task         {}  {}",
            r.task_id,
            r.title.clone().unwrap_or_default()
        ),
        format!("status       {} (version {})", r.status, r.version),
        format!("lane         {} → {target}", r.lane),
        format!("score        {}", r.score),
        format!("priority     {}   retries {}", r.priority, r.retry_count),
        format!(
            "worker       {}",
            match (r.holder(), &r.target) {
                (Some(holder), _) => holder,
                (None, Some(target)) => format!("- (the decision named {target})"),
                (None, None) => "-".into(),
            }
        ),
        format!("lease ends   {}", now.when_opt(r.lease_expires_at)),
    ];
    if let Some(deadline) = r.deadline {
        let missed = if fairness::missed(Some(deadline), now.at) {
            "  MISSED"
        } else {
            ""
        };
        lines.push(format!("deadline     {}{missed}", now.when(deadline)));
    }
    if let Some(line) = super::waiting::why(s, r, now.at) {
        lines.push(format!("waiting for  {line}"));
    }
    let Some(e) = explanation else {
        lines.push(String::new());
        lines.push("loading the decision…".into());
        return lines;
    };
    lines.push(format!("decision     {}", e.decision_id));
    lines.push(format!("key          {}", e.idempotency_key));
    lines.push(String::new());
    lines.push("reasons".into());
    lines.extend(e.reasons.iter().map(|x| format!("  • {x}")));
    lines.push(String::new());
    lines.push("skipped lanes".into());
    if e.skipped_lanes.is_empty() {
        lines.push("  (none)".into());
    }
    lines.extend(e.skipped_lanes.iter().map(|k| {
        format!(
            "  {:<14} {:<28} {}",
            k.lane.as_str(),
            k.reason_code,
            k.reason
        )
    }));
    lines.extend(workers(&e.worker));
    lines
}

/// The WORKER cell: who holds the lease, else `→` and whom the decision
/// named.
fn worker_cell(r: &crate::engine::snapshot::Recommendation) -> String {
    match (&r.worker, &r.target) {
        (Some(worker), _) => worker.clone(),
        (None, Some(target)) => {
            let worker = target.split_once('/').map_or(target.as_str(), |(_, w)| w);
            format!("→{worker}")
        }
        (None, None) => "-".into(),
    }
}

/// The decision's worker choice: the chosen one's factors, then every
/// other worker with its reason code. Nothing when no worker was known.
fn workers(w: &WorkerChoice) -> Vec<String> {
    if w.key().is_none() && w.rejected_workers.is_empty() && w.unlisted_workers.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![String::new(), "workers".into()];
    match w.key() {
        Some(key) => lines.push(format!(
            "  chosen {key} (score {})",
            w.worker_score.unwrap_or_default()
        )),
        None => lines.push("  none usable: the task waits for capacity".into()),
    }
    lines.extend(
        w.rejected_workers
            .iter()
            .map(|r| format!("  {:<20} {}", r.reason_code, r.reason)),
    );
    lines.extend(
        w.unlisted_workers
            .iter()
            .map(|(code, n)| format!("  {code:<20} {n} more")),
    );
    lines
}
