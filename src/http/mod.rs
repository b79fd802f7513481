//! The HTTP door: a third way in to the same engine as the socket and the
//! control room, not a dialect of its own. It serves what monitoring reads
//! (`/health`, `/metrics`, `/openapi.json`), the old service's API in its
//! shapes (one module per part: control, events, scheduler, assignments,
//! heartbeats, outbox, ops), AssistX's callback, and the worker operations
//! for workers on other machines, behind the old service's token rule, a
//! cap on requests at once and a time limit on each (`guard`). Writes are
//! the engine's commands; reads come from the cache opened read-only.

mod answer;
mod assignments;
mod auth;
pub mod client;
mod control;
mod events;
mod guard;
mod heartbeats;
mod metrics;
mod ops;
mod outbox;
mod scheduler;
mod workers;

use crate::config::Settings;
use crate::engine::{Command, EngineHandle, Reply, Snapshot};
use crate::error::{Error, Result};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// The largest request body read (the old service's callers send far less).
const MAX_BODY: usize = 1024 * 1024;

/// What every handler shares.
struct Door {
    engine: EngineHandle,
    /// Who the audit names for what the old API asks without saying who.
    operator: String,
    token: Option<String>,
    started: Instant,
    scheduler_enabled: bool,
    dispatch_enabled: bool,
    direct_workers_enabled: bool,
    stale_after_seconds: u64,
    /// Requests served at once: a permit each.
    slots: Arc<Semaphore>,
    timeout: Duration,
    metrics: metrics::Requests,
    readers: answer::Readers,
}

/// Binds the configured address. A bind beyond loopback without a token
/// is refused unless the operator allowed it; with one, it is said once.
pub async fn bind(settings: &Settings, addr: SocketAddr) -> Result<TcpListener> {
    if !addr.ip().is_loopback() && settings.api_token.is_none() {
        if !settings.http_allow_open {
            return Err(Error::bad_input(
                "http_bind",
                format!(
                    "{addr} is reachable beyond this machine and AUTO_ASSIGN_API_TOKEN is not set: \
                     set a token, bind 127.0.0.1, or set AUTO_ASSIGN_HTTP_ALLOW_OPEN=true"
                ),
            ));
        }
        tracing::warn!(%addr, "the HTTP API is open to the network without a token");
    }
    TcpListener::bind(addr).await.map_err(|source| Error::Io {
        context: format!("cannot listen for HTTP on {addr}"),
        source,
    })
}

/// Serves HTTP on `listener` until `stop` turns true, on a thread of its
/// own at the lowest niceness, so that callers over HTTP get the CPU that
/// the socket's workers and the control room leave. The returned task
/// ends when serving does.
pub fn serve_apart(
    listener: TcpListener,
    engine: EngineHandle,
    settings: &Settings,
    stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let failed = |source| Error::Io {
        context: "cannot start the HTTP API's thread".into(),
        source,
    };
    let listener = listener.into_std().map_err(failed)?;
    let settings = settings.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            // Refused (another OS, a sandbox): served at normal priority.
            let _ =
                thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, engine, &settings, stop).await,
                        Err(e) => tracing::error!("the HTTP API cannot listen: {e}"),
                    }
                }),
                Err(e) => tracing::error!("the HTTP API has no runtime: {e}"),
            }
            let _ = done_tx.send(());
        })
        .map_err(failed)?;
    Ok(tokio::spawn(async move {
        let _ = done_rx.await;
    }))
}

/// Serves HTTP on `listener` until `stop` turns true.
async fn serve(
    listener: TcpListener,
    engine: EngineHandle,
    settings: &Settings,
    mut stop: watch::Receiver<bool>,
) {
    let door = Arc::new(Door {
        engine,
        operator: settings.operator.clone(),
        token: settings.api_token.clone(),
        started: Instant::now(),
        scheduler_enabled: settings.scheduler_enabled,
        dispatch_enabled: settings.dispatch_enabled,
        direct_workers_enabled: settings.scoring.direct_workers_enabled,
        stale_after_seconds: settings.stale_heartbeat_seconds,
        slots: Arc::new(Semaphore::new(settings.http_max_concurrent)),
        timeout: settings.http_timeout,
        metrics: metrics::Requests::default(),
        readers: answer::Readers::default(),
    });
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(scrape))
        .route("/openapi.json", get(openapi))
        .merge(workers::routes())
        .merge(events::routes())
        .merge(assignments::routes())
        .merge(scheduler::routes())
        .merge(control::routes())
        .merge(heartbeats::routes())
        .merge(outbox::routes())
        .merge(ops::routes())
        .fallback(not_found)
        // The guard inside the count, so what it refuses is counted too.
        .layer(axum::middleware::from_fn_with_state(
            door.clone(),
            guard::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            door.clone(),
            auth::and_count,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(door);
    let stopped = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::error!("the HTTP API stopped: {e}");
    }
}

/// A snapshot built after everything already sent to the engine (as the
/// socket's `snapshot` op answers), or 503 when the engine is gone.
async fn snapshot(door: &Door) -> std::result::Result<Arc<Snapshot>, Response> {
    match door.engine.send(Command::Snapshot {}).await {
        Ok(Reply::Snapshot(s)) => Ok(s),
        Ok(_) | Err(_) => {
            let body = json!({"detail": "the engine is not answering"});
            Err((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
        }
    }
}

/// The old service's health: `ok`, `status` (`ok` or `degraded`), the
/// dependencies and the scheduler.
async fn health(State(door): State<Arc<Door>>) -> Response {
    let s = match snapshot(&door).await {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    let dependency = |name: &str| -> Value {
        s.health
            .iter()
            .find(|h| h.name == name)
            .map_or(json!({"reachable": false}), |h| {
                json!({
                    "reachable": h.state == crate::engine::snapshot::HealthState::Ok,
                    "state": h.state,
                    "last_success_at": h.last_success_at,
                    "last_error": h.last_error,
                    "detail": h.detail,
                })
            })
    };
    let cache = dependency("cache");
    let degraded = cache["reachable"] != true
        || (door.dispatch_enabled && dependency("assistx")["reachable"] != true);
    Json(json!({
        "ok": !degraded,
        "status": if degraded { "degraded" } else { "ok" },
        "service": "auto-assign",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": door.started.elapsed().as_secs_f64(),
        "deps": {
            "assistx": dependency("assistx"),
            "neo4j": dependency("neo4j"),
            "router": dependency("router"),
            "cache": cache,
        },
        "scheduler": {
            "enabled": door.scheduler_enabled,
            "last_tick_at": s.last_tick_at,
            "dispatch_enabled": door.dispatch_enabled,
            "direct_workers_enabled": door.direct_workers_enabled,
            "control": s.control,
        },
    }))
    .into_response()
}

/// Prometheus' text format, from the engine's latest snapshot and the
/// door's own request counts.
async fn scrape(State(door): State<Arc<Door>>) -> Response {
    let s = match snapshot(&door).await {
        Ok(s) => s,
        Err(refused) => return refused,
    };
    match metrics::render(&s, &door.metrics, &door.engine.meters()) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("cannot write the metrics: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The OpenAPI document of every endpoint (kept beside the code in
/// `assets/`; a test checks each path it lists is served).
async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        include_str!("../../assets/openapi.json"),
    )
        .into_response()
}

async fn not_found() -> Response {
    let body = json!({"detail": "no such path (docs/http-api.md lists them)"});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
