//! Bounds on what comes from outside, for serde's `deserialize_with`: what
//! a type alone cannot say. An id is a string, but not a blank one, nor a
//! megabyte, nor one holding terminal escapes; a lease is a number, but not
//! one that runs past the end of the calendar. Every limit here is
//! documented in docs/protocol.md.

use serde::{Deserialize, Deserializer, de::Error};

/// The longest id or name (an assignment, worker, node, operator...), in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// The longest free text (a reason, a summary, a progress message), in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;

/// The most items in a list of names (lanes, capabilities, services).
pub const MAX_NAMES: usize = 64;

/// The longest lease a worker may ask for: a week.
pub const MAX_LEASE_SECONDS: u64 = 7 * 24 * 3600;

fn checked(text: String, max: usize, controls: bool) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must be a non-empty string".into());
    }
    if text.len() > max {
        return Err(format!(
            "must be at most {max} bytes (it is {})",
            text.len()
        ));
    }
    if !controls && text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(text)
}

/// An id or name: not blank, at most [`MAX_NAME_BYTES`], no control characters.
pub fn name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    checked(String::deserialize(deserializer)?, MAX_NAME_BYTES, false).map_err(D::Error::custom)
}

/// An optional [`name`] (null or absent is `None`).
pub fn name_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Checked(#[serde(deserialize_with = "name")] String);
    Ok(Option::<Checked>::deserialize(deserializer)?.map(|c| c.0))
}

/// A list of [`name`]s, at most [`MAX_NAMES`] of them.
pub fn names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Checked(#[serde(deserialize_with = "name")] String);
    let list = Vec::<Checked>::deserialize(deserializer)?;
    if list.len() > MAX_NAMES {
        return Err(D::Error::custom(format!(
            "must hold at most {MAX_NAMES} items (it holds {})",
            list.len()
        )));
    }
    Ok(list.into_iter().map(|c| c.0).collect())
}

/// Optional free text: not blank, at most [`MAX_TEXT_BYTES`] (null or
/// absent is `None`).
pub fn text_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| checked(text, MAX_TEXT_BYTES, true))
        .transpose()
        .map_err(D::Error::custom)
}

/// Required free text, as [`text_opt`].
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    checked(String::deserialize(deserializer)?, MAX_TEXT_BYTES, true).map_err(D::Error::custom)
}

/// An optional lease length: 1 second to [`MAX_LEASE_SECONDS`].
pub fn lease_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match Option::<u64>::deserialize(deserializer)? {
        Some(seconds) if !(1..=MAX_LEASE_SECONDS).contains(&seconds) => Err(D::Error::custom(
            format!("must be from 1 to {MAX_LEASE_SECONDS} seconds (7 days)"),
        )),
        lease => Ok(lease),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "name")]
        id: String,
        #[serde(default, deserialize_with = "text_opt")]
        note: Option<String>,
        #[serde(default, deserialize_with = "lease_opt")]
        lease: Option<u64>,
        #[serde(default, deserialize_with = "names")]
        lanes: Vec<String>,
    }

    fn refused(value: serde_json::Value, needle: &str) {
        let e = serde_json::from_value::<Probe>(value)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e}");
    }

    #[test]
    fn names_and_texts_are_bounded() {
        let ok: Probe = serde_json::from_value(json!({"id": "a", "note": "two\nlines"})).unwrap();
        assert_eq!(
            (ok.id.as_str(), ok.note.as_deref()),
            ("a", Some("two\nlines"))
        );
        refused(json!({"id": "  "}), "non-empty");
        refused(json!({"id": "x".repeat(257)}), "at most 256 bytes");
        refused(json!({"id": "a\u{1b}]0;owned\u{7}"}), "control characters");
        refused(json!({"id": "a", "note": ""}), "non-empty");
        refused(
            json!({"id": "a", "note": "x".repeat(4097)}),
            "at most 4096 bytes",
        );
        refused(
            json!({"id": "a", "lanes": vec!["l"; 65]}),
            "at most 64 items",
        );
        let null: Probe = serde_json::from_value(json!({"id": "a", "note": null})).unwrap();
        assert_eq!(null.note, None);
        let lanes: Probe =
            serde_json::from_value(json!({"id": "a", "lanes": vec!["l"; 64]})).unwrap();
        assert_eq!(lanes.lanes.len(), 64);
    }

    #[test]
    fn a_lease_is_one_second_to_a_week() {
        refused(json!({"id": "a", "lease": 0}), "7 days");
        refused(json!({"id": "a", "lease": 604_801}), "7 days");
        refused(
            json!({"id": "a", "lease": 9_223_372_036_854_775_807u64}),
            "7 days",
        );
        let week: Probe = serde_json::from_value(json!({"id": "a", "lease": 604_800})).unwrap();
        assert_eq!(week.lease, Some(604_800));
    }
}
