//! What every handler shares: reading the query and the body, asking the
//! engine or reading the cache, and turning a refusal into the status that
//! says why. A caller's mistake is never a 500.

use super::Door;
use crate::engine::Command;
use crate::error::{Error, Result as EngineResult};
use crate::store::Store;
use crate::wire::Reply;
use crate::wire::codec::{self, ProtocolError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A refusal on its way to the caller: the response, boxed (refusals are
/// the rare path, and a response is large).
pub(super) struct Refused(Box<Response>);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for Refused {
    fn from(response: Response) -> Self {
        Refused(Box::new(response))
    }
}

/// What a handler answers: a response, or why not.
pub(super) type Answer = Result<Response, Refused>;

/// The old service's marks on every cache read: where it came from, and
/// that Neo4j (through AssistX) is the truth.
pub(super) fn from_cache(mut answer: Map<String, Value>, source: &str) -> Answer {
    answer.insert("source".into(), source.into());
    answer.insert("canonical_source".into(), "neo4j_via_assistx".into());
    Ok(Json(Value::Object(answer)).into_response())
}

/// `{key: value}`, the start of most of the old service's answers.
pub(super) fn keyed(key: &str, value: impl serde::Serialize) -> Map<String, Value> {
    let mut answer = Map::new();
    answer.insert(
        key.into(),
        serde_json::to_value(value).unwrap_or(Value::Null),
    );
    answer
}

/// The old service's default for its `dry_run` and `retryable` fields.
pub(super) fn yes() -> bool {
    true
}

/// An engine reply that is not the kind its command answers: a fault
/// here, never the caller's.
pub(super) fn unexpected(reply: &Reply) -> Refused {
    tracing::error!(?reply, "the engine answered with an unexpected reply");
    StatusCode::INTERNAL_SERVER_ERROR.into_response().into()
}

/// A JSON object body (an empty body is an empty object).
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, ProtocolError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(ProtocolError::new(
            "bad_request",
            "the body must be a JSON object",
        )),
        Err(e) => Err(ProtocolError::new(
            "bad_json",
            format!("not valid JSON: {e}"),
        )),
    }
}

/// The body as one of the old service's request models (absent fields
/// take its defaults); a wrong one is 422 naming the field.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refused> {
    let fields = object(body).map_err(|e| unprocessable(&e))?;
    codec::from_fields(fields).map_err(|e| unprocessable(&e))
}

/// The query string's parameters, read as the old service read them.
pub(super) struct Params(pub BTreeMap<String, String>);

impl Params {
    /// `limit`, from 1 to `max`, `default` when absent.
    pub(super) fn limit(&self, default: usize, max: usize) -> Result<usize, Refused> {
        match self.0.get("limit").map(|l| l.parse::<usize>()) {
            None => Ok(default),
            Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(bad_field(
                "limit",
                format!("limit must be a whole number from 1 to {max}"),
            )),
        }
    }

    /// A yes-or-no parameter, spelled as FastAPI accepted it.
    pub(super) fn flag(&self, name: &str, default: bool) -> Result<bool, Refused> {
        match self.0.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err(bad_field(name, format!("{name} must be true or false"))),
        }
    }

    /// A parameter parsed by `parse`, when given.
    pub(super) fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, Refused> {
        self.0
            .get(name)
            .map(|v| parse(v).map_err(|e| bad_field(name, e.to_string())))
            .transpose()
    }

    pub(super) fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// Has the engine do `command`: its reply, or the refusal as a response.
pub(super) async fn send(door: &Door, command: Command) -> Result<Reply, Refused> {
    door.engine.send(command).await.map_err(|e| refused(&e))
}

/// The engine's refusal, with the status that says why.
pub(super) fn refused(e: &Error) -> Refused {
    let named = match e {
        Error::BadInput { what, .. } => ProtocolError::field(e.code(), what, e.to_string()),
        _ => ProtocolError::new(e.code(), e.to_string()),
    };
    refusal(status_of(e), &named)
}

/// Read-only connections to the engine's database, kept between
/// requests: opening one costs a schema read and starts with a cold page
/// cache (opening one per request cut `evaluate` to a third).
#[derive(Default)]
pub(super) struct Readers(Mutex<Vec<Store>>);

/// Connections kept idle at most; more are opened when requests overlap.
const IDLE_READERS: usize = 8;

impl Readers {
    fn take(&self, path: &Path) -> EngineResult<Store> {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        kept.map_or_else(|| Store::open_read_only(path), Ok)
    }

    fn give_back(&self, store: Store) {
        let mut idle = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(store);
        }
    }
}

/// `work` on a read-only connection to the engine's database, off the
/// async threads (a read never waits for the engine); a missing
/// assignment is the old service's 404.
pub(super) async fn read<T: Send + 'static>(
    door: &Arc<Door>,
    work: impl FnOnce(&Store) -> EngineResult<T> + Send + 'static,
) -> Result<T, Refused> {
    let path = door.engine.database().to_path_buf();
    let door = door.clone();
    let done = tokio::task::spawn_blocking(move || {
        let store = door.readers.take(&path)?;
        let done = work(&store);
        // A connection that failed is not trusted again.
        if !matches!(done, Err(Error::Store(_) | Error::Io { .. })) {
            door.readers.give_back(store);
        }
        done
    })
    .await;
    match done {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(Error::NotFound { .. })) => Err(not_in_cache()),
        Ok(Err(e)) => Err(refused(&e)),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response().into()),
    }
}

/// The old service's 404 for an assignment it did not hold.
pub(super) fn not_in_cache() -> Refused {
    let body = json!({"detail": "assignment not found in local cache mirror"});
    (StatusCode::NOT_FOUND, Json(body)).into_response().into()
}

pub(super) fn bad_field(field: &str, message: String) -> Refused {
    unprocessable(&ProtocolError::field("bad_field", field, message))
}

pub(super) fn unprocessable(e: &ProtocolError) -> Refused {
    refusal(StatusCode::UNPROCESSABLE_ENTITY, e)
}

/// The status that says why the engine refused.
fn status_of(e: &Error) -> StatusCode {
    match e.code() {
        "bad_input" => StatusCode::UNPROCESSABLE_ENTITY,
        "not_found" => StatusCode::NOT_FOUND,
        "illegal_transition"
        | "stale_version"
        | "assignment_not_held"
        | "control_mode"
        | "worker_drained"
        | "breaker_open" => StatusCode::CONFLICT,
        "unavailable" | "engine_gone" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub(super) fn refusal(status: StatusCode, e: &ProtocolError) -> Refused {
    let body = json!({"detail": e.message, "code": e.code, "field": e.field});
    (status, Json(body)).into_response().into()
}
