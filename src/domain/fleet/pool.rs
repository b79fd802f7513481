//! The fleet as one decision pass sees it. Each task placed reserves a
//! place on its worker, so a pass of many tasks spreads them over the fleet
//! and never gives a worker more than its limit; a task no worker can take
//! waits for capacity.

use super::{
    Fleet, FleetWorker, Need, Policy, Selection, choose, health_of, order, serving, worker_why_not,
};
use crate::domain::lane::Lane;
use std::collections::HashMap;

/// Rejected workers listed in full in a decision; the rest are counted per
/// reason code, so a decision stays small whatever the fleet's size.
pub const LISTED: usize = 8;

pub struct Pool {
    /// In `node/worker` order: the order rejected workers are listed in.
    workers: Vec<FleetWorker>,
    /// Each worker's health score, which a pass does not change.
    health: Vec<f64>,
    /// Per lane, the positions of the workers serving it.
    serving: HashMap<Lane, Vec<usize>>,
    policy: Policy,
    listed: usize,
    /// Workers that could take some task now.
    open: usize,
    /// Once no worker can take anything, the answer per lane is the same
    /// for every task: worked out once.
    full: HashMap<Lane, Selection>,
}

/// Where a task goes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    /// The lane whose worker was chosen; `None` when no lane had one.
    pub lane: Option<Lane>,
    /// The choice in that lane (or, with none, the first lane's refusals).
    pub selection: Selection,
    /// Lanes ranked above the chosen one that had no usable worker.
    pub passed_over: Vec<(Lane, Selection)>,
}

impl Pool {
    pub fn new(mut workers: Vec<FleetWorker>, policy: Policy, listed: usize) -> Pool {
        workers.sort_by(order);
        let open = workers
            .iter()
            .filter(|w| worker_why_not(w).is_none())
            .count();
        Pool {
            health: health_of(&workers),
            serving: HashMap::new(),
            workers,
            policy,
            listed,
            open,
            full: HashMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The best worker of the first of `lanes` (ranked best first) that has
    /// a usable one; it is reserved for the task.
    pub fn place(&mut self, lanes: &[Lane], need: &Need) -> Placement {
        let mut passed_over = Vec::new();
        for &lane in lanes {
            let (selection, best) = self.choose(lane, need);
            if let Some(i) = best {
                let w = &mut self.workers[i];
                w.active += 1;
                if worker_why_not(w).is_some() {
                    self.open -= 1;
                }
                return Placement {
                    lane: Some(lane),
                    selection,
                    passed_over,
                };
            }
            passed_over.push((lane, selection));
        }
        let selection = if passed_over.is_empty() {
            Selection::default()
        } else {
            passed_over.remove(0).1
        };
        Placement {
            lane: None,
            selection,
            passed_over,
        }
    }

    fn choose(&mut self, lane: Lane, need: &Need) -> (Selection, Option<usize>) {
        let Pool {
            workers,
            health,
            serving: by_lane,
            policy,
            listed,
            open,
            full,
        } = self;
        let serving = by_lane
            .entry(lane)
            .or_insert_with(|| serving(workers, lane));
        let fleet = Fleet { workers, health };
        if *open > 0 {
            return choose(lane, need, &fleet, serving, policy, *listed);
        }
        let selection = full
            .entry(lane)
            .or_insert_with(|| choose(lane, need, &fleet, serving, policy, *listed).0);
        (selection.clone(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{need, worker};
    use super::*;

    #[test]
    fn a_pass_spreads_tasks_and_never_fills_a_worker_past_its_limit() {
        // Two workers of two places each: four tasks fit, the fifth waits.
        let mut pool = Pool::new(
            vec![worker("n1", "b"), worker("n1", "a")],
            Policy::default(),
            LISTED,
        );
        let lanes = [Lane::LocalOnly];
        let chosen: Vec<Option<String>> = (0..5)
            .map(|_| {
                let p = pool.place(&lanes, &need(&["python"]));
                p.selection.chosen.map(|c| c.worker_id)
            })
            .collect();
        let chosen: Vec<Option<&str>> = chosen.iter().map(Option::as_deref).collect();
        assert_eq!(
            chosen,
            [Some("a"), Some("b"), Some("a"), Some("b"), None],
            "ties go by fewer active, then key"
        );
        let waiting = pool.place(&lanes, &need(&["python"]));
        assert_eq!(waiting.lane, None);
        let codes: Vec<&str> = waiting
            .selection
            .rejected
            .iter()
            .map(|r| r.reason_code.as_str())
            .collect();
        assert_eq!(codes, ["at_capacity", "at_capacity"]);
    }

    #[test]
    fn a_lane_without_a_usable_worker_is_passed_over_for_the_next() {
        let mut gpu = worker("n2", "g");
        gpu.lanes = vec!["free_api".into()];
        let mut busy = worker("n1", "a");
        busy.active = busy.max_concurrent;
        let mut pool = Pool::new(vec![busy, gpu], Policy::default(), LISTED);
        let p = pool.place(&[Lane::LocalOnly, Lane::FreeApi], &need(&[]));
        assert_eq!(p.lane, Some(Lane::FreeApi));
        assert_eq!(p.selection.chosen.unwrap().worker_id, "g");
        let (lane, refused) = &p.passed_over[0];
        assert_eq!(*lane, Lane::LocalOnly);
        assert!(refused.chosen.is_none());
        assert!(
            refused
                .rejected
                .iter()
                .any(|r| r.worker_id == "a" && r.reason_code == "at_capacity"),
            "{refused:?}"
        );
    }

    #[test]
    fn past_the_listed_workers_the_rest_are_counted_by_reason() {
        let workers: Vec<FleetWorker> = (0..20)
            .map(|i| {
                let mut w = worker("n1", &format!("w{i:02}"));
                w.drained = i % 2 == 0;
                w
            })
            .collect();
        let mut pool = Pool::new(workers, Policy::default(), 3);
        let p = pool.place(&[Lane::LocalOnly], &need(&[]));
        assert_eq!(p.selection.rejected.len(), 3);
        let counted: usize = p.selection.unlisted.values().sum();
        assert_eq!(counted + 3 + 1, 20, "{:?}", p.selection.unlisted);
        assert!(p.selection.unlisted.contains_key("worker_draining"));
    }
}
