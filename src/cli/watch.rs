//! `auto-assign watch`: the running engine's changes, one line each.

use super::output::json_line;
use crate::config::Settings;
use crate::domain::lifecycle::Status;
use crate::engine::Snapshot;
use crate::error::{Error, Result};
use crate::host::runtime;
use crate::ingest::client::Client;

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
        let mut show = |snapshot: &Snapshot| {
            if json {
                return json_line(snapshot);
            }
            let line = summary(snapshot);
            if line != last {
                println!("{} {line}", chrono::Utc::now().format("%H:%M:%S"));
                last = line;
            }
        };
        show(&first);
        while let Some(snapshot) = client.next_snapshot().await? {
            show(&snapshot);
        }
        Ok(())
    })
}
