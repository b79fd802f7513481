//! Deciding on request: the old service's `POST /api/scheduler/tick`,
//! `GET /api/scheduler/runs` and `POST /api/assignments/evaluate`, with its
//! bodies, defaults (`dry_run: true`) and answer keys. A task named by id
//! is decided from the cached backlog (what AssistX last sent for it), or
//! as a bare task when the cache never saw it, as the old service did when
//! AssistX did not know it. A dry run is the same pass rolled back.

use super::Door;
use super::answer::{
    Answer, Params, Refused, bad_field, from_cache, keyed, parse, read, send, unexpected, yes,
};
use crate::domain::lane::Lane;
use crate::engine::Command;
use crate::store::{assignments, candidates, runs};
use crate::wire::reply::{Outcome, TickReport};
use crate::wire::{Action, Reply};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new()
        .route("/api/scheduler/tick", post(tick))
        .route("/api/scheduler/runs", get(list_runs))
        .route("/api/assignments/evaluate", post(evaluate))
}

/// The old service's tick request.
#[derive(Deserialize)]
struct TickAsked {
    #[serde(default = "yes")]
    dry_run: bool,
    #[serde(default = "twenty_five")]
    limit: usize,
    #[serde(default = "manual")]
    reason: String,
    #[serde(default)]
    task_ids: Vec<String>,
}

fn twenty_five() -> usize {
    25
}
fn manual() -> String {
    "manual_operator_tick".into()
}

/// The old service's evaluate request.
#[derive(Deserialize)]
struct EvaluateAsked {
    task_id: String,
    #[serde(default = "yes")]
    dry_run: bool,
    #[serde(default)]
    candidate_lanes: Option<Vec<String>>,
}

/// A pass over `task_ids` (at most `limit` of them) or, without them, the
/// whole cached backlog; the answer lists at most `limit` decisions.
async fn tick(State(door): State<Arc<Door>>, body: Bytes) -> Answer {
    let asked: TickAsked = parse(&body)?;
    if !(1..=500).contains(&asked.limit) {
        return Err(bad_field("limit", "limit must be from 1 to 500".into()));
    }
    if asked.task_ids.iter().any(|id| id.trim().is_empty()) {
        return Err(bad_field("task_ids", "a task id must not be blank".into()));
    }
    let candidates = if asked.task_ids.is_empty() {
        None
    } else {
        let mut ids = asked.task_ids;
        ids.truncate(asked.limit);
        Some(items(&door, ids, None).await?)
    };
    let action = Action::Tick {
        dry_run: asked.dry_run,
        candidates,
        router: None,
    };
    match send(&door, Command::by(door.operator.clone(), action)).await? {
        Reply::Tick(report) => {
            Ok(Json(tick_answer(report, &asked.reason, asked.limit)).into_response())
        }
        other => Err(unexpected(&other)),
    }
}

/// The old `SchedulerTickResponse`, with what became of each candidate.
fn tick_answer(report: TickReport, reason: &str, limit: usize) -> Value {
    let c = &report.counts;
    let decisions: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|o| o.decision.as_ref())
        .take(limit)
        .collect();
    json!({
        "scheduler_run_id": report.run_id.map(|id| format!("tick_{id}")),
        "dry_run": report.dry_run,
        "reason": reason,
        "evaluated": c.candidates,
        "recommended": c.recommended,
        "approval_required": c.approval_required,
        "skipped": c.blocked,
        "unchanged": c.unchanged,
        "deferred": c.deferred,
        "released_expired": c.expired,
        "decisions": decisions,
        "outcomes": report.outcomes.iter().take(limit).collect::<Vec<_>>(),
        "note": report.note,
    })
}

async fn list_runs(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let limit = Params(q).limit(50, 500)?;
    let rows = read(&door, move |store| runs::recent(store.conn(), limit)).await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|run| {
            let mut row = json!({
                "scheduler_run_id": format!("tick_{}", run.run_id),
                "trigger_reason": run.trigger,
                "dry_run": false,
                "evaluated_count": run.counts.candidates,
                "recommended_count": run.counts.recommended,
                "skipped_count": run.counts.blocked,
                "completed_at": run.finished_at,
                "error_summary": run.note,
            });
            if let (Value::Object(row), Value::Object(ours)) = (&mut row, json!(run)) {
                row.extend(ours);
            }
            row
        })
        .collect();
    from_cache(keyed("runs", rows), "sqlite_cache_mirror")
}

/// Decides one task now (rolled back with `dry_run`) and answers its
/// decision, as the old service did, with what became of it (`result`,
/// `note`). A task past deciding (claimed, running, done...) keeps its
/// decision (contract B): that one is answered.
async fn evaluate(State(door): State<Arc<Door>>, body: Bytes) -> Answer {
    let asked: EvaluateAsked = parse(&body)?;
    let lanes = asked
        .candidate_lanes
        .map(|names| {
            names
                .iter()
                .map(|n| Lane::from_name(n).ok_or_else(|| format!("unknown lane '{n}'")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| bad_field("candidate_lanes", e))?;
    let task_id = asked.task_id;
    if task_id.trim().is_empty() {
        return Err(bad_field("task_id", "task_id must not be blank".into()));
    }
    let action = Action::Evaluate {
        candidates: items(&door, vec![task_id.clone()], lanes).await?,
    };
    let command = if asked.dry_run {
        Command::trial(door.operator.clone(), action)
    } else {
        Command::by(door.operator.clone(), action)
    };
    let Outcome {
        result,
        decision,
        note,
        ..
    } = match send(&door, command).await? {
        Reply::Outcomes(mut o) if !o.is_empty() => o.swap_remove(0),
        other => return Err(unexpected(&other)),
    };
    let decision = match decision {
        Some(d) => Some(d),
        None => read(&door, move |store| {
            let filter = assignments::Filter {
                task_id: Some(&task_id),
                ..Default::default()
            };
            assignments::list(store.conn(), filter, 1)
        })
        .await?
        .pop()
        .map(|a| a.decision),
    };
    let mut answer = match json!(decision) {
        Value::Object(fields) => fields,
        _ => serde_json::Map::new(),
    };
    answer.insert("result".into(), result.into());
    answer.insert("note".into(), note.into());
    answer.insert("dry_run".into(), asked.dry_run.into());
    Ok(Json(Value::Object(answer)).into_response())
}

/// The backlog items for `task_ids`: each cached candidate as AssistX last
/// sent it, or a bare task; `lanes` replaces their allowed lanes.
async fn items(
    door: &Arc<Door>,
    task_ids: Vec<String>,
    lanes: Option<Vec<Lane>>,
) -> Result<Vec<Value>, Refused> {
    read(door, move |store| {
        task_ids
            .iter()
            .map(|id| {
                let mut item = match candidates::get(store.conn(), id)? {
                    Some(cached) => cached.to_item(),
                    None => json!({ "task_id": id }),
                };
                if let Some(lanes) = &lanes {
                    item["allowed_lanes"] = json!(lanes);
                }
                Ok(item)
            })
            .collect()
    })
    .await
}
