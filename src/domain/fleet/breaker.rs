//! A worker's circuit breaker (contract C): closed while it works; open
//! after `failures` failures or timeouts in a row, when it is given nothing;
//! half-open once the cool-down has passed, when one trial task may go to
//! it; closed again when the trial succeeds, open again when it fails.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failures or timeouts in a row that open it.
    pub failures: u32,
    /// How long it stays open before a trial.
    pub cooldown_seconds: u64,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failures: 3,
            cooldown_seconds: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum BreakerState {
    #[default]
    Closed,
    Open,
    HalfOpen,
}

/// What is kept per worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breaker {
    /// Failures and timeouts since the last success.
    pub failures: u32,
    pub opened_at: Option<DateTime<Utc>>,
    /// The assignment sent as the half-open trial, while it runs.
    pub trial: Option<String>,
}

impl Breaker {
    pub fn state(&self, policy: &BreakerPolicy, now: DateTime<Utc>) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(at) if now - at < cooldown(policy) => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Whether the worker may take `assignment` now; the reason when not.
    pub fn may_take(
        &self,
        assignment: &str,
        policy: &BreakerPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        match self.state(policy, now) {
            BreakerState::Closed => Ok(()),
            BreakerState::Open => Err(format!(
                "its circuit breaker is open after {} failures in a row; a trial in {}s",
                self.failures,
                self.opened_at
                    .map_or(0, |at| (at + cooldown(policy) - now).num_seconds().max(0))
            )),
            BreakerState::HalfOpen => match &self.trial {
                Some(trial) if trial != assignment => Err(format!(
                    "its circuit breaker is half-open and its trial task {trial} is running"
                )),
                _ => Ok(()),
            },
        }
    }

    /// The worker took `assignment`: in half-open, that is the trial.
    pub fn took(&mut self, assignment: &str, policy: &BreakerPolicy, now: DateTime<Utc>) {
        if self.state(policy, now) == BreakerState::HalfOpen {
            self.trial = Some(assignment.to_string());
        }
    }

    pub fn succeeded(&mut self) {
        *self = Breaker::default();
    }

    /// A failure or a timeout: a failed trial opens it again at once.
    pub fn failed(&mut self, policy: &BreakerPolicy, now: DateTime<Utc>) {
        self.failures = self.failures.saturating_add(1);
        if self.trial.take().is_some() || self.failures >= policy.failures.max(1) {
            self.opened_at = Some(now);
        }
    }
}

fn cooldown(policy: &BreakerPolicy) -> Duration {
    Duration::seconds(i64::try_from(policy.cooldown_seconds).unwrap_or(i64::MAX / 1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    #[test]
    fn closed_open_half_open_closed() {
        let policy = BreakerPolicy {
            failures: 3,
            cooldown_seconds: 60,
        };
        let mut b = Breaker::default();
        b.failed(&policy, t(0));
        b.failed(&policy, t(1));
        assert_eq!(b.state(&policy, t(2)), BreakerState::Closed);
        b.failed(&policy, t(2));
        assert_eq!(b.state(&policy, t(3)), BreakerState::Open);
        let why = b.may_take("a1", &policy, t(3)).unwrap_err();
        assert!(why.contains("3 failures") && why.contains("59s"), "{why}");
        // After the cool-down, one trial.
        assert_eq!(b.state(&policy, t(62)), BreakerState::HalfOpen);
        assert!(b.may_take("a1", &policy, t(62)).is_ok());
        b.took("a1", &policy, t(62));
        assert!(b.may_take("a2", &policy, t(63)).unwrap_err().contains("a1"));
        b.succeeded();
        assert_eq!(b.state(&policy, t(64)), BreakerState::Closed);
        assert_eq!(b.failures, 0);
    }

    #[test]
    fn a_failed_trial_opens_it_again_and_a_success_resets_the_count() {
        let policy = BreakerPolicy {
            failures: 2,
            cooldown_seconds: 10,
        };
        let mut b = Breaker::default();
        b.failed(&policy, t(0));
        b.succeeded();
        b.failed(&policy, t(1));
        assert_eq!(b.state(&policy, t(1)), BreakerState::Closed, "not in a row");
        b.failed(&policy, t(2));
        b.took("trial", &policy, t(20));
        b.failed(&policy, t(21));
        assert_eq!(b.state(&policy, t(22)), BreakerState::Open);
        assert_eq!(b.trial, None);
    }
}
