//! The operator's read models in the old service's shapes:
//! `GET /api/ops/summary` (counts of everything the cache holds) and
//! `GET /api/assignments/summary` (the same, with recent assignments, the
//! silent workers, and what to look at next).

use super::Door;
use super::answer::{Answer, Params, read};
use super::control::described;
use super::heartbeats::silent_since;
use crate::error::Result;
use crate::store::assignments::{self, Filter};
use crate::store::{Store, control, events, outbox, runs, workers};
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Door>> {
    Router::new()
        .route("/api/ops/summary", get(ops_summary))
        .route("/api/assignments/summary", get(assignment_summary))
}

/// What the door knows of its settings, for the summaries.
#[derive(Clone, Copy)]
struct Switches {
    scheduler_enabled: bool,
    dispatch_enabled: bool,
    direct_workers_enabled: bool,
    stale_after_seconds: u64,
}

fn switches(door: &Door) -> Switches {
    Switches {
        scheduler_enabled: door.scheduler_enabled,
        dispatch_enabled: door.dispatch_enabled,
        direct_workers_enabled: door.direct_workers_enabled,
        stale_after_seconds: door.stale_after_seconds,
    }
}

/// The old `ops_summary`: counts by status and type, the latest heartbeat,
/// event and tick, the switches, the last ten processing results and the
/// control state.
fn ops(store: &Store, fleet: &[workers::Worker], on: Switches) -> Result<Map<String, Value>> {
    let conn = store.conn();
    let by_status: BTreeMap<String, u64> = assignments::status_counts(conn)?.into_iter().collect();
    let by_type: BTreeMap<String, u64> = events::count_by_type(conn)?.into_iter().collect();
    let latest_heartbeat = fleet.iter().map(|w| &w.last_seen).max();
    let latest_event = events::list(
        conn,
        events::Chosen {
            include_processed: true,
            event_type: None,
            newest_first: true,
        },
        1,
    )?
    .pop()
    .map(|e| e.received_at);
    let last_tick = runs::recent(conn, 1)?.pop().map(|r| r.finished_at);
    let answer = json!({
        "cache_role": "cache_outbox_only",
        "canonical_source": "neo4j_via_assistx",
        "assignments_by_status": by_status,
        "outbox_by_status": outbox_by_status(&outbox::summary(conn)?),
        "inbound_by_type": by_type,
        "inbound_events": {
            "count": by_type.values().sum::<u64>(),
            "latest_received_at": latest_event,
        },
        "heartbeats": {"count": fleet.len(), "latest_received_at": latest_heartbeat},
        "scheduler": {
            "latest_completed_at": last_tick,
            "enabled": on.scheduler_enabled,
            "last_tick_at": last_tick,
        },
        "dispatch_enabled": on.dispatch_enabled,
        "direct_workers_enabled": on.direct_workers_enabled,
        "stale_heartbeat_seconds": on.stale_after_seconds,
        "inbound_processing": events::processing(conn, 10)?,
        "control": described(&control::get(conn)?),
    });
    Ok(match answer {
        Value::Object(fields) => fields,
        _ => Map::new(),
    })
}

/// The old `{status: count}` map of the outbox, only statuses present.
fn outbox_by_status(s: &outbox::Summary) -> BTreeMap<&'static str, u64> {
    [
        ("pending", s.pending),
        ("failed", s.failed),
        ("delivered", s.delivered),
        ("conflict", s.conflict),
        ("dead_letter", s.dead_letter),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect()
}

async fn ops_summary(State(door): State<Arc<Door>>) -> Answer {
    let on = switches(&door);
    let answer = read(&door, move |store| {
        ops(store, &workers::list(store.conn())?, on)
    })
    .await?;
    Ok(Json(answer).into_response())
}

async fn assignment_summary(
    State(door): State<Arc<Door>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let limit = Params(q).limit(10, 100)?;
    let on = switches(&door);
    let answer = read(&door, move |store| {
        let fleet = workers::list(store.conn())?;
        let ops = ops(store, &fleet, on)?;
        let recent = assignments::list(store.conn(), Filter::default(), limit)?;
        let cutoff = Utc::now() - Duration::seconds(on.stale_after_seconds as i64);
        let stale: Vec<_> = fleet
            .into_iter()
            .filter(|w| silent_since(w, cutoff))
            .take(limit)
            .collect();
        Ok(summary(ops, json!(recent), stale, on))
    })
    .await?;
    Ok(Json(answer).into_response())
}

