//! AssistX over HTTP (contract A7): its health and the write-back of
//! outbox events. Every call has the configured timeout; Basic auth when
//! both the user and the password are set.

use crate::config::Settings;
use crate::domain::delivery::Attempt;
use crate::engine::snapshot::HealthState;
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct AssistX {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
}

impl AssistX {
    pub fn new(settings: &Settings) -> Result<AssistX> {
        let http = reqwest::Client::builder()
            .timeout(settings.assistx_timeout)
            .build()
            .map_err(|e| Error::Io {
                context: "cannot build the AssistX client".into(),
                source: std::io::Error::other(e),
            })?;
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
}

/// A transport error in a line an operator can act on.
fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "AssistX did not answer in time".into()
    } else if e.is_connect() {
        format!("cannot reach AssistX: {e}")
    } else {
        format!("AssistX: {e}")
    }
}
