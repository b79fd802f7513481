//! Ids and idempotency keys (contract A3). Every key is a pure function of
//! the logical event, never of the moment it is sent, so a retry can never
//! create a second event.

use sha2::{Digest, Sha256};
use uuid::Uuid;

const UNKNOWN: &str = "unknown";

/// `prefix` + the first 16 hex digits of sha256 over `parts` joined by `::`.
/// Hashing the parts one by one spares building the joined string: this is
/// on the hot path of every decision.
fn hashed(prefix: &str, parts: [&str; 2]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // One contiguous input hashes faster than three updates; short ones
    // (nearly all) are joined on the stack.
    let len = parts[0].len() + 2 + parts[1].len();
    let mut stack = [0u8; 192];
    let digest = if len <= stack.len() {
        stack[..parts[0].len()].copy_from_slice(parts[0].as_bytes());
        stack[parts[0].len()..parts[0].len() + 2].copy_from_slice(b"::");
        stack[parts[0].len() + 2..len].copy_from_slice(parts[1].as_bytes());
        Sha256::digest(&stack[..len])
    } else {
        Sha256::digest(format!("{}::{}", parts[0], parts[1]).as_bytes())
    };
    let mut hex = [0u8; 16];
    for (i, byte) in digest.iter().take(8).enumerate() {
        hex[2 * i] = HEX[usize::from(byte >> 4)];
        hex[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
    }
    let mut out = String::with_capacity(prefix.len() + 16);
    out.push_str(prefix);
    out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    out
}

/// `assign.assignment.decision:{task}:{candidate status}:{canonical or unknown}`.
pub fn decision_key(task_id: &str, candidate_status: &str, canonical: Option<&str>) -> String {
    const PREFIX: &str = "assign.assignment.decision:";
    let canonical = canonical.unwrap_or(UNKNOWN);
    let mut key = String::with_capacity(
        PREFIX.len() + task_id.len() + candidate_status.len() + canonical.len() + 2,
    );
    for part in [PREFIX, task_id, ":", candidate_status, ":", canonical] {
        key.push_str(part);
    }
    key
}

/// `assign_` + the first 16 hex of sha256(`{task}::{canonical or unknown}`).
pub fn assignment_id(task_id: &str, canonical: Option<&str>) -> String {
    hashed("assign_", [task_id, canonical.unwrap_or(UNKNOWN)])
}

/// `decision_` + the first 16 hex of sha256(`{key}::{revision}`).
pub fn decision_id(idempotency_key: &str, router_revision: Option<&str>) -> String {
    hashed(
        "decision_",
        [
            idempotency_key,
            router_revision.unwrap_or("no-router-revision"),
        ],
    )
}

/// UUIDv5 in the URL namespace of `auto-assign/{kind}/{id}`: the correlation
/// id of everything about one task (or node).
pub fn correlation_id(kind: &str, id: &str) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("auto-assign/{kind}/{id}").as_bytes(),
    )
    .to_string()
}

pub fn task_correlation_id(task_id: &str) -> String {
    correlation_id("task", task_id)
}

/// The correlation part of a claim's key: one per claim attempt (contract
/// D), so a second claim of the same assignment is a new event.
pub fn claim_correlation_id(assignment_id: &str, attempt: u32) -> String {
    correlation_id("claim", &format!("{assignment_id}/{attempt}"))
}

/// `evt_` + 32 lowercase hex.
pub fn new_event_id() -> String {
    format!("evt_{}", Uuid::new_v4().simple())
}

/// True for a string AssistX accepts as a correlation id.
pub fn is_uuid(text: &str) -> bool {
    Uuid::parse_str(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_key_defaults_unknown_canonical() {
        assert_eq!(
            decision_key("T1", "ready", None),
            "assign.assignment.decision:T1:ready:unknown"
        );
        assert_eq!(
            decision_key("T1", "READY", Some("DONE")),
            "assign.assignment.decision:T1:READY:DONE"
        );
    }

    #[test]
    fn assignment_id_contract_vector() {
        assert_eq!(assignment_id("T1", None), "assign_7f4e620a70c33afa");
    }

    #[test]
    fn decision_id_contract_vector() {
        let key = decision_key("T1", "ready", None);
        assert_eq!(
            decision_id(&key, Some("rev-1")),
            "decision_19cae20fb9019307"
        );
        assert_ne!(decision_id(&key, None), decision_id(&key, Some("rev-1")));
    }

    #[test]
    fn correlation_id_contract_vectors() {
        assert_eq!(
            task_correlation_id("T1"),
            "42998393-fc6c-55a0-aafd-eaa9672a3d15"
        );
        assert_eq!(
            task_correlation_id("ASS-claim"),
            "8c1773de-5e84-534a-a3c3-178378778d20"
        );
    }

    #[test]
    fn event_id_shape() {
        let id = new_event_id();
        assert!(id.starts_with("evt_"));
        assert_eq!(id.len(), 36);
        assert!(
            id[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
