//! A decision pass over many candidates, in two halves: [`plan`] scores a
//! candidate and works out everything its decision writes (the JSON, the
//! sealed event, the lifecycle step) without touching the store, and the
//! engine thread writes the planned results in order, a chunk at a time.
//! For a big backlog the planning runs on a helper thread, a few chunks
//! ahead of the writing, so the pass costs about its SQLite work alone
//! instead of both added up; normalizing the backlog beforehand is split
//! over both cores.

use crate::domain::candidate::Candidate;
use crate::domain::decision::Decision;
use crate::domain::envelope::{Envelope, Sealed};
use crate::domain::fleet::pool::Pool;
use crate::domain::ids;
use crate::domain::lifecycle::{Event, Status, transition};
use crate::domain::scorer::{self, DecisionContext};
use crate::error::{Error, Result};
use crate::store::assignments::State;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::{Mutex, PoisonError, mpsc};

/// A candidate scored, with what its decision changes.
#[derive(Debug)]
pub struct Planned {
    /// The candidate as cached (its retry count the larger of its own and
    /// the engine's), and that cache row's JSON.
    pub candidate: Candidate,
    pub candidate_json: String,
    /// The assignment's status before this pass, if it exists.
    pub from: Option<Status>,
    pub step: Step,
}

#[derive(Debug)]
pub enum Step {
    /// Assignment control is off: the blocked decision is announced and
    /// nothing is stored, since no assignment is made.
    Announce { decision: Decision, event: Sealed },
    /// The lifecycle refuses a new decision (claimed, running, done...).
    Held { why: String },
    /// The same decision again, or an approved assignment: nothing to write.
    Unchanged,
    /// A new or changed decision: stored, announced and audited.
    Store {
        decision: Decision,
        /// The decision serialized once: the stored row and the event's
        /// payload are the same bytes.
        json: String,
        event: Sealed,
        to: Status,
    },
}

/// Scores one candidate against its assignment's current state; a new
/// recommendation is given a worker of `pool` (contract C) when there is
/// one. Planning runs on one thread, in order, so the pool's reservations
/// follow the candidates' order.
pub fn plan(
    mut candidate: Candidate,
    state: Option<State>,
    ctx: &DecisionContext,
    pool: Option<&Mutex<Pool>>,
    now: DateTime<Utc>,
) -> Result<Planned> {
    // A retry the engine counted outranks the candidate's own count.
    if let Some(state) = &state {
        candidate.retry_count = candidate.retry_count.max(state.retry_count);
    }
    let candidate_json = crate::store::to_json(&candidate);
    let mut decision = scorer::decide(&candidate, ctx);
    let from = state.as_ref().map(|s| s.status);
    let step = if !ctx.control.allows_new_work() {
        let (_, event) = announce(&decision, now)?;
        Step::Announce { decision, event }
    } else {
        let requeue = state.as_ref().is_none_or(|s| s.requeue);
        match transition(from, requeue, Event::Decide(decision.status)) {
            Err(why) => Step::Held { why },
            Ok(to) => {
                let same = state
                    .as_ref()
                    .is_some_and(|s| s.status == to && s.decision_id == decision.decision_id);
                if to == Status::Approved || same {
                    Step::Unchanged
                } else {
                    if let Some(pool) = pool {
                        let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
                        let failed_on = state.as_ref().and_then(|s| s.failed_on.as_deref());
                        scorer::place(&mut decision, &candidate, ctx, failed_on, &mut pool);
                    }
                    let (json, event) = announce(&decision, now)?;
                    Step::Store {
                        decision,
                        json,
                        event,
                        to,
                    }
                }
            }
        }
    };
    Ok(Planned {
        candidate,
        candidate_json,
        from,
        step,
    })
}

/// The decision's JSON and the sealed event announcing it.
fn announce(decision: &Decision, now: DateTime<Utc>) -> Result<(String, Sealed)> {
    let payload = serde_json::value::to_raw_value(decision)
        .map_err(|e| Error::bad_input("decision", e.to_string()))?;
    let json = payload.get().to_owned();
    let event = Envelope::about_task(
        decision.event_type(),
        decision.idempotency_key.clone(),
        &decision.task_id,
        payload,
        now,
    )
    .seal()
    .map_err(|e| Error::bad_input("event", e))?;
    Ok((json, event))
}

/// A candidate with the id of the assignment it decides.
pub type Identified = (String, Candidate);

/// Normalizes raw AssistX items (contract A5), each with its assignment id.
pub fn normalize(items: Vec<Value>) -> Vec<Result<Identified, String>> {
    split_map(items, |item| Candidate::from_json(&item).map(identify))
}

/// Each candidate with its assignment id.
pub fn identify_all(candidates: Vec<Candidate>) -> Vec<Identified> {
    split_map(candidates, identify)
}

