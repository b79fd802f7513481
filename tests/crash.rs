//! The engine survives being killed. A child process runs the engine on a
//! real database and takes a stream of commands; it is SIGKILLed at random
//! moments, restarted, and the client resends whatever was not
//! acknowledged, as a real client would. After every restart no
//! acknowledged command and no outbox event may be missing or doubled.
//!
//! `CRASH_ITERATIONS` sets the number of kills (default 50).

mod common;

use auto_assign::domain::ids;
use auto_assign::store::Store;
use common::Sandbox;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A tiny deterministic generator; the seed is printed so a failure can be
/// replayed with CRASH_SEED.
struct Lcg(u64);

/// A number from the environment, or `default`.
fn from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Lcg {
    /// Seeded from CRASH_SEED, else the clock; the seed is printed.
    fn seeded(test: &str, iterations: usize) -> Lcg {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let seed = from_env("CRASH_SEED", clock);
        eprintln!("{test}: {iterations} kills, CRASH_SEED={seed}");
        Lcg(seed)
    }

    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// Command `i` of the stream: every task arrives as an AssistX event, and
/// every third task is then claimed by a worker.
fn command(i: usize) -> Value {
    let task = format!("T{}", i / 2);
    if i.is_multiple_of(2) {
        json!({"op": "event", "id": i, "event": {
            "event_type": "task.candidate.created",
            "idempotency_key": format!("k{}", i / 2),
            "payload": {"task_id": task, "priority": "batch"}
        }})
    } else {
        json!({"op": "claim", "id": i, "assignment_id": ids::assignment_id(&task, None), "worker_id": "w1", "lease_seconds": 86400})
    }
}

fn is_claim(i: usize) -> bool {
    !i.is_multiple_of(2) && (i / 2).is_multiple_of(3)
}

/// Runs the engine until it is killed `kill_after` its first reply; returns the
/// commands acknowledged (`ok: true`, or a refusal that proves the change
/// was already committed).
fn run_once(sb: &Sandbox, from: usize, kill_after: Duration) -> Vec<usize> {
    run(sb, from, None, kill_after)
}

/// Runs the engine on a burst of `burst` commands, waits until it has
/// answered them all and then `kill_after` more, and kills it: an engine
/// idle for a second truncates its write-ahead log, so kills about then
/// land before, during and after that checkpoint.
fn run_burst(sb: &Sandbox, from: usize, burst: usize, kill_after: Duration) -> Vec<usize> {
    run(sb, from, Some(burst), kill_after)
}

fn run(sb: &Sandbox, from: usize, burst: Option<usize>, kill_after: Duration) -> Vec<usize> {
    let mut child = sb
        .command()
        .args(["batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(reply) = serde_json::from_str::<Value>(&line) else {
                break;
            };
            let _ = tx.send(reply);
        }
    });
    let writer = std::thread::spawn(move || {
        let sent = (from..)
            .filter(|&i| i.is_multiple_of(2) || is_claim(i))
            .take(burst.unwrap_or(usize::MAX));
        for i in sent {
            if writeln!(stdin, "{}", command(i)).is_err() {
                return;
            }
        }
        // A burst's stream stays open: the engine idles until it is killed.
        let _keep = stdin;
        std::thread::sleep(Duration::from_secs(60));
    });
    // The clock starts at the first reply, when the engine is up: a slow
    // machine that takes long to start still sees every run make progress.
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the engine never answered");
    let mut replies = vec![first];
    if let Some(burst) = burst {
        while replies.len() < burst {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(reply) => replies.push(reply),
                Err(_) => break,
            }
        }
    }
    std::thread::sleep(kill_after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(writer); // a burst's writer sleeps on; it ends with the test
    let _ = reader.join();
    let mut acked = Vec::new();
    for reply in replies.into_iter().chain(rx.try_iter()) {
        let i = reply["id"].as_u64().unwrap() as usize;
        let refused_because_done = reply["error"]["code"] == "illegal_transition";
        assert!(
            reply["ok"] == true || refused_because_done,
            "unexpected reply {reply}"
        );
        acked.push(i);
    }
    acked
}

fn count(store: &Store, sql: &str, param: &str) -> i64 {
    store.conn().query_row(sql, [param], |r| r.get(0)).unwrap()
}

