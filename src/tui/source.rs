//! Where the control room gets its data and sends its commands: an engine
//! in this process (which also serves the socket, so workers can report), or
//! a daemon's socket, re-attached whenever the connection drops.

use super::app::Link;
use crate::config::Settings;
use crate::engine::counters::Counters;
use crate::engine::{self, Command, Core, EngineHandle, Reply, Snapshot};
use crate::error::{Error, Result};
use crate::ingest::client::Client;
use crate::ingest::{protocol::REJECT_CODES, server, socket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub enum Source {
    InProcess {
        engine: EngineHandle,
        socket: PathBuf,
        stop: watch::Sender<bool>,
        server: tokio::task::JoinHandle<()>,
    },
    Attached {
        socket: PathBuf,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        link: watch::Receiver<Link>,
        operator: String,
    },
}

impl Source {
    /// Attaches when asked to, or when an engine already answers on the
    /// socket; otherwise starts one here.
    pub async fn start(settings: &Settings, attach: bool) -> Result<Source> {
        let path = settings.socket_path.clone();
        let answering = Client::connect(&path).await.is_ok();
        if attach || answering {
            return Ok(Source::attach(path, settings.operator.clone()).await);
        }
        let listener = socket::bind(&path).await?;
        let (engine, _task) = engine::spawn(Core::open(settings.clone())?)?;
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::new(&REJECT_CODES));
        let server = tokio::spawn(server::serve(listener, engine.clone(), counters, stop_rx));
        Ok(Source::InProcess {
            engine,
            socket: path,
            stop,
            server,
        })
    }

    async fn attach(path: PathBuf, operator: String) -> Source {
        let label = path.display().to_string();
        let (snapshot_tx, snapshots) = watch::channel(Arc::new(Snapshot::default()));
        let (link_tx, link) = watch::channel(Link::Disconnected {
            socket: label.clone(),
        });
        let socket = path.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut client) = Client::connect(&socket).await
                    && let Ok(first) = client.subscribe().await
                {
                    if let Ok(snapshot) =
                        serde_json::from_value::<Snapshot>(first["snapshot"].clone())
                    {
                        snapshot_tx.send_replace(Arc::new(snapshot));
                    }
                    link_tx.send_replace(Link::Attached {
                        socket: label.clone(),
                    });
                    while let Ok(Some(update)) = client.next_line().await {
                        if let Ok(snapshot) =
                            serde_json::from_value::<Snapshot>(update["snapshot"].clone())
                        {
                            snapshot_tx.send_replace(Arc::new(snapshot));
                        }
                    }
                }
                link_tx.send_replace(Link::Disconnected {
                    socket: label.clone(),
                });
                if snapshot_tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        // Give the first subscription a moment, so the first frame has data.
        let mut ready = link.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), ready.changed()).await;
        Source::Attached {
            socket: path,
            snapshots,
            link,
            operator,
        }
    }

    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        match self {
            Source::InProcess { engine, .. } => engine.snapshots(),
            Source::Attached { snapshots, .. } => snapshots.clone(),
        }
    }

    pub fn link(&self) -> watch::Receiver<Link> {
        match self {
            Source::InProcess { .. } => watch::channel(Link::InProcess).1,
            Source::Attached { link, .. } => link.clone(),
        }
    }

    pub fn socket(&self) -> &PathBuf {
        match self {
            Source::InProcess { socket, .. } | Source::Attached { socket, .. } => socket,
        }
    }

    /// A sender that can be moved into a task.
    pub fn sender(&self) -> Sender {
        match self {
            Source::InProcess { engine, .. } => Sender::Engine(engine.clone()),
            Source::Attached {
                socket, operator, ..
            } => Sender::Socket(socket.clone(), operator.clone()),
        }
    }

    /// Stops the in-process server (and with it the engine) cleanly.
    pub async fn stop(self) {
        if let Source::InProcess {
            stop,
            server,
            socket,
            ..
        } = self
        {
            let _ = stop.send(true);
            let _ = server.await;
            socket::remove(&socket);
        }
    }
}

#[derive(Clone)]
pub enum Sender {
    Engine(EngineHandle),
    Socket(PathBuf, String),
}

impl Sender {
    /// Sends the commands in order; each result, refusals as text.
    pub async fn send(&self, commands: Vec<Command>) -> Vec<std::result::Result<Reply, String>> {
        let mut results = Vec::with_capacity(commands.len());
        match self {
            Sender::Engine(engine) => {
                for command in commands {
                    results.push(engine.send(command).await.map_err(|e| e.to_string()));
                }
            }
            Sender::Socket(path, operator) => match Client::connect(path).await {
                Ok(mut client) => {
                    for command in commands {
                        results.push(
                            client
                                .send(&command, operator)
                                .await
                                .map_err(|e| e.to_string()),
                        );
                    }
                }
                Err(e) => {
                    let error = Error::Io {
                        context: format!("cannot reach {}", path.display()),
                        source: e,
                    };
                    results.extend(commands.iter().map(|_| Err(error.to_string())));
                }
            },
        }
        results
    }
}
