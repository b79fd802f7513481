//! Inbound events. `POST /api/events` is the door AssistX calls (contract
//! A7): its loose envelope is the socket's `event`, mirrored once per
//! idempotency key and processed at once (a `task.candidate.created` is
//! decided; one whose subject is an object and whose payload has no
//! `task_id` is `skipped`, `missing_task_id`, where the old service
//! answered 500). The old service's lists of what came in and what was
//! done with it, and its `process` for events stored but not processed,
//! keep its paths, parameters and keys.

use super::Door;
use super::answer::{
    Answer, Params, from_cache, keyed, object, read, send, unexpected, unprocessable,
};
use super::workers::ask;
use crate::engine::Command;
use crate::store::events::{self, Chosen, Stored};
use crate::wire::{Action, Reply};
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
        .route("/api/events", post(ingest).get(list))
        .route("/api/events/processing", get(processing))
        .route("/api/events/process", post(process))
}

async fn ingest(State(door): State<Arc<Door>>, body: Bytes) -> Answer {
    let envelope = object(&body).map_err(|e| unprocessable(&e))?;
    let mut fields = Map::new();
    fields.insert("event".into(), Value::Object(envelope.clone()));
    let mut answer = ask(&door, "event", fields).await?;
    for key in ["event_id", "event_type", "idempotency_key", "subject"] {
        answer.insert(
            key.into(),
            envelope.get(key).cloned().unwrap_or(Value::Null),
        );
    }
    for (key, value) in [
        ("source", "sqlite_inbound_event_cache"),
        ("canonical_source", "neo4j_via_assistx"),
        ("cache_role", "received_event_mirror"),
    ] {
        answer.insert(key.into(), Value::String(value.into()));
    }
    Ok(axum::Json(Value::Object(answer)).into_response())
}

/// The events received, newest first (`event_type` filters), each with its
/// envelope under `payload` as the old service listed them, and what
/// processing it got.
async fn list(State(door): State<Arc<Door>>, Query(q): Query<BTreeMap<String, String>>) -> Answer {
    let q = Params(q);
    let limit = q.limit(50, 500)?;
    let event_type = q.text("event_type");
    let rows = read(&door, move |store| {
        let chosen = Chosen {
            include_processed: true,
            event_type: event_type.as_deref(),
            newest_first: true,
        };
        events::list(store.conn(), chosen, limit)
    })
    .await?;
    let rows: Vec<Value> = rows.into_iter().map(received).collect();
    from_cache(keyed("events", rows), "sqlite_inbound_event_cache")
}

/// One stored event in the old service's keys.
fn received(e: Stored) -> Value {
    let payload: Value = serde_json::from_str(&e.body).unwrap_or(Value::Null);
    json!({
        "event_id": e.event_id,
        "event_type": e.event_type,
        "source_service": payload.get("source_service").or(payload.get("source")),
        "idempotency_key": e.idempotency_key,
        "subject": payload.get("subject"),
        "payload": payload,
        "received_at": e.received_at,
        "processing": e.action.as_ref().map(|action| json!({
            "action": action,
            "reason": e.reason,
            "runs": e.runs,
        })),
    })
}

/// What was done with each event, newest first: the old service's
/// `status` is the action, and `action` its details.
async fn processing(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let limit = Params(q).limit(50, 500)?;
    let rows = read(&door, move |store| events::processing(store.conn(), limit)).await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|p| {
            json!({
                "idempotency_key": p.idempotency_key,
                "event_id": p.event_id,
                "event_type": p.event_type,
                "status": p.action,
                "action": {
                    "action": p.action,
                    "reason": p.reason,
                    "detail": p.detail,
                },
                "processed_at": p.processed_at,
                "updated_at": p.processed_at,
                "runs": p.runs,
            })
        })
        .collect();
    from_cache(keyed("processing", rows), "sqlite_inbound_processing_cache")
}

/// Processes stored events not processed yet (all of them again with
/// `include_processed`), in arrival order, at most `limit`, of
/// `event_type` when given; `dry_run` (the old default) answers what
/// would be done and changes nothing. An event is processed when it
/// arrives, so none is ever skipped as already processed: that count,
/// kept for the old callers, is always 0.
async fn process(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let q = Params(q);
    let dry_run = q.flag("dry_run", true)?;
    let action = Action::ProcessEvents {
        include_processed: q.flag("include_processed", false)?,
        dry_run,
        event_type: q.text("event_type"),
        limit: Some(q.limit(25, 500)? as u32),
    };
    match send(&door, Command::by(door.operator.clone(), action)).await? {
        Reply::Processed(done) => {
            let mut answer = keyed("actions", &done);
            answer.insert("processed".into(), done.len().into());
            answer.insert("skipped_already_processed".into(), 0.into());
            answer.insert("dry_run".into(), dry_run.into());
            from_cache(answer, "sqlite_inbound_event_cache")
        }
        other => Err(unexpected(&other)),
    }
}
