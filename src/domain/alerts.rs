//! The fleet's alerts (the assigner plan's thresholds): too deep a queue, a
//! worker stuck on one task, a slow decision pass, a breaker open, a task
//! starving past the fairness bound, and a dependency (AssistX, Neo4j, the
//! router) down. Pure: what the store knows in, the
//! alerts that hold now out; [`carry`] tells which began and which ended,
//! so each is announced once per change of situation, not on every look.

use super::time::serde_utc;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// When each alert fires; 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Waiting assignments.
    pub queue_depth: u64,
    /// A lease held this long without the task ending.
    pub stuck_seconds: u64,
    /// A decision pass taking longer than this.
    pub latency_ms: u64,
    /// A task waiting this long for a worker.
    pub starving_seconds: u64,
}

/// What the alerts are judged on, read from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub waiting: u64,
    /// The longest-waiting assignment and since when.
    pub oldest_waiting: Option<(String, DateTime<Utc>)>,
    /// Each lease by worker (`node/worker`), assignment and claim time.
    pub leases: Vec<(String, String, DateTime<Utc>)>,
    /// Workers (`node/worker`) whose breaker is open.
    pub breakers_open: Vec<String>,
    /// How long the last decision pass took.
    pub last_pass_ms: Option<u64>,
    /// Each dependency that is down, with what its client last met.
    pub dependencies_down: Vec<(String, String)>,
}

/// Every kind of alert, in the order they are judged.
pub const KINDS: [&str; 6] = [
    "queue_depth",
    "worker_stuck",
    "assignment_latency",
    "breaker_open",
    "task_starving",
    "dependency_down",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// One of [`KINDS`].
    pub code: String,
    /// What it is about (a worker, an assignment), if anything.
    pub subject: Option<String>,
    pub text: String,
    #[serde(with = "serde_utc")]
    pub since: DateTime<Utc>,
}

impl Alert {
    fn key(&self) -> (&str, Option<&str>) {
        (&self.code, self.subject.as_deref())
    }
}

/// Every alert that holds at `now`, each `since` now.
pub fn judge(facts: &Facts, limits: &Thresholds, now: DateTime<Utc>) -> Vec<Alert> {
    let mut alerts = Vec::new();
    // A worker stuck on two tasks is one alert: the first found.
    let mut raise = |code: &str, subject: Option<&str>, text: String| {
        if alerts
            .iter()
            .any(|a: &Alert| a.code == code && a.subject.as_deref() == subject)
        {
            return;
        }
        alerts.push(Alert {
            code: code.into(),
            subject: subject.map(str::to_string),
            text,
            since: now,
        });
    };
    let over =
        |limit: u64, value: i64| limit > 0 && value > i64::try_from(limit).unwrap_or(i64::MAX);
    if over(limits.queue_depth, facts.waiting as i64) {
        let text = format!(
            "{} assignments waiting, over the limit of {}",
            facts.waiting, limits.queue_depth
        );
        raise("queue_depth", None, text);
    }
    for (worker, assignment, claimed_at) in &facts.leases {
        let held = (now - *claimed_at).num_seconds();
        if over(limits.stuck_seconds, held) {
            let text = format!("{worker} has held {assignment} for {} minutes", held / 60);
            raise("worker_stuck", Some(worker), text);
        }
    }
    if let Some(ms) = facts.last_pass_ms
        && over(limits.latency_ms, ms as i64)
    {
        let text = format!(
            "the last decision pass took {ms} ms, over the limit of {} ms",
            limits.latency_ms
        );
        raise("assignment_latency", None, text);
    }
    for worker in &facts.breakers_open {
        let text = format!("{worker}'s circuit breaker is open");
        raise("breaker_open", Some(worker), text);
    }
    if let Some((assignment, since)) = &facts.oldest_waiting {
        let waited = (now - *since).num_seconds();
        if over(limits.starving_seconds, waited) {
            let text = format!(
                "{assignment} has waited {} minutes, past the fairness bound",
                waited / 60
            );
            raise("task_starving", Some(assignment), text);
        }
    }
    for (name, why) in &facts.dependencies_down {
        raise(
            "dependency_down",
            Some(name),
            format!("{name} is down: {why}"),
        );
    }
    alerts
}

