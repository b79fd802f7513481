//! The old service's assignment endpoints: the reads (`status`, `task_id`
//! and `lane` filters working; the old service ignored them), and the
//! operator's approve and release, which here change state (contract B)
//! unless the caller keeps the old default `dry_run: true`, which answers
//! what would happen and changes nothing. `expire-stale` runs the engine's
//! own lease expiry now.

use super::Door;
use super::answer::{
    Answer, Params, bad_field, from_cache, keyed, object, parse, read, refused, send, unexpected,
    yes,
};
use super::workers::with;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::Status;
use crate::engine::Command;
use crate::store::assignments::{self, Filter};
use crate::store::outbox;
use crate::wire::{Action, Reply};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new()
        .route("/api/assignments", get(list))
        .route("/api/assignments/{id}", get(one))
        .route("/api/assignments/{id}/approve", post(approve))
        .route("/api/assignments/{id}/release", post(release))
        .route("/api/assignments/expire-stale", post(expire_stale))
}

async fn list(State(door): State<Arc<Door>>, Query(q): Query<BTreeMap<String, String>>) -> Answer {
    let q = Params(q);
    let limit = q.limit(50, 500)?;
    let status = q.parsed("status", str::parse::<Status>)?;
    let lane = q.parsed("lane", |l| {
        Lane::from_name(l)
            .map(|_| l.to_string())
            .ok_or_else(|| format!("unknown lane '{l}'"))
    })?;
    let task_id = q.text("task_id");
    let rows = read(&door, move |store| {
        let filter = Filter {
            status,
            task_id: task_id.as_deref(),
            lane: lane.as_deref(),
        };
        assignments::list(store.conn(), filter, limit)
    })
    .await?;
    from_cache(keyed("assignments", rows), "sqlite_cache_mirror")
}

async fn one(State(door): State<Arc<Door>>, Path(id): Path<String>) -> Answer {
    let assignment = read(&door, move |store| assignments::get(store.conn(), &id)).await?;
    from_cache(keyed("assignment", assignment), "sqlite_cache_mirror")
}

/// The old service's approval request, its defaults kept.
#[derive(Deserialize)]
struct Approval {
    #[serde(default = "operator")]
    approved_by: String,
    #[serde(default = "approved")]
    approval_reason: String,
    #[serde(default = "fifteen_minutes")]
    expires_in_seconds: u64,
    #[serde(default = "yes")]
    dry_run: bool,
}

/// The old service's release request, its defaults kept.
#[derive(Deserialize)]
struct Release {
    #[serde(default = "operator_release")]
    reason: String,
    #[serde(default = "yes")]
    retryable: bool,
    #[serde(default = "yes")]
    dry_run: bool,
}

fn operator() -> String {
    "operator".into()
}
fn approved() -> String {
    "operator approved dry-run assignment".into()
}
fn operator_release() -> String {
    "operator_release".into()
}
fn fifteen_minutes() -> u64 {
    900
}

async fn approve(State(door): State<Arc<Door>>, Path(id): Path<String>, body: Bytes) -> Answer {
    let asked: Approval = parse(&body)?;
    if !(1..=86_400).contains(&asked.expires_in_seconds) {
        return Err(bad_field(
            "expires_in_seconds",
            "expires_in_seconds must be from 1 to 86400".into(),
        ));
    }
    let action = Action::Approve {
        assignment_id: id,
        reason: Some(asked.approval_reason),
        expected_version: None,
        expires_in_seconds: Some(asked.expires_in_seconds),
    };
    operate(&door, &asked.approved_by, action, asked.dry_run).await
}

/// With a `worker_id`, a worker gives back its lease (the socket's
/// `release`); without one, the old service's operator release.
async fn release(State(door): State<Arc<Door>>, Path(id): Path<String>, body: Bytes) -> Answer {
    if object(&body).is_ok_and(|fields| fields.contains_key("worker_id")) {
        return with(&door, "release", Some(id), &body).await;
    }
    let asked: Release = parse(&body)?;
    let action = Action::Release {
        assignment_id: id,
        reason: Some(asked.reason),
        retry: asked.retryable,
        expected_version: None,
    };
    operate(&door, &door.operator, action, asked.dry_run).await
}

/// An operator's approve or release, done or (`dry_run`) tried and rolled
/// back; answered with the old keys, the event it wrote and the assignment
/// as it is (or would be) after it.
async fn operate(door: &Arc<Door>, by: &str, action: Action, dry_run: bool) -> Answer {
    let event_type = match &action {
        Action::Approve { .. } => "assign.assignment.approved",
        _ => "assign.assignment.released",
    };
    let command = if dry_run {
        Command::trial(by, action)
    } else {
        Command::by(by, action)
    };
    let assignment = match door.engine.send(command).await {
        Ok(Reply::Assignment(a)) => a,
        Ok(other) => return Err(unexpected(&other)),
        Err(crate::error::Error::NotFound { .. }) => {
            let detail = json!({
                "accepted": false,
                "reason": "assignment_not_found_in_local_cache",
                "canonical_source": "neo4j_via_assistx",
            });
            let body = Json(json!({ "detail": detail }));
            return Err((StatusCode::NOT_FOUND, body).into_response().into());
        }
        Err(e) => return Err(refused(&e)),
    };
    let written = if dry_run {
        None
    } else {
        let id = assignment.assignment_id.clone();
        read(door, move |store| {
            outbox::newest(store.conn(), event_type, Some(&id))
        })
        .await?
    };
    Ok(Json(json!({
        "accepted": true,
        "event_id": written.as_ref().map(|e| &e.event_id),
        "idempotency_key": written.as_ref().map(|e| &e.idempotency_key),
        "dry_run": dry_run,
        "canonical_source": "neo4j_via_assistx",
        "cache_role": "outbox_replay_buffer",
        "assignment": assignment,
    }))
    .into_response())
}

/// The old `expired_count` and `events_emitted` (one `assign.assignment.expired`
/// per expired lease), with the workers found silent on the way.
async fn expire_stale(State(door): State<Arc<Door>>) -> Answer {
    let command = Command::by(door.operator.clone(), Action::ExpireStale {});
    match send(&door, command).await? {
        Reply::Tick(report) => Ok(Json(json!({
            "expired_count": report.counts.expired,
            "events_emitted": report.counts.expired,
            "stale_workers": report.counts.stale_workers,
            "note": report.note,
        }))
        .into_response()),
        other => Err(unexpected(&other)),
    }
}
