//! The client end of the socket: one request, one reply; or a subscription.

use crate::engine::{Command, Reply, Snapshot};
use crate::error::{Error, Result};
use crate::wire::codec::encode;
use crate::wire::delta::{self, Update};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// A subscription's snapshot, kept up to date by its updates.
    subscribed: Option<Snapshot>,
}

fn lost(source: std::io::Error) -> Error {
    Error::Io {
        context: "the engine's socket".into(),
        source,
    }
}

impl Client {
    /// Connects to the engine's socket. A socket another user owns is
    /// refused (`PermissionDenied`): its answers could come from anyone who
    /// managed to put it there.
    pub async fn connect(path: &Path) -> std::io::Result<Client> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            let me = rustix::process::geteuid().as_raw();
            if meta.uid() != me {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "the socket {} belongs to uid {}, not to you (uid {me}); refusing to trust it",
                        path.display(),
                        meta.uid()
                    ),
                ));
            }
        }
        let (read, write) = UnixStream::connect(path).await?.into_split();
        Ok(Client {
            reader: BufReader::new(read),
            writer: write,
            next_id: 1,
            subscribed: None,
        })
    }

    /// Sends one request line and reads the next line back.
    pub async fn request(&mut self, request: Value) -> Result<Value> {
        let line = self.send_line(request).await?;
        decode(&line)
    }

    /// Sends one request line; the line that answers it, as text.
    async fn send_line(&mut self, mut request: Value) -> Result<String> {
        if request.get("id").is_none() {
            request["id"] = json!(self.next_id);
            self.next_id += 1;
        }
        let mut line = request.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await.map_err(lost)?;
        let mut answer = String::new();
        if self.reader.read_line(&mut answer).await.map_err(lost)? == 0 {
            return Err(Error::EngineGone);
        }
        Ok(answer)
    }

    pub async fn hello(&mut self) -> Result<Value> {
        let reply = self.request(json!({"op": "hello"})).await?;
        unwrap(reply)
    }

    /// Sends an engine command the way the protocol spells it, and returns
    /// the engine's reply (or its refusal as [`Error::Remote`]).
    pub async fn send(&mut self, command: &Command) -> Result<Reply> {
        let id = self.next_id;
        self.next_id += 1;
        let result = unwrap(self.request(encode(command, id)).await?)?;
        serde_json::from_value(result).map_err(|e| Error::Io {
            context: "the engine's reply".into(),
            source: std::io::Error::other(e),
        })
    }

    /// The engine's snapshot, built after everything sent before.
    pub async fn snapshot(&mut self) -> Result<Snapshot> {
        let result = unwrap(self.request(json!({"op": "snapshot"})).await?)?;
        serde_json::from_value(result).map_err(|e| Error::Io {
            context: "the engine's snapshot".into(),
            source: std::io::Error::other(e),
        })
    }

    /// Subscribes to the engine's snapshots; the first one.
    pub async fn subscribe(&mut self) -> Result<Snapshot> {
        #[derive(Deserialize)]
        struct Whole {
            snapshot: Snapshot,
        }
        #[derive(Deserialize)]
        struct First {
            result: Option<Whole>,
            error: Option<Value>,
        }
        let line = self.send_line(json!({"op": "subscribe"})).await?;
        let first: First = decode(&line)?;
        match (first.result, first.error) {
            (Some(whole), _) => {
                self.subscribed = Some(whole.snapshot.clone());
                Ok(whole.snapshot)
            }
            (None, error) => Err(refusal(&error.unwrap_or(Value::Null))),
        }
    }

    /// The next snapshot of a subscription: the last one with the next
    /// update's changes applied, decoded straight from its line (no JSON
    /// tree in between); `None` when the engine closed the connection.
    pub async fn next_snapshot(&mut self) -> Result<Option<Snapshot>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).await.map_err(lost)? == 0 {
            return Ok(None);
        }
        let Update::Delta { delta, .. } = decode(&line)?;
        let snapshot = self.subscribed.get_or_insert_with(Snapshot::default);
        delta::apply(snapshot, *delta);
        Ok(Some(snapshot.clone()))
    }
}

fn decode<T: DeserializeOwned>(line: &str) -> Result<T> {
    serde_json::from_str(line).map_err(|e| Error::Io {
        context: "the engine's reply".into(),
        source: std::io::Error::other(e),
    })
}

/// The `result` of an ok reply, or the refusal as an error.
fn unwrap(reply: Value) -> Result<Value> {
    if reply["ok"] == true {
        return Ok(reply.get("result").cloned().unwrap_or(Value::Null));
    }
    Err(refusal(&reply["error"]))
}

fn refusal(error: &Value) -> Error {
    Error::Remote {
        code: error["code"].as_str().unwrap_or("unknown").to_string(),
        message: error["message"]
            .as_str()
            .unwrap_or("the engine refused the request")
            .to_string(),
    }
}
