//! Workers' latest heartbeat, plus a bounded history per worker.

use super::all_rows;
use super::to_json;
use crate::domain::fleet::breaker::Breaker;
use crate::domain::fleet::{FleetWorker, Health};
use crate::domain::time::rfc3339;
use crate::domain::worker::Heartbeat;
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Worker {
    pub node_id: String,
    pub worker_id: String,
    pub status: String,
    pub lanes: Vec<String>,
    pub capabilities: Vec<String>,
    pub owner: Option<String>,
    pub max_concurrent: u32,
    pub metrics: serde_json::Value,
    pub first_seen: String,
    pub last_seen: String,
    pub stale: bool,
    pub drained: bool,
    /// Tasks it runs now: the leases it holds here, or what it reports
    /// (`active_tasks`) when that is more.
    pub active: u32,
    /// Kept in the cache only: a rebuilt cache starts every breaker closed.
    #[serde(skip)]
    pub breaker: Breaker,
}

impl Worker {
    /// The worker as selection sees it.
    pub fn fleet(&self) -> FleetWorker {
        FleetWorker {
            node_id: self.node_id.clone(),
            worker_id: self.worker_id.clone(),
            lanes: self.lanes.clone(),
            capabilities: self.capabilities.iter().map(|c| c.to_lowercase()).collect(),
            owner: self.owner.clone(),
            status: self.status.parse().unwrap_or_default(),
            max_concurrent: self.max_concurrent,
            active: self.active,
            drained: self.drained,
            stale: self.stale,
            breaker_open: self.breaker.opened_at.is_some(),
            health: Health::from_metrics(|name| {
                self.metrics.get(name).and_then(serde_json::Value::as_f64)
            }),
            last_assigned_at: None,
        }
    }
}

/// Puts the workers the config declares in the registry, offline, unless
/// they are there already (heard from, or declared before): one that never
/// shows up then goes stale and is seen missing. Returns how many were new.
pub fn declare(conn: &Connection, known: &[Heartbeat], now: DateTime<Utc>) -> Result<usize> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO workers (node_id, worker_id, status, lanes, capabilities, owner, max_concurrent, \
             metrics, services, first_seen, last_seen, stale, beats) \
         VALUES (?1, ?2, 'offline', ?3, ?4, ?5, ?6, '{}', '[]', ?7, ?7, 0, 0) \
         ON CONFLICT (node_id, worker_id) DO NOTHING",
    )?;
    let at = rfc3339(now);
    let mut added = 0;
    for hb in known {
        added += insert.execute(params![
            hb.node_id,
            hb.worker_id,
            to_json(&hb.lanes),
            to_json(&hb.capabilities),
            hb.owner,
            hb.max_concurrent,
            at,
        ])?;
    }
    Ok(added)
}

/// What the worker was before this heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Before {
    pub status: Option<String>,
    pub stale: bool,
}

/// How often a steady worker's heartbeat is kept in its history; status
/// changes are always kept. Sampling keeps the history useful at any
/// heartbeat rate without a history write per heartbeat.
pub const SAMPLE_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

