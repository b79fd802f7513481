//! AssistX over HTTP (contract A7): its health and the write-back of
//! outbox events. Every call has the configured timeout; Basic auth when
//! both the user and the password are set.

use crate::config::Settings;
use crate::domain::delivery::Attempt;
use crate::engine::snapshot::HealthState;
use crate::error::Result;
use serde_json::{Map, Value};

#[derive(Clone)]
pub struct AssistX {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
}

impl AssistX {
    pub fn new(settings: &Settings) -> Result<AssistX> {
        let http = super::http_client(settings.assistx_timeout, "AssistX")?;
        Ok(AssistX {
            http,
            base: settings.assistx_base_url.trim_end_matches('/').to_string(),
            auth: settings.assistx_auth.clone(),
        })
    }

    /// `GET /health`: 200 healthy, 503 degraded (A7); anything else, or no
    /// answer, down, with why.
    pub async fn health(&self) -> (HealthState, Option<String>) {
        match self.http.get(format!("{}/health", self.base)).send().await {
            Ok(answer) if answer.status().as_u16() == 200 => (HealthState::Ok, None),
            Ok(answer) if answer.status().as_u16() == 503 => (
                HealthState::Degraded,
                Some("AssistX says it is degraded (503)".into()),
            ),
            Ok(answer) => (
                HealthState::Down,
                Some(format!("GET /health answered {}", answer.status())),
            ),
            Err(e) => (HealthState::Down, Some(transport(&e))),
        }
    }

    /// `POST /api/events` with the bytes sealed at enqueue, unchanged: a
    /// retry must be byte-identical for AssistX to dedupe it.
    pub async fn post_event(&self, body: &str) -> Attempt {
        let mut request = self
            .http
            .post(format!("{}/api/events", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some((user, pass)) = &self.auth {
            request = request.basic_auth(user, Some(pass));
        }
        match request.send().await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                match answer.text().await {
                    Ok(body) => Attempt::Answered { status, body },
                    Err(e) => Attempt::Transport(transport(&e)),
                }
            }
            Err(e) => Attempt::Transport(transport(&e)),
        }
    }

    /// The backlog (`GET /api/router/backlog-candidates`, A7): the raw
    /// items, which the engine normalizes (A5). AssistX answers an empty
    /// list on its own internal errors; an error here means it was not
    /// reached or answered something else.
    pub async fn backlog(&self, limit: u32) -> std::result::Result<Vec<Value>, String> {
        let url = format!(
            "{}/api/router/backlog-candidates?limit={}&queue=backlog&dry_run=true",
            self.base,
            limit.clamp(1, 250)
        );
        let answer = self.http.get(url).send().await.map_err(|e| transport(&e))?;
        if !answer.status().is_success() {
            return Err(format!("the backlog call answered {}", answer.status()));
        }
        let body: Value = answer
            .json()
            .await
            .map_err(|e| format!("the backlog is not JSON: {e}"))?;
        Ok(crate::domain::candidate::backlog_items(&body)
            .into_iter()
            .cloned()
            .collect())
    }

    /// One task as AssistX holds it (`GET /api/tasks/{id}`: the task is
    /// under `task`); `None` when AssistX does not know it or cannot say.
    pub async fn task(&self, task_id: &str) -> Option<Map<String, Value>> {
        let mut request =
            self.http
                .get(format!("{}/api/tasks/{}", self.base, path_segment(task_id)));
        if let Some((user, pass)) = &self.auth {
            request = request.basic_auth(user, Some(pass));
        }
        let answer = request.send().await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        let mut body: Value = answer.json().await.ok()?;
        match body.get_mut("task").map(Value::take) {
            Some(Value::Object(task)) => Some(task),
            _ => None,
        }
    }
}

/// A task id as one path segment: anything but unreserved characters is
/// percent-encoded, so an id cannot reach another path.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A transport error in a line an operator can act on.
fn transport(e: &reqwest::Error) -> String {
    super::transport("AssistX", e)
}
