//! The fleet as one decision pass sees it. Each task placed reserves a
//! place on its worker, so a pass of many tasks spreads them over the fleet
//! and never gives a worker more than its limit; a task no worker can take
//! waits for capacity.
//!
//! Per lane, the workers that could take some task now ("open") are kept
//! apart from those that cannot ("closed": stale, draining, offline,
//! degraded, breaker open, full), whose refusals do not depend on the task
//! and are counted once. A task looks only at the open workers of its lane,
//! and a worker that fills up moves to the closed ones: as a big pass fills
//! the fleet, each choice gets cheaper.

use super::{
    Chosen, FleetWorker, Need, Policy, Rejected, Score, Selection, Why, better, fixed_part,
    health_score, order, score_value, serves, why_not_for, worker_why_not,
};
use crate::domain::lane::Lane;
use std::collections::HashMap;

/// Rejected workers listed in full in a decision; the rest are counted per
/// reason code, so a decision stays small whatever the fleet's size.
pub const LISTED: usize = 3;

pub struct Pool {
    /// In `node/worker` order: a worker's place here breaks the last tie.
    workers: Vec<FleetWorker>,
    /// Each worker's weighted health and cost, which a pass does not change.
    fixed: Vec<f64>,
    policy: Policy,
    listed: usize,
    lanes: HashMap<Lane, LaneView>,
}

/// One lane's workers, each list in `node/worker` order.
#[derive(Default)]
struct LaneView {
    open: Vec<usize>,
    closed: Vec<usize>,
    /// The closed workers' refusals, per [`Why`].
    closed_counts: [usize; Why::ALL.len()],
    /// With no open worker left, every task of the lane is told the same.
    full: Option<Selection>,
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
        let fixed = workers
            .iter()
            .map(|w| fixed_part(w, health_score(&w.health), &policy.weights))
            .collect();
        Pool {
            workers,
            fixed,
            policy,
            listed,
            lanes: HashMap::new(),
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
                self.reserve(i);
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

    /// One more task on worker `i`; full, it closes in every lane.
    fn reserve(&mut self, i: usize) {
        let w = &mut self.workers[i];
        w.active += 1;
        let Some(why) = worker_why_not(w) else {
            return;
        };
        for view in self.lanes.values_mut() {
            if let Ok(at) = view.open.binary_search(&i) {
                view.open.remove(at);
                let at = view.closed.binary_search(&i).unwrap_or_else(|at| at);
                view.closed.insert(at, i);
                view.closed_counts[why as usize] += 1;
            }
        }
    }

    /// The best usable worker for a task of `need` on `lane`, and every
    /// other one with its reason: the open workers it may not take or that
    /// scored lower first, then the closed ones, then those not serving the
    /// lane, each group in `node/worker` order; the first `listed` in full,
    /// the rest counted per reason code. Also says which worker was chosen.
    pub(super) fn choose(&mut self, lane: Lane, need: &Need) -> (Selection, Option<usize>) {
        let Pool {
            workers,
            fixed,
            policy,
            listed,
            lanes,
        } = self;
        let view = lanes.entry(lane).or_insert_with(|| {
            let mut view = LaneView::default();
            for (i, w) in workers.iter().enumerate().filter(|(_, w)| serves(w, lane)) {
                match worker_why_not(w) {
                    None => view.open.push(i),
                    Some(why) => {
                        view.closed.push(i);
                        view.closed_counts[why as usize] += 1;
                    }
                }
            }
            view
        });
        if view.open.is_empty()
            && let Some(full) = &view.full
        {
            return (full.clone(), None);
        }
        let weights = &policy.weights;
        let mut best: Option<(f64, usize)> = None;
        let mut verdicts = Vec::with_capacity(view.open.len());
        for &i in &view.open {
            let w = &workers[i];
            let verdict = match why_not_for(w, need, policy) {
                Some(why) => Err(why),
                None => {
                    let score = score_value(w, fixed[i], need, weights);
                    let wins = best.is_none_or(|(top, j)| {
                        better((score, w, i), (top, &workers[j], j)).is_lt()
                    });
                    if wins {
                        best = Some((score, i));
                    }
                    Ok(score)
                }
            };
            verdicts.push((i, verdict));
        }
        let top = best.map(|(score, _)| super::round(score));
        let best = best.map(|(_, i)| i);
        let mut selection = Selection::default();
        let mut counted = [0usize; Why::ALL.len()];
        let mut list = |selection: &mut Selection, w: &FleetWorker, verdict: Result<f64, Why>| {
            let why = verdict.err().unwrap_or(Why::LowerScore);
            if selection.rejected.len() >= *listed {
                counted[why as usize] += 1;
                return;
            }
            let reason = match verdict {
                // Contract C's tie-break decided between equal scores.
                Ok(score) if Some(super::round(score)) == top => format!(
                    "{} scored {} too; the tie went to the worker with fewer tasks, \
                     then the longest since assigned, then the first by name",
                    w.key(),
                    super::round(score)
                ),
                Ok(score) => format!(
                    "{} scored {}, below the chosen worker",
                    w.key(),
                    super::round(score)
                ),
                Err(_) => format!("{} {}", w.key(), why.sentence(w, lane, need)),
            };
            selection.rejected.push(Rejected {
                worker_id: w.worker_id.clone(),
                node_id: w.node_id.clone(),
                reason_code: why.code().into(),
                reason,
            });
        };
        for (i, verdict) in verdicts {
            let w = &workers[i];
            if Some(i) == best {
                let score = Score::of(w, health_score(&w.health), need, weights);
                selection.chosen = Some(Chosen {
                    worker_id: w.worker_id.clone(),
                    node_id: w.node_id.clone(),
                    score: score.value,
                    reasons: vec![score.reason(w)],
                });
            } else {
                list(&mut selection, w, verdict);
            }
        }
        // Closed workers: listed while there is room, then counted whole.
        let mut shown = [0usize; Why::ALL.len()];
        for &i in &view.closed {
            if selection.rejected.len() >= *listed {
                break;
            }
            let w = &workers[i];
            if let Some(why) = worker_why_not(w) {
                shown[why as usize] += 1;
                list(&mut selection, w, Err(why));
            }
        }
        // Workers not serving the lane: the same.
        let serving = view.open.len() + view.closed.len();
        let mut not_serving = workers.len() - serving;
        for w in workers.iter() {
            if selection.rejected.len() >= *listed || not_serving == 0 {
                break;
            }
            if !serves(w, lane) {
                not_serving -= 1;
                list(&mut selection, w, Err(Why::LaneNotServed));
            }
        }
        for (n, (total, listed_already)) in
            counted.iter_mut().zip(view.closed_counts.iter().zip(shown))
        {
            *n += total - listed_already;
        }
        counted[Why::LaneNotServed as usize] += not_serving;
        selection.unlisted = Why::ALL
            .iter()
            .zip(counted)
            .filter(|(_, n)| *n > 0)
            .map(|(why, n)| (why.code().to_string(), n))
            .collect();
        if view.open.is_empty() {
            view.full = Some(selection.clone());
        }
        (selection, best)
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
    fn a_worker_that_lost_a_tie_is_told_so() {
        let mut pool = Pool::new(
            vec![worker("n1", "b"), worker("n1", "a")],
            Policy::default(),
            LISTED,
        );
        let p = pool.place(&[Lane::LocalOnly], &need(&[]));
        let b = &p.selection.rejected[0];
        assert_eq!(
            (b.worker_id.as_str(), b.reason_code.as_str()),
            ("b", "lower_score")
        );
        assert!(b.reason.contains("too; the tie went to"), "{}", b.reason);
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