fn identify(candidate: Candidate) -> Identified {
    let id = ids::assignment_id(&candidate.task_id, candidate.canonical_status.as_deref());
    (id, candidate)
}

/// `f` over every item, in order; a big list is split over two threads
/// (before a pass both cores are idle).
fn split_map<T: Send, U: Send>(mut items: Vec<T>, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    if items.len() < PIPELINE_FROM || cores() < 2 {
        return items.into_iter().map(f).collect();
    }
    let back = items.split_off(items.len() / 2);
    std::thread::scope(|scope| {
        let f = &f;
        let back = scope.spawn(move || back.into_iter().map(f).collect::<Vec<U>>());
        let mut done: Vec<U> = items.into_iter().map(f).collect();
        done.extend(
            back.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        );
        done
    })
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Plans every item and hands the results to `write` in order, a chunk at a
/// time (so the writer prepares each statement once per chunk). Below
/// [`PIPELINE_FROM`] items, or on one core, all of it runs on this thread.
pub fn run<I: Send>(
    items: Vec<I>,
    plan: impl Fn(I) -> Result<Planned> + Sync,
    mut write: impl FnMut(Vec<Planned>) -> Result<()>,
) -> Result<()> {
    if items.len() < PIPELINE_FROM || cores() < 2 {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            write(
                items
                    .by_ref()
                    .take(CHUNK)
                    .map(&plan)
                    .collect::<Result<_>>()?,
            )?;
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        // Bounded, so planning stays a few chunks ahead instead of holding
        // the whole backlog's JSON in memory at once.
        let (sender, chunks) = mpsc::sync_channel::<Result<Vec<Planned>>>(4);
        let plan = &plan;
        scope.spawn(move || {
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                let chunk = items.by_ref().take(CHUNK).map(plan).collect();
                if sender.send(chunk).is_err() {
                    return; // the writer stopped on an error
                }
            }
        });
        for chunk in chunks {
            write(chunk?)?;
        }
        Ok(())
    })
}

/// Passes smaller than this run on one thread: another is not worth it.
const PIPELINE_FROM: usize = 512;
const CHUNK: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    /// A planned item whose retry count carries its index.
    fn numbered(i: u32) -> Result<Planned> {
        let mut candidate = Candidate::from_json(&serde_json::json!({"task_id": format!("T{i}")}))
            .map_err(|e| Error::bad_input("candidate", e))?;
        candidate.retry_count = i;
        Ok(Planned {
            candidate,
            candidate_json: String::new(),
            from: None,
            step: Step::Unchanged,
        })
    }

    #[test]
    fn a_pipelined_run_writes_every_item_once_in_order() {
        for n in [0, 1, 300, 5_000] {
            let mut seen = Vec::new();
            run((0..n).collect(), numbered, |chunk| {
                assert!(!chunk.is_empty() && chunk.len() <= CHUNK);
                seen.extend(chunk.iter().map(|p| p.candidate.retry_count));
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn normalizing_keeps_the_backlog_order_and_every_refusal_in_place() {
        for n in [3, 4_001] {
            let items: Vec<Value> = (0..n)
                .map(|i| {
                    if i % 1_000 == 1 {
                        serde_json::json!(["not", "an", "object"])
                    } else {
                        serde_json::json!({"task_id": format!("T{i}")})
                    }
                })
                .collect();
            let normalized = normalize(items);
            assert_eq!(normalized.len(), n);
            for (i, item) in normalized.iter().enumerate() {
                match item {
                    Ok((id, c)) => {
                        assert_eq!(c.task_id, format!("T{i}"));
                        assert_eq!(*id, ids::assignment_id(&c.task_id, None));
                    }
                    Err(_) => assert_eq!(i % 1_000, 1),
                }
            }
        }
    }

    #[test]
    fn a_write_error_stops_the_pass_and_is_returned() {
        let mut written = 0;
        let result = run((0..10_000).collect(), numbered, |chunk| {
            written += chunk.len();
            if chunk.iter().any(|p| p.candidate.retry_count == 700) {
                return Err(Error::bad_input("write", "refused"));
            }
            Ok(())
        });
        assert!(result.unwrap_err().to_string().contains("refused"));
        assert_eq!(written, 768, "three chunks written, the planner stopped");
    }

    #[test]
    fn a_planning_error_is_returned_after_the_items_before_it() {
        let mut written = 0;
        let result = run(
            (0..3_000).collect(),
            |i| {
                if i == 2_000 {
                    Err(Error::bad_input("plan", "bug"))
                } else {
                    numbered(i)
                }
            },
            |chunk| {
                written += chunk.len();
                Ok(())
            },
        );
        assert!(result.unwrap_err().to_string().contains("bug"));
        assert_eq!(written, 1_792, "every whole chunk before the failing one");
    }
}
