//! The HTTP door from the other side: a worker on another machine runs
//! `auto-assign heartbeat|next|claim|progress|complete|fail|release --url
//! URL`, and its command goes to that engine's HTTP API (with the token,
//! `api_token`) instead of a local socket. The same command, the same
//! reply, the same refusals (the answer's `code` and `detail`).

use crate::error::{Error, Result};
use crate::wire::{Command, Reply};
use serde_json::Value;
use std::time::Duration;

/// How long one call may take before the CLI gives up on it.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An engine reached over its HTTP API.
#[derive(Debug, Clone)]
pub struct Remote {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(base: &str, token: Option<String>) -> Result<Remote> {
        Ok(Remote {
            base: base.trim_end_matches('/').to_string(),
            token,
            client: crate::sync::http_client(TIMEOUT, "auto-assign HTTP API")?,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The engine's `/health`.
    pub async fn health(&self) -> Result<Value> {
        let url = format!("{}/health", self.base);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        response.json().await.map_err(|e| self.unreachable(e))
    }

    /// A worker command, posted to its path; the engine's reply or its
    /// refusal.
    pub async fn send(&self, command: &Command) -> Result<Reply> {
        let (path, body) = route(command)?;
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return serde_json::from_value(answer).map_err(|e| Error::Remote {
                code: "bad_reply".into(),
                message: format!("{} answered something else than a reply: {e}", self.base),
            });
        }
        let text = |key: &str| answer[key].as_str().map(str::to_string);
        Err(Error::Remote {
            code: text("code").unwrap_or_else(|| format!("http_{}", status.as_u16())),
            message: text("detail").unwrap_or_else(|| format!("{} answered {status}", self.base)),
        })
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        Error::Io {
            context: format!("cannot reach the engine at {}", self.base),
            source: std::io::Error::other(e),
        }
    }
}

/// The path and body of a worker command; any other command is run on
/// the engine's own machine.
fn route(command: &Command) -> Result<(String, Value)> {
    // The variant's name, as the socket spells the op (`command` for an
    // operator's, whatever it asks).
    let op: &'static str = command.into();
    let mut fields = match serde_json::to_value(command) {
        Ok(Value::Object(mut tagged)) => match tagged.remove(op) {
            Some(Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        },
        _ => serde_json::Map::new(),
    };
    let path = match op {
        "heartbeat" => "/api/heartbeats".to_string(),
        "next" => "/api/next".to_string(),
        "claim" | "progress" | "complete" | "fail" | "release" => {
            let id = fields
                .remove("assignment_id")
                .and_then(|id| id.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("/api/assignments/{id}/{op}")
        }
        _ => {
            return Err(Error::Unavailable {
                what: format!(
                    "{} does not go over --url (only the worker commands heartbeat, next, claim, progress, complete and fail do): run it on the engine's machine",
                    command.name()
                ),
            });
        }
    };
    Ok((path, Value::Object(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_commands_go_to_their_paths_and_others_are_refused() {
        let claim: Command = serde_json::from_value(serde_json::json!(
            {"claim": {"assignment_id": "a1", "worker_id": "w1", "node_id": "n1"}}
        ))
        .unwrap();
        let (path, body) = route(&claim).unwrap();
        assert_eq!(path, "/api/assignments/a1/claim");
        assert_eq!(body["worker_id"], "w1");
        assert!(body.get("assignment_id").is_none());
        for operator in [
            crate::wire::Action::ExpireStale {},
            crate::wire::Action::Release {
                assignment_id: "a1".into(),
                reason: None,
                retry: true,
                expected_version: None,
            },
        ] {
            let command = Command::by("op", operator);
            assert!(matches!(route(&command), Err(Error::Unavailable { .. })));
        }
    }
}
