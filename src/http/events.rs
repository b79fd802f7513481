//! `POST /api/events`: the door AssistX calls (contract A7). Its loose
//! envelope is the socket's `event`: mirrored once per idempotency key and
//! processed at once (a `task.candidate.created` is decided; one whose
//! subject is an object and whose payload has no `task_id` is `skipped`,
//! `missing_task_id`, where the old service answered 500). The answer keeps
//! the old service's keys.

use super::Door;
use super::workers::{ask, object, refusal};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new().route("/api/events", post(ingest))
}

async fn ingest(State(door): State<Arc<Door>>, body: Bytes) -> Response {
    let envelope = match object(&body) {
        Ok(envelope) => envelope,
        Err(e) => return refusal(StatusCode::UNPROCESSABLE_ENTITY, &e),
    };
    let mut fields = Map::new();
    fields.insert("event".into(), Value::Object(envelope.clone()));
    let mut answer = match ask(&door, "event", fields).await {
        Ok(answer) => answer,
        Err(refused) => return refused,
    };
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
    axum::Json(Value::Object(answer)).into_response()
}
