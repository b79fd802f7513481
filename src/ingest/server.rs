//! Serving the socket: one task per connection, reading requests and
//! writing replies in order.
//!
//! A connection pipelines: its reader queues each request with the engine
//! as soon as it is parsed and hands the pending reply to its writer, which
//! writes replies in request order. At most [`IN_FLIGHT`] replies may be
//! pending per connection and the engine's own queue is bounded, so a client
//! that floods is slowed down (its socket stops being read), never buffered
//! without limit, and never has an acknowledged request dropped. Other
//! clients keep their own turn in the engine's queue.

use crate::engine::meters::Meters;
use crate::engine::{Command, EngineHandle, Reply, Snapshot};
use crate::error::Result;
use crate::wire::codec::{
    self, OPS, PROTOCOL_VERSION, Parsed, ProtocolError, Request, engine_error, error_reply,
    ok_reply,
};
use crate::wire::decoder::LineDecoder;
use crate::wire::delta::{Prints, Sent, Update};
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

/// Replies a connection may have pending before its reader waits.
const IN_FLIGHT: usize = 256;

/// A subscriber gets at most one snapshot per this interval.
const SUBSCRIBE_EVERY: Duration = Duration::from_millis(250);

/// How long accepting waits after it failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Failed accepts are logged at most once per this, with their count.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct AcceptFailures {
    last_logged: Option<tokio::time::Instant>,
    since: u64,
}

impl AcceptFailures {
    fn log(&mut self, error: &std::io::Error) {
        self.since += 1;
        let due = self
            .last_logged
            .is_none_or(|at| at.elapsed() >= ACCEPT_LOG_EVERY);
        if due {
            tracing::warn!(
                "accept failed ({} time(s) since the last report): {error}",
                self.since
            );
            self.last_logged = Some(tokio::time::Instant::now());
            self.since = 0;
        }
    }
}

/// Tells a client over the limit why it is turned away, and closes.
async fn refuse(mut stream: UnixStream, most: usize) {
    let refusal = error_reply(
        &Value::Null,
        &ProtocolError::new(
            "too_many_connections",
            format!("the engine serves at most {most} connections at once; try again later"),
        ),
    );
    let _ = stream.write_all(format!("{refusal}\n").as_bytes()).await;
}

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);

enum Pending {
    Ready(Value),
    /// A fresh snapshot, built after everything this connection sent before.
    Snapshot(Value, oneshot::Receiver<Result<Reply>>),
    /// A subscription, starting from a fresh snapshot.
    Subscribe(Value, oneshot::Receiver<Result<Reply>>),
    Engine {
        id: Value,
        op: String,
        reply: oneshot::Receiver<Result<Reply>>,
        /// When its line was read: the request's time is counted to its reply.
        at: Instant,
    },
}

/// Accepts connections, at most `most` at once, until `shutdown` turns
/// true, then lets in-flight requests finish (up to [`DRAIN`]) and returns.
pub async fn serve(
    listener: UnixListener,
    engine: EngineHandle,
    most: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let encoded = Arc::new(Encoded::default());
    let mut connections = JoinSet::new();
    let mut failures = AcceptFailures::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if connections.len() >= most => {
                    engine.rejected().bump("too_many_connections");
                    tokio::spawn(refuse(stream, most));
                }
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, engine.clone(), encoded.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Out of files (EMFILE, ENFILE) or the like: accepting
                    // again at once would fail again at once, in a loop.
                    engine.rejected().bump("accept_failed");
                    failures.log(&e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connection(s) still open after {DRAIN:?}; closing them",
            connections.len()
        );
        connections.shutdown().await;
    }
}

async fn connection(
    stream: UnixStream,
    engine: EngineHandle,
    encoded: Arc<Encoded>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut read, write) = stream.into_split();
    let (pending_tx, pending_rx) = mpsc::channel(IN_FLIGHT);
    let writer = tokio::spawn(write_replies(
        write,
        pending_rx,
        engine.snapshots(),
        encoded,
        engine.meters(),
        shutdown.clone(),
    ));
    let mut decoder = LineDecoder::default();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut subscribed = false;
    'read: loop {
        let n = tokio::select! {
            read = read.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = shutdown.changed() => break,
        };
        for frame in decoder.push(&buffer[..n]) {
            if subscribed {
                continue; // a subscription owns the connection until it closes
            }
            let parsed = codec::parse_frame(frame);
            let pending = match dispatch(parsed, &engine).await {
                Some(pending) => pending,
                None => break 'read,
            };
            subscribed = matches!(pending, Pending::Subscribe(..));
            if pending_tx.send(pending).await.is_err() {
                break 'read;
            }
        }
    }
    drop(pending_tx);
    let _ = writer.await;
}

