//! What needs the operator's eye, measured against the engine's own
//! timings: stale and late workers, open breakers, missed deadlines, a
//! write-back falling behind, work waiting too long, a scheduler that
//! stopped ticking. Pure, so each rule
//! is tested without a terminal.

use crate::domain::fleet::fairness;
use crate::domain::lifecycle::Status;
use crate::engine::Snapshot;
use crate::engine::snapshot::Worker;
use crate::tui::rows::format_age;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Outbox events older than this, not yet written back, are a lag worth a
/// warning; ten times it, an error.
pub const WRITE_BACK_LAG_SECONDS: i64 = 60;
/// Work waiting longer than this (or two scheduled ticks, if longer).
pub const WAITING_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warn,
    Error,
}

/// One thing to look at, as the header's badge says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub severity: Severity,
    pub text: String,
}

/// How recently a worker was heard from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    Recently,
    /// Silent more than half the stale timeout: one more missed beat and its
    /// leases go.
    Late,
    Stale,
}

pub fn heard(w: &Worker, stale_seconds: u64, now: DateTime<Utc>) -> Heard {
    if w.stale {
        return Heard::Stale;
    }
    let silent = (now - w.last_seen).num_seconds();
    let late_after = i64::try_from(stale_seconds / 2).unwrap_or(i64::MAX);
    if stale_seconds > 0 && silent > late_after {
        Heard::Late
    } else {
        Heard::Recently
    }
}

/// Everything that needs a look at `now`, the most severe first.
pub fn alerts(s: &Snapshot, now: DateTime<Utc>) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let age = |at: DateTime<Utc>| (now - at).num_seconds().max(0);
    let limits = s.limits;
    let count = |which: Heard| {
        s.workers
            .iter()
            .filter(|w| heard(w, limits.stale_heartbeat_seconds, now) == which)
            .count()
    };
    match count(Heard::Stale) {
        0 => {}
        1 => alerts.push(error("1 worker stale".into())),
        n => alerts.push(error(format!("{n} workers stale"))),
    }
    alerts.extend(fleet_alerts(s));
    let missed = s
        .recommendations
        .iter()
        .filter(|r| r.status != Status::Blocked && fairness::missed(r.deadline, now))
        .count();
    if missed > 0 {
        alerts.push(error(format!("{missed} past deadline")));
    }
    match count(Heard::Late) {
        0 => {}
        1 => alerts.push(warn("1 worker late".into())),
        n => alerts.push(warn(format!("{n} workers late"))),
    }
    if let Some(lag) = s.outbox.oldest_pending_at.map(age)
        && limits.dispatch_enabled
        && lag > WRITE_BACK_LAG_SECONDS
    {
        let text = format!("write-back {} behind", format_age(lag));
        alerts.push(if lag > 10 * WRITE_BACK_LAG_SECONDS {
            error(text)
        } else {
            warn(text)
        });
    }
    let tick = i64::try_from(limits.tick_interval_seconds).unwrap_or(i64::MAX / 4);
    // The engine's starving-task alert says it better, when it holds.
    let starving = s.alerts.iter().any(|a| a.code == "task_starving");
    if let Some(waited) = s.oldest_waiting_at.map(age)
        && waited > WAITING_SECONDS.max(2 * tick)
        && !starving
    {
        alerts.push(warn(format!("oldest waiting {}", format_age(waited))));
    }
    if let Some(run) = s.runs.first()
        && run.counts.deferred > 0
    {
        alerts.push(warn(format!(
            "queue full: {} deferred",
            run.counts.deferred
        )));
    }
    if tick > 0
        && let Some(since) = s.last_tick_at.map(age)
        && since > 2 * tick
    {
        alerts.push(warn(format!("last tick {} ago", format_age(since))));
    }
    alerts.sort_by_key(|a| std::cmp::Reverse(a.severity));
    alerts
}

/// The engine's own alerts (queue depth, stuck workers, a slow pass, open
/// breakers, a starving task), one badge per kind; the Alerts pane lists
/// each in full.
fn fleet_alerts(s: &Snapshot) -> Vec<Alert> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    // A dependency down already has its badge (✖ and its name).
    for a in s.alerts.iter().filter(|a| a.code != "dependency_down") {
        *counts.entry(a.code.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(code, n)| {
            let many = |one: &str, more: &str| {
                if n == 1 {
                    format!("1 {one}")
                } else {
                    format!("{n} {more}")
                }
            };
            match code {
                "breaker_open" => error(many("breaker open", "breakers open")),
                "worker_stuck" => warn(many("worker stuck", "workers stuck")),
                "task_starving" => warn("a task starving".into()),
                "queue_depth" => warn("queue over its limit".into()),
                "assignment_latency" => warn("slow decision pass".into()),
                other => warn(other.replace('_', " ")),
            }
        })
        .collect()
}

