//! The sync edge: what talks to AssistX and the auto-router. Nothing here writes the database:
//! the dispatcher reads due outbox events on a read-only connection of its
//! own, posts them, and hands every verdict to the engine, the only writer,
//! as a [`SyncReport`]. No HTTP call ever happens inside a transaction.

pub mod assistx;
pub mod dispatcher;
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

impl Edge {
    /// Starts what the settings ask for: the dispatcher when `dispatch`
    /// is given (write-back on), the intake when `intake` is (scheduler on);
    /// each wakes on its own signal. `None`: nothing to run.
    pub fn start(
        settings: &Settings,
        engine: &EngineHandle,
        dispatch: Option<Arc<Notify>>,
        intake: Option<Arc<Notify>>,
    ) -> Result<Option<Edge>> {
        let mut loops: Vec<Loop> = Vec::new();
        if let Some(wake) = dispatch {
            loops.push(Box::pin(dispatcher::run(settings, engine.clone(), wake)?));
        }
        if let Some(wake) = intake {
            loops.push(Box::pin(intake::run(settings, engine.clone(), wake)?));
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
fn http_client(timeout: std::time::Duration, peer: &str) -> crate::error::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| crate::error::Error::Io {
            context: format!("cannot build the {peer} client"),
            source: std::io::Error::other(e),
        })
}
