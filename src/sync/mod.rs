//! The sync edge: what talks to AssistX, the auto-router and Neo4j.
//! Nothing here writes the database:
//! the dispatcher reads due outbox events on a read-only connection of its
//! own, posts them, and hands every verdict to the engine, the only writer,
//! as a [`SyncReport`]. No HTTP call ever happens inside a transaction.

pub mod assistx;
pub mod dispatcher;
pub mod graph;
pub mod intake;
pub mod router;

use crate::config::Settings;
use crate::engine::EngineHandle;
pub use crate::engine::SyncReport;
use crate::error::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Notify, oneshot, watch};

/// The sync edge's loops (the dispatcher, the intake), on a thread of their
/// own in the idle scheduling class with a runtime of their own: a drain of
/// ten thousand events after an outage, on the socket's runtime, made a
/// heartbeat's round trip p99 four times what it is.
pub struct Edge {
    stop: watch::Sender<bool>,
    done: oneshot::Receiver<()>,
}

type Loop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What wakes each of the edge's loops at once; `None`: that loop does
/// not run.
#[derive(Debug, Default, Clone)]
pub struct Wakes {
    /// The dispatcher (AssistX write-back on); an operator's `dispatch`.
    pub dispatch: Option<Arc<Notify>>,
    /// The backlog intake (scheduler on); a router snapshot event.
    pub intake: Option<Arc<Notify>>,
    /// The graph writer (Neo4j configured); an operator's `reconcile`.
    pub graph: Option<Arc<Notify>>,
}

impl Wakes {
    /// The loops the settings ask for.
    pub fn for_settings(settings: &Settings) -> Wakes {
        let wake = |on: bool| on.then(|| Arc::new(Notify::new()));
        Wakes {
            dispatch: wake(settings.dispatch_enabled),
            intake: wake(settings.scheduler_enabled),
            graph: wake(settings.neo4j.is_some()),
        }
    }
}

impl Edge {
    /// Starts the loops `wakes` names. `None`: nothing to run.
    pub fn start(settings: &Settings, engine: &EngineHandle, wakes: Wakes) -> Result<Option<Edge>> {
        let mut loops: Vec<Loop> = Vec::new();
        if let Some(wake) = wakes.dispatch {
            loops.push(Box::pin(dispatcher::run(settings, engine.clone(), wake)?));
        }
        if let Some(wake) = wakes.intake {
            loops.push(Box::pin(intake::run(settings, engine.clone(), wake)?));
        }
        if let Some(wake) = wakes.graph {
            loops.push(Box::pin(graph::writer::run(
                settings,
                engine.clone(),
                wake,
            )?));
        }
        if loops.is_empty() {
            return Ok(None);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                context: "cannot start the sync edge's runtime".into(),
                source,
            })?;
        let (stop, mut stopped) = watch::channel(false);
        let (done_tx, done) = oneshot::channel();
        crate::engine::background::spawn("sync", move || {
            runtime.block_on(async move {
                let mut running = tokio::task::JoinSet::new();
                for each in loops {
                    running.spawn(each);
                }
                tokio::select! {
                    _ = stopped.changed() => {}
                    _ = running.join_all() => {}
                }
            });
            // The loops and their links to the engine are gone now.
            let _ = done_tx.send(());
        })?;
        Ok(Some(Edge { stop, done }))
    }

    /// Stops the loops: a post in flight is dropped unrecorded, and sent
    /// again next time, byte for byte, which AssistX dedupes.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

/// An HTTP client whose every call gives up after `timeout`.
pub(crate) fn http_client(
    timeout: std::time::Duration,
    peer: &str,
) -> crate::error::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| crate::error::Error::Io {
            context: format!("cannot build the {peer} client"),
            source: std::io::Error::other(e),
        })
}

/// A transport error to `peer` in a line an operator can act on. reqwest's
/// own text names only the URL; the innermost cause ("Connection refused",
/// a DNS failure) is what says what to fix.
pub(crate) fn transport(peer: &str, e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let why = if std::ptr::addr_eq(cause, e) {
        e.to_string()
    } else {
        format!("{e}: {cause}")
    };
    if e.is_timeout() {
        format!("{peer} did not answer in time")
    } else if e.is_connect() {
        format!("cannot reach {peer}: {why}")
    } else {
        format!("{peer}: {why}")
    }
}

#[cfg(test)]
mod tests {
    use super::transport;

    #[tokio::test]
    async fn a_refused_connection_says_so_not_only_the_url() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", closed.local_addr().unwrap());
        drop(closed);
        let client = super::http_client(std::time::Duration::from_secs(5), "test").unwrap();
        let e = client.get(url).send().await.unwrap_err();
        let text = transport("AssistX", &e);
        assert!(text.starts_with("cannot reach AssistX: "), "{text}");
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
    }
}
