//! The config file: TOML read into raw strings per known key, and the
//! typed reading of raw values, each error naming the value's source.

use super::{SPECS, Source};
use crate::domain::lane::{Lane, SCORED_LANES, parse_lane_list};
use crate::domain::truthy::parse_bool;
use crate::domain::worker::Heartbeat;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// What the TOML file holds: raw strings per known key, the room's key
/// overrides, and the workers it declares.
#[derive(Default)]
pub(super) struct FileValues {
    pub(super) values: Vec<(&'static str, String)>,
    pub(super) keymap: BTreeMap<String, String>,
    pub(super) workers: Vec<Heartbeat>,
}

/// Reads the TOML file. A missing file is an error only when it was named
/// explicitly.
pub(super) fn read_file(path: &Path, explicit: bool) -> Result<FileValues> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(FileValues::default());
        }
        Err(e) => {
            return Err(Error::bad_input(
                "config file",
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Error::bad_input(
            "config file",
            format!("{} is not valid TOML: {}", path.display(), e.message()),
        )
    })?;
    let mut out = Vec::new();
    let mut keymap = BTreeMap::new();
    let mut workers = Vec::new();
    // Three sections read as flat settings: `[ui] time = "utc"` is `ui_time`
    // (the room's own), `[fleet] owner_filter = true` is `owner_filter`,
    // `[alerts] queue_depth = 500` is `alert_queue_depth`.
    let mut entries = Vec::new();
    for (key, value) in table {
        let prefix = match key.as_str() {
            "ui" => "ui_",
            "fleet" => "",
            "alerts" => "alert_",
            "http" => "http_",
            _ => {
                entries.push((key, value));
                continue;
            }
        };
        let toml::Value::Table(section) = value else {
            return Err(Error::bad_input(
                format!("{key} in {}", path.display()),
                format!("must be a table such as [{key}] name = value"),
            ));
        };
        entries.extend(
            section
                .into_iter()
                .map(|(k, v)| (format!("{prefix}{k}"), v)),
        );
    }
    for (key, value) in entries {
        if key == "worker" {
            workers = known_workers(value, path)?;
            continue;
        }
        if key == "keymap" {
            let toml::Value::Table(bindings) = value else {
                return Err(Error::bad_input(
                    format!("keymap in {}", path.display()),
                    "must be a table of action = \"key\"",
                ));
            };
            for (action, key) in bindings {
                let key = key.as_str().map(str::to_string).ok_or_else(|| {
                    Error::bad_input(
                        format!("keymap.{action} in {}", path.display()),
                        "must be a string such as \"A\" or \"ctrl-a\"",
                    )
                })?;
                keymap.insert(action, key);
            }
            continue;
        }
        let spec = SPECS.iter().find(|s| s.key == key).ok_or_else(|| {
            Error::bad_input(
                "config file",
                format!(
                    "unknown setting '{key}' in {} (see `auto-assign config template`)",
                    path.display()
                ),
            )
        })?;
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Table(t) => t
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            toml::Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => {
                return Err(Error::bad_input(
                    format!("setting {key} in {}", path.display()),
                    format!("unsupported value {other}"),
                ));
            }
        };
        out.push((spec.key, text));
    }
    Ok(FileValues {
        values: out,
        keymap,
        workers,
    })
}

/// `[[worker]]` tables: workers the fleet is known to have, each read as a
/// heartbeat would be (`node_id`, `worker_id`, `lanes`, `capabilities`,
/// `owner`, `max_concurrent`), so one that never shows up is seen missing.
fn known_workers(value: toml::Value, path: &Path) -> Result<Vec<Heartbeat>> {
    let toml::Value::Array(items) = value else {
        return Err(Error::bad_input(
            format!("worker in {}", path.display()),
            "must be [[worker]] tables with node_id, worker_id, lanes...",
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let what = format!("[[worker]] number {} in {}", i + 1, path.display());
            let mut hb = Heartbeat::deserialize(item)
                .map_err(|e| Error::bad_input(what.clone(), e.message().to_string()))?;
            hb.validate().map_err(|(field, message)| {
                Error::bad_input(format!("{what}, {field}"), message)
            })?;
            hb.status = crate::domain::worker::WorkerStatus::Offline;
            Ok(hb)
        })
        .collect()
}

pub(super) struct Reader<'a> {
    pub(super) values: &'a BTreeMap<&'static str, (String, Source)>,
}

