//! Backlog intake. On every scheduled tick the sync edge fetches AssistX's
//! backlog and the router's snapshot and hands both to the engine as one
//! tick. AssistX's backlog items leave out what the approval gate and
//! capability matching need (contract D, "Intake"), so each item is first
//! completed from its task (`GET /api/tasks/{id}`).
//!
//! When AssistX cannot be reached, the tick still runs, on the candidates
//! the engine has cached, and the badge says why.

use super::SyncReport;
use super::assistx::AssistX;
use super::router::Router;
use crate::config::Settings;
use crate::engine::EngineHandle;
use crate::engine::snapshot::{Health, HealthState};
use crate::error::Result;
use crate::wire::{Action, Command};
use chrono::Utc;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Who the audit names for these ticks.
const SCHEDULER: &str = "scheduler";

/// Items asked per backlog call (AssistX's own maximum).
const BACKLOG_LIMIT: u32 = 250;

/// What a backlog item may leave out and a task can tell.
const FROM_TASK: [&str; 4] = [
    "risk_level",
    "approval_required",
    "required_capabilities",
    "owner",
];

/// The intake's loop, to run on the sync edge's thread: a tick now, then
/// every `tick_interval`, and at once when `wake` is notified (a router
/// snapshot event arrived).
pub fn run(
    settings: &Settings,
    engine: EngineHandle,
    wake: Arc<Notify>,
) -> Result<impl Future<Output = ()> + Send + 'static> {
    let assistx = AssistX::new(settings)?;
    let router = Router::new(settings)?;
    let every = settings.tick_interval.max(Duration::from_secs(1));
    Ok(async move {
        let mut clock = tokio::time::interval(every);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // The clock, or a router snapshot event the engine saw.
            tokio::select! {
                _ = clock.tick() => {}
                _ = wake.notified() => clock.reset(),
            }
            if tick(&assistx, &router, &engine).await.is_err() {
                return; // the engine stopped
            }
        }
    })
}

async fn tick(assistx: &AssistX, router: &Router, engine: &EngineHandle) -> Result<()> {
    let bodies = router.snapshot().await;
    let (candidates, health) = match assistx.backlog(BACKLOG_LIMIT).await {
        Ok(mut items) => {
            for item in &mut items {
                complete_from_task(assistx, item).await;
            }
            (Some(items), healthy())
        }
        Err(why) => (None, down(why)),
    };
    engine
        .report(SyncReport {
            health: Some(health),
            ..SyncReport::default()
        })
        .await?;
    let tick = Action::Tick {
        dry_run: false,
        candidates,
        router: Some(bodies),
    };
    if let Err(e) = engine.send(Command::by(SCHEDULER, tick)).await {
        tracing::warn!("scheduled tick failed: {e}");
        if matches!(e, crate::error::Error::EngineGone) {
            return Err(e);
        }
    }
    Ok(())
}

/// Asks AssistX for the item's task when the item lacks what the task can
/// tell, and fills it in.
async fn complete_from_task(assistx: &AssistX, item: &mut Value) {
    let Some(fields) = item.as_object_mut() else {
        return;
    };
    if FROM_TASK.iter().all(|k| fields.contains_key(*k)) {
        return;
    }
    let id = ["task_id", "id"]
        .iter()
        .find_map(|k| fields.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    if let Some(task) = match id {
        Some(id) => assistx.task(&id).await,
        None => None,
    } {
        enrich(fields, &task);
    }
}

/// Fills what `item` leaves out from `task`: its own properties first,
/// then its `payload_json` and `metadata_json` (JSON held in strings, A8).
/// What the item says is kept.
pub fn enrich(item: &mut Map<String, Value>, task: &Map<String, Value>) {
    let nested = |name: &str| -> Option<Map<String, Value>> {
        match task.get(name)? {
            Value::String(text) => serde_json::from_str(text).ok(),
            Value::Object(map) => Some(map.clone()),
            _ => None,
        }
    };
    let sources = [
        Some(task.clone()),
        nested("payload_json"),
        nested("metadata_json"),
    ];
    for key in FROM_TASK {
        if item.contains_key(key) {
            continue;
        }
        let found = sources
            .iter()
            .flatten()
            .find_map(|source| source.get(key).filter(|v| !v.is_null()));
        if let Some(value) = found {
            item.insert(key.into(), value.clone());
        }
    }
}

fn healthy() -> Health {
    Health {
        name: "assistx".into(),
        state: HealthState::Ok,
        last_success_at: Some(Utc::now()),
        last_error: None,
        detail: None,
    }
}

fn down(why: String) -> Health {
    Health {
        name: "assistx".into(),
        state: HealthState::Down,
        last_success_at: None,
        last_error: Some(why),
        detail: Some("backlog intake: deciding the cached candidates".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn an_item_is_completed_from_its_task_and_keeps_what_it_says() {
        let mut item = object(json!({"task_id": "T1", "priority": "batch", "owner": "ann"}));
        let task = object(json!({
            "id": "T1",
            "required_capabilities": ["gpu"],
            "owner": "bob",
            "payload_json": "{\"risk_level\": \"high\"}",
            "metadata_json": "{\"approval_required\": true, \"risk_level\": \"low\"}"
        }));
        enrich(&mut item, &task);
        assert_eq!(
            item["risk_level"], "high",
            "payload_json before metadata_json"
        );
        assert_eq!(item["approval_required"], true);
        assert_eq!(item["required_capabilities"], json!(["gpu"]));
        assert_eq!(item["owner"], "ann", "the item's own word stands");
    }

    #[test]
    fn unreadable_nested_json_is_skipped() {
        let mut item = object(json!({"task_id": "T1"}));
        let task = object(json!({"payload_json": "{not json", "metadata_json": 7}));
        enrich(&mut item, &task);
        assert_eq!(item, object(json!({"task_id": "T1"})));
    }
}
