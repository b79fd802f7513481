//! Reading JSON from a file or standard input, with errors that name the
//! file and the place.

use crate::error::{Error, Result};
use serde_json::Value;
use std::io::Read;

/// The text of FILE, or of standard input for `-`.
pub fn read_text(path: &str) -> Result<String> {
    let mut text = String::new();
    let result = if path == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    result.map_err(|e| {
        Error::bad_input(
            format!("file {}", name(path)),
            format!("cannot read it: {e}"),
        )
    })?;
    Ok(text)
}

fn name(path: &str) -> &str {
    if path == "-" { "<stdin>" } else { path }
}

/// One JSON document.
pub fn read_json(path: &str) -> Result<Value> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        Error::bad_input(
            format!("file {}", name(path)),
            format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

/// One JSON document, or JSON lines (one value per non-empty line).
pub fn read_json_or_lines(path: &str) -> Result<Vec<Value>> {
    let text = read_text(path)?;
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return Ok(match value {
            Value::Array(items) => items,
            other => vec![other],
        });
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| {
                Error::bad_input(
                    format!("file {}", name(path)),
                    format!("line {} is not valid JSON: {e}", index + 1),
                )
            })
        })
        .collect()
}
