//! Acknowledged means on disk. The daemon keeps its database on [`lazyfs`], a
//! filesystem that keeps only what was fsync-ed. Clients stream task
//! arrivals, approvals, claims, starts, completions, control changes and
//! heartbeats at it; the power is cut at a random moment; the disk comes back
//! with only what was synced; the daemon restarts on it. Every change a
//! client saw acknowledged must then be there exactly once, in a database
//! that passes `PRAGMA integrity_check`.
//!
//! Needs /dev/fuse and root: without them the test says so and passes,
//! except under `CI=true`, where it fails. `POWER_CUT_ITERATIONS` sets the
//! number of cuts (default 100); the seed is printed, `POWER_CUT_SEED`
//! replays it.

mod common;
mod lazyfs;

use auto_assign::domain::ids;
use auto_assign::store::Store;
use common::{Conn, Connect, Daemon, Sandbox};
use lazyfs::LazyFs;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A change a client was told is done.
#[derive(Debug, Clone)]
enum Ack {
    Arrived(usize),
    Approved(usize),
    Claimed(usize, String),
    Started(usize),
    Completed(usize),
    Control(i64),
    Heartbeat(String),
}

/// The work in flight between the clients, kept across cuts: a task moves
/// on only once its last step was acknowledged. A step left unanswered by a
/// cut leaves its task where it is, done or not: the test cannot know which.
#[derive(Default)]
struct Board {
    next_task: usize,
    to_approve: VecDeque<usize>,
    to_claim: VecDeque<usize>,
    /// Claimed tasks waiting for their worker to start them, then finish.
    to_start: Vec<(usize, String)>,
    to_complete: Vec<(usize, String)>,
    acks: Vec<Ack>,
}

const WORKERS: [&str; 2] = ["w1", "w2"];

fn task(n: usize) -> String {
    format!("T{n}")
}

fn assignment(n: usize) -> String {
    ids::assignment_id(&task(n), None)
}

/// A number from the environment, or `default`.
fn from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// One client's conversation with the daemon. Every request is answered,
/// or the connection is gone (the power was cut): `None`.
struct Client {
    conn: Conn,
    board: Arc<Mutex<Board>>,
    /// Set just before a cut: error replies are expected from then on.
    cutting: Arc<AtomicBool>,
}

impl Client {
    fn ask(&mut self, request: Value) -> Option<Value> {
        use std::io::{BufRead, Write};
        self.conn
            .writer
            .write_all(format!("{request}\n").as_bytes())
            .ok()?;
        let mut line = String::new();
        match self.conn.reader.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
        let reply: Value = serde_json::from_str(&line).ok()?;
        if reply["ok"] == true {
            return Some(reply);
        }
        // A disk that fails mid-commit makes the engine refuse: after the
        // cut that is the expected answer, before it a bug.
        assert!(
            self.cutting.load(Ordering::SeqCst),
            "refused before any cut: {request} -> {reply}"
        );
        None
    }

    fn ack(&self, ack: Ack) {
        self.board.lock().unwrap().acks.push(ack);
    }

    fn take<T>(&self, pick: impl FnOnce(&mut Board) -> Option<T>) -> Option<T> {
        pick(&mut self.board.lock().unwrap())
    }

    fn put(&self, change: impl FnOnce(&mut Board)) {
        change(&mut self.board.lock().unwrap())
    }

