//! The engine's state and how each command changes it. Synchronous and
//! single-owner: [`Core`] holds the only store connection; the async task in
//! `engine/mod.rs` feeds it commands one at a time.

use super::command::{Command, Reply};
use super::snapshot::{self, Snapshot};
use super::work::Work;
use crate::config::Settings;
use crate::domain::router::{RouterBodies, RouterSnapshot};
use crate::error::{Error, Result};
use crate::store::{Store, audit};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Where "now" comes from; tests move it by hand.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

pub struct Core {
    store: Store,
    settings: Settings,
    router: RouterSnapshot,
    clock: Clock,
    started_at: DateTime<Utc>,
    last_tick_at: Option<DateTime<Utc>>,
}

impl Core {
    pub fn new(store: Store, settings: Settings, clock: Clock) -> Core {
        let started_at = clock();
        Core {
            store,
            settings,
            router: RouterSnapshot::unreachable(),
            clock,
            started_at,
            last_tick_at: None,
        }
    }

    /// Opens the configured database.
    pub fn open(settings: Settings) -> Result<Core> {
        let store = Store::open(&settings.database_path)?;
        Ok(Core::new(store, settings, system_clock()))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Catches up after a start: leases that ended and approvals that lapsed
    /// while the engine was down, and inbound events stored but never
    /// processed. Nothing in flight is forgotten, because all of it is in
    /// the store.
    pub fn recover(&mut self) -> Result<()> {
        self.housekeeping()?;
        self.apply(Command::ProcessEvents {
            include_processed: false,
            dry_run: false,
        })?;
        Ok(())
    }

    /// The time-revealed work alone (lease expiry, stale workers, lapsed
    /// approvals). Returns whether anything changed.
    pub fn housekeeping(&mut self) -> Result<bool> {
        let now = self.now();
        let started_at = self.started_at;
        let (settings, router) = (&self.settings, &self.router);
        self.store.write(|tx| {
            let mut work = Work::new(tx, settings, router, now, started_at)?;
            work.housekeeping()
        })
    }

    /// Applies one command in one transaction. A refused operator or worker
    /// action is still written to the audit, in a transaction of its own.
    pub fn apply(&mut self, command: Command) -> Result<Reply> {
        let name = command.name();
        let subject = subject_of(&command);
        let actor = actor_of(&command, &self.settings.operator);
        let result = self.run(command);
        if let Err(error) = &result
            && error.is_caller_fault()
            && subject.is_some()
        {
            let now = self.now();
            let detail = error.to_string();
            self.store.write(|tx| {
                audit::append(
                    tx,
                    &audit::Record {
                        actor: &actor,
                        action: name,
                        subject: subject.as_deref(),
                        refused: true,
                        detail: Some(&detail),
                        ..Default::default()
                    },
                    now,
                )
            })?;
        }
        result
    }

    fn run(&mut self, command: Command) -> Result<Reply> {
        let now = self.now();
        if let Command::SetRouter { bodies } = &command {
            if !bodies.is_object() {
                return Err(Error::bad_input(
                    "router bodies",
                    "expected an object with context, quota, circuits, agent_clis, ops_summary",
                ));
            }
            let bodies: RouterBodies = serde_json::from_value(bodies.clone())
                .map_err(|e| Error::bad_input("router bodies", e.to_string()))?;
            self.router = RouterSnapshot::from_bodies(&bodies);
            return Ok(Reply::Router(self.router.clone()));
        }
        let dry_run = matches!(
            command,
            Command::Tick { dry_run: true, .. } | Command::ProcessEvents { dry_run: true, .. }
        );
        if matches!(command, Command::Tick { dry_run: false, .. }) {
            self.last_tick_at = Some(now);
        }
        let started_at = self.started_at;
        let (settings, router) = (&self.settings, &self.router);
        let work = |tx: &rusqlite::Transaction| -> Result<Reply> {
            let mut work = Work::new(tx, settings, router, now, started_at)?;
            work.apply(command)
        };
        if dry_run {
            self.store.dry_run(work)
        } else {
            self.store.write(work)
        }
    }

    pub fn snapshot(&self) -> Result<Snapshot> {
        snapshot::build(
            self.store.conn(),
            &self.router,
            self.now(),
            self.last_tick_at,
        )
    }
}

/// The assignment (or worker) an operator or worker command acts on.
fn subject_of(command: &Command) -> Option<String> {
    match command {
        Command::Approve { assignment_id, .. }
        | Command::Reject { assignment_id, .. }
        | Command::Release { assignment_id, .. }
        | Command::Claim { assignment_id, .. }
        | Command::Complete { assignment_id, .. }
        | Command::Fail { assignment_id, .. } => Some(assignment_id.clone()),
        Command::Heartbeat(hb) => Some(format!("{}/{}", hb.node_id, hb.worker_id)),
        Command::SetControl { mode, .. } => Some(format!("control:{mode}")),
        _ => None,
    }
}

fn actor_of(command: &Command, operator: &str) -> String {
    let named = match command {
        Command::Approve { by, .. }
        | Command::Reject { by, .. }
        | Command::Release { by, .. }
        | Command::SetControl { by, .. } => by.clone(),
        Command::Claim { worker_id, .. }
        | Command::Complete { worker_id, .. }
        | Command::Fail { worker_id, .. } => Some(worker_id.clone()),
        Command::Heartbeat(hb) => Some(hb.worker_id.clone()),
        _ => None,
    };
    named
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| operator.to_string())
}
