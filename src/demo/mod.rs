//! `auto-assign demo`: the control room over a simulated fleet. Everything
//! the simulation does goes through the real socket, as real workers would:
//! heartbeats, claims, progress, completions, failures, silences.

use crate::config::Settings;
use crate::domain::lifecycle::Status;
use crate::error::{Error, Result};
use crate::ingest::client::Client;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const FLEET: &str = include_str!("../../assets/demo/fleet.toml");
const TASKS: &str = include_str!("../../assets/demo/tasks.json");

/// Tasks waiting for a worker the generator keeps the queue at, at most.
const MAX_WAITING: u64 = 25;
/// Tasks waiting for an approval, at most: a screenful, so the approvals
/// pane never piles up past what an operator can read, however long the
/// demo runs unattended.
const MAX_APPROVALS: u64 = 8;
/// A napping worker first goes quiet this many seconds in (a newcomer sees
/// a late, then a stale worker within the first minutes), then every
/// `NAP_EVERY` seconds, for `NAP_SECONDS` (twice the demo's stale timeout).
const FIRST_NAP: u64 = 45;
const NAP_EVERY: u64 = 180;
const NAP_SECONDS: u64 = 25;
/// The worker the demo's operator drains for maintenance: first this many
/// seconds in, then every `DRAIN_EVERY`, for `DRAIN_SECONDS`. Its running
/// task finishes; it is given nothing new meanwhile.
const DRAINED: &str = "homelab/lmstudio-1";
const FIRST_DRAIN: u64 = 90;
const DRAIN_EVERY: u64 = 300;
const DRAIN_SECONDS: u64 = 60;