    /// Nothing to do for now: wait a little, unless the power is going.
    fn idle(&self) -> Option<()> {
        if self.cutting.load(Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
        Some(())
    }
}

/// Tasks arrive as AssistX events; every third needs an operator's approval.
fn intake(mut c: Client) {
    loop {
        let n = c.take(|b| {
            b.next_task += 1;
            Some(b.next_task)
        });
        let Some(n) = n else { return };
        let gated = n.is_multiple_of(3);
        let event = json!({"op": "event", "event": {
            "event_type": "task.candidate.created",
            "idempotency_key": format!("k{n}"),
            "payload": {"task_id": task(n), "priority": "batch", "approval_required": gated}
        }});
        if c.ask(event).is_none() {
            return;
        }
        c.ack(Ack::Arrived(n));
        c.put(|b| {
            if gated {
                b.to_approve.push_back(n)
            } else {
                b.to_claim.push_back(n)
            }
        });
    }
}

fn approver(mut c: Client) {
    loop {
        let Some(n) = c.take(|b| b.to_approve.pop_front()) else {
            match c.idle() {
                Some(()) => continue,
                None => return,
            }
        };
        let approve = json!({"op": "command", "command": "approve", "operator": "op",
            "assignment_id": assignment(n), "reason": "ok"});
        if c.ask(approve).is_none() {
            return;
        }
        c.ack(Ack::Approved(n));
        c.put(|b| b.to_claim.push_back(n));
    }
}

/// Sets the mode again and again: each change is a new control version.
fn controller(mut c: Client) {
    for step in 0.. {
        let control = json!({"op": "command", "command": "control", "operator": "op",
            "mode": "enabled", "reason": format!("step {step}")});
        let Some(reply) = c.ask(control) else { return };
        let version = reply["result"]["data"]["version"].as_i64();
        c.ack(Ack::Control(version.unwrap_or_else(|| panic!("{reply}"))));
        std::thread::sleep(Duration::from_millis(3));
    }
}

/// Heartbeats, and carries its tasks from claim to completion.
fn worker(mut c: Client, me: &'static str) {
    let mine = |list: &mut Vec<(usize, String)>| {
        let at = list.iter().position(|(_, w)| w == me)?;
        Some(list.remove(at).0)
    };
    loop {
        let beat = json!({"op": "heartbeat", "node_id": "n1", "worker_id": me, "status": "ready"});
        if c.ask(beat).is_none() {
            return;
        }
        c.ack(Ack::Heartbeat(me.to_string()));
        if let Some(n) = c.take(|b| mine(&mut b.to_start)) {
            let start = json!({"op": "heartbeat", "node_id": "n1", "worker_id": me,
                "assignment_id": assignment(n), "status": "busy"});
            let Some(reply) = c.ask(start) else { return };
            assert_eq!(
                reply["result"]["data"]["started"][0],
                assignment(n),
                "{reply}"
            );
            c.ack(Ack::Started(n));
            c.put(|b| b.to_complete.push((n, me.to_string())));
        } else if let Some(n) = c.take(|b| mine(&mut b.to_complete)) {
            let complete = json!({"op": "complete", "node_id": "n1", "worker_id": me,
                "assignment_id": assignment(n), "summary": "done"});
            if c.ask(complete).is_none() {
                return;
            }
            c.ack(Ack::Completed(n));
        } else if let Some(n) = c.take(|b| b.to_claim.pop_front()) {
            let claim = json!({"op": "claim", "node_id": "n1", "worker_id": me,
                "assignment_id": assignment(n), "lease_seconds": 86400});
            if c.ask(claim).is_none() {
                return;
            }
            c.ack(Ack::Claimed(n, me.to_string()));
            c.put(|b| b.to_start.push((n, me.to_string())));
        } else if c.idle().is_none() {
            return;
        }
    }
}

fn count(store: &Store, sql: &str, params: impl rusqlite::Params) -> i64 {
    store
        .conn()
        .query_row(sql, params, |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The outbox events of `event_type` about task `n`'s assignment.
fn events(store: &Store, event_type: &str, n: usize) -> i64 {
    count(
        store,
        "SELECT COUNT(*) FROM outbox WHERE event_type = ?1 AND idempotency_key LIKE ?2",
        (event_type, format!("%{}%", assignment(n))),
    )
}

fn status(store: &Store, n: usize) -> String {
    store
        .conn()
        .query_row(
            "SELECT status FROM assignments WHERE assignment_id = ?1",
            [assignment(n)],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("task {n}'s assignment: {e}"))
}

/// Every acknowledged change is in the database once, with its outbox event
/// once, and the database is whole.
fn verify(store: &Store, acks: &[Ack]) {
    let integrity: String = store
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let one = |what: &str, n: i64, ack: &Ack| assert_eq!(n, 1, "{what} for {ack:?}");
    let in_status = |n: usize, allowed: &[&str], ack: &Ack| {
        let status = status(store, n);
        assert!(allowed.contains(&status.as_str()), "{ack:?} but {status}");
    };
    for ack in acks {
        match ack {
            Ack::Arrived(n) => {
                let key = format!("k{n}");
                let sql = "SELECT COUNT(*) FROM inbound_events WHERE idempotency_key = ?1";
                one("inbound event", count(store, sql, [&key]), ack);
                let sql = "SELECT COUNT(*) FROM assignments WHERE assignment_id = ?1";
                one("assignment", count(store, sql, [assignment(*n)]), ack);
            }
            Ack::Approved(n) => {
                one(
                    "event",
                    events(store, "assign.assignment.approved", *n),
                    ack,
                );
                in_status(*n, &["approved", "claimed", "running", "done"], ack);
            }
            Ack::Claimed(n, worker) => {
                one("event", events(store, "assignment.claimed", *n), ack);
                in_status(*n, &["claimed", "running", "done"], ack);
                let sql =
                    "SELECT COUNT(*) FROM assignments WHERE assignment_id = ?1 AND worker_id = ?2";
                one("holder", count(store, sql, (assignment(*n), worker)), ack);
            }
            Ack::Started(n) => {
                one("event", events(store, "assignment.heartbeat", *n), ack);
                in_status(*n, &["running", "done"], ack);
            }
            Ack::Completed(n) => {
                one("event", events(store, "assignment.completed", *n), ack);
                in_status(*n, &["done"], ack);
            }
            Ack::Control(version) => {
                // The key ends with the change's time (contract D).
                let key = format!("assign.control.changed:{version}:enabled:%");
                let sql = "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE ?1";
                one("event", count(store, sql, [key]), ack);
                let sql = "SELECT COUNT(*) FROM control WHERE version >= ?1";
                one("version", count(store, sql, [version]), ack);
            }
            Ack::Heartbeat(worker) => {
                let sql = "SELECT COUNT(*) FROM workers WHERE node_id = 'n1' AND worker_id = ?1";
                one("worker", count(store, sql, [worker]), ack);
            }
        }
    }
    // No task was ever given to two workers.
    let doubled = "SELECT COUNT(*) FROM (SELECT subject_id FROM outbox \
        WHERE event_type = 'assignment.claimed' GROUP BY subject_id HAVING COUNT(*) > 1)";
    assert_eq!(count(store, doubled, []), 0);
}

/// Runs the clients against `daemon` until the power is cut, `run_for`
/// after they start.
fn load_then_cut(daemon: &mut Daemon, fs: &LazyFs, board: &Arc<Mutex<Board>>, run_for: Duration) {
    let cutting = Arc::new(AtomicBool::new(false));
    let client = || Client {
        conn: daemon.connect(),
        board: board.clone(),
        cutting: cutting.clone(),
    };
    let mut threads = vec![
        std::thread::spawn({
            let c = client();
            move || intake(c)
        }),
        std::thread::spawn({
            let c = client();
            move || approver(c)
        }),
        std::thread::spawn({
            let c = client();
            move || controller(c)
        }),
    ];
    for me in WORKERS {
        let c = client();
        threads.push(std::thread::spawn(move || worker(c, me)));
    }
    std::thread::sleep(run_for);
    cutting.store(true, Ordering::SeqCst);
    fs.cut();
    daemon.child.kill().unwrap(); // the machine is off: SIGKILL
    daemon.child.wait().unwrap();
    for thread in threads {
        if let Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

/// The daemon, once its engine has opened (and recovered) the database: its
/// socket accepts connections a moment before.
fn restart(sb: &Sandbox, env: &[(&str, &str)]) -> Daemon {
    let daemon = Daemon::start_env(sb, env);
    let hello = daemon.connect().ask(json!({"op": "hello"}));
    assert_eq!(hello["ok"], true, "{hello}");
    daemon
}

#[test]
fn acknowledged_changes_survive_power_cuts() {
    let iterations = from_env("POWER_CUT_ITERATIONS", 100);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let seed = from_env("POWER_CUT_SEED", clock);
    eprintln!("power cut test: {iterations} cuts, POWER_CUT_SEED={seed}");
    let mut rng = Lcg(seed);
    let sb = Sandbox::new();
    let disk = sb.path("disk");
    std::fs::create_dir(&disk).unwrap();
    let (fs, mut mounted) = match LazyFs::mount(&disk) {
        Ok(mounted) => mounted,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: cannot mount the test filesystem ({e}); needs /dev/fuse and root");
            return;
        }
        Err(e) => panic!("cannot mount the test filesystem under CI: {e}"),
    };
    let db = disk.join("cache.sqlite3");
    let db_text = db.display().to_string();
    let env = [
        ("AUTO_ASSIGN_DATABASE_URL", db_text.as_str()),
        // Workers stay fresh across the pauses between cuts.
        ("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "3600"),
    ];
    let board = Arc::new(Mutex::new(Board::default()));
    let mut checked = 0;
    let started = Instant::now();
    for _ in 0..iterations {
        let mut daemon = restart(&sb, &env);
        {
            // What the last cut may have lost: the changes acknowledged
            // since the one before. All of them are checked at the end.
            let store = Store::open_read_only(&db).unwrap();
            let acks = board.lock().unwrap().acks.clone();
            verify(&store, &acks[checked..]);
            checked = acks.len();
        }
        let run_for = Duration::from_millis(10 + rng.next(250));
        load_then_cut(&mut daemon, &fs, &board, run_for);
        mounted = fs.remount(mounted).unwrap();
    }
    let daemon = restart(&sb, &env);
    let store = Store::open_read_only(&db).unwrap();
    let board = board.lock().unwrap();
    verify(&store, &board.acks);
    drop(store);
    let (code, log) = daemon.terminate();
    assert_eq!(code, Some(0), "{log}");
    // The run did work worth checking: every kind of change was acknowledged.
    let kinds: std::collections::HashSet<_> =
        board.acks.iter().map(std::mem::discriminant).collect();
    assert_eq!(kinds.len(), 7, "not every kind of change was acknowledged");
    assert!(fs.syncs() > 0);
    eprintln!(
        "power cut test: {} acknowledged changes survived {iterations} cuts in {:?}",
        board.acks.len(),
        started.elapsed()
    );
    drop(mounted);
}