/// Every acknowledged command is in the database exactly once, and so is
/// its outbox event; nothing else doubled.
fn verify(sb: &Sandbox, acked: &BTreeSet<usize>) {
    let store = Store::open(&sb.db()).unwrap();
    let integrity: String = store
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    for &i in acked {
        let task = format!("T{}", i / 2);
        let id = ids::assignment_id(&task, None);
        if i.is_multiple_of(2) {
            assert_eq!(
                count(
                    &store,
                    "SELECT COUNT(*) FROM inbound_events WHERE idempotency_key = ?1",
                    &format!("k{}", i / 2)
                ),
                1
            );
            assert_eq!(
                count(
                    &store,
                    "SELECT COUNT(*) FROM inbound_processing WHERE idempotency_key = ?1",
                    &format!("k{}", i / 2)
                ),
                1
            );
            assert_eq!(
                count(
                    &store,
                    "SELECT COUNT(*) FROM assignments WHERE assignment_id = ?1",
                    &id
                ),
                1
            );
            assert_eq!(
                count(
                    &store,
                    "SELECT COUNT(*) FROM outbox WHERE event_type = 'assign.assignment.recommended' AND subject_id = ?1",
                    &task
                ),
                1
            );
        } else {
            assert_eq!(
                count(
                    &store,
                    "SELECT COUNT(*) FROM assignments WHERE assignment_id = ?1 AND status = 'claimed'",
                    &id
                ),
                1
            );
            assert_eq!(
                count(
                    &store,
                    "SELECT COUNT(*) FROM outbox WHERE event_type = 'assignment.claimed' AND subject_id = ?1",
                    &id
                ),
                1
            );
        }
    }
    let doubled: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM (SELECT idempotency_key FROM outbox GROUP BY idempotency_key HAVING COUNT(*) > 1)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(doubled, 0);
    let claims_per_assignment: i64 = store
        .conn()
        .query_row("SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) n FROM outbox WHERE event_type = 'assignment.claimed' GROUP BY subject_id)", [], |r| r.get(0))
        .unwrap();
    assert!(claims_per_assignment <= 1);
}

#[test]
fn killed_engine_loses_and_doubles_nothing() {
    let iterations = from_env("CRASH_ITERATIONS", 50) as usize;
    let mut rng = Lcg::seeded("crash test", iterations);
    let sb = Sandbox::new();
    let mut acked = BTreeSet::new();
    let started = Instant::now();
    for _ in 0..iterations {
        // Resend from the first command not acknowledged: some of those may
        // have been committed just before the kill, and must not double.
        let from = (0..)
            .find(|i: &usize| (i.is_multiple_of(2) || is_claim(*i)) && !acked.contains(i))
            .unwrap();
        let kill_after = Duration::from_millis(5 + rng.next(80));
        acked.extend(run_once(&sb, from, kill_after));
        verify(&sb, &acked);
    }
    // Every run got at least its first command acknowledged.
    assert!(
        acked.len() >= iterations,
        "the engine made too little progress: {} acks",
        acked.len()
    );
    eprintln!(
        "crash test: {} commands acknowledged in {:?}",
        acked.len(),
        started.elapsed()
    );
}

/// Kills that land around the checkpoint that truncates the write-ahead log
/// once the engine is idle: nothing acknowledged is lost or doubled, and the
/// database stays whole. `CRASH_CHECKPOINT_ITERATIONS` sets the runs
/// (default 8).
#[test]
fn killed_around_the_idle_checkpoint_loses_and_doubles_nothing() {
    let iterations = from_env("CRASH_CHECKPOINT_ITERATIONS", 8) as usize;
    let mut rng = Lcg::seeded("checkpoint crash test", iterations);
    let sb = Sandbox::new();
    let mut acked = BTreeSet::new();
    for _ in 0..iterations {
        let from = (0..)
            .find(|i: &usize| (i.is_multiple_of(2) || is_claim(*i)) && !acked.contains(i))
            .unwrap();
        // The checkpoint comes 1 to 1.5 s into the idle spell.
        let kill_after = Duration::from_millis(950 + rng.next(650));
        acked.extend(run_burst(&sb, from, 400, kill_after));
        verify(&sb, &acked);
    }
    assert!(acked.len() >= iterations * 400, "{} acks", acked.len());
}