/// What to write back for one parsed line; `None` when the engine is gone.
async fn dispatch(parsed: Parsed, engine: &EngineHandle) -> Option<Pending> {
    let Parsed { id, op, request } = parsed;
    Some(match request {
        Err(error) => {
            engine.rejected().bump(error.code);
            Pending::Ready(error_reply(&id, &error))
        }
        Ok(Request::Hello) => Pending::Ready(ok_reply(&id, "hello", hello(engine.database()))),
        Ok(Request::Subscribe) => {
            Pending::Subscribe(id, engine.submit(Command::Snapshot {}).await.ok()?)
        }
        Ok(Request::Command(command)) => {
            let snapshot = matches!(*command, Command::Snapshot {});
            let at = Instant::now();
            let reply = engine.submit(*command).await.ok()?;
            if snapshot {
                Pending::Snapshot(id, reply)
            } else {
                Pending::Engine { id, op, reply, at }
            }
        }
    })
}

/// Who answers: the protocol, the program, its pid, what it can do, and
/// the database its engine serves.
pub fn hello(database: &std::path::Path) -> Value {
    json!({
        "protocol": PROTOCOL_VERSION,
        "engine_version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "capabilities": *OPS,
        "database": database,
    })
}

/// Snapshots as JSON and as row fingerprints, each worked out once however
/// many connections get the snapshot. Holding the snapshot keeps its
/// address from being reused, so a pointer comparison is a sound identity
/// check.
#[derive(Default)]
struct Encoded {
    last: Mutex<Option<Prepared>>,
}

struct Prepared {
    snapshot: Arc<Snapshot>,
    json: Option<Arc<str>>,
    prints: Option<Arc<Prints>>,
}

impl Encoded {
    fn prepared<T>(&self, snapshot: &Arc<Snapshot>, read: impl FnOnce(&mut Prepared) -> T) -> T {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let fresh = !matches!(&*last, Some(p) if Arc::ptr_eq(&p.snapshot, snapshot));
        if fresh {
            *last = Some(Prepared {
                snapshot: snapshot.clone(),
                json: None,
                prints: None,
            });
        }
        match last.as_mut() {
            Some(prepared) => read(prepared),
            None => unreachable!("just filled"),
        }
    }

    fn json(&self, snapshot: &Arc<Snapshot>) -> Arc<str> {
        self.prepared(snapshot, |p| {
            p.json
                .get_or_insert_with(|| {
                    serde_json::to_string(&*p.snapshot)
                        .unwrap_or_else(|_| "null".into())
                        .into()
                })
                .clone()
        })
    }

    fn prints(&self, snapshot: &Arc<Snapshot>) -> Arc<Prints> {
        self.prepared(snapshot, |p| {
            p.prints
                .get_or_insert_with(|| Arc::new(Prints::of(&p.snapshot)))
                .clone()
        })
    }
}

/// An ok reply whose result is JSON text already: spliced in, not parsed
/// back into a tree (a snapshot of ten thousand rows is megabytes).
fn raw_reply(id: &Value, op: &str, result: &str) -> String {
    format!(
        r#"{{"id":{id},"ok":true,"op":{},"result":{result}}}"#,
        json!(op)
    )
}

