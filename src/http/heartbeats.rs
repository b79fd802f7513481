//! `GET /api/heartbeats` and `GET /api/heartbeats/stale`: the workers'
//! latest heartbeats, newest first. The old service kept a row per
//! heartbeat; this one keeps each worker's latest (the registry), so a
//! list shows the fleet rather than one chatty worker's history. Each row
//! has the old keys (`node_id`, `worker_id`, `status`, `received_at`,
//! `payload`) and the registry's own.

use super::Door;
use super::answer::{Answer, Params, Refused, from_cache, keyed, read};
use crate::store::workers::{self, Worker};
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new()
        .route("/api/heartbeats", get(latest))
        .route("/api/heartbeats/stale", get(stale))
}

async fn latest(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let limit = Params(q).limit(50, 500)?;
    let rows = newest_first(&door, None, limit).await?;
    from_cache(keyed("heartbeats", rows), "sqlite_cache_mirror")
}

/// Workers not heard from for `stale_after_seconds` (the engine's
/// `stale_heartbeat_seconds` when absent).
async fn stale(State(door): State<Arc<Door>>, Query(q): Query<BTreeMap<String, String>>) -> Answer {
    let q = Params(q);
    let limit = q.limit(50, 500)?;
    let after = q
        .parsed("stale_after_seconds", |s| match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err("stale_after_seconds must be a whole number of seconds, at least 1"),
        })?
        .map_or(door.stale_after_seconds, u64::from);
    let cutoff = Utc::now() - Duration::seconds(after as i64);
    let rows = newest_first(&door, Some(cutoff), limit).await?;
    let mut answer = keyed("heartbeats", &rows);
    answer.insert("stale_after_seconds".into(), after.into());
    answer.insert("count".into(), rows.len().into());
    from_cache(answer, "sqlite_cache_mirror")
}

/// Up to `limit` workers, last heard from first, only those silent since
/// before `cutoff` when given.
async fn newest_first(
    door: &Arc<Door>,
    cutoff: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Vec<Value>, Refused> {
    let mut all = read(door, |store| workers::list(store.conn())).await?;
    if let Some(cutoff) = cutoff {
        all.retain(|w| silent_since(w, cutoff));
    }
    all.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    Ok(all.into_iter().take(limit).map(row).collect())
}

/// Whether `w` was last heard from before `cutoff`.
pub(super) fn silent_since(w: &Worker, cutoff: DateTime<Utc>) -> bool {
    DateTime::parse_from_rfc3339(&w.last_seen).is_ok_and(|seen| seen < cutoff)
}

fn row(w: Worker) -> Value {
    let mut row = json!({
        "node_id": w.node_id,
        "worker_id": w.worker_id,
        "assignment_id": null,
        "status": w.status,
        "received_at": w.last_seen,
    });
    if let (Value::Object(row), Ok(Value::Object(payload))) = (&mut row, serde_json::to_value(&w)) {
        row.insert("payload".into(), Value::Object(payload.clone()));
        for (key, value) in payload {
            row.entry(key).or_insert(value);
        }
    }
    row
}
