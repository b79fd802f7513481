//! Which waiting assignment a worker is offered first (contract C): by
//! effective priority, which rises one level for every `step` waited so no
//! task starves behind a stream of urgent ones, and two more once its
//! deadline is less than a step away (or past); then the earliest deadline,
//! then the longest waiting.

use crate::domain::backpressure::urgency;
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// A waiting assignment as the offer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub assignment_id: String,
    pub priority: String,
    pub since: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
}

/// Levels a task gains once its deadline is less than one step away.
pub const DEADLINE_BOOST: i64 = 2;

/// Its urgency now (lower is more urgent; may go below 0 with age).
pub fn effective_urgency(w: &Waiting, now: DateTime<Utc>, step_seconds: u64) -> i64 {
    let waited = (now - w.since).num_seconds().max(0);
    let step = i64::try_from(step_seconds.max(1)).unwrap_or(i64::MAX);
    let due = w.deadline.is_some_and(|d| (d - now).num_seconds() <= step);
    i64::from(urgency(&w.priority)) - waited / step - if due { DEADLINE_BOOST } else { 0 }
}

/// Whether its deadline has passed.
pub fn missed(deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    deadline.is_some_and(|d| d < now)
}

/// Offer order: effective urgency, then the earliest deadline (none
/// last), then the longest waiting, then the id.
pub fn first_offered(a: &Waiting, b: &Waiting, now: DateTime<Utc>, step_seconds: u64) -> Ordering {
    effective_urgency(a, now, step_seconds)
        .cmp(&effective_urgency(b, now, step_seconds))
        .then(match (a.deadline, b.deadline) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then(a.since.cmp(&b.since))
        .then_with(|| a.assignment_id.cmp(&b.assignment_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn waiting(id: &str, priority: &str, since: DateTime<Utc>) -> Waiting {
        Waiting {
            assignment_id: id.into(),
            priority: priority.into(),
            since,
            deadline: None,
        }
    }

    #[test]
    fn a_near_deadline_raises_a_task_two_levels_and_orders_equals() {
        let mut due = waiting("due", "batch", at(0));
        due.deadline = Some(at(30));
        let plain = waiting("plain", "batch", at(0));
        assert_eq!(
            effective_urgency(&due, at(0), 300),
            effective_urgency(&plain, at(0), 300),
            "thirty minutes away: no boost yet"
        );
        assert_eq!(
            first_offered(&due, &plain, at(0), 300),
            Ordering::Less,
            "equal urgency: a deadline goes first"
        );
        assert_eq!(
            effective_urgency(&due, at(25), 300),
            effective_urgency(&plain, at(25), 300) - DEADLINE_BOOST
        );
        let critical = waiting("critical", "critical", at(25));
        assert_eq!(first_offered(&due, &critical, at(25), 300), Ordering::Less);
        assert!(!missed(due.deadline, at(30)));
        assert!(missed(due.deadline, at(31)));
    }

    #[test]
    fn age_raises_a_task_one_level_per_step() {
        let w = waiting("a", "background", at(0));
        assert_eq!(effective_urgency(&w, at(0), 300), 4);
        assert_eq!(effective_urgency(&w, at(5), 300), 3);
        assert_eq!(effective_urgency(&w, at(20), 300), 0);
        let critical = waiting("b", "critical", at(20));
        assert_eq!(
            first_offered(&w, &critical, at(20), 300),
            Ordering::Less,
            "equal urgency: the older first"
        );
    }

    /// A simulated clock: every minute a critical task arrives and one
    /// worker slot frees (a steady stream the fleet keeps up with). Without
    /// aging the background task would never run; with a 5-minute step it
    /// is offered within the fairness bound: its four levels, 20 minutes,
    /// plus one step of slack. (An overloaded fleet has no bound: the
    /// urgent tasks age too, and back-pressure is what limits that.)
    #[test]
    fn under_a_steady_urgent_stream_nothing_waits_past_the_bound() {
        let step = 300;
        let mut queue = vec![waiting("background", "background", at(0))];
        let mut served_at = None;
        for minute in 0..120 {
            queue.push(waiting(&format!("c{minute}"), "critical", at(minute)));
            let now = at(minute);
            queue.sort_by(|a, b| first_offered(a, b, now, step));
            let taken = queue.remove(0);
            if taken.assignment_id == "background" {
                served_at = Some(minute);
                break;
            }
        }
        let served_at = served_at.expect("the background task starved");
        assert!(served_at <= 25, "served after {served_at} minutes");
    }
}
