//! The host: the one place that starts the engine with its doors (the
//! socket now; sync and HTTP join here), and [`Link`], the one way every
//! caller (the CLI, `batch`, `status`, the control room, the demo) reaches an
//! engine. When a daemon answers on the socket, everything goes through it:
//! nothing opens a second writer on its database.

use crate::config::Settings;
use crate::engine::{self, Command, Core, EngineHandle, Reply, Snapshot};
use crate::error::{Error, Result};
use crate::http::client::Remote;
use crate::ingest::client::Client;
use crate::ingest::{server, socket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

fn built(built: std::io::Result<tokio::runtime::Runtime>) -> Result<tokio::runtime::Runtime> {
    built.map_err(|source| Error::Io {
        context: "cannot start the async runtime".into(),
        source,
    })
}

/// One thread: for a one-shot command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    built(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    )
}

/// Two workers (the machine's cores): for the daemon and the control room,
/// which serve the socket while the engine runs on its own thread. They
/// run in the realtime class at `realtime_priority` (`engine::prompt`).
pub fn service_runtime(settings: &Settings) -> Result<tokio::runtime::Runtime> {
    let priority = settings.realtime_priority;
    built(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .on_thread_start(move || crate::engine::prompt::enter(priority))
            .enable_all()
            .build(),
    )
}

/// How long stopping waits for the engine to commit its queue and end.
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A running engine and the doors it serves.
pub struct Host {
    engine: EngineHandle,
    task: JoinHandle<Core>,
    edges: Edges,
}

impl Host {
    /// Binds the socket (refusing when another engine holds it), opens the
    /// database, recovers, and starts serving.
    pub async fn start(settings: &Settings) -> Result<Host> {
        Self::start_with(settings, || Core::open(settings.clone())).await
    }

    /// [`Host::start`] with the engine's core made by `core` (tests give
    /// theirs a clock of their own).
    pub async fn start_with(
        settings: &Settings,
        core: impl FnOnce() -> Result<Core>,
    ) -> Result<Host> {
        let path = settings.socket_path.clone();
        let listener = socket::bind(&path).await?;
        // Bound before the engine starts, so a refusal leaves nothing behind.
        let http = match settings.http_bind {
            None => None,
            Some(addr) => match crate::http::bind(settings, addr).await {
                Ok(http) => Some(http),
                Err(e) => {
                    drop(listener);
                    socket::remove(&path);
                    return Err(e);
                }
            },
        };
        // Each loop of the sync edge runs only when its settings ask for
        // it: the dispatcher with write-back on (an operator's `dispatch`
        // wakes it), the intake with the scheduler on (it then sends the
        // ticks, with AssistX's backlog), the graph writer with Neo4j
        // configured (an operator's `reconcile` wakes it).
        let wakes = crate::sync::Wakes::for_settings(settings);
        let started = core().and_then(|mut core| {
            if let Some(wake) = &wakes.dispatch {
                core.set_dispatcher(wake.clone());
            }
            if let Some(intake) = &wakes.intake {
                core.take_ticks_from_intake(intake.clone());
            }
            if let Some(graph) = &wakes.graph {
                core.set_reconciler(graph.clone());
            }
            engine::spawn(core)
        });
        let (engine, task) = match started {
            Ok(started) => started,
            Err(e) => {
                // Nobody will serve it: a client must not find it and wait.
                drop(listener);
                socket::remove(&path);
                return Err(e);
            }
        };
        let sync = crate::sync::Edge::start(settings, &engine, wakes)?;
        let (stop, stop_rx) = watch::channel(false);
        let most = crate::ingest::limits::connections();
        let http = match http {
            None => None,
            Some(http) => {
                let addr = http.local_addr().map_err(|source| Error::Io {
                    context: "cannot read the HTTP API's address".into(),
                    source,
                })?;
                let task =
                    crate::http::serve_apart(http, engine.clone(), settings, stop_rx.clone())?;
                tracing::info!(%addr, "HTTP API listening");
                Some((addr, task))
            }
        };
        let server = tokio::spawn(server::serve(listener, engine.clone(), most, stop_rx));
        tracing::info!(socket = %path.display(), pid = std::process::id(), "engine listening");
        Ok(Host {
            engine,
            task,
            edges: Edges {
                socket: path,
                stop,
                server,
                sync,
                http,
            },
        })
    }

