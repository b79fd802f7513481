//! A stand-in for AssistX and the auto-router, from contract A6, A7 and
//! section D: a real HTTP server (axum) on loopback. As AssistX it answers
//! `GET /health`, the backlog call, `GET /api/tasks/{id}` (the task under
//! `task`) and `POST /api/events`, and keeps each `:Task`'s statuses as
//! AssistX would set them from `assignment.*` events. As the router it
//! answers the five admin calls of A6. Given a Bolt database
//! ([`StandIn::with_graph`]), it also leaves in the graph what AssistX
//! leaves in Neo4j (A8): its `:Task` nodes, their statuses and claim
//! fields, an `:EventEnvelope` per accepted event and an `:EventConflict`
//! per conflict.
#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How the stand-in behaves right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Healthy,
    /// 503 on every call: an outage.
    Down,
}

#[derive(Default)]
struct Inner {
    mode: Option<Mode>,
    auth: Option<(String, String)>,
    /// Accepted bodies by idempotency key.
    bodies: HashMap<String, String>,
    /// Keys in the order they were first accepted.
    accepted: Vec<String>,
    /// Task id -> the statuses AssistX gave it, in order.
    tasks: HashMap<String, Vec<String>>,
    /// Event types answered 400, as if AssistX found them malformed.
    refuse_types: Vec<String>,
    /// The backlog items, as AssistX lists them.
    backlog: Vec<Value>,
    /// Task id -> all its properties, as `GET /api/tasks/{id}` shows them.
    task_nodes: HashMap<String, Value>,
    /// The router's context (`GET /admin/context`); none: 503.
    router_context: Option<Value>,
    conflicts: usize,
    posts: usize,
    /// How long each post waits before it is answered.
    delay: std::time::Duration,
    /// Where AssistX's Neo4j writes go, when the test has a graph.
    graph: Option<auto_assign::sync::graph::Graph>,
}

#[derive(Clone)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
    _runtime: Arc<tokio::runtime::Runtime>,
}

impl StandIn {
    /// Starts on a free loopback port; Basic auth required with `auth`.
    pub fn start(auth: Option<(&str, &str)>) -> StandIn {
        Self::start_with(auth, None)
    }

    /// Starts with AssistX's graph writes going to `graph` (A8).
    pub fn with_graph(
        auth: Option<(&str, &str)>,
        graph: &auto_assign::config::Neo4jSettings,
    ) -> StandIn {
        Self::start_with(auth, Some(graph))
    }

