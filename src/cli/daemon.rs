//! `auto-assign daemon`: the engine and its socket, headless. SIGTERM or
//! SIGINT: stop accepting, let in-flight requests finish, commit, exit 0.

use super::logging;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::host::{Host, service_runtime};
use tokio::signal::unix::{SignalKind, signal};

pub fn run(settings: Settings) -> Result<()> {
    let _guard = logging::init(&settings, true)?;
    service_runtime(&settings)?.block_on(serve(settings))
}

async fn serve(settings: Settings) -> Result<()> {
    let watch = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|source| Error::Io {
            context: format!("cannot watch {name}"),
            source,
        })
    };
    let mut term = watch(SignalKind::terminate(), "SIGTERM")?;
    let mut int = watch(SignalKind::interrupt(), "SIGINT")?;
    let host = Host::start(&settings).await?;
    host.serve_until(async {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
    .await?;
    tracing::info!("stopped cleanly");
    Ok(())
}
