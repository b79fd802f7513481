//! The outbox in the old service's shapes: `GET /api/outbox/summary` and
//! `/events`, `POST /api/outbox/dispatch` and `/reconcile`. Here delivery
//! and reconcile run in the sync edge on their own schedule; a POST wakes
//! them at once (the socket's `dispatch` and `reconcile` commands) and
//! answers what was due, not what was delivered, which is not known yet:
//! `summary` and later reads show the progress. `dry_run` (the old
//! default) lists what would go and wakes nothing.

use super::Door;
use super::answer::{Answer, Params, Refused, from_cache, keyed, read, refused};
use crate::domain::delivery::DeliveryStatus;
use crate::engine::Command;
use crate::store::outbox::{self, OutboxEvent};
use crate::store::{Store, graph_delivery};
use crate::wire::Action;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new()
        .route("/api/outbox/summary", get(summary))
        .route("/api/outbox/events", get(events))
        .route("/api/outbox/dispatch", post(dispatch))
        .route("/api/outbox/reconcile", post(reconcile))
}

/// The counts by status (the old keys), with the write-back lag and the
/// graph's own delivery state.
fn summarize(store: &Store) -> crate::error::Result<Value> {
    let mut summary = json!(outbox::summary(store.conn())?);
    summary["graph"] = json!(graph_delivery::summary(store.conn())?);
    Ok(summary)
}

async fn summary(State(door): State<Arc<Door>>) -> Answer {
    let summary = read(&door, summarize).await?;
    Ok(Json(json!({
        "cache_role": "outbox_replay_buffer",
        "canonical_source": "neo4j_via_assistx",
        "summary": summary,
    }))
    .into_response())
}

/// One event with its body under `payload`, as the old service listed it.
fn listed(e: OutboxEvent) -> Value {
    let payload: Value = serde_json::from_str(&e.body).unwrap_or(Value::Null);
    let mut row = serde_json::to_value(&e).unwrap_or_else(|_| json!({}));
    if let Value::Object(row) = &mut row {
        row.remove("body");
        row.insert("subject".into(), e.subject_id.into());
        row.insert("payload".into(), payload);
    }
    row
}

/// Events newest first, of one delivery `status` when given.
async fn events(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let q = Params(q);
    let limit = q.limit(50, 500)?;
    let status: Option<DeliveryStatus> = q.parsed("status", str::parse)?;
    let rows = read(&door, move |store| {
        outbox::list(store.conn(), status, true, limit)
    })
    .await?;
    let rows: Vec<Value> = rows.into_iter().map(listed).collect();
    from_cache(keyed("events", rows), "sqlite_cache_mirror")
}

/// `dry_run` may come in the query or the body, as the old service took it.
fn dry_run(q: &Params, body: &[u8]) -> Result<bool, Refused> {
    let from_body = serde_json::from_slice::<Map<String, Value>>(body)
        .ok()
        .and_then(|b| b.get("dry_run").and_then(Value::as_bool));
    match from_body {
        Some(dry_run) => Ok(dry_run),
        None => q.flag("dry_run", true),
    }
}

/// What is due now (each task's next event, at most `limit`), and the
/// summary; unless a dry run, the dispatcher is woken to send it.
async fn dispatch(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Answer {
    let q = Params(q);
    let dry_run = dry_run(&q, &body)?;
    let limit = q.limit(25, 500)?;
    let note = if dry_run {
        None
    } else {
        wake(&door, Action::Dispatch {}).await?
    };
    let (due, summary) = read(&door, move |store| {
        let due = outbox::due_heads(store.conn(), chrono::Utc::now(), limit)?;
        Ok((due, summarize(store)?))
    })
    .await?;
    Ok(Json(json!({
        "dry_run": dry_run,
        "considered": due.len(),
        "delivered": null,
        "failed": null,
        "dispatcher_woken": !dry_run && note.is_none(),
        "note": note,
        "dry_run_events": if dry_run { due.into_iter().map(listed).collect() } else { Vec::new() },
        "summary": summary,
        "canonical_source": "neo4j_via_assistx",
    }))
    .into_response())
}

/// Wakes the graph reader to mark delivered what Neo4j already recorded
/// (`unavailable` without Neo4j); answers what was pending when asked.
async fn reconcile(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let limit = Params(q).limit(100, 1000)?;
    let note = wake(&door, Action::Reconcile {}).await?;
    let (checked, summary) = read(&door, move |store| {
        let pending = outbox::list(store.conn(), Some(DeliveryStatus::Pending), false, limit)?;
        Ok((pending.len(), summarize(store)?))
    })
    .await?;
    Ok(Json(json!({
        "checked": checked,
        "reconciled_delivered": null,
        "conflicts_dead_lettered": null,
        "conflicts": [],
        "reconciler_woken": note.is_none(),
        "note": note,
        "summary": summary,
        "canonical_source": "neo4j_via_assistx",
    }))
    .into_response())
}

/// Wakes the sync edge's worker for `action`. Off by configuration (no
/// write-back, no Neo4j) is not the caller's fault, and a cron script must
/// not fail on it every run: that is said in a `note`, with a 200.
async fn wake(door: &Door, action: Action) -> Result<Option<String>, Refused> {
    match door
        .engine
        .send(Command::by(door.operator.clone(), action))
        .await
    {
        Ok(_) => Ok(None),
        Err(crate::error::Error::Unavailable { what }) => Ok(Some(what)),
        Err(e) => Err(refused(&e)),
    }
}