#[derive(Debug, Clone, Deserialize)]
pub struct Fleet {
    pub node: Vec<Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub id: String,
    pub worker: Vec<Worker>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Worker {
    pub id: String,
    pub lanes: Vec<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub max_concurrent: u32,
    pub work_seconds: u64,
    pub success_rate: f64,
    #[serde(default)]
    pub naps: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Script {
    pub router: Value,
    pub tasks: Vec<Value>,
}

pub fn fleet() -> Result<Fleet> {
    toml::from_str(FLEET)
        .map_err(|e| Error::bad_input("assets/demo/fleet.toml", e.message().to_string()))
}

pub fn script() -> Result<Script> {
    serde_json::from_str(TASKS)
        .map_err(|e| Error::bad_input("assets/demo/tasks.json", e.to_string()))
}

/// Settings for a demo that leaves nothing behind: its own database, socket
/// and log in a fresh folder.
pub fn settings(base: &Settings) -> Result<(Settings, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("auto-assign-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        context: format!("cannot create {}", dir.display()),
        source,
    })?;
    let mut settings = base.clone();
    settings.database_path = dir.join("demo.sqlite3");
    settings.socket_path = dir.join("engine.sock");
    settings.log_file = Some(dir.join("control-room.log"));
    settings.stale_heartbeat_seconds = 12;
    settings.default_lease_seconds = 60;
    settings.scheduler_enabled = false;
    // A breaker that trips and recovers within a few minutes of watching.
    settings.breaker = crate::domain::fleet::breaker::BreakerPolicy {
        failures: 2,
        cooldown_seconds: 30,
    };
    // Aging in seconds rather than minutes: a background task passed over
    // by a stream of urgent ones rises a level every 20 s and is taken
    // within a couple of minutes; one waiting longer is a starving alert.
    settings.aging_step_seconds = 20;
    settings.alerts.starving_seconds = 120;
    Ok((settings, dir))
}

/// A small deterministic generator: the demo needs variety, not security.
struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

async fn ask(client: &mut Client, request: Value) -> Option<Value> {
    client.request(request).await.ok()
}

/// Starts the simulation: a task generator and one task per worker. They
/// end when the socket goes away.
pub fn simulate(socket: &Path) -> Result<()> {
    let fleet = fleet()?;
    let script = script()?;
    let generator_socket = socket.to_path_buf();
    tokio::spawn(async move { generate(&generator_socket, script).await });
    for (n, node) in fleet.node.iter().enumerate() {
        for (w, worker) in node.worker.iter().enumerate() {
            let (socket, node_id, worker) = (socket.to_path_buf(), node.id.clone(), worker.clone());
            let seed = 0x5eed + (n * 16 + w) as u64;
            tokio::spawn(async move { work(&socket, &node_id, worker, seed).await });
        }
    }
    Ok(())
}

async fn generate(socket: &Path, script: Script) {
    let Ok(mut client) = Client::connect(socket).await else {
        return;
    };
    let operator =
        json!({"op": "command", "command": "tick", "operator": "demo", "router": script.router});
    ask(&mut client, operator).await;
    let mut number = 0usize;
    let mut next = 0usize;
    let started = std::time::Instant::now();
    let mut drained = false;
    loop {
        let second = started.elapsed().as_secs();
        if drained_at(second) != drained {
            drained = !drained;
            let (command, reason) = if drained {
                ("drain", "maintenance: GPU driver update")
            } else {
                ("undrain", "maintenance done")
            };
            let request = json!({"op": "command", "command": command, "operator": "demo",
                "worker": DRAINED, "reason": reason});
            ask(&mut client, request).await;
        }
        let Ok(snapshot) = client.snapshot().await else {
            return;
        };
        let gated = snapshot.count(Status::ApprovalRequired);
        if snapshot.count(Status::Recommended) < MAX_WAITING
            && let Some((index, task)) = pick(&script.tasks, next, gated)
        {
            next = index + 1;
            let mut task = task.clone();
            number += 1;
            task["task_id"] = json!(format!("T{number:04}"));
            task["status"] = json!("READY");
            let event = json!({"op": "event", "event": {
                "event_type": "task.candidate.created",
                "idempotency_key": format!("demo-{}-{number}", std::process::id()),
                "payload": task,
            }});
            if ask(&mut client, event).await.is_none() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
}

/// The next task from `start` on (round the script): a gated one only while
/// fewer than [`MAX_APPROVALS`] wait.
fn pick(tasks: &[Value], start: usize, gated_waiting: u64) -> Option<(usize, &Value)> {
    (start..start + tasks.len())
        .map(|i| (i, &tasks[i % tasks.len()]))
        .find(|(_, t)| gated_waiting < MAX_APPROVALS || !needs_approval(t))
}

/// What the demo's script marks as needing an operator (the engine's
/// gates decide for real; this only paces the generator).
fn needs_approval(task: &Value) -> bool {
    task["approval_required"] == true
        || matches!(task["risk_level"].as_str(), Some("high" | "critical"))
}

/// Whether the demo's operator has [`DRAINED`] drained `second` seconds in.
fn drained_at(second: u64) -> bool {
    second >= FIRST_DRAIN && (second - FIRST_DRAIN) % DRAIN_EVERY < DRAIN_SECONDS
}

/// Whether a napping worker is silent `second` seconds into the demo.
fn napping_at(second: u64) -> bool {
    second >= FIRST_NAP && (second - FIRST_NAP) % NAP_EVERY < NAP_SECONDS
}

async fn work(socket: &Path, node: &str, worker: Worker, seed: u64) {
    let mut dice = Dice(seed);
    let Ok(mut client) = Client::connect(socket).await else {
        return;
    };
    let mut current: Vec<(String, u64)> = Vec::new(); // (assignment, seconds left)
    let mut second = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        second += 1;
        if worker.naps && napping_at(second) {
            // Silent, as a crashed worker: what it held is lost, and the
            // engine takes the leases back once it is stale.
            current.clear();
            continue;
        }
        let status = if current.is_empty() { "ready" } else { "busy" };
        let beat = json!({"op": "heartbeat", "node_id": node, "worker_id": worker.id, "status": status,
            "lanes": worker.lanes, "capabilities": worker.capabilities, "max_concurrent": worker.max_concurrent,
            "metrics": {"success_rate": worker.success_rate, "load": current.len() as f64 / f64::from(worker.max_concurrent)}});
        if ask(&mut client, beat).await.is_none() {
            return;
        }
        for (assignment, left) in current.iter_mut() {
            *left = left.saturating_sub(1);
            if *left > 0 {
                let percent = 50.0;
                ask(&mut client, json!({"op": "progress", "assignment_id": assignment, "worker_id": worker.id, "percent": percent})).await;
            }
        }
        let finished: Vec<String> = current
            .iter()
            .filter(|(_, left)| *left == 0)
            .map(|(a, _)| a.clone())
            .collect();
        current.retain(|(_, left)| *left > 0);
        for assignment in finished {
            let request = if dice.roll() < worker.success_rate {
                json!({"op": "complete", "assignment_id": assignment, "worker_id": worker.id, "summary": "done by the demo"})
            } else {
                json!({"op": "fail", "assignment_id": assignment, "worker_id": worker.id, "reason": "simulated failure", "retryable": true})
            };
            ask(&mut client, request).await;
        }
        if current.len() < worker.max_concurrent as usize {
            // The engine chooses: a lane this worker serves, the capabilities
            // the task needs, effective priority (contract C).
            let request =
                json!({"op": "next", "worker_id": worker.id, "node_id": node, "lease_seconds": 60});
            let Some(reply) = ask(&mut client, request).await else {
                return;
            };
            if let Some(id) = reply["result"]["data"]["assignment_id"].as_str() {
                let jitter = (dice.roll() * worker.work_seconds as f64 / 2.0) as u64;
                current.push((id.to_string(), worker.work_seconds + jitter));
            } else if reply["ok"] == false {
                // Refused (drained, breaker open): as a real worker would,
                // it asks again later rather than every second.
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_fleet_and_tasks_parse() {
        let fleet = fleet().unwrap();
        assert!(fleet.node.len() >= 3);
        assert!(
            fleet.node.iter().flat_map(|n| &n.worker).any(|w| w.naps),
            "someone must go stale"
        );
        assert!(
            fleet
                .node
                .iter()
                .flat_map(|n| &n.worker)
                .any(|w| w.success_rate < 0.5),
            "someone must trip its breaker"
        );
        let script = script().unwrap();
        assert!(
            script.tasks.iter().any(needs_approval),
            "some tasks must need approval"
        );
    }

    /// The flow never stops: with a screenful of approvals waiting, only
    /// tasks that need none are made.
    #[test]
    fn approvals_never_pile_past_a_screenful_and_the_flow_goes_on() {
        let script = script().unwrap();
        let tasks = &script.tasks;
        let mut next = 0;
        for _ in 0..3 * tasks.len() {
            let (index, task) = pick(tasks, next, MAX_APPROVALS).unwrap();
            assert!(!needs_approval(task), "{task}");
            next = index + 1;
        }
        let gated = (0..tasks.len())
            .filter_map(|i| pick(tasks, i, 0))
            .filter(|(_, t)| needs_approval(t))
            .count();
        assert!(gated > 0);
    }

    /// The operator drains a worker within the first two minutes, for a
    /// minute, and again every five; the drained worker is one the fleet
    /// has.
    #[test]
    fn a_worker_is_drained_for_maintenance_early_and_then_now_and_then() {
        let drained: Vec<u64> = (0..900).filter(|s| drained_at(*s)).collect();
        assert!(drained[0] < 120, "{drained:?}");
        assert_eq!(drained.len() as u64, 3 * DRAIN_SECONDS);
        let (node, worker) = DRAINED.split_once('/').unwrap();
        let fleet = fleet().unwrap();
        assert!(
            fleet
                .node
                .iter()
                .any(|n| n.id == node && n.worker.iter().any(|w| w.id == worker))
        );
    }

    /// A worker goes quiet within the first minute, long enough to go
    /// stale (the demo's timeout is 12 s), and again every few minutes.
    #[test]
    fn a_worker_naps_early_and_then_every_few_minutes() {
        let quiet: Vec<u64> = (0..600).filter(|s| napping_at(*s)).collect();
        assert!(quiet[0] < 120, "{quiet:?}");
        let naps = quiet.windows(2).filter(|w| w[1] != w[0] + 1).count() + 1;
        assert_eq!(naps, 4, "{quiet:?}");
        let first_nap = quiet.windows(2).take_while(|w| w[1] == w[0] + 1).count() + 1;
        assert!(first_nap > 12 + 5, "long enough to go stale: {first_nap}s");
    }
}
