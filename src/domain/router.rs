//! The auto-router snapshot (contract A6): what the scorer needs to know
//! about the router, read from the bodies of its five admin calls.

use super::truthy::json_text;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The five bodies as fetched (or as held in a `--router` file).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouterBodies {
    #[serde(default)]
    pub context: Value,
    #[serde(default)]
    pub quota: Value,
    #[serde(default)]
    pub circuits: Value,
    #[serde(default)]
    pub agent_clis: Value,
    #[serde(default)]
    pub ops_summary: Value,
}

/// What the scorer uses. `reachable == false` blocks the router lanes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterSnapshot {
    pub reachable: bool,
    /// Shared: every decision of a pass carries it.
    pub revision: Option<Arc<str>>,
    /// `router context revision used: {revision}`, the scorer's reason, made
    /// once per snapshot.
    #[serde(skip)]
    pub revision_reason: Option<Arc<str>>,
    pub quota_mode: Option<String>,
    pub nodes: usize,
    pub providers: usize,
    pub services: usize,
}

impl RouterSnapshot {
    /// The router counts as unreachable: used when no snapshot could be had.
    pub fn unreachable() -> Self {
        RouterSnapshot::default()
    }

    /// The snapshot from the bodies as a caller sent them (an object with
    /// context, quota, circuits, agent_clis, ops_summary).
    pub fn parse(bodies: &Map<String, Value>) -> Result<Self, String> {
        let bodies: RouterBodies =
            serde_json::from_value(Value::Object(bodies.clone())).map_err(|e| {
                format!("{e} (expected context, quota, circuits, agent_clis, ops_summary)")
            })?;
        Ok(RouterSnapshot::from_bodies(&bodies))
    }

    pub fn from_bodies(bodies: &RouterBodies) -> Self {
        let Some(context) = read_context(&bodies.context) else {
            return RouterSnapshot::unreachable();
        };
        let revision: Option<Arc<str>> = revision(context).map(Arc::from);
        RouterSnapshot {
            reachable: true,
            revision_reason: revision
                .as_ref()
                .map(|r| Arc::from(format!("router context revision used: {r}"))),
            revision,
            quota_mode: quota_mode(&bodies.quota),
            nodes: count_first(context, &["nodes", "workers", "worker_nodes", "hosts"]),
            providers: count_first(context, &["providers", "models", "model_providers"]),
            services: count_first(context, &["services", "endpoints", "routes"]),
        }
    }

    pub fn preserves_quota(&self) -> bool {
        self.quota_mode
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("preserve"))
    }
}

/// The context object, unwrapped from `context`, `snapshot`, `router_context`
/// or `data` when nested; `None` unless it is a non-empty object.
fn read_context(body: &Value) -> Option<&Map<String, Value>> {
    let outer = body.as_object()?;
    let inner = ["context", "snapshot", "router_context", "data"]
        .iter()
        .find_map(|key| outer.get(*key).and_then(Value::as_object));
    let context = inner.unwrap_or(outer);
    (!context.is_empty()).then_some(context)
}

fn revision(context: &Map<String, Value>) -> Option<String> {
    let metadata = context.get("metadata");
    ["revision", "context_revision", "version"]
        .iter()
        .find_map(|key| json_text(context.get(*key)))
        .or_else(|| json_text(metadata.and_then(|m| m.get("revision"))))
        .or_else(|| json_text(metadata.and_then(|m| m.get("context_revision"))))
}

fn quota_mode(quota: &Value) -> Option<String> {
    json_text(quota.get("mode"))
        .or_else(|| json_text(quota.get("metadata").and_then(|m| m.get("mode"))))
}

/// The size of the first of `keys` that holds a list or a map.
fn count_first(context: &Map<String, Value>, keys: &[&str]) -> usize {
    keys.iter()
        .find_map(|key| match context.get(*key) {
            Some(Value::Array(items)) => Some(items.len()),
            Some(Value::Object(map)) => Some(map.len()),
            _ => None,
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snap(context: Value, quota: Value) -> RouterSnapshot {
        RouterSnapshot::from_bodies(&RouterBodies {
            context,
            quota,
            ..Default::default()
        })
    }

    #[test]
    fn empty_or_non_object_context_is_unreachable() {
        assert!(!snap(json!({}), json!({})).reachable);
        assert!(!snap(json!(null), json!({})).reachable);
        assert!(!snap(json!([1]), json!({})).reachable);
        assert!(!snap(json!({"context": {}}), json!({})).reachable);
    }

    #[test]
    fn context_unwraps_each_nesting_key() {
        for key in ["context", "snapshot", "router_context", "data"] {
            let s = snap(json!({ key: {"revision": "r9"} }), json!({}));
            assert!(s.reachable, "{key}");
            assert_eq!(s.revision.as_deref(), Some("r9"), "{key}");
        }
    }

    #[test]
    fn revision_fallbacks_in_order() {
        assert_eq!(
            snap(json!({"context_revision": "a", "version": "b"}), json!({}))
                .revision
                .as_deref(),
            Some("a")
        );
        assert_eq!(
            snap(json!({"version": 7}), json!({})).revision.as_deref(),
            Some("7")
        );
        assert_eq!(
            snap(json!({"metadata": {"revision": "m"}}), json!({}))
                .revision
                .as_deref(),
            Some("m")
        );
        assert_eq!(
            snap(json!({"metadata": {"context_revision": "mc"}}), json!({}))
                .revision
                .as_deref(),
            Some("mc")
        );
        assert_eq!(snap(json!({"nodes": []}), json!({})).revision, None);
    }

    #[test]
    fn quota_mode_from_mode_or_metadata() {
        assert!(snap(json!({"x": 1}), json!({"mode": "Preserve"})).preserves_quota());
        assert!(snap(json!({"x": 1}), json!({"metadata": {"mode": "preserve"}})).preserves_quota());
        assert!(!snap(json!({"x": 1}), json!({"mode": "normal"})).preserves_quota());
    }

    #[test]
    fn counts_nodes_providers_services_from_alternate_keys() {
        let s = snap(
            json!({"hosts": [1, 2], "models": {"a": 1}, "routes": [1, 2, 3]}),
            json!({}),
        );
        assert_eq!((s.nodes, s.providers, s.services), (2, 1, 3));
    }
}
