//! The old service's token rule: with `AUTO_ASSIGN_API_TOKEN` set, every
//! path but `/health` and `/metrics` needs `Authorization: Bearer TOKEN`
//! or Basic with the token as the password (AssistX calls with Basic).
//! Each request is also counted here, with its status and duration.

use super::Door;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::Arc;
use std::time::Instant;

/// Paths monitoring reads without a token.
const OPEN: [&str; 2] = ["/health", "/metrics"];

pub(super) async fn and_count(
    State(door): State<Arc<Door>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_string();
    // The route, not the path: `/api/assignments/{id}` however many ids,
    // and a scan of random URLs all `unmatched`, so the labels stay few.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().to_string();
    let allowed = match &door.token {
        None => true,
        Some(_) if OPEN.contains(&path.as_str()) => true,
        Some(token) => request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|given| presents(given, token)),
    };
    let response = if allowed {
        next.run(request).await
    } else {
        // The old service's body, word for word.
        let body = serde_json::json!({"detail": "unauthorized"});
        let mut refused = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer, Basic realm=\"auto-assign\""),
        );
        refused
    };
    door.metrics.record(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Whether an `Authorization` value carries `token`.
fn presents(given: &str, token: &str) -> bool {
    if let Some(bearer) = given.strip_prefix("Bearer ") {
        return same(bearer.trim().as_bytes(), token.as_bytes());
    }
    let Some(basic) = given.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
        return false;
    };
    let password = match decoded.iter().position(|b| *b == b':') {
        Some(colon) => &decoded[colon + 1..],
        None => return false,
    };
    same(password, token.as_bytes())
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_or_basic_with_the_token_as_password() {
        assert!(presents("Bearer s3cret", "s3cret"));
        assert!(!presents("Bearer s3cre", "s3cret"));
        // "assistx:s3cret"
        assert!(presents("Basic YXNzaXN0eDpzM2NyZXQ=", "s3cret"));
        // "assistx:wrong"
        assert!(!presents("Basic YXNzaXN0eDp3cm9uZw==", "s3cret"));
        assert!(!presents("Basic not-base64!", "s3cret"));
        assert!(!presents("s3cret", "s3cret"));
    }
}
