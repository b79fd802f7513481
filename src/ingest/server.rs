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

use crate::engine::{Command, EngineHandle, Reply, Snapshot};
use crate::error::Result;
use crate::wire::codec::{
    self, OPS, PROTOCOL_VERSION, Parsed, ProtocolError, Request, engine_error, error_reply,
    ok_reply,
};
use crate::wire::decoder::LineDecoder;
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

/// Replies a connection may have pending before its reader waits.
const IN_FLIGHT: usize = 256;

/// A subscriber gets at most one snapshot per this interval.
const SUBSCRIBE_EVERY: Duration = Duration::from_millis(250);

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);

enum Pending {
    Ready(Value),
    /// A fresh snapshot, built after everything this connection sent before.
    Snapshot(Value, oneshot::Receiver<Result<Reply>>),
    Subscribe(Value),
    Engine {
        id: Value,
        op: String,
        reply: oneshot::Receiver<Result<Reply>>,
    },
}

/// Accepts connections until `shutdown` turns true, then lets in-flight
/// requests finish (up to [`DRAIN`]) and returns.
pub async fn serve(
    listener: UnixListener,
    engine: EngineHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let encoded = Arc::new(Encoded::default());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, engine.clone(), encoded.clone(), shutdown.clone()));
                }
                Err(e) => tracing::warn!("accept failed: {e}"),
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
            subscribed = matches!(pending, Pending::Subscribe(_));
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
        Ok(Request::Hello) => Pending::Ready(ok_reply(&id, "hello", hello())),
        Ok(Request::Subscribe) => Pending::Subscribe(id),
        Ok(Request::Command(command)) => {
            let snapshot = matches!(*command, Command::Snapshot {});
            let reply = engine.submit(*command).await.ok()?;
            if snapshot {
                Pending::Snapshot(id, reply)
            } else {
                Pending::Engine { id, op, reply }
            }
        }
    })
}

pub fn hello() -> Value {
    json!({
        "protocol": PROTOCOL_VERSION,
        "engine_version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "capabilities": *OPS,
    })
}

/// Snapshots as JSON, each serialized once however many connections send
/// it. Holding the snapshot keeps its address from being reused, so a
/// pointer comparison is a sound identity check.
#[derive(Default)]
struct Encoded {
    last: Mutex<Option<(Arc<Snapshot>, Arc<str>)>>,
}

impl Encoded {
    fn json(&self, snapshot: &Arc<Snapshot>) -> Arc<str> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((held, json)) = &*last
            && Arc::ptr_eq(held, snapshot)
        {
            return json.clone();
        }
        let json: Arc<str> = serde_json::to_string(&**snapshot)
            .unwrap_or_else(|_| "null".into())
            .into();
        *last = Some((snapshot.clone(), json.clone()));
        json
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
    mut shutdown: watch::Receiver<bool>,
) {
    let mut out = Vec::with_capacity(64 * 1024);
    while let Some(item) = pending.recv().await {
        let reply = match item {
            Pending::Ready(reply) => reply.to_string(),
            Pending::Snapshot(id, reply) => {
                let json = match reply.await {
                    Ok(Ok(Reply::Snapshot(snapshot))) => encoded.json(&Arc::new(*snapshot)),
                    _ => encoded.json(&snapshots.borrow_and_update().clone()),
                };
                raw_reply(&id, "snapshot", &json)
            }
            Pending::Engine { id, op, reply } => engine_reply(&id, &op, reply).await.to_string(),
            Pending::Subscribe(id) => {
                if flush(&mut write, &mut out).await.is_err() {
                    return;
                }
                let first = encoded.json(&snapshots.borrow_and_update().clone());
                let reply = raw_reply(&id, "subscribe", &format!(r#"{{"snapshot":{first}}}"#));
                if send(&mut write, &reply).await.is_err() {
                    return;
                }
                let mut streams = Streams {
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
    write: &'a mut OwnedWriteHalf,
    pending: &'a mut mpsc::Receiver<Pending>,
    snapshots: &'a mut watch::Receiver<Arc<Snapshot>>,
    encoded: &'a Encoded,
    shutdown: &'a mut watch::Receiver<bool>,
}

impl Streams<'_> {
    /// The latest snapshot whenever it changes, at most one per
    /// [`SUBSCRIBE_EVERY`], until the client closes (its reader drops
    /// `pending`) or the engine shuts down. A change after a quiet spell goes
    /// out at once; a client that reads slowly gets the newest snapshot
    /// when it is ready again, never a backlog of old ones.
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
                    let json = self.encoded.json(&snapshot);
                    let sent_at = json!(Utc::now());
                    let update = format!(r#"{{"event":"snapshot","sent_at":{sent_at},"snapshot":{json}}}"#);
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
