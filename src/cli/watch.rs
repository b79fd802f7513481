//! `auto-assign watch`: the running engine's changes, one line each.

use super::output::json_line;
use crate::config::Settings;
use crate::domain::lifecycle::Status;
use crate::engine::Snapshot;
use crate::error::{Error, Result};
use crate::host::runtime;
use crate::ingest::client::Client;
use serde_json::Value;

/// One line saying what an operator checks first.
pub fn summary(s: &Snapshot) -> String {
    let count = |status: Status| s.count(status);
    let stale = s.workers.iter().filter(|w| w.stale).count();
    format!(
        "control {} | recommended {} approval {} approved {} claimed {} running {} blocked {} | workers {} ({} stale) | outbox pending {} failed {} dead {}",
        s.control.mode,
        count(Status::Recommended),
        count(Status::ApprovalRequired),
        count(Status::Approved),
        count(Status::Claimed),
        count(Status::Running),
        count(Status::Blocked),
        s.workers.len(),
        stale,
        s.outbox.pending,
        s.outbox.failed,
        s.outbox.dead_letter,
    )
}

fn parse(value: &Value) -> Result<Snapshot> {
    serde_json::from_value(value.clone()).map_err(|e| Error::Io {
        context: "the engine's snapshot".into(),
        source: std::io::Error::other(e),
    })
}

pub fn run(settings: &Settings, json: bool) -> Result<()> {
    let path = settings.socket_path.clone();
    runtime()?.block_on(async move {
        let mut client = Client::connect(&path).await.map_err(|source| Error::Io {
            context: format!(
                "no engine answers on {} (start one with `auto-assign daemon`)",
                path.display()
            ),
            source,
        })?;
        let first = client.subscribe().await?;
        let mut last = String::new();
        let mut show = |snapshot: &Value| -> Result<()> {
            if json {
                json_line(snapshot);
                return Ok(());
            }
            let line = summary(&parse(snapshot)?);
            if line != last {
                println!("{} {line}", chrono::Utc::now().format("%H:%M:%S"));
                last = line;
            }
            Ok(())
        };
        show(&first["snapshot"])?;
        while let Some(update) = client.next_line().await? {
            show(&update["snapshot"])?;
        }
        Ok(())
    })
}
