//! The old service's assignment reads: `GET /api/assignments` (its
//! `status`, `task_id` and `lane` filters working; the old service ignored
//! them) and `GET /api/assignments/{id}`, from the cache file opened
//! read-only, as the CLI's read views do, so a read never waits for the
//! engine.

use super::Door;
use super::workers::refusal;
use crate::domain::lane::Lane;
use crate::domain::lifecycle::Status;
use crate::store::Store;
use crate::store::assignments::{self, Filter};
use crate::wire::codec::ProtocolError;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new()
        .route("/api/assignments", get(list))
        .route("/api/assignments/{id}", get(one))
}

fn bad(field: &str, message: String) -> Response {
    refusal(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ProtocolError::field("bad_field", field, message),
    )
}

async fn list(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => return bad("limit", "limit must be a whole number from 1 to 500".into()),
    };
    let status = match q.get("status").map(|s| s.parse::<Status>()) {
        None => None,
        Some(Ok(status)) => Some(status),
        Some(Err(e)) => return bad("status", e.to_string()),
    };
    if let Some(lane) = q.get("lane")
        && Lane::from_name(lane).is_none()
    {
        return bad("lane", format!("unknown lane '{lane}'"));
    }
    let (task_id, lane) = (q.get("task_id").cloned(), q.get("lane").cloned());
    let rows = read(&door, move |store| {
        let filter = Filter {
            status,
            task_id: task_id.as_deref(),
            lane: lane.as_deref(),
        };
        assignments::list(store.conn(), filter, limit)
    })
    .await;
    match rows {
        Ok(rows) => axum::Json(json!({
            "source": "sqlite_cache_mirror",
            "canonical_source": "neo4j_via_assistx",
            "assignments": rows,
        }))
        .into_response(),
        Err(refused) => refused,
    }
}

async fn one(State(door): State<Arc<Door>>, Path(id): Path<String>) -> Response {
    let found = read(&door, move |store| assignments::get(store.conn(), &id)).await;
    match found {
        Ok(assignment) => axum::Json(json!({
            "source": "sqlite_cache_mirror",
            "canonical_source": "neo4j_via_assistx",
            "assignment": assignment,
        }))
        .into_response(),
        Err(refused) => refused,
    }
}

/// `work` on a read-only connection to the engine's database, off the
/// async threads; a missing assignment is the old service's 404.
async fn read<T: serde::Serialize + Send + 'static>(
    door: &Door,
    work: impl FnOnce(&Store) -> crate::error::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let path = door.engine.database().to_path_buf();
    let done = tokio::task::spawn_blocking(move || work(&Store::open_read_only(&path)?)).await;
    match done {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(crate::error::Error::NotFound { .. })) => {
            let body = json!({"detail": "assignment not found in local cache mirror"});
            Err((StatusCode::NOT_FOUND, axum::Json(body)).into_response())
        }
        Ok(Err(e)) => Err(refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            &ProtocolError::new(e.code(), e.to_string()),
        )),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}
