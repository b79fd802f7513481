//! The fleet view a decision pass places work on, kept between passes.
//! Building it reads every worker and what waits for each (a couple of
//! milliseconds with a thousand workers), which a stream of task events,
//! each decided on arrival, would otherwise pay per event. A pass leaves
//! its reservations in it, so the next pass carries on from there.
//!
//! It is forgotten whenever the fleet may have changed under it (a worker's
//! status, a lease taken or ended, a drain, a refused command whose
//! reservations were rolled back) and in any case after [`FRESH_FOR`], which
//! bounds what a missed change (new lanes in a heartbeat) can cost.

use crate::domain::fleet::pool::Pool;
use chrono::{DateTime, TimeDelta, Utc};
use std::cell::RefCell;

const FRESH_FOR: TimeDelta = TimeDelta::seconds(1);

#[derive(Default)]
pub struct FleetCache {
    kept: RefCell<Option<(Pool, DateTime<Utc>)>>,
}

impl FleetCache {
    /// The kept pool, if it was built less than [`FRESH_FOR`] before `now`.
    pub(super) fn take_fresh(&self, now: DateTime<Utc>) -> Option<(Pool, DateTime<Utc>)> {
        self.kept
            .borrow_mut()
            .take()
            .filter(|(_, built_at)| now - *built_at < FRESH_FOR && *built_at <= now)
    }

    /// Keeps `pool`, built at `built_at`, for the next pass.
    pub(super) fn keep(&self, pool: Pool, built_at: DateTime<Utc>) {
        *self.kept.borrow_mut() = Some((pool, built_at));
    }

    /// The fleet may have changed: the next pass reads it again.
    pub fn forget(&self) {
        self.kept.borrow_mut().take();
    }
}
