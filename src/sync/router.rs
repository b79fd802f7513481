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

    /// The bodies of the five calls; `null` for a call that failed.
    pub async fn snapshot(&self) -> Map<String, Value> {
        let mut bodies = Map::new();
        for (name, path) in CALLS {
            let body = match self.http.get(format!("{}{path}", self.base)).send().await {
                Ok(answer) if answer.status().is_success() => {
                    answer.json().await.unwrap_or(Value::Null)
                }
                _ => Value::Null,
            };
            bodies.insert(name.into(), body);
        }
        bodies
    }
}
