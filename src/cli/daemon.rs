//! `auto-assign daemon`: the engine and its socket, headless. SIGTERM or
//! SIGINT: stop accepting, let in-flight requests finish, commit, exit 0.

use super::logging;
use crate::config::Settings;
use crate::engine::counters::Counters;
use crate::engine::{self, Core};
use crate::error::{Error, Result};
use crate::ingest::{protocol::REJECT_CODES, server, socket};
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

pub fn run(settings: Settings) -> Result<()> {
    let _guard = logging::init(&settings, true)?;
    super::route::service_runtime()?.block_on(serve(settings))
}

async fn serve(settings: Settings) -> Result<()> {
    let path = settings.socket_path.clone();
    let listener = socket::bind(&path).await?;
    let rejected = Arc::new(Counters::new(&REJECT_CODES));
    let core = Core::open(settings)?;
    let (handle, task) = engine::spawn(core)?;
    tracing::info!(socket = %path.display(), pid = std::process::id(), "engine listening");
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).map_err(|source| Error::Io {
        context: "cannot watch SIGTERM".into(),
        source,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| Error::Io {
        context: "cannot watch SIGINT".into(),
        source,
    })?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = stop_tx.send(true);
    });
    server::serve(listener, handle, rejected, stop_rx).await;
    socket::remove(&path);
    // Every handle is gone now: the engine finishes its queue and stops.
    let core = task.await.map_err(|e| Error::Io {
        context: "the engine task failed".into(),
        source: std::io::Error::other(e),
    })?;
    core.store().checkpoint()?;
    tracing::info!("stopped cleanly");
    Ok(())
}
