//! The auto-router's snapshot (contract A6): five admin calls, read as they
//! come. A call that fails leaves its part empty; a context that cannot be
//! read makes the whole snapshot unreachable, and the engine keeps the
//! router lanes closed.

use crate::config::Settings;
use crate::error::Result;
use serde_json::{Map, Value};

/// The five calls, under the names the engine's snapshot reads them by.
const CALLS: [(&str, &str); 5] = [
    ("context", "/admin/context"),
    ("quota", "/admin/quota"),
    ("circuits", "/admin/circuits"),
    ("agent_clis", "/admin/agent-clis"),
    ("ops_summary", "/admin/ops/summary"),
];

#[derive(Clone)]
pub struct Router {
    http: reqwest::Client,
    base: String,
}

impl Router {
    pub fn new(settings: &Settings) -> Result<Router> {
        let http = super::http_client(settings.router_timeout, "router")?;
        Ok(Router {
            http,
            base: settings.router_base_url.trim_end_matches('/').to_string(),
        })
    }

    /// The bodies of the five calls (`null` for a call that failed, none for
    /// one not made), and what the first failed call met. Without a context
    /// the snapshot is unreachable whatever the others say, so they are not
    /// asked: a router that does not answer costs one timeout per tick, not
    /// five.
    pub async fn snapshot(&self) -> (Map<String, Value>, Option<String>) {
        let mut bodies = Map::new();
        let mut failure = None;
        for (name, path) in CALLS {
            let body = self.fetch(path).await.unwrap_or_else(|why| {
                failure.get_or_insert(format!("GET {path}: {why}"));
                Value::Null
            });
            let no_context = name == "context" && body.is_null();
            bodies.insert(name.into(), body);
            if no_context {
                break;
            }
        }
        (bodies, failure)
    }

    async fn fetch(&self, path: &str) -> std::result::Result<Value, String> {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| super::transport("the router", &e))?;
        if !answer.status().is_success() {
            return Err(format!("answered {}", answer.status()));
        }
        answer.json().await.map_err(|e| format!("not JSON: {e}"))
    }
}
