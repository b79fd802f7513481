//! Boolean-like values as AssistX and environment variables write them.

use serde_json::Value;

/// Contract A5: `1,true,yes,y,on` are true; `0,false,no,n,off,""` are false.
/// Anything else is not a boolean.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "no" | "n" | "off" | "" => Some(false),
        _ => None,
    }
}

/// A JSON value read as a boolean: booleans, numbers (non-zero is true) and
/// boolean-like strings. `None` when absent, null or unreadable, so the
/// caller's default applies.
pub fn json_bool(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

/// A JSON scalar as text: strings as they are, numbers and booleans printed.
/// Empty strings, null, lists and objects give `None`.
pub fn json_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contract_true_words() {
        for word in ["1", "true", "YES", "y", "On"] {
            assert_eq!(parse_bool(word), Some(true), "{word}");
        }
    }

    #[test]
    fn contract_false_words_include_empty() {
        for word in ["0", "false", "No", "n", "off", ""] {
            assert_eq!(parse_bool(word), Some(false), "{word:?}");
        }
    }

    #[test]
    fn other_words_are_not_booleans() {
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn json_values_as_booleans() {
        assert_eq!(json_bool(Some(&json!(true))), Some(true));
        assert_eq!(json_bool(Some(&json!(0))), Some(false));
        assert_eq!(json_bool(Some(&json!("yes"))), Some(true));
        assert_eq!(json_bool(Some(&json!(null))), None);
        assert_eq!(json_bool(None), None);
    }
}
