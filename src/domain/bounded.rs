//! Checks on text that comes from outside, for serde's `deserialize_with`:
//! what a type alone cannot say (a blank id is a string, but not an id).

use serde::{Deserialize, Deserializer, de::Error};

/// A string with something in it besides white space.
pub fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Err(D::Error::custom("must be a non-empty string"));
    }
    Ok(text)
}

/// An optional [`non_empty`] string (null or absent is `None`).
pub fn non_empty_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Checked(#[serde(deserialize_with = "non_empty")] String);
    Ok(Option::<Checked>::deserialize(deserializer)?.map(|c| c.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "non_empty")]
        id: String,
        #[serde(default, deserialize_with = "non_empty_opt")]
        note: Option<String>,
    }

    #[test]
    fn blank_text_is_refused_and_absent_text_is_none() {
        let ok: Probe = serde_json::from_value(json!({"id": "a"})).unwrap();
        assert_eq!((ok.id.as_str(), ok.note), ("a", None));
        let e = serde_json::from_value::<Probe>(json!({"id": "  "})).unwrap_err();
        assert!(e.to_string().contains("non-empty"), "{e}");
        let e = serde_json::from_value::<Probe>(json!({"id": "a", "note": ""})).unwrap_err();
        assert!(e.to_string().contains("non-empty"), "{e}");
        let null: Probe = serde_json::from_value(json!({"id": "a", "note": null})).unwrap();
        assert_eq!(null.note, None);
    }
}
