//! `auto-assign status` and `config show`: what the engine holds and how it
//! is configured, in one screen of text.

use super::output::{self, or_dash, table};
use crate::config::{Loaded, Settings};
use crate::domain::router::RouterSnapshot;
use crate::engine::{Snapshot, snapshot};
use crate::error::Result;
use crate::host::{Link, runtime};
use crate::store::Store;
use chrono::Utc;

/// The running engine's snapshot (with the database it serves), or one
/// read from the database without writing anything.
fn snapshot(settings: &Settings) -> Result<(Snapshot, String)> {
    runtime()?.block_on(async {
        if let Some(link) = Link::daemon(settings).await {
            let snapshot = link.snapshot().await?;
            let database = snapshot.database.clone();
            return Ok((snapshot, database));
        }
        let store = Store::open_read_only(&settings.database_path)?;
        let mut snapshot = snapshot::build(
            store.conn(),
            &RouterSnapshot::unreachable(),
            Utc::now(),
            None,
        )?;
        snapshot.database = settings.database_path.display().to_string();
        let database = snapshot.database.clone();
        Ok((snapshot, database))
    })
}

pub fn show(settings: &Settings, json: bool) -> Result<()> {
    let (snap, database) = snapshot(settings)?;
    if json {
        output::json_line(&snap);
        return Ok(());
    }
    println!("database: {database}");
    println!(
        "control: {} ({})",
        snap.control.mode,
        or_dash(snap.control.reason.as_deref())
    );
    let counts: Vec<String> = snap
        .status_counts
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    println!(
        "assignments: {}",
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        }
    );
    println!(
        "oldest waiting since: {}",
        or_dash(snap.oldest_waiting_at.as_deref())
    );
    let o = &snap.outbox;
    println!(
        "outbox: {} pending, {} failed, {} delivered, {} conflict, {} dead letter; oldest pending {}",
        o.pending,
        o.failed,
        o.delivered,
        o.conflict,
        o.dead_letter,
        or_dash(o.oldest_pending_at.as_deref())
    );
    println!("inbound events not processed: {}", snap.inbound_unprocessed);
    if !snap.approvals.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = snap
            .approvals
            .iter()
            .map(|a| {
                vec![
                    a.assignment_id.clone(),
                    a.task_id.clone(),
                    a.gate.clone(),
                    a.requested_at.clone(),
                    a.version.to_string(),
                ]
            })
            .collect();
        table(
            &["APPROVAL", "TASK", "GATE", "WAITING SINCE", "VERSION"],
            &rows,
        );
    }
    if !snap.workers.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = snap
            .workers
            .iter()
            .map(|w| {
                vec![
                    format!("{}/{}", w.node_id, w.worker_id),
                    if w.stale {
                        format!("{} (STALE)", w.status)
                    } else {
                        w.status.clone()
                    },
                    format!("{}/{}", w.active, w.max_concurrent),
                    w.last_seen.clone(),
                ]
            })
            .collect();
        table(&["WORKER", "STATUS", "LOAD", "LAST SEEN"], &rows);
    }
    Ok(())
}

pub fn config_show(loaded: &Loaded, json: bool) -> Result<()> {
    let rows = loaded.show();
    if json {
        let map: serde_json::Map<String, serde_json::Value> = rows
            .into_iter()
            .map(|(k, v, source)| (k, serde_json::json!({"value": v, "source": source})))
            .collect();
        output::json_line(&map);
    } else {
        let rows: Vec<Vec<String>> = rows.into_iter().map(|(k, v, s)| vec![k, v, s]).collect();
        table(&["SETTING", "VALUE", "SOURCE"], &rows);
    }
    Ok(())
}