    /// Where the HTTP API listens, when it does.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.edges.http.as_ref().map(|(addr, _)| *addr)
    }

    pub fn link(&self) -> Link {
        Link::Engine(self.engine.clone())
    }

    pub fn socket(&self) -> &Path {
        &self.edges.socket
    }

    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.engine.snapshots()
    }

    /// Serves until `shutdown` resolves, then stops cleanly. The engine ends
    /// on its own only through a fault (a panic): then this logs why and
    /// returns the error, so the process exits non-zero and its supervisor
    /// (systemd's `Restart=on-failure`) starts a fresh one, instead of a
    /// process that answers `hello` with no engine behind it.
    pub async fn serve_until(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let ended = tokio::select! {
            _ = shutdown => None,
            ended = &mut self.task => Some(ended),
        };
        let Some(ended) = ended else {
            return self.stop().await;
        };
        let why = match ended {
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into())
            }
            Err(e) => e.to_string(),
            Ok(core) => core.failed().unwrap_or("it stopped by itself").to_string(),
        };
        tracing::error!("the engine stopped unexpectedly: {why}; exiting so that it is restarted");
        // Replies the engine gave before it stopped (the refusals that say
        // why) are still written before the process goes.
        self.edges.stop().await;
        Err(Error::Io {
            context: format!("the engine stopped unexpectedly ({why})"),
            source: std::io::Error::other("engine task ended"),
        })
    }

    /// Stops accepting, lets in-flight requests finish, lets the engine
    /// commit its queue, removes the socket and checkpoints the database.
    pub async fn stop(self) -> Result<()> {
        let Host {
            engine,
            task,
            edges,
        } = self;
        edges.stop().await;
        drop(engine);
        // The engine stops once every link to it is gone; a link kept by
        // mistake must not keep the process alive for good.
        let core = tokio::time::timeout(STOP_WITHIN, task)
            .await
            .map_err(|_| Error::Io {
                context: format!("the engine did not stop within {STOP_WITHIN:?}"),
                source: std::io::Error::from(std::io::ErrorKind::TimedOut),
            })?
            .map_err(|e| Error::Io {
                context: "the engine task failed".into(),
                source: std::io::Error::other(e),
            })?;
        core.store().checkpoint(true)
    }
}

/// What serves the engine: the socket, the HTTP API and the sync edge.
struct Edges {
    socket: PathBuf,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    /// The outbox dispatcher (write-back on) and the backlog intake
    /// (scheduler on).
    sync: Option<crate::sync::Edge>,
    /// The HTTP API, when configured: where it listens, and its task.
    http: Option<(std::net::SocketAddr, JoinHandle<()>)>,
}

impl Edges {
    /// Stops accepting, lets in-flight requests finish and removes the
    /// socket. The sync edge holds links to the engine: it goes too.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        if let Some((_, http)) = self.http {
            let _ = http.await;
        }
        if let Some(sync) = self.sync {
            sync.stop().await;
        }
        socket::remove(&self.socket);
    }
}

/// A way to an engine: one in this process, or a daemon over its socket.
#[derive(Clone)]
pub enum Link {
    Engine(EngineHandle),
    Socket(PathBuf),
    /// An engine on another machine, through its HTTP API (`--url`).
    Http(Remote),
}

