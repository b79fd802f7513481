//! Backlog intake. On every scheduled tick the sync edge fetches AssistX's
//! backlog and the router's snapshot and hands both to the engine as one
//! tick. AssistX's backlog items leave out what the approval gate and
//! capability matching need (contract D, "Intake"), so each item is first
//! completed from its `:Task`: with Neo4j configured, one batched Bolt read
//! per backlog page (which also brings the canonical status, A8), else
//! `GET /api/tasks/{id}` per item.
//!
//! When AssistX cannot be reached, the backlog is read from the graph
//! (A8's equivalent query); without a graph the tick runs on the
//! candidates the engine has cached. The badge says which.

use super::SyncReport;
use super::assistx::AssistX;
use super::graph::Graph;
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
    let neo4j = settings.neo4j.clone();
    Ok(async move {
        let graph = match &neo4j {
            Some(neo4j) => Graph::connect(neo4j)
                .await
                .map_err(|e| tracing::warn!("intake: {e}"))
                .ok(),
            None => None,
        };
        let sources = Sources {
            assistx,
            router,
            graph,
        };
        let mut clock = tokio::time::interval(every);
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // The clock, or a router snapshot event the engine saw.
            tokio::select! {
                _ = clock.tick() => {}
                _ = wake.notified() => clock.reset(),
            }
            if tick(&sources, &engine).await.is_err() {
                return; // the engine stopped
            }
        }
    })
}

/// Where a tick's inputs come from.
struct Sources {
    assistx: AssistX,
    router: Router,
    graph: Option<Graph>,
}

