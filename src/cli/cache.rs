//! `auto-assign cache rebuild`: a deleted cache brought back from the
//! provenance graph and AssistX's canonical statuses. It holds the engine's
//! lock while it writes, so no engine can start on a half-built cache.

use super::output;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::host::runtime;
use crate::store::lock::EngineLock;
use crate::store::{Store, restore};
use crate::sync::graph::{Graph, rebuild};
use serde_json::json;

pub fn rebuild(settings: &Settings, json: bool) -> Result<()> {
    let Some(neo4j) = &settings.neo4j else {
        return Err(Error::Unavailable {
            what: "cache rebuild reads Neo4j, which is not configured (set AUTO_ASSIGN_NEO4J_URI)"
                .into(),
        });
    };
    let _lock = EngineLock::take(&settings.database_path)?;
    let mut store = Store::open(&settings.database_path)?;
    restore::ensure_empty(store.conn())?;
    let rebuilt = runtime()?
        .block_on(async {
            let graph = Graph::connect(neo4j).await?;
            rebuild::read(&graph).await
        })
        .map_err(|e| Error::Unavailable {
            what: format!("cannot read the graph: {e}"),
        })?;
    store.write(|tx| restore::write(tx, &rebuilt, chrono::Utc::now()))?;
    let control = rebuilt.control.clone().unwrap_or_default();
    let report = json!({
        "database": settings.database_path.display().to_string(),
        "assignments": rebuilt.assignments.len(),
        "approvals": rebuilt.approvals.len(),
        "workers": rebuilt.workers.len(),
        "candidates": rebuilt.candidates.len(),
        "delivered_keys": rebuilt.delivered.len(),
        "control": {"mode": control.mode.as_str(), "version": control.version},
    });
    if json {
        output::json_line(&report);
    } else {
        println!(
            "rebuilt {}: assignments {} ({} with an approval), workers {}, candidates {}, \
             control {} (version {}), keys AssistX already holds {}",
            settings.database_path.display(),
            rebuilt.assignments.len(),
            rebuilt.approvals.len(),
            rebuilt.workers.len(),
            rebuilt.candidates.len(),
            control.mode.as_str(),
            control.version,
            rebuilt.delivered.len(),
        );
    }
    Ok(())
}
