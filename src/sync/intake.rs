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
use crate::domain::router::RouterSnapshot;
use crate::domain::task_node::{FROM_TASK, add_canonical_status, enrich, item_of_task};
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
    let (bodies, failure) = sources.router.snapshot().await;
    let router = router_health(&bodies, failure);
    let (candidates, health) = match sources.assistx.backlog(BACKLOG_LIMIT).await {
        Ok(mut items) => {
            complete(sources, &mut items).await;
            (Some(items), healthy("assistx", None))
        }
        Err(why) => match &sources.graph {
            Some(graph) => match graph.backlog(BACKLOG_LIMIT as usize).await {
                Ok(tasks) => {
                    let items = tasks.iter().map(item_of_task).collect();
                    (Some(items), down("assistx", why, "backlog read from Neo4j"))
                }
                Err(e) => (None, down("assistx", format!("{why}; Neo4j: {e}"), CACHED)),
            },
            None => (None, down("assistx", why, CACHED)),
        },
    };
    for health in [health, router] {
        engine
            .report(SyncReport {
                health: Some(health),
                ..SyncReport::default()
            })
            .await?;
    }
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
/// Neo4j is configured and answers, else (and for a task the graph does
/// not hold) one AssistX call per item.
async fn complete(sources: &Sources, items: &mut [Value]) {
    if let Some(graph) = &sources.graph {
        let ids: Vec<String> = items
            .iter()
            .filter_map(|i| i.as_object().and_then(item_id))
            .collect();
        match graph.tasks(&ids).await {
            Ok(tasks) => {
                // A task the graph does not hold is asked of AssistX: left
                // as the backlog gave it, a risky task would pass the gate.
                for item in items.iter_mut() {
                    let Some(fields) = item.as_object_mut() else {
                        continue;
                    };
                    match item_id(fields).and_then(|id| tasks.get(&id)) {
                        Some(task) => {
                            enrich(fields, task);
                            add_canonical_status(fields, task);
                        }
                        None => complete_from_task(&sources.assistx, item).await,
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

/// A dependency that just answered; the engine keeps its badge's last
/// success from this report or an earlier one, whichever is later.
fn healthy(name: &str, detail: Option<String>) -> Health {
    Health {
        name: name.into(),
        state: HealthState::Ok,
        last_success_at: Some(Utc::now()),
        last_error: None,
        detail,
    }
}

fn down(name: &str, why: String, detail: &str) -> Health {
    Health {
        name: name.into(),
        state: HealthState::Down,
        last_success_at: None,
        last_error: Some(why),
        detail: Some(detail.into()),
    }
}

/// The router's badge: ok when its context could be read (A6) and every
/// other call answered; degraded when one of them did not (the lanes open,
/// but quota or circuits go unseen); else down, while the router lanes stay
/// closed. Each names what the first failed call met.
fn router_health(bodies: &Map<String, Value>, failure: Option<String>) -> Health {
    match RouterSnapshot::parse(bodies) {
        Ok(snapshot) if snapshot.reachable => Health {
            state: match failure {
                None => HealthState::Ok,
                Some(_) => HealthState::Degraded,
            },
            last_error: failure,
            ..healthy("router", snapshot.revision.map(|r| format!("revision {r}")))
        },
        _ => down(
            "router",
            failure.unwrap_or_else(|| "its context is not a non-empty object".into()),
            "router lanes closed",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bodies(context: Value) -> Map<String, Value> {
        let mut bodies = Map::new();
        bodies.insert("context".into(), context);
        bodies
    }

    #[test]
    fn the_router_is_down_without_a_context_and_says_what_its_call_met() {
        let failed = router_health(
            &bodies(Value::Null),
            Some("GET /admin/context: answered 503".into()),
        );
        assert_eq!(failed.state, HealthState::Down);
        assert_eq!(
            failed.last_error.as_deref(),
            Some("GET /admin/context: answered 503")
        );
        assert_eq!(failed.detail.as_deref(), Some("router lanes closed"));
        let empty = router_health(&bodies(json!({})), None);
        assert_eq!(empty.state, HealthState::Down);
        assert_eq!(
            empty.last_error.as_deref(),
            Some("its context is not a non-empty object")
        );
    }

    #[test]
    fn the_router_is_degraded_when_only_a_later_call_failed() {
        let context = json!({"revision": "rev-3", "nodes": [{"id": "n1"}]});
        let ok = router_health(&bodies(context.clone()), None);
        assert_eq!(
            (ok.state, ok.detail.as_deref(), ok.last_error),
            (HealthState::Ok, Some("revision rev-3"), None)
        );
        assert!(ok.last_success_at.is_some());
        let partial = router_health(
            &bodies(context),
            Some("GET /admin/quota: answered 500".into()),
        );
        assert_eq!(partial.state, HealthState::Degraded);
        assert_eq!(
            partial.last_error.as_deref(),
            Some("GET /admin/quota: answered 500")
        );
    }
}