async fn write_replies(
    mut write: OwnedWriteHalf,
    mut pending: mpsc::Receiver<Pending>,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    encoded: Arc<Encoded>,
    meters: Arc<Meters>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut out = Vec::with_capacity(64 * 1024);
    while let Some(item) = pending.recv().await {
        let reply = match item {
            Pending::Ready(reply) => reply.to_string(),
            Pending::Snapshot(id, reply) => {
                let snapshot = match reply.await {
                    Ok(Ok(Reply::Snapshot(snapshot))) => snapshot,
                    _ => snapshots.borrow_and_update().clone(),
                };
                raw_reply(&id, "snapshot", &encoded.json(&snapshot))
            }
            Pending::Engine { id, op, reply, at } => {
                let answer = engine_reply(&id, &op, reply).await;
                meters.socket(&op, answer["ok"] == true, at.elapsed());
                answer.to_string()
            }
            Pending::Subscribe(id, fresh) => {
                if flush(&mut write, &mut out).await.is_err() {
                    return;
                }
                let latest = snapshots.borrow_and_update().clone();
                let first = match fresh.await {
                    Ok(Ok(Reply::Snapshot(snapshot))) => snapshot,
                    _ => latest,
                };
                let mut sent = Sent::default();
                sent.whole(&first, &encoded.prints(&first));
                let json = encoded.json(&first);
                let reply = raw_reply(&id, "subscribe", &format!(r#"{{"snapshot":{json}}}"#));
                if send(&mut write, &reply).await.is_err() {
                    return;
                }
                let mut streams = Streams {
                    sent,
                    sent_taken_at: first.taken_at,
                    write: &mut write,
                    pending: &mut pending,
                    snapshots: &mut snapshots,
                    encoded: &encoded,
                    shutdown: &mut shutdown,
                };
                streams.run().await;
                return;
            }
        };
        // Replies queue up in `out` while more are ready, and go out in one
        // write when the connection has nothing else pending.
        out.extend_from_slice(reply.as_bytes());
        out.push(b'\n');
        if (pending.is_empty() || out.len() > 60 * 1024)
            && flush(&mut write, &mut out).await.is_err()
        {
            return;
        }
    }
    let _ = flush(&mut write, &mut out).await;
}

async fn flush(write: &mut OwnedWriteHalf, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !out.is_empty() {
        write.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

async fn engine_reply(id: &Value, op: &str, reply: oneshot::Receiver<Result<Reply>>) -> Value {
    match reply.await {
        Ok(Ok(reply)) => ok_reply(id, op, serde_json::to_value(reply).unwrap_or(Value::Null)),
        Ok(Err(error)) => error_reply(id, &engine_error(&error)),
        Err(_) => error_reply(
            id,
            &ProtocolError::new("engine_gone", "the engine stopped before answering"),
        ),
    }
}

/// What a subscription streams with.
struct Streams<'a> {
    /// What this subscriber has, so an update carries only what changed.
    sent: Sent,
    /// When the snapshot it has was taken: a snapshot it has is not sent.
    sent_taken_at: chrono::DateTime<Utc>,
    write: &'a mut OwnedWriteHalf,
    pending: &'a mut mpsc::Receiver<Pending>,
    snapshots: &'a mut watch::Receiver<Arc<Snapshot>>,
    encoded: &'a Encoded,
    shutdown: &'a mut watch::Receiver<bool>,
}

impl Streams<'_> {
    /// What changed since the last update (`wire::delta`) whenever the
    /// snapshot changes, at most one per [`SUBSCRIBE_EVERY`], until the
    /// client closes (its reader drops `pending`) or the engine shuts down.
    /// A change after a quiet spell goes out at once; a client that reads
    /// slowly gets the newest state when it is ready again, never a backlog.
    async fn run(&mut self) {
        let mut last_sent = tokio::time::Instant::now();
        loop {
            tokio::select! {
                changed = self.snapshots.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    tokio::time::sleep_until(last_sent + SUBSCRIBE_EVERY).await;
                    let snapshot = self.snapshots.borrow_and_update().clone();
                    if snapshot.taken_at == self.sent_taken_at {
                        continue;
                    }
                    self.sent_taken_at = snapshot.taken_at;
                    let update = Update::Delta {
                        sent_at: Utc::now(),
                        delta: Box::new(self.sent.delta(&snapshot, &self.encoded.prints(&snapshot))),
                    };
                    let update = serde_json::to_string(&update).unwrap_or_default();
                    last_sent = tokio::time::Instant::now();
                    if send(self.write, &update).await.is_err() {
                        return;
                    }
                }
                closed = self.pending.recv() => if closed.is_none() { return },
                _ = self.shutdown.changed() => return,
            }
        }
    }
}

async fn send(write: &mut OwnedWriteHalf, line: &str) -> std::io::Result<()> {
    write.write_all(line.as_bytes()).await?;
    write.write_all(b"\n").await
}