/// What changed from `before` to `now`: the alerts holding now (an alert
/// that already held keeps its `since` and its text of then), those that
/// began, and those that ended.
pub fn carry(before: &[Alert], now: Vec<Alert>) -> (Vec<Alert>, Vec<Alert>, Vec<Alert>) {
    let mut current = Vec::with_capacity(now.len());
    let mut began = Vec::new();
    for alert in now {
        match before.iter().find(|b| b.key() == alert.key()) {
            Some(held) => current.push(held.clone()),
            None => {
                began.push(alert.clone());
                current.push(alert);
            }
        }
    }
    let ended = before
        .iter()
        .filter(|b| !current.iter().any(|c| c.key() == b.key()))
        .cloned()
        .collect();
    (current, began, ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap() + Duration::minutes(minute)
    }

    const LIMITS: Thresholds = Thresholds {
        queue_depth: 100,
        stuck_seconds: 3600,
        latency_ms: 1000,
        starving_seconds: 1500,
    };

    fn codes(alerts: &[Alert]) -> Vec<&str> {
        alerts.iter().map(|a| a.code.as_str()).collect()
    }

    #[test]
    fn each_threshold_fires_only_past_its_limit() {
        let calm = Facts {
            waiting: 100,
            oldest_waiting: Some(("a1".into(), at(35))),
            leases: vec![("n1/w1".into(), "a2".into(), at(0))],
            breakers_open: vec![],
            last_pass_ms: Some(1000),
            dependencies_down: vec![],
        };
        assert_eq!(judge(&calm, &LIMITS, at(60)), vec![]);
        let busy = Facts {
            waiting: 101,
            oldest_waiting: Some(("a1".into(), at(34))),
            leases: vec![
                ("n1/w1".into(), "a2".into(), at(-1)),
                ("n1/w1".into(), "a3".into(), at(-2)),
            ],
            breakers_open: vec!["n2/w2".into()],
            last_pass_ms: Some(1001),
            dependencies_down: vec![("router".into(), "GET /admin/context: answered 503".into())],
        };
        let alerts = judge(&busy, &LIMITS, at(60));
        assert_eq!(codes(&alerts), KINDS);
        assert_eq!(alerts[1].subject.as_deref(), Some("n1/w1"));
        assert!(
            alerts[4].text.contains("a1 has waited 26 minutes"),
            "{alerts:?}"
        );
        assert_eq!(
            alerts[5].text,
            "router is down: GET /admin/context: answered 503"
        );
        let off = Thresholds {
            queue_depth: 0,
            stuck_seconds: 0,
            latency_ms: 0,
            starving_seconds: 0,
        };
        assert_eq!(
            codes(&judge(&busy, &off, at(60))),
            ["breaker_open", "dependency_down"],
            "neither has a threshold"
        );
    }

    #[test]
    fn an_alert_is_announced_once_when_it_begins_and_once_when_it_ends() {
        let facts = |waiting| Facts {
            waiting,
            ..Facts::default()
        };
        let (held, began, ended) = carry(&[], judge(&facts(150), &LIMITS, at(0)));
        assert_eq!((codes(&began), ended.len()), (vec!["queue_depth"], 0));
        let (held, began, ended) = carry(&held, judge(&facts(200), &LIMITS, at(5)));
        assert!(began.is_empty() && ended.is_empty());
        assert_eq!(held[0].since, at(0), "it began at the first look");
        let (held, began, ended) = carry(&held, judge(&facts(10), &LIMITS, at(9)));
        assert!(held.is_empty() && began.is_empty());
        assert_eq!(codes(&ended), ["queue_depth"]);
    }
}