pub fn record_heartbeat(
    conn: &Connection,
    hb: &Heartbeat,
    history: u32,
    now: DateTime<Utc>,
) -> Result<Before> {
    let (before, sampled_at) = conn
        .prepare_cached(
            "SELECT status, stale, sampled_at FROM workers WHERE node_id = ?1 AND worker_id = ?2",
        )?
        .query_row([&hb.node_id, &hb.worker_id], |row| {
            let before = Before {
                status: Some(row.get(0)?),
                stale: row.get(1)?,
            };
            Ok((before, row.get::<_, Option<String>>(2)?))
        })
        .optional()?
        .unwrap_or((
            Before {
                status: None,
                stale: false,
            },
            None,
        ));
    let at = rfc3339(now);
    let changed = before.stale || before.status.as_deref() != Some(hb.status.as_str());
    let due = sampled_at.is_none_or(|last| last <= rfc3339(now - SAMPLE_EVERY));
    let sample = history > 0 && (changed || due);
    let samples: i64 = conn
        .prepare_cached(
            "INSERT INTO workers (node_id, worker_id, status, lanes, capabilities, owner, max_concurrent, \
                 metrics, services, first_seen, last_seen, stale, beats, samples, sampled_at, active_tasks) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, 0, 1, ?11, CASE WHEN ?11 THEN ?10 END, ?12) \
             ON CONFLICT (node_id, worker_id) DO UPDATE SET status = excluded.status, lanes = excluded.lanes, \
                 capabilities = excluded.capabilities, owner = excluded.owner, \
                 max_concurrent = excluded.max_concurrent, metrics = excluded.metrics, \
                 active_tasks = excluded.active_tasks, \
                 services = excluded.services, last_seen = excluded.last_seen, stale = 0, beats = beats + 1, \
                 samples = samples + ?11, sampled_at = CASE WHEN ?11 THEN ?10 ELSE sampled_at END \
             RETURNING samples",
        )?
        .query_row(
            params![
                hb.node_id,
                hb.worker_id,
                hb.status.as_str(),
                to_json(&hb.lanes),
                to_json(&hb.capabilities),
                hb.owner,
                hb.max_concurrent,
                to_json(&hb.metrics),
                to_json(&hb.services),
                at,
                sample,
                hb.active_tasks
            ],
            |row| row.get(0),
        )?;
    if sample {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO heartbeats (node_id, worker_id, slot, beat, assignment_id, status, received_at, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            hb.node_id,
            hb.worker_id,
            samples % i64::from(history),
            samples,
            hb.assignment_id,
            hb.status.as_str(),
            at,
            to_json(hb)
        ])?;
    }
    Ok(before)
}

/// Drains (`true`) or undrains a worker; whether it was drained before.
/// A worker never heard from is not found: a typo must not drain nothing
/// and report success.
pub fn set_drained(
    conn: &Connection,
    node_id: &str,
    worker_id: &str,
    drained: bool,
) -> Result<bool> {
    let before: Option<bool> = conn
        .prepare_cached("SELECT drained FROM workers WHERE node_id = ?1 AND worker_id = ?2")?
        .query_row([node_id, worker_id], |row| row.get(0))
        .optional()?;
    let Some(before) = before else {
        return Err(crate::error::Error::NotFound {
            what: "worker",
            id: crate::domain::worker::worker_key(node_id, worker_id),
        });
    };
    conn.prepare_cached("UPDATE workers SET drained = ?3 WHERE node_id = ?1 AND worker_id = ?2")?
        .execute(params![node_id, worker_id, drained])?;
    Ok(before)
}

/// A breaker from `failures, breaker_opened_at, breaker_trial` at `first`.
fn breaker_of(row: &rusqlite::Row, first: usize) -> rusqlite::Result<Breaker> {
    Ok(Breaker {
        failures: row.get(first)?,
        opened_at: row
            .get::<_, Option<String>>(first + 1)?
            .as_deref()
            .and_then(crate::domain::time::parse_utc),
        trial: row.get(first + 2)?,
    })
}

/// A worker's circuit breaker (closed for a worker never heard from).
pub fn breaker(conn: &Connection, node_id: &str, worker_id: &str) -> Result<Breaker> {
    Ok(conn
        .prepare_cached(
            "SELECT failures, breaker_opened_at, breaker_trial FROM workers \
             WHERE node_id = ?1 AND worker_id = ?2",
        )?
        .query_row([node_id, worker_id], |row| breaker_of(row, 0))
        .optional()?
        .unwrap_or_default())
}

pub fn set_breaker(conn: &Connection, node_id: &str, worker_id: &str, b: &Breaker) -> Result<()> {
    conn.prepare_cached(
        "UPDATE workers SET failures = ?3, breaker_opened_at = ?4, breaker_trial = ?5 \
         WHERE node_id = ?1 AND worker_id = ?2",
    )?
    .execute(params![
        node_id,
        worker_id,
        b.failures,
        b.opened_at.map(rfc3339),
        b.trial
    ])?;
    Ok(())
}

/// Whether a worker is drained (an unknown one is not).
pub fn is_drained(conn: &Connection, node_id: &str, worker_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT drained FROM workers WHERE node_id = ?1 AND worker_id = ?2")?
        .query_row([node_id, worker_id], |row| row.get(0))
        .optional()?
        .unwrap_or(false))
}

/// Marks workers silent since before `cutoff` as stale, once: returns only
/// the ones that were not stale already.
pub fn mark_stale(conn: &Connection, cutoff: DateTime<Utc>) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "UPDATE workers SET stale = 1 WHERE stale = 0 AND last_seen < ?1 RETURNING node_id, worker_id",
    )?;
    let rows = stmt.query_map([rfc3339(cutoff)], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let mut out: Vec<(String, String)> = rows.collect::<rusqlite::Result<_>>()?;
    out.sort();
    Ok(out)
}