async fn tick(sources: &Sources, engine: &EngineHandle) -> Result<()> {
    let bodies = sources.router.snapshot().await;
    let (candidates, health) = match sources.assistx.backlog(BACKLOG_LIMIT).await {
        Ok(mut items) => {
            complete(sources, &mut items).await;
            (Some(items), healthy())
        }
        Err(why) => match &sources.graph {
            Some(graph) => match graph.backlog(BACKLOG_LIMIT as usize).await {
                Ok(tasks) => {
                    let items = tasks.iter().map(item_of_task).collect();
                    (Some(items), down(why, "backlog read from Neo4j"))
                }
                Err(e) => (None, down(format!("{why}; Neo4j: {e}"), CACHED)),
            },
            None => (None, down(why, CACHED)),
        },
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

/// What the badge says when neither AssistX nor the graph gave a backlog.
const CACHED: &str = "backlog intake: deciding the cached candidates";

/// Completes every item from its task: one graph read for the page when
/// Neo4j is configured and answers, else one AssistX call per item.
async fn complete(sources: &Sources, items: &mut [Value]) {
    if let Some(graph) = &sources.graph {
        let ids: Vec<String> = items
            .iter()
            .filter_map(|i| i.as_object().and_then(item_id))
            .collect();
        match graph.tasks(&ids).await {
            Ok(tasks) => {
                for fields in items.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(task) = item_id(fields).and_then(|id| tasks.get(&id)) {
                        enrich(fields, task);
                        add_canonical_status(fields, task);
                    }
                }
                return;
            }
            Err(e) => tracing::warn!("intake: reading tasks from Neo4j: {e}; asking AssistX"),
        }
    }
    for item in items {
        complete_from_task(&sources.assistx, item).await;
    }
}

fn item_id(item: &Map<String, Value>) -> Option<String> {
    ["task_id", "id"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

/// The task's status in Neo4j, when it is one that blocks a decision (A4
/// rules 1 and 2): a task AssistX still lists but the graph says is
/// claimed or done is not recommended again. A READY or REVIEW status is
/// left out, so an assignment's id does not depend on whether the graph
/// was read.
fn add_canonical_status(item: &mut Map<String, Value>, task: &Map<String, Value>) {
    if let Some(status) = task.get("status").and_then(Value::as_str)
        && crate::domain::scorer::canonical_status_blocks(status)
        && !item.contains_key("canonical_status")
    {
        item.insert("canonical_status".into(), Value::String(status.to_string()));
    }
}

/// A `:Task` read from the graph as a backlog item (A5 normalizes it):
/// its properties, with what AssistX's backlog call would have taken from
/// its `payload_json` and `metadata_json`.
pub fn item_of_task(task: &Map<String, Value>) -> Value {
    let mut item: Map<String, Value> = task
        .iter()
        .filter(|(k, _)| !k.ends_with("_json"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(id) = task.get("id") {
        item.insert("task_id".into(), id.clone());
    }
    for key in [
        "queue",
        "queue_class",
        "privacy",
        "local_only",
        "sensitive",
        "allow_cloud",
        "prompt",
    ] {
        if item.contains_key(key) {
            continue;
        }
        if let Some(value) =
            nested(task, "payload_json", key).or_else(|| nested(task, "metadata_json", key))
        {
            item.insert(key.into(), value);
        }
    }
    if !item.contains_key("queue")
        && let Some(class) = item.get("queue_class").cloned()
    {
        item.insert("queue".into(), class);
    }
    enrich(&mut item, task);
    Value::Object(item)
}

/// `key` of the JSON held in the task's `field` (a string, A8).
fn nested(task: &Map<String, Value>, field: &str, key: &str) -> Option<Value> {
    let object = match task.get(field)? {
        Value::String(text) => serde_json::from_str::<Map<String, Value>>(text).ok()?,
        Value::Object(map) => map.clone(),
        _ => return None,
    };
    object.get(key).filter(|v| !v.is_null()).cloned()
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
    if let Some(task) = match item_id(fields) {
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
    for key in FROM_TASK {
        if item.contains_key(key) {
            continue;
        }
        let found = task
            .get(key)
            .filter(|v| !v.is_null())
            .cloned()
            .or_else(|| nested(task, "payload_json", key))
            .or_else(|| nested(task, "metadata_json", key));
        if let Some(value) = found {
            item.insert(key.into(), value);
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

fn down(why: String, detail: &str) -> Health {
    Health {
        name: "assistx".into(),
        state: HealthState::Down,
        last_success_at: None,
        last_error: Some(why),
        detail: Some(detail.into()),
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
    fn a_task_from_the_graph_reads_as_a_backlog_item() {
        let task = object(json!({
            "id": "T9",
            "status": "READY",
            "priority": "interactive",
            "created_at_ts": 17,
            "payload_json": "{\"queue_class\": \"backlog\", \"local_only\": true, \"risk_level\": \"high\"}",
            "metadata_json": "{\"privacy\": \"private\", \"local_only\": false}"
        }));
        let item = item_of_task(&task);
        assert_eq!(item["task_id"], "T9");
        assert_eq!(item["queue"], "backlog");
        assert_eq!(
            item["local_only"], true,
            "payload_json before metadata_json"
        );
        assert_eq!(item["privacy"], "private");
        assert_eq!(item["risk_level"], "high");
        assert!(item.get("payload_json").is_none());
        let candidate = crate::domain::candidate::Candidate::from_json(&item).unwrap();
        assert_eq!(candidate.task_id, "T9");
        assert!(candidate.local_only_flag);
    }

    #[test]
    fn only_a_blocking_canonical_status_is_carried() {
        for (status, carried) in [
            ("CLAIMED", true),
            ("DONE", true),
            ("READY", false),
            ("REVIEW", false),
        ] {
            let mut item = object(json!({"task_id": "T1"}));
            add_canonical_status(&mut item, &object(json!({"status": status})));
            assert_eq!(item.contains_key("canonical_status"), carried, "{status}");
        }
    }

    #[test]
    fn unreadable_nested_json_is_skipped() {
        let mut item = object(json!({"task_id": "T1"}));
        let task = object(json!({"payload_json": "{not json", "metadata_json": 7}));
        enrich(&mut item, &task);
        assert_eq!(item, object(json!({"task_id": "T1"})));
    }
}
