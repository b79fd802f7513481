//! `auto-assign status` and `config show`: what the engine holds and how it
//! is configured, in one screen of text.

use super::output::{self, or_dash, table};
use crate::config::{Loaded, Settings};
use crate::engine::Snapshot;
use crate::engine::snapshot::{self, Inputs};
use crate::error::Result;
use crate::host::{Link, runtime};
use crate::store::Store;
use chrono::Utc;

/// The running engine's snapshot (with the database it serves), or one
/// read from the database without writing anything.
fn snapshot(settings: &Settings) -> Result<Snapshot> {
    runtime()?.block_on(async {
        if let Some(link) = Link::daemon(settings).await? {
            return link.snapshot().await;
        }
        let store = Store::open_read_only(&settings.database_path)?;
        let mut snapshot = snapshot::build(store.conn(), &Inputs::offline(Utc::now()))?;
        snapshot.database = settings.database_path.display().to_string();
        Ok(snapshot)
    })
}

pub fn show(settings: &Settings, json: bool) -> Result<()> {
    let snap = snapshot(settings)?;
    if json {
        output::json_line(&snap);
        return Ok(());
    }
    println!("database: {}", snap.database);
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
        output::at(snap.oldest_waiting_at)
    );
    let o = &snap.outbox;
    println!(
        "outbox: {} pending, {} failed, {} delivered, {} conflict, {} dead letter; oldest pending {}",
        o.pending,
        o.failed,
        o.delivered,
        o.conflict,
        o.dead_letter,
        output::at(o.oldest_pending_at)
    );
    println!("inbound events not processed: {}", snap.inbound_unprocessed);
    dependencies(&snap);
    let rejected: u64 = snap.rejected_lines.values().sum();
    if rejected > 0 {
        let codes: Vec<String> = snap
            .rejected_lines
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| format!("{code} {n}"))
            .collect();
        println!("socket lines refused: {}", codes.join(", "));
    }
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
                    output::at(Some(a.requested_at)),
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
                    w.key(),
                    if w.stale {
                        format!("{} (STALE)", w.status)
                    } else {
                        w.status.to_string()
                    },
                    format!("{}/{}", w.active, w.max_concurrent),
                    output::at(Some(w.last_seen)),
                ]
            })
            .collect();
        table(&["WORKER", "STATUS", "LOAD", "LAST SEEN"], &rows);
    }
    Ok(())
}

/// Each dependency as the engine last saw it, and the alerts holding now:
/// what an operator checks first when work stops moving.
fn dependencies(snap: &Snapshot) {
    println!();
    let rows: Vec<Vec<String>> = snap
        .health
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.state.as_str().into(),
                output::at(h.last_success_at),
                h.why().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["DEPENDENCY", "STATE", "LAST SUCCESS", "WHY"], &rows);
    if snap.alerts.is_empty() {
        return;
    }
    println!();
    let rows: Vec<Vec<String>> = snap
        .alerts
        .iter()
        .map(|a| {
            vec![
                a.code.clone(),
                or_dash(a.subject.as_deref()).to_string(),
                output::at(Some(a.since)),
                a.text.clone(),
            ]
        })
        .collect();
    table(&["ALERT", "ABOUT", "SINCE", "WHAT"], &rows);
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