pub fn list(conn: &Connection) -> Result<Vec<Worker>> {
    select(conn, "ORDER BY w.node_id, w.worker_id", [])
}

/// One worker, if it was ever heard from.
pub fn get(conn: &Connection, node_id: &str, worker_id: &str) -> Result<Option<Worker>> {
    Ok(select(
        conn,
        "WHERE w.node_id = ?1 AND w.worker_id = ?2",
        [node_id, worker_id],
    )?
    .pop())
}

fn select<P: rusqlite::Params>(conn: &Connection, tail: &str, params: P) -> Result<Vec<Worker>> {
    all_rows(
        conn,
        &format!(
            "SELECT w.node_id, w.worker_id, w.status, w.lanes, w.capabilities, w.owner, w.max_concurrent, \
                 w.metrics, w.first_seen, w.last_seen, w.stale, w.drained, \
                 max(COALESCE(w.active_tasks, 0), \
                     (SELECT COUNT(*) FROM assignments a WHERE a.node_id = w.node_id AND a.worker_id = w.worker_id \
                         AND a.status IN ('claimed', 'running'))), \
                 w.failures, w.breaker_opened_at, w.breaker_trial \
             FROM workers w {tail}"
        ),
        params,
        |row| {
            let json_list = |i: usize| -> rusqlite::Result<Vec<String>> {
                Ok(serde_json::from_str(&row.get::<_, String>(i)?).unwrap_or_default())
            };
            Ok(Worker {
                node_id: row.get(0)?,
                worker_id: row.get(1)?,
                status: row.get(2)?,
                lanes: json_list(3)?,
                capabilities: json_list(4)?,
                owner: row.get(5)?,
                max_concurrent: row.get(6)?,
                metrics: serde_json::from_str(&row.get::<_, String>(7)?).unwrap_or_default(),
                first_seen: row.get(8)?,
                last_seen: row.get(9)?,
                stale: row.get(10)?,
                drained: row.get(11)?,
                active: row.get(12)?,
                breaker: breaker_of(row, 13)?,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_history_is_a_bounded_ring_per_worker() {
        let store = Store::in_memory().unwrap();
        let now = Utc::now();
        for i in 0..7 {
            let mut hb = Heartbeat::new("n1", "w1");
            hb.heartbeat_id = Some(format!("hb{i}"));
            record_heartbeat(store.conn(), &hb, 3, now + SAMPLE_EVERY * i).unwrap();
        }
        record_heartbeat(store.conn(), &Heartbeat::new("n1", "w2"), 3, now).unwrap();
        let kept: Vec<i64> = store
            .conn()
            .prepare("SELECT beat FROM heartbeats WHERE worker_id = 'w1' ORDER BY beat")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(kept, vec![5, 6, 7], "the newest three");
        let workers = list(store.conn()).unwrap();
        assert_eq!(workers.len(), 2);
        assert_eq!(workers[0].status, "ready");
    }

    #[test]
    fn a_steady_worker_is_sampled_but_every_change_is_kept() {
        let store = Store::in_memory().unwrap();
        let now = Utc::now();
        let count = || -> i64 {
            store
                .conn()
                .query_row("SELECT COUNT(*) FROM heartbeats", [], |r| r.get(0))
                .unwrap()
        };
        for i in 0..10 {
            record_heartbeat(
                store.conn(),
                &Heartbeat::new("n1", "w1"),
                100,
                now + chrono::TimeDelta::milliseconds(i * 100),
            )
            .unwrap();
        }
        assert_eq!(count(), 1, "one sample for a second of steady heartbeats");
        let mut busy = Heartbeat::new("n1", "w1");
        busy.status = crate::domain::worker::WorkerStatus::Busy;
        record_heartbeat(
            store.conn(),
            &busy,
            100,
            now + chrono::TimeDelta::seconds(1),
        )
        .unwrap();
        assert_eq!(count(), 2, "a status change is always kept");
        record_heartbeat(store.conn(), &busy, 100, now + SAMPLE_EVERY * 2).unwrap();
        assert_eq!(count(), 3, "and a sample every few seconds");
    }
}