impl Reader<'_> {
    pub(super) fn raw(&self, key: &str) -> (&str, &Source) {
        let (value, source) = &self.values[key];
        (value.trim(), source)
    }

    pub(super) fn fail<T>(&self, key: &str, expected: &str) -> Result<T> {
        let (value, source) = self.raw(key);
        Err(Error::bad_input(
            format!("setting {}", source.name(key)),
            format!("'{value}' is not {expected}"),
        ))
    }

    pub(super) fn text(&self, key: &str) -> String {
        self.raw(key).0.to_string()
    }

    /// An http:// or https:// URL (`None` when empty), refused at start
    /// rather than by every call that would use it.
    pub(super) fn url(&self, key: &str, example: &str) -> Result<Option<String>> {
        super::http_url(self.raw(key).0, example).or_else(|expected| self.fail(key, &expected))
    }

    pub(super) fn bool(&self, key: &str) -> Result<bool> {
        let (value, _) = self.raw(key);
        // Contract A10: only 1, true, yes, on are true; an unknown word is an error.
        match parse_bool(value) {
            Some(b) if !matches!(value.to_ascii_lowercase().as_str(), "y" | "n") => Ok(b),
            _ => self.fail(key, "a boolean (true/false, 1/0, yes/no, on/off)"),
        }
    }

    /// A whole number from `min` to `max`: every count and length of time
    /// the engine adds to a clock or allocates by is bounded, so no setting
    /// can overflow the arithmetic it feeds.
    pub(super) fn whole(&self, key: &str, min: u64, max: u64) -> Result<u64> {
        match self.raw(key).0.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => self.fail(key, &format!("a whole number from {min} to {max}")),
        }
    }

    /// A number of seconds (fractions allowed) from 0 to `max`.
    pub(super) fn seconds(&self, key: &str, max: u64) -> Result<Duration> {
        let (value, _) = self.raw(key);
        match value.parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=max as f64).contains(&s) => {
                Duration::try_from_secs_f64(s).or_else(|_| self.fail(key, "a number of seconds"))
            }
            _ => self.fail(key, &format!("a number of seconds from 0 to {max}")),
        }
    }

    pub(super) fn fraction(&self, key: &str) -> Result<f64> {
        match self.raw(key).0.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(f),
            _ => self.fail(key, "a decimal number"),
        }
    }

    pub(super) fn lane_scores(&self, key: &str) -> Result<BTreeMap<Lane, f64>> {
        let expected = "a list like local_only=0.78,router_model=0.66 over local_only, router_model, free_api, direct_worker";
        let mut scores = BTreeMap::new();
        for part in self.raw(key).0.split(',').filter(|p| !p.trim().is_empty()) {
            let Some((lane, score)) = part.split_once('=') else {
                return self.fail(key, expected);
            };
            let lane: Lane = match lane.parse() {
                Ok(lane) if SCORED_LANES.contains(&lane) => lane,
                _ => return self.fail(key, expected),
            };
            let Ok(score) = score.trim().parse::<f64>() else {
                return self.fail(key, expected);
            };
            if !score.is_finite() {
                return self.fail(key, expected);
            }
            scores.insert(lane, score);
        }
        Ok(scores)
    }

    pub(super) fn lanes(&self, key: &str) -> Result<Vec<Lane>> {
        parse_lane_list(self.raw(key).0).or_else(|e| self.fail(key, &format!("a lane list ({e})")))
    }
}
