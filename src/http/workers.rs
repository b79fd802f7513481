//! Workers on other machines (issue 13, item 3): the socket protocol's
//! worker operations over HTTP, decoded by the same codec into the same
//! engine commands, so their meaning and their refusals are the socket's.
//! The old service's paths are kept where it had them (`/api/heartbeats`,
//! `/api/assignments/{id}/claim`, `/complete`), and its heartbeat body is
//! read too (`worker_id` optional, status `online`, services as objects).

use super::Door;
use super::answer::{Answer, Refused, object, read, send, unprocessable};
use crate::store::outbox;
use crate::wire::Reply;
use crate::wire::codec::{self, ProtocolError, Request};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new()
        .route("/api/heartbeats", post(heartbeat))
        .route("/api/next", post(next))
        .route("/api/assignments/{id}/claim", post(claim))
        .route("/api/assignments/{id}/progress", post(progress))
        .route("/api/assignments/{id}/complete", post(complete))
        .route("/api/assignments/{id}/fail", post(fail))
}

async fn heartbeat(State(door): State<Arc<Door>>, body: Bytes) -> Answer {
    let mut fields = object(&body).map_err(|e| unprocessable(&e))?;
    old_heartbeat(&mut fields);
    run(&door, "heartbeat", fields).await
}

async fn next(State(door): State<Arc<Door>>, body: Bytes) -> Answer {
    with(&door, "next", None, &body).await
}

async fn claim(State(door): State<Arc<Door>>, Path(id): Path<String>, body: Bytes) -> Answer {
    with(&door, "claim", Some(id), &body).await
}

async fn progress(State(door): State<Arc<Door>>, Path(id): Path<String>, body: Bytes) -> Answer {
    with(&door, "progress", Some(id), &body).await
}

async fn complete(State(door): State<Arc<Door>>, Path(id): Path<String>, body: Bytes) -> Answer {
    with(&door, "complete", Some(id), &body).await
}

async fn fail(State(door): State<Arc<Door>>, Path(id): Path<String>, body: Bytes) -> Answer {
    with(&door, "fail", Some(id), &body).await
}

/// The body's fields as `op`'s request, the path's assignment id winning
/// over one in the body.
pub(super) async fn with(door: &Arc<Door>, op: &str, id: Option<String>, body: &[u8]) -> Answer {
    let mut fields = object(body).map_err(|e| unprocessable(&e))?;
    if let Some(id) = id {
        fields.insert("assignment_id".into(), Value::String(id));
    }
    run(door, op, fields).await
}

/// The old service's heartbeat, read as this one's: a node's own heartbeat
/// (no `worker_id`) is the node's worker of the same name, `online` is
/// `ready`, a service object is its name, and metrics that are not numbers
/// are left out.
fn old_heartbeat(fields: &mut Map<String, Value>) {
    if !fields.contains_key("worker_id")
        && let Some(node) = fields.get("node_id").cloned()
    {
        fields.insert("worker_id".into(), node);
    }
    if fields.get("status").and_then(Value::as_str) == Some("online") {
        fields.insert("status".into(), Value::String("ready".into()));
    }
    if let Some(Value::Array(services)) = fields.get_mut("services") {
        for service in services.iter_mut() {
            if let Value::Object(o) = service {
                let name = ["name", "service", "id"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .map_or_else(|| Value::Object(o.clone()).to_string(), str::to_string);
                *service = Value::String(name);
            }
        }
    }
    if let Some(Value::Object(metrics)) = fields.get_mut("metrics") {
        metrics.retain(|_, v| v.is_number());
    }
}

/// Decodes `fields` as `op` and has the engine do it: what the caller
/// sees, or why it is refused.
async fn run(door: &Arc<Door>, op: &str, fields: Map<String, Value>) -> Answer {
    let mut answer = ask(door, op, fields).await?;
    old_keys(door, op, &mut answer).await?;
    Ok(Json(Value::Object(answer)).into_response())
}

/// The old service's answer keys beside the socket's `result`: a
/// heartbeat's (its `event_id` and `idempotency_key` are null: a heartbeat
/// writes an event only when it changes something), and for an assignment
/// its id, worker, status, lease and correlation id at the top, with the
/// event the operation wrote.
async fn old_keys(
    door: &Arc<Door>,
    op: &str,
    answer: &mut Map<String, Value>,
) -> Result<(), Refused> {
    if op == "heartbeat" {
        for (key, value) in [
            ("event_id", Value::Null),
            ("idempotency_key", Value::Null),
            ("canonical_source", "neo4j_via_assistx".into()),
            ("cache_role", "outbox_replay_buffer".into()),
        ] {
            answer.insert(key.into(), value);
        }
        return Ok(());
    }
    let Some(Value::Object(data)) = answer.get("data").cloned() else {
        return Ok(());
    };
    if answer.get("kind").and_then(Value::as_str) != Some("assignment") {
        return Ok(());
    }
    for key in [
        "assignment_id",
        "worker_id",
        "node_id",
        "status",
        "lease_expires_at",
        "correlation_id",
    ] {
        answer
            .entry(key)
            .or_insert_with(|| data.get(key).cloned().unwrap_or(Value::Null));
    }
    let event_type = match (op, data.get("status").and_then(Value::as_str)) {
        ("claim" | "next", _) => Some("assignment.claimed"),
        ("complete", Some("done")) => Some("assignment.completed"),
        ("complete" | "fail", _) => Some("assignment.failed"),
        ("release", _) => Some("assignment.released"),
        _ => None,
    };
    let id = data
        .get("assignment_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let written = match (event_type, id) {
        (Some(event_type), Some(id)) => {
            read(door, move |store| {
                outbox::newest(store.conn(), event_type, Some(&id))
            })
            .await?
        }
        _ => None,
    };
    answer.insert(
        "event_id".into(),
        json!(written.as_ref().map(|e| &e.event_id)),
    );
    Ok(())
}

/// [`run`]'s answer before it is sent: the socket's `result`, with the old
/// service's `accepted`.
pub(super) async fn ask(
    door: &Door,
    op: &str,
    mut fields: Map<String, Value>,
) -> Result<Map<String, Value>, Refused> {
    fields.insert("op".into(), Value::String(op.into()));
    let command = match codec::decode(fields) {
        Ok(Request::Command(command)) => *command,
        Ok(_) => {
            let wrong = ProtocolError::new("bad_request", format!("{op} is not an operation here"));
            return Err(unprocessable(&wrong));
        }
        Err(e) => return Err(unprocessable(&e)),
    };
    let reply = send(door, command).await?;
    let accepted = !matches!(reply, Reply::NoWork(_));
    let mut answer = match serde_json::to_value(&reply) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    answer.insert("accepted".into(), Value::Bool(accepted));
    Ok(answer)
}