fn summary(
    ops: Map<String, Value>,
    recent: Value,
    stale: Vec<workers::Worker>,
    on: Switches,
) -> Value {
    let control = ops.get("control").cloned().unwrap_or(Value::Null);
    let mut heartbeats = ops.get("heartbeats").cloned().unwrap_or(json!({}));
    heartbeats["stale_count"] = stale.len().into();
    heartbeats["stale_after_seconds"] = on.stale_after_seconds.into();
    json!({
        "source": "sqlite_cache_mirror",
        "canonical_source": "neo4j_via_assistx",
        "cache_role": "assignment_governor_read_model",
        "control": control,
        "assignments_by_status": ops.get("assignments_by_status"),
        "outbox_by_status": ops.get("outbox_by_status"),
        "inbound_by_type": ops.get("inbound_by_type"),
        "heartbeats": heartbeats,
        "scheduler": ops.get("scheduler"),
        "safety": {
            "dispatch_enabled": on.dispatch_enabled,
            "direct_workers_enabled": on.direct_workers_enabled,
            "cache_is_canonical": false,
            "canonical_source": "neo4j_via_assistx",
            "control_mode": control.get("mode"),
            "assignment_allowed": control.get("assignment_allowed"),
            "scheduler_ticks_allowed": control.get("scheduler_ticks_allowed"),
        },
        "recent_assignments": recent,
        "stale_heartbeats": stale,
        "recommendations": advice(&ops, stale.len(), on),
    })
}

/// What an operator should look at, most pressing first; `steady_state`
/// when nothing stands out.
fn advice(ops: &Map<String, Value>, stale: usize, on: Switches) -> Vec<Value> {
    let count = |map: &str, key: &str| ops[map].get(key).and_then(Value::as_u64).unwrap_or(0);
    let mode = ops["control"]["mode"].as_str().unwrap_or("enabled");
    let mut out = Vec::new();
    let mut say = |level: &str, action: &str, reason: String| {
        out.push(json!({"level": level, "action": action, "reason": reason}));
    };
    match mode {
        "paused" | "maintenance" => say(
            "warning",
            "keep_assignment_governor_paused",
            format!("assignment control is {mode}: no new decisions or ticks"),
        ),
        "draining" => say(
            "warning",
            "drain_assignment_governor",
            "assignment control is draining: running work finishes, nothing new starts".into(),
        ),
        _ => {}
    }
    if count("outbox_by_status", "pending") > 0 {
        say(
            "info",
            "dispatch_or_reconcile_outbox",
            "outbox events wait for AssistX/Neo4j".into(),
        );
    }
    if count("outbox_by_status", "failed") + count("outbox_by_status", "dead_letter") > 0 {
        say(
            "warning",
            "inspect_outbox_failures",
            "failed or dead-lettered outbox events need a look (auto-assign outbox --status dead_letter)"
                .into(),
        );
    }
    if stale > 0 {
        say(
            "warning",
            "inspect_stale_heartbeats",
            format!("{stale} worker(s) stopped sending heartbeats and get no new work"),
        );
    }
    if count("assignments_by_status", "approval_required") > 0 {
        say(
            "info",
            "review_required_approvals",
            "assignments wait for an operator's approval".into(),
        );
    }
    if !on.dispatch_enabled {
        say(
            "info",
            "dry_run_only",
            "write-back to AssistX is off (AUTO_ASSIGN_DISPATCH_ENABLED)".into(),
        );
    }
    if !on.direct_workers_enabled {
        say(
            "info",
            "direct_workers_disabled",
            "the direct_worker lane is off".into(),
        );
    }
    if out.is_empty() {
        out.push(json!({
            "level": "info",
            "action": "steady_state",
            "reason": "nothing in the cache, outbox, heartbeats or control needs a look",
        }));
    }
    out
}
