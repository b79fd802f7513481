//! `GET|POST /api/assignment-control`: the operator's control mode in the
//! old service's shape (what each mode allows, spelled out). A change is
//! the engine's `control` command, kept, audited and sent to AssistX as
//! `assign.control.changed`. As in the old service, `dry_run` (default
//! true) is only echoed: a mode change always takes effect, because a
//! caller that pauses the fleet must never find it still running.

use super::Door;
use super::answer::{Answer, parse, read, send, unexpected, yes};
use crate::domain::control::ControlMode;
use crate::engine::Command;
use crate::store::control::{self, ControlState};
use crate::store::outbox;
use crate::wire::{Action, Reply};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new().route("/api/assignment-control", get(current).post(change))
}

/// The old service's control request.
#[derive(Deserialize)]
struct Change {
    mode: ControlMode,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    updated_by: Option<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default = "yes")]
    dry_run: bool,
}

/// The control state in the old service's keys, and its version.
pub(super) fn described(state: &ControlState) -> Map<String, Value> {
    let mode = state.mode;
    let enabled = mode == ControlMode::Enabled;
    let scheduler_state = if enabled { "active" } else { mode.as_str() };
    let described = json!({
        "mode": mode,
        "assignment_allowed": enabled,
        "new_assignments_allowed": mode.allows_new_work(),
        "scheduler_ticks_allowed": mode.allows_new_work(),
        "lease_renewals_allowed": mode.allows_lease_renewal(),
        "dispatch_allowed": enabled,
        "recommended_scheduler_state": scheduler_state,
        "reason": state.reason,
        "updated_by": state.changed_by,
        "updated_at": state.changed_at,
        "version": state.version,
        "metadata": {},
        "cache_role": "assignment_control_cache",
        "canonical_source": "neo4j_via_assistx",
    });
    match described {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

async fn current(State(door): State<Arc<Door>>) -> Answer {
    let state = read(&door, |store| control::get(store.conn())).await?;
    Ok(Json(described(&state)).into_response())
}

async fn change(State(door): State<Arc<Door>>, body: Bytes) -> Answer {
    let asked: Change = parse(&body)?;
    let by = asked.updated_by.unwrap_or_else(|| door.operator.clone());
    let action = Action::Control {
        mode: asked.mode,
        reason: asked.reason,
    };
    let state = match send(&door, Command::by(by, action)).await? {
        Reply::Control(state) => state,
        other => return Err(unexpected(&other)),
    };
    let written = read(&door, |store| {
        outbox::newest(store.conn(), "assign.control.changed", None)
    })
    .await?;
    let mut answer = described(&state);
    answer.insert("metadata".into(), Value::Object(asked.metadata));
    answer.insert(
        "event_id".into(),
        json!(written.as_ref().map(|e| &e.event_id)),
    );
    answer.insert(
        "idempotency_key".into(),
        json!(written.as_ref().map(|e| &e.idempotency_key)),
    );
    answer.insert("dry_run".into(), asked.dry_run.into());
    answer.insert(
        "cache_role".into(),
        "assignment_control_cache_and_outbox".into(),
    );
    Ok(Json(Value::Object(answer)).into_response())
}