impl Link {
    /// The daemon answering on the configured socket, if there is one. One
    /// that serves another database than the configured one is refused,
    /// naming both: a command meant for one database must not land in
    /// another.
    pub async fn daemon(settings: &Settings) -> Result<Option<Link>> {
        let path = &settings.socket_path;
        let mut client = match Client::connect(path).await {
            Ok(client) => client,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(Error::Io {
                    context: "refusing the engine's socket".into(),
                    source: e,
                });
            }
            Err(_) => return Ok(None),
        };
        let hello = client.hello().await?;
        if let Some(served) = hello["database"].as_str()
            && !same_file(Path::new(served), &settings.database_path)
        {
            return Err(Error::bad_input(
                "--database",
                format!(
                    "the engine on {} serves {served}, not {}: use that database, or --socket of an engine serving yours (or stop that engine)",
                    path.display(),
                    settings.database_path.display()
                ),
            ));
        }
        Ok(Some(Link::Socket(path.clone())))
    }

    /// Who answers, as the socket's `hello` says it.
    pub async fn hello(&self) -> Result<serde_json::Value> {
        match self {
            Link::Engine(engine) => Ok(server::hello(engine.database())),
            Link::Http(remote) => remote.health().await,
            Link::Socket(path) => match Client::connect(path).await {
                Ok(mut client) => client.hello().await,
                Err(source) => Err(Error::Io {
                    context: format!("cannot reach the engine on {}", path.display()),
                    source,
                }),
            },
        }
    }

    /// Sends the commands in order over one connection; each one's result.
    pub async fn send_all(&self, commands: Vec<Command>) -> Vec<Result<Reply>> {
        let mut results = Vec::with_capacity(commands.len());
        match self {
            Link::Engine(engine) => {
                for command in commands {
                    results.push(engine.send(command).await);
                }
            }
            Link::Http(remote) => {
                for command in &commands {
                    results.push(remote.send(command).await);
                }
            }
            Link::Socket(path) => match Client::connect(path).await {
                Ok(mut client) => {
                    for command in &commands {
                        results.push(client.send(command).await);
                    }
                }
                Err(source) => {
                    let message =
                        format!("cannot reach the engine on {}: {source}", path.display());
                    results.extend(commands.iter().map(|_| {
                        Err(Error::Io {
                            context: message.clone(),
                            source: std::io::Error::from(source.kind()),
                        })
                    }));
                }
            },
        }
        results
    }

    pub async fn send(&self, command: Command) -> Result<Reply> {
        self.send_all(vec![command])
            .await
            .pop()
            .unwrap_or(Err(Error::EngineGone))
    }

    /// A snapshot that includes everything sent before it.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        match self {
            Link::Engine(engine) => match engine.send(Command::Snapshot {}).await? {
                Reply::Snapshot(snapshot) => Ok(Arc::unwrap_or_clone(snapshot)),
                other => Err(Error::Io {
                    context: "the engine's snapshot".into(),
                    source: std::io::Error::other(format!("unexpected reply {other:?}")),
                }),
            },
            Link::Http(remote) => Err(Error::Unavailable {
                what: format!(
                    "the snapshot is read over the socket; over HTTP, {}/api/ops/summary has the counts",
                    remote.base()
                ),
            }),
            Link::Socket(path) => {
                let mut client = Client::connect(path).await.map_err(|source| Error::Io {
                    context: format!("cannot reach the engine on {}", path.display()),
                    source,
                })?;
                client.snapshot().await
            }
        }
    }
}

/// Whether two paths name one file (one that does not exist yet is
/// compared by its absolute name).
fn same_file(a: &Path, b: &Path) -> bool {
    let full = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    full(a) == full(b)
}

/// Runs `work` with a link to an engine for a one-shot command: the
/// daemon's when one answers on the socket, else an engine started here
/// on the database (no socket) and stopped once `work` is done.
pub async fn with_engine<T, F, Fut>(settings: &Settings, work: F) -> Result<T>
where
    F: FnOnce(Link) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    if let Some(url) = &settings.url {
        return work(Link::Http(Remote::new(url, settings.api_token.clone())?)).await;
    }
    if let Some(link) = Link::daemon(settings).await? {
        return work(link).await;
    }
    let (handle, task) = engine::spawn(Core::open(settings.clone())?)?;
    let result = work(Link::Engine(handle)).await;
    let _ = task.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, load_with};
    use crate::engine::core::Clock;
    use crate::store::Store;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// An engine that dies takes its process with it (an error to exit
    /// non-zero on), and its socket file is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_engine_ends_serving_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = Overrides {
            database: Some(dir.path().join("db.sqlite3").display().to_string()),
            socket: Some(dir.path().join("run/e.sock").display().to_string()),
            ..Default::default()
        };
        let settings = load_with(&overrides, &|_| None).unwrap().settings;
        let broken = Arc::new(AtomicBool::new(false));
        let fault = broken.clone();
        let clock: Clock = Arc::new(move || {
            assert!(!fault.load(Ordering::Relaxed), "the clock broke");
            chrono::Utc::now()
        });
        let core = || {
            Ok(Core::new(
                Store::open(&settings.database_path)?,
                settings.clone(),
                clock,
            ))
        };
        let host = Host::start_with(&settings, core).await.unwrap();
        let socket = host.socket().to_path_buf();
        assert!(socket.exists());
        broken.store(true, Ordering::Relaxed);
        let served = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            host.serve_until(std::future::pending()),
        )
        .await
        .expect("serving ended");
        let error = served.unwrap_err().to_string();
        assert!(error.contains("the clock broke"), "{error}");
        assert!(!socket.exists());
    }
}