fn warn(text: String) -> Alert {
    Alert {
        severity: Severity::Warn,
        text,
    }
}

fn error(text: String) -> Alert {
    Alert {
        severity: Severity::Error,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::Limits;
    use crate::tui::fixtures;
    use chrono::Duration;

    fn quiet(now: DateTime<Utc>) -> Snapshot {
        let mut s = fixtures::busy();
        s.limits = Limits {
            stale_heartbeat_seconds: 120,
            tick_interval_seconds: 300,
            dispatch_enabled: true,
            breaker_cooldown_seconds: 300,
            graph_enabled: true,
        };
        s.outbox.oldest_pending_at = Some(now);
        s.oldest_waiting_at = Some(now);
        s.last_tick_at = Some(now);
        for w in &mut s.workers {
            w.stale = false;
            w.last_seen = now;
        }
        for r in &mut s.recommendations {
            r.deadline = None;
        }
        s
    }

    #[test]
    fn work_past_its_deadline_is_an_error_until_it_ends() {
        let now = fixtures::now();
        let mut s = quiet(now);
        s.recommendations[0].deadline = Some(now + Duration::seconds(1));
        assert_eq!(alerts(&s, now), vec![]);
        s.recommendations[0].deadline = Some(now - Duration::seconds(1));
        s.recommendations[1].deadline = Some(now - Duration::seconds(1));
        assert_eq!(alerts(&s, now), vec![error("2 past deadline".into())]);
    }

    #[test]
    fn a_quiet_fleet_needs_nothing() {
        let now = fixtures::now();
        assert_eq!(alerts(&quiet(now), now), vec![]);
    }

    #[test]
    fn a_worker_is_late_before_it_is_stale() {
        let now = fixtures::now();
        let mut s = quiet(now);
        s.workers[0].last_seen = now - Duration::seconds(61);
        assert_eq!(heard(&s.workers[0], 120, now), Heard::Late);
        assert_eq!(alerts(&s, now), vec![warn("1 worker late".into())]);
        s.workers[0].stale = true;
        assert_eq!(alerts(&s, now), vec![error("1 worker stale".into())]);
        s.alerts = vec![crate::engine::snapshot::Alert {
            code: "breaker_open".into(),
            subject: Some("n1/w2".into()),
            text: "n1/w2's circuit breaker is open".into(),
            since: now,
        }];
        assert!(alerts(&s, now).contains(&error("1 breaker open".into())));
        s.alerts.clear();
        s.workers[0].last_seen = now - Duration::seconds(59);
        s.workers[0].stale = false;
        assert_eq!(heard(&s.workers[0], 120, now), Heard::Recently);
    }

    /// A dependency down has its ✖ badge already; the header does not say
    /// it twice (the Alerts pane says why).
    #[test]
    fn a_dependency_down_is_not_a_second_badge() {
        let now = fixtures::now();
        let mut s = quiet(now);
        s.alerts = vec![crate::engine::snapshot::Alert {
            code: "dependency_down".into(),
            subject: Some("assistx".into()),
            text: "assistx is down: cannot reach AssistX".into(),
            since: now,
        }];
        assert_eq!(alerts(&s, now), vec![]);
    }

    #[test]
    fn lag_waiting_and_a_silent_scheduler_each_warn() {
        let now = fixtures::now();
        let mut s = quiet(now);
        s.outbox.oldest_pending_at = Some(now - Duration::seconds(90));
        s.oldest_waiting_at = Some(now - Duration::minutes(16));
        s.last_tick_at = Some(now - Duration::minutes(11));
        let texts: Vec<String> = alerts(&s, now).into_iter().map(|a| a.text).collect();
        assert_eq!(
            texts,
            [
                "write-back 1m30s behind",
                "oldest waiting 16m00s",
                "last tick 11m00s ago"
            ]
        );
        // A long lag is an error, and errors come first.
        s.outbox.oldest_pending_at = Some(now - Duration::minutes(11));
        assert_eq!(alerts(&s, now)[0].severity, Severity::Error);
        // The last pass deferred work: the queue is full.
        s.runs = vec![crate::engine::snapshot::Run {
            run_id: 1,
            trigger: "scheduler".into(),
            started_at: now,
            finished_at: now,
            counts: crate::store::runs::RunCounts {
                deferred: 7,
                ..Default::default()
            },
            note: None,
        }];
        assert!(alerts(&s, now).contains(&warn("queue full: 7 deferred".into())));
        s.runs.clear();
        // Without write-back or a scheduler, lag and tick age are expected.
        s.limits.dispatch_enabled = false;
        s.limits.tick_interval_seconds = 0;
        let texts: Vec<String> = alerts(&s, now).into_iter().map(|a| a.text).collect();
        assert_eq!(texts, ["oldest waiting 16m00s"]);
    }
}