    fn start_with(
        auth: Option<(&str, &str)>,
        graph: Option<&auto_assign::config::Neo4jSettings>,
    ) -> StandIn {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let graph = graph.map(|settings| {
            runtime
                .block_on(auto_assign::sync::graph::Graph::connect(settings))
                .unwrap()
        });
        let inner = Arc::new(Mutex::new(Inner {
            mode: Some(Mode::Healthy),
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            graph,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/health", get(health))
            .route("/api/events", post(events))
            .route("/api/router/backlog-candidates", get(backlog))
            .route("/api/tasks/{id}", get(task))
            .route("/admin/context", get(router_context))
            .route("/admin/quota", get(|| async { r#"{"mode":"normal"}"# }))
            .route("/admin/circuits", get(|| async { "{}" }))
            .route("/admin/agent-clis", get(|| async { "[]" }))
            .route("/admin/ops/summary", get(|| async { "{}" }))
            .with_state(inner.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        StandIn {
            inner,
            url,
            _runtime: Arc::new(runtime),
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = Some(mode);
    }

    /// Records `key` as if an earlier sender had sent another body.
    pub fn seed(&self, key: &str, body: &str) {
        self.inner
            .lock()
            .unwrap()
            .bodies
            .insert(key.into(), body.into());
    }

    /// Refuses nothing from now on.
    pub fn accept_all(&self) {
        self.inner.lock().unwrap().refuse_types.clear();
    }

    /// Answers 400 to every event of this type.
    pub fn refuse(&self, event_type: &str) {
        self.inner
            .lock()
            .unwrap()
            .refuse_types
            .push(event_type.into());
    }

    /// Each post is answered only after `delay`: a slow AssistX.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    /// What the backlog call lists from now on.
    pub fn set_backlog(&self, items: Vec<Value>) {
        self.inner.lock().unwrap().backlog = items;
    }

    /// A task's properties, as the graph holds them (and, with a graph,
    /// its `:Task` node).
    pub fn set_task(&self, id: &str, properties: Value) {
        let graph = {
            let mut inner = self.inner.lock().unwrap();
            inner.task_nodes.insert(id.into(), properties.clone());
            inner.graph.clone()
        };
        if let Some(graph) = graph {
            let mut properties = properties;
            properties["id"] = json!(id);
            let write = graph.run(
                neo4rs::query("MERGE (t:Task {id: $id}) SET t += $props")
                    .param("id", id)
                    .param("props", neo4rs::BoltType::try_from(properties).unwrap()),
            );
            self._runtime.block_on(write).unwrap();
        }
    }

    /// A task AssistX answers for (`GET /api/tasks/{id}`) that its graph
    /// does not hold: a graph written by someone else, or behind.
    pub fn set_task_outside_the_graph(&self, id: &str, properties: Value) {
        let mut inner = self.inner.lock().unwrap();
        inner.task_nodes.insert(id.into(), properties);
    }

    /// The router's context from now on.
    pub fn set_router_context(&self, context: Value) {
        self.inner.lock().unwrap().router_context = Some(context);
    }

    /// The statuses AssistX gave `task_id`, in order.
    pub fn task_statuses(&self, task_id: &str) -> Vec<String> {
        let inner = self.inner.lock().unwrap();
        inner.tasks.get(task_id).cloned().unwrap_or_default()
    }

    pub fn accepted(&self) -> Vec<String> {
        self.inner.lock().unwrap().accepted.clone()
    }

    /// How many keys were accepted: cheap enough to poll while it counts.
    pub fn accepted_count(&self) -> usize {
        self.inner.lock().unwrap().accepted.len()
    }

    pub fn conflicts(&self) -> usize {
        self.inner.lock().unwrap().conflicts
    }

    pub fn posts(&self) -> usize {
        self.inner.lock().unwrap().posts
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

async fn health(State(inner): Shared) -> (StatusCode, String) {
    match inner.lock().unwrap().mode {
        Some(Mode::Down) => (StatusCode::SERVICE_UNAVAILABLE, r#"{"ok":false}"#.into()),
        _ => (StatusCode::OK, r#"{"ok":true,"status":"healthy"}"#.into()),
    }
}

async fn backlog(State(inner): Shared) -> (StatusCode, String) {
    let inner = inner.lock().unwrap();
    if inner.mode == Some(Mode::Down) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"detail":"down"}"#.into(),
        );
    }
    let body = json!({"tasks": inner.backlog, "count": inner.backlog.len(), "queue": "backlog",
        "dry_run": true, "read_only": true});
    (StatusCode::OK, body.to_string())
}

async fn task(
    State(inner): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> (StatusCode, String) {
    let inner = inner.lock().unwrap();
    if !authorized(&inner, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Not authenticated"}"#.into(),
        );
    }
    match inner.task_nodes.get(&id) {
        Some(task) => (
            StatusCode::OK,
            json!({"task": task, "transcription": null, "runs": []}).to_string(),
        ),
        None => (
            StatusCode::NOT_FOUND,
            r#"{"detail":"Task not found"}"#.into(),
        ),
    }
}

async fn router_context(State(inner): Shared) -> (StatusCode, String) {
    match &inner.lock().unwrap().router_context {
        Some(context) => (StatusCode::OK, context.to_string()),
        None => (StatusCode::SERVICE_UNAVAILABLE, "{}".into()),
    }
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let Some((user, pass)) = &inner.auth else {
        return true;
    };
    let expected = format!("Basic {}", base64(&format!("{user}:{pass}")));
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given == expected)
}

/// What a post comes to, decided under the lock; graph writes happen
/// after it is released.
enum Verdict {
    Answer(StatusCode, String),
    Conflict(String),
    Accept {
        event: serde_json::Map<String, Value>,
        key: String,
        text: String,
    },
}

async fn events(State(shared): Shared, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let delay = shared.lock().unwrap().delay;
    tokio::time::sleep(delay).await;
    let (verdict, graph) = {
        let mut inner = shared.lock().unwrap();
        (judge(&mut inner, &headers, &body), inner.graph.clone())
    };
    match verdict {
        Verdict::Answer(status, body) => (status, body),
        Verdict::Conflict(key) => {
            if let Some(graph) = graph {
                let conflict = neo4rs::query("MERGE (c:EventConflict {idempotency_key: $key})")
                    .param("key", key.as_str());
                let _ = graph.run(conflict).await;
            }
            (
                StatusCode::CONFLICT,
                r#"{"detail":"idempotency key conflict"}"#.into(),
            )
        }
        Verdict::Accept { event, key, text } => {
            if let Some(graph) = graph
                && let Err(e) = record_in_graph(&graph, &event, &key, &text).await
            {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(r#"{{"detail":"neo4j: {e}"}}"#),
                );
            }
            accept(&mut shared.lock().unwrap(), &event, key, text)
        }
    }
}

fn judge(inner: &mut Inner, headers: &HeaderMap, body: &[u8]) -> Verdict {
    let answer = |status, text: &str| Verdict::Answer(status, text.to_string());
    inner.posts += 1;
    if !authorized(inner, headers) {
        return answer(
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Not authenticated"}"#,
        );
    }
    if inner.mode == Some(Mode::Down) {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"detail":"processing failed"}"#,
        );
    }
    let text = String::from_utf8_lossy(body).into_owned();
    let Ok(Value::Object(event)) = serde_json::from_str::<Value>(&text) else {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"detail":"not an object"}"#,
        );
    };
    if let Err((status, why)) = check(&event) {
        return Verdict::Answer(status, why);
    }
    let event_type = event["event_type"].as_str().unwrap_or_default().to_string();
    if inner.refuse_types.contains(&event_type) {
        return Verdict::Answer(
            StatusCode::BAD_REQUEST,
            format!(r#"{{"detail":"{event_type} refused"}}"#),
        );
    }
    if event_type.starts_with("assignment.") && event["payload"]["task_id"].as_str().is_none() {
        return answer(StatusCode::BAD_REQUEST, r#"{"detail":"payload.task_id"}"#);
    }
    let key = event["idempotency_key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match inner.bodies.get(&key) {
        Some(earlier) if *earlier == text => Verdict::Answer(
            StatusCode::OK,
            json!({"accepted": true, "event_id": event["event_id"], "deduped": true}).to_string(),
        ),
        Some(_) => {
            inner.conflicts += 1;
            Verdict::Conflict(key)
        }
        None => Verdict::Accept { event, key, text },
    }
}

fn accept(
    inner: &mut Inner,
    event: &serde_json::Map<String, Value>,
    key: String,
    text: String,
) -> (StatusCode, String) {
    let event_type = event["event_type"].as_str().unwrap_or_default();
    if event_type.starts_with("assignment.") {
        let payload = &event["payload"];
        let task = payload["task_id"].as_str().unwrap_or_default();
        // D: released and expired put the task back; any other
        // assignment.* event sets its status, CLAIMED when it has none.
        let status = match event_type {
            "assignment.released" | "assignment.expired" => "READY".to_string(),
            _ => payload["status"].as_str().unwrap_or("CLAIMED").to_string(),
        };
        inner
            .tasks
            .entry(task.to_string())
            .or_default()
            .push(status);
    }
    inner.bodies.insert(key.clone(), text);
    inner.accepted.push(key);
    (
        StatusCode::OK,
        json!({"accepted": true, "event_id": event["event_id"], "deduped": false}).to_string(),
    )
}

/// What AssistX writes to Neo4j for an accepted event (A8, D): the
/// envelope node, and for `assignment.*` the task's status and claim.
async fn record_in_graph(
    graph: &auto_assign::sync::graph::Graph,
    event: &serde_json::Map<String, Value>,
    key: &str,
    body: &str,
) -> Result<(), String> {
    use sha2::Digest;
    let event_type = event["event_type"].as_str().unwrap_or_default();
    let hash: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let envelope = neo4rs::query(
        "MERGE (e:EventEnvelope {idempotency_key: $key}) \
         SET e.event_id = $id, e.event_type = $type, e.payload_hash = $hash",
    )
    .param("key", key)
    .param("id", event["event_id"].as_str().unwrap_or_default())
    .param("type", event_type)
    .param("hash", hash);
    graph.run(envelope).await.map_err(|e| e.to_string())?;
    if !event_type.starts_with("assignment.") {
        return Ok(());
    }
    let payload = &event["payload"];
    let task = payload["task_id"].as_str().unwrap_or_default();
    let back = matches!(event_type, "assignment.released" | "assignment.expired");
    let status = if back {
        "READY"
    } else {
        payload["status"].as_str().unwrap_or("CLAIMED")
    };
    let text = |k: &str| payload[k].as_str().map(str::to_string);
    let claim = json!({
        "status": status,
        "worker_id": if back { None } else { text("worker_id") },
        "claimed_by": if back { None } else { text("worker_id") },
        "node_id": if back { None } else { text("node_id") },
        "assignment_id": if back { None } else { text("assignment_id") },
    });
    let update = neo4rs::query(
        "MATCH (t:Task {id: $task}) SET t += $claim \
         WITH t MATCH (e:EventEnvelope {idempotency_key: $key}) MERGE (e)-[:ABOUT_TASK]->(t)",
    )
    .param("task", task)
    .param("key", key)
    .param("claim", neo4rs::BoltType::try_from(claim).unwrap());
    graph.run(update).await.map_err(|e| e.to_string())
}

/// A7's 400 and 422 rules for an authored envelope.
fn check(event: &serde_json::Map<String, Value>) -> Result<(), (StatusCode, String)> {
    let bad = |why: &str| Err((StatusCode::BAD_REQUEST, format!(r#"{{"detail":"{why}"}}"#)));
    let shape = |why: &str| {
        Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(r#"{{"detail":"{why}"}}"#),
        ))
    };
    for field in [
        "event_id",
        "event_type",
        "source_repo",
        "source_service",
        "node_id",
        "occurred_at",
        "idempotency_key",
    ] {
        if event
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return bad(field);
        }
    }
    if event.get("schema_version").and_then(Value::as_str) != Some("2026-06-08.v1") {
        return bad("schema_version");
    }
    match event.get("subject") {
        Some(Value::Object(subject)) => {
            for part in ["kind", "id"] {
                if subject
                    .get(part)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return bad("subject");
                }
            }
        }
        _ => return shape("subject"),
    }
    if !event.get("payload").is_some_and(Value::is_object) {
        return bad("payload");
    }
    if !event.get("artifact_refs").is_some_and(Value::is_array) {
        return bad("artifact_refs");
    }
    if event.get("links").is_some_and(|l| !l.is_array()) {
        return shape("links");
    }
    let privacy = event.get("privacy").and_then(Value::as_object);
    if !privacy.is_some_and(|p| {
        ["pii", "privacy_class", "retention_class"]
            .iter()
            .all(|k| p.contains_key(*k))
    }) {
        return bad("privacy");
    }
    let uuid = event
        .get("correlation_id")
        .and_then(Value::as_str)
        .is_some_and(|c| c.len() == 36 && c.chars().filter(|&ch| ch == '-').count() == 4);
    if !uuid {
        return shape("correlation_id");
    }
    Ok(())
}

fn base64(text: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
