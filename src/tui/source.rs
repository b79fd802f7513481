//! Where the control room gets its data and sends its commands: an engine
//! hosted in this process (which also serves the socket, so workers can
//! report), or a daemon's socket, re-attached whenever the connection drops.

use super::app::Connection;
use crate::config::Settings;
use crate::engine::Snapshot;
use crate::error::Result;
use crate::host::{Host, Link};
use crate::ingest::client::Client;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub enum Source {
    Hosted(Host),
    Attached {
        socket: PathBuf,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        connection: watch::Receiver<Connection>,
    },
}

impl Source {
    /// Attaches when asked to, or when a daemon already answers on the
    /// socket; otherwise hosts the engine here.
    pub async fn start(settings: &Settings, attach: bool) -> Result<Source> {
        let path = settings.socket_path.clone();
        if attach || Link::daemon(settings).await?.is_some() {
            return Ok(Source::attach(path).await);
        }
        Ok(Source::Hosted(Host::start(settings).await?))
    }

    async fn attach(path: PathBuf) -> Source {
        let label = path.display().to_string();
        let (snapshot_tx, snapshots) = watch::channel(Arc::new(Snapshot::default()));
        let (connection_tx, connection) = watch::channel(Connection::Disconnected {
            socket: label.clone(),
        });
        let socket = path.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut client) = Client::connect(&socket).await
                    && let Ok(first) = client.subscribe().await
                {
                    snapshot_tx.send_replace(Arc::new(first));
                    connection_tx.send_replace(Connection::Attached {
                        socket: label.clone(),
                    });
                    while let Ok(Some(snapshot)) = client.next_snapshot().await {
                        snapshot_tx.send_replace(Arc::new(snapshot));
                    }
                }
                connection_tx.send_replace(Connection::Disconnected {
                    socket: label.clone(),
                });
                if snapshot_tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        // Give the first subscription a moment, so the first frame has data.
        let mut ready = connection.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), ready.changed()).await;
        Source::Attached {
            socket: path,
            snapshots,
            connection,
        }
    }

    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        match self {
            Source::Hosted(host) => host.snapshots(),
            Source::Attached { snapshots, .. } => snapshots.clone(),
        }
    }

    pub fn connection(&self) -> watch::Receiver<Connection> {
        match self {
            Source::Hosted(_) => watch::channel(Connection::InProcess).1,
            Source::Attached { connection, .. } => connection.clone(),
        }
    }

    pub fn socket(&self) -> &Path {
        match self {
            Source::Hosted(host) => host.socket(),
            Source::Attached { socket, .. } => socket,
        }
    }

    /// Where commands go; it can be moved into a task.
    pub fn link(&self) -> Link {
        match self {
            Source::Hosted(host) => host.link(),
            Source::Attached { socket, .. } => Link::Socket(socket.clone()),
        }
    }

    /// Stops a hosted engine cleanly (an attached room leaves the daemon be).
    pub async fn stop(self) {
        if let Source::Hosted(host) = self
            && let Err(e) = host.stop().await
        {
            tracing::error!("the engine did not stop cleanly: {e}");
        }
    }
}
