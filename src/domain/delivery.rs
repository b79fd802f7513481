//! What an AssistX answer to `POST /api/events` means for an outbox event
//! (contract A7), and when to try again.

use super::names;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::str::FromStr;
use strum::VariantArray;

/// Where an outbox event stands with its destination.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    /// An attempt failed; it is tried again at `next_attempt_at`.
    Failed,
    Delivered,
    /// The destination already had this key with another body.
    Conflict,
    DeadLetter,
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        names::parse("outbox status", Self::VARIANTS, s)
    }
}

/// One delivery attempt's result as the dispatcher saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Answered {
        status: u16,
        body: String,
    },
    /// Connection refused, timeout, unreadable answer.
    Transport(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// 200 with `accepted: true`.
    Delivered,
    /// 409: the key is recorded with other content. Counts as delivered,
    /// stays visible.
    Conflict(String),
    /// 400 or 422: will never succeed as sent.
    DeadLetter(String),
    /// 401: a configuration error; sending stops until it is fixed.
    Unauthorized(String),
    /// 5xx, timeouts, anything else: try again later.
    Retry(String),
}

pub fn judge(attempt: &Attempt) -> Verdict {
    match attempt {
        Attempt::Transport(error) => Verdict::Retry(error.clone()),
        Attempt::Answered { status, body } => match status {
            200 => {
                let accepted = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("accepted").and_then(|a| a.as_bool()));
                if accepted == Some(true) {
                    Verdict::Delivered
                } else {
                    Verdict::Retry(format!("200 without accepted=true: {}", clip(body)))
                }
            }
            409 => Verdict::Conflict(clip(body)),
            400 | 422 => Verdict::DeadLetter(format!("{status}: {}", clip(body))),
            401 => Verdict::Unauthorized(format!(
                "401: check the AssistX credentials ({})",
                clip(body)
            )),
            _ => Verdict::Retry(format!("{status}: {}", clip(body))),
        },
    }
}

fn clip(body: &str) -> String {
    const MAX: usize = 2000;
    match body.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_string(),
    }
}

/// Seconds to wait before attempt `attempts + 1`: exponential from `base`,
/// capped at `max`, with ±20 % jitter derived from the key so that many
/// events failing together do not retry together, yet a test can predict it.
pub fn backoff_seconds(attempts: u32, base: u64, max: u64, key: &str) -> u64 {
    let exponent = attempts.saturating_sub(1).min(32);
    let raw = base.saturating_mul(1u64 << exponent).min(max);
    let digest = Sha256::digest(format!("{key}:{attempts}").as_bytes());
    let unit = f64::from(digest[0]) / 255.0; // 0..=1
    let jittered = raw as f64 * (0.8 + 0.4 * unit);
    (jittered.round() as u64).clamp(1.min(max), max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: &str) -> Verdict {
        judge(&Attempt::Answered {
            status,
            body: body.into(),
        })
    }

    #[test]
    fn accepted_200_is_delivered() {
        assert_eq!(
            answered(200, r#"{"accepted":true,"event_id":"e","deduped":false}"#),
            Verdict::Delivered
        );
        assert!(matches!(
            answered(200, r#"{"accepted":false}"#),
            Verdict::Retry(_)
        ));
        assert!(matches!(answered(200, "not json"), Verdict::Retry(_)));
    }

    #[test]
    fn a7_status_rules() {
        assert!(matches!(answered(409, "dup"), Verdict::Conflict(_)));
        assert_eq!(answered(400, "bad"), Verdict::DeadLetter("400: bad".into()));
        assert!(matches!(answered(422, "shape"), Verdict::DeadLetter(_)));
        assert!(matches!(answered(401, ""), Verdict::Unauthorized(_)));
        assert!(matches!(answered(503, ""), Verdict::Retry(_)));
        assert!(matches!(
            judge(&Attempt::Transport("timeout".into())),
            Verdict::Retry(_)
        ));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_deterministically() {
        let first = backoff_seconds(1, 10, 1000, "k");
        assert!((8..=12).contains(&first), "{first}");
        let third = backoff_seconds(3, 10, 1000, "k");
        assert!((32..=48).contains(&third), "{third}");
        assert!(backoff_seconds(30, 10, 1000, "k") <= 1000);
        assert_eq!(backoff_seconds(3, 10, 1000, "k"), third);
        let spread: std::collections::HashSet<u64> = (0..20)
            .map(|i| backoff_seconds(5, 10, 10_000, &format!("k{i}")))
            .collect();
        assert!(spread.len() > 3, "jitter should spread retries: {spread:?}");
    }

    #[test]
    fn long_bodies_are_clipped_on_a_char_boundary() {
        let body = "é".repeat(5000);
        match answered(400, &body) {
            Verdict::DeadLetter(text) => assert!(text.chars().count() < 2100),
            other => panic!("{other:?}"),
        }
    }
}
