//! What keeps the door from hurting the engine: a cap on requests served
//! at once (one more is refused at once, never queued) and a time limit on
//! each, its body included, so neither a flood nor a slow client can hold
//! the threads the socket and the control room share. The caller's
//! `X-Correlation-ID` and `X-Trace-ID` are echoed on every answer, refusals
//! included, so a caller can match an answer to its request in its logs.

use super::Door;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const ECHOED: [&str; 2] = ["x-correlation-id", "x-trace-id"];

pub(super) async fn guard(State(door): State<Arc<Door>>, request: Request, next: Next) -> Response {
    let echoed: Vec<(HeaderName, HeaderValue)> = ECHOED
        .iter()
        .filter_map(|name| {
            let value = request.headers().get(*name)?;
            Some((HeaderName::from_static(name), value.clone()))
        })
        .collect();
    let mut response = match door.slots.clone().try_acquire_owned() {
        Err(_) => busy("too many requests at once: try again in a moment", true),
        Ok(_slot) if door.timeout.is_zero() => next.run(request).await,
        Ok(_slot) => match tokio::time::timeout(door.timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => busy(
                &format!(
                    "the request took longer than {} s (http_timeout_seconds)",
                    door.timeout.as_secs_f64()
                ),
                false,
            ),
        },
    };
    response.headers_mut().extend(echoed);
    response
}

/// 503 with a reason; `Retry-After: 1` when trying again soon will help.
fn busy(detail: &str, retry_soon: bool) -> Response {
    let body = serde_json::json!({"detail": detail, "code": "unavailable"});
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    if retry_soon {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
