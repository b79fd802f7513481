//! Workers as they announce themselves by heartbeat (contract C).

use super::bounded::{name, name_opt, names};
use super::names;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;
use strum::VariantArray;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Default,
    strum::IntoStaticStr,
    strum::Display,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum WorkerStatus {
    #[default]
    Ready,
    Sleeping,
    Busy,
    Degraded,
    Draining,
    Offline,
}

impl WorkerStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl FromStr for WorkerStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        names::parse("worker status", Self::VARIANTS, s)
    }
}

/// One heartbeat from a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    #[serde(deserialize_with = "name")]
    pub node_id: String,
    #[serde(deserialize_with = "name")]
    pub worker_id: String,
    #[serde(default, deserialize_with = "name_opt")]
    pub assignment_id: Option<String>,
    #[serde(default, deserialize_with = "name_opt")]
    pub correlation_id: Option<String>,
    #[serde(default, deserialize_with = "name_opt")]
    pub heartbeat_id: Option<String>,
    #[serde(default)]
    pub status: WorkerStatus,
    #[serde(default, deserialize_with = "names")]
    pub lanes: Vec<String>,
    #[serde(default, deserialize_with = "names")]
    pub capabilities: Vec<String>,
    #[serde(default, deserialize_with = "name_opt")]
    pub owner: Option<String>,
    #[serde(default = "one")]
    pub max_concurrent: u32,
    /// Tasks the worker says it is running, leased here or not.
    #[serde(default)]
    pub active_tasks: Option<u32>,
    /// Free-form numbers such as success_rate, latency_ms, load.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default, deserialize_with = "names")]
    pub services: Vec<String>,
}

/// A worker's name across the fleet: `node/worker`.
pub fn worker_key(node_id: &str, worker_id: &str) -> String {
    format!("{node_id}/{worker_id}")
}

fn one() -> u32 {
    1
}

impl Heartbeat {
    /// A heartbeat with only its identity; the rest at defaults.
    pub fn new(node_id: &str, worker_id: &str) -> Heartbeat {
        Heartbeat {
            node_id: node_id.into(),
            worker_id: worker_id.into(),
            assignment_id: None,
            correlation_id: None,
            heartbeat_id: None,
            status: WorkerStatus::Ready,
            lanes: Vec::new(),
            capabilities: Vec::new(),
            owner: None,
            max_concurrent: 1,
            active_tasks: None,
            metrics: BTreeMap::new(),
            services: Vec::new(),
        }
    }

    /// The worker's name across the fleet: `node/worker`.
    pub fn key(&self) -> String {
        worker_key(&self.node_id, &self.worker_id)
    }

    /// Checks what serde cannot: non-empty ids and sane numbers.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.node_id.trim().is_empty() {
            return Err(("node_id", "node_id must not be empty".into()));
        }
        if self.worker_id.trim().is_empty() {
            return Err(("worker_id", "worker_id must not be empty".into()));
        }
        if self.max_concurrent == 0 {
            return Err(("max_concurrent", "max_concurrent must be at least 1".into()));
        }
        if let Some((name, _)) = self.metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Err(("metrics", format!("metric {name} is not a finite number")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn heartbeat_defaults_and_validation() {
        let hb: Heartbeat =
            serde_json::from_value(json!({"node_id": "n1", "worker_id": "w1"})).unwrap();
        assert_eq!(hb.status, WorkerStatus::Ready);
        assert_eq!(hb.max_concurrent, 1);
        assert!(hb.validate().is_ok());
        let mut bad = hb.clone();
        bad.worker_id = " ".into();
        assert_eq!(bad.validate().unwrap_err().0, "worker_id");
        let mut bad = hb;
        bad.max_concurrent = 0;
        assert_eq!(bad.validate().unwrap_err().0, "max_concurrent");
    }

    #[test]
    fn statuses_parse() {
        assert_eq!("Busy".parse::<WorkerStatus>(), Ok(WorkerStatus::Busy));
        assert!(
            "asleep"
                .parse::<WorkerStatus>()
                .unwrap_err()
                .contains("'asleep'")
        );
    }
}
