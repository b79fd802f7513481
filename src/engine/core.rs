//! The engine's state and how each command changes it. Synchronous and
//! single-owner: [`Core`] holds the only store connection; the async task in
//! `engine/mod.rs` feeds it commands one at a time.

use super::meters::{Metered, Meters};
use super::snapshot::{self, Health, HealthState, Inputs, Limits, Snapshot};
use super::work::{FleetCache, Work};
use crate::config::Settings;
use crate::domain::alerts::{self, Alert};
use crate::domain::router::RouterSnapshot;
use crate::error::{Error, Result};
use crate::store::lock::EngineLock;
use crate::store::{Store, audit};
use crate::wire::{Action, Command, Operator, Reply};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use std::sync::Arc;

/// How often the fleet's alerts are judged: they speak of minutes, so a
/// few seconds late is nothing, and each look costs three reads.
const ALERT_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// What an operator may ask of the sync edge through the engine.
#[derive(Debug, Clone, Copy)]
enum EdgeJob {
    Dispatch,
    Reconcile,
}

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
    /// AssistX and Neo4j, as the sync layer last reported them.
    dependencies: Vec<Health>,
    /// Held for the engine's life by an engine on a database file.
    _lock: Option<EngineLock>,
    /// Why this engine must stop (its database vanished), once it must.
    failed: Option<String>,
    /// What the start's catch-up expired, until a tick reports it.
    caught_up: crate::store::runs::RunCounts,
    /// Wakes the outbox dispatcher, when one runs.
    dispatcher: Option<Arc<tokio::sync::Notify>>,
    /// Wakes the graph writer for a reconcile, when one runs.
    reconciler: Option<Arc<tokio::sync::Notify>>,
    /// The scheduled ticks come from the sync edge's intake (with AssistX's
    /// backlog), not from the engine's own clock; a `router.*` snapshot
    /// event wakes it for a fresh backlog.
    intake: Option<Arc<tokio::sync::Notify>>,
    /// The fleet's alerts holding now, each since it began.
    alerts: Vec<Alert>,
    /// When the alerts were last judged.
    alerts_checked_at: Option<DateTime<Utc>>,
    /// How long the last decision pass took.
    last_pass_ms: Option<u64>,
    /// The fleet view passes place work on, kept between them.
    fleet: FleetCache,
    /// What the engine did, counted for `/metrics`.
    meters: Arc<Meters>,
    /// What the sync edge reported and is not recorded yet.
    unrecorded: super::sync_report::Unrecorded,
}

impl Core {
    pub fn new(store: Store, settings: Settings, clock: Clock) -> Core {
        let started_at = clock();
        let graph = if settings.neo4j.is_some() {
            "not asked yet"
        } else {
            "not configured: AssistX only (set AUTO_ASSIGN_NEO4J_URI)"
        };
        Core {
            store,
            settings,
            router: RouterSnapshot::unreachable(),
            clock,
            started_at,
            last_tick_at: None,
            caught_up: Default::default(),
            dependencies: vec![
                Health::unknown("assistx", "not asked yet"),
                Health::unknown("neo4j", graph),
            ],
            _lock: None,
            failed: None,
            dispatcher: None,
            reconciler: None,
            intake: None,
            alerts: Vec::new(),
            alerts_checked_at: None,
            last_pass_ms: None,
            fleet: FleetCache::default(),
            meters: Arc::default(),
            unrecorded: Default::default(),
        }
    }

    /// Opens the configured database.
    pub fn open(mut settings: Settings) -> Result<Core> {
        let lock = EngineLock::take(&settings.database_path)?;
        let store = Store::open(&settings.database_path)?;
        // The database by its full name: what `hello` and every snapshot
        // report, and what a client compares its own with.
        if let Ok(full) = std::fs::canonicalize(&settings.database_path) {
            settings.database_path = full;
        }
        let mut core = Core::new(store, settings, system_clock());
        core._lock = Some(lock);
        Ok(core)
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
        let now = self.now();
        let known = &self.settings.known_workers;
        let declared = self
            .store
            .write(|tx| crate::store::workers::declare(tx, known, now))?;
        if declared > 0 {
            tracing::info!("{declared} workers declared in the config, not heard from yet");
        }
        let started_at = self.started_at;
        let (settings, router) = (&self.settings, &self.router);
        self.caught_up = self.store.write(|tx| {
            Work::new(
                tx,
                settings,
                router,
                &FleetCache::default(),
                now,
                started_at,
            )?
            .housekeeping_counts()
        })?;
        let operator = self.settings.operator.clone();
        self.apply(Command::by(
            operator,
            Action::ProcessEvents {
                include_processed: false,
                dry_run: false,
                event_type: None,
                limit: None,
            },
        ))?;
        Ok(())
    }

    /// The time-revealed work alone (lease expiry, stale workers, lapsed
    /// approvals, and every `ALERT_EVERY` the fleet's alerts). Returns
    /// whether anything changed.
    pub fn housekeeping(&mut self) -> Result<bool> {
        let now = self.now();
        let started_at = self.started_at;
        let (settings, router, fleet) = (&self.settings, &self.router, &self.fleet);
        let changed = self.store.write(|tx| {
            let mut work = Work::new(tx, settings, router, fleet, now, started_at)?;
            work.housekeeping()
        })?;
        if changed {
            // A lease expired or a worker went stale.
            self.fleet.forget();
        }
        let due = self
            .alerts_checked_at
            .is_none_or(|at| now - at >= ALERT_EVERY);
        if !due {
            return Ok(changed);
        }
        self.alerts_checked_at = Some(now);
        Ok(self.judge_alerts(now)? || changed)
    }

    /// Judges the fleet's alerts; each one that began or ended is written
    /// to the audit (and the log) once. Returns whether any did.
    fn judge_alerts(&mut self, now: DateTime<Utc>) -> Result<bool> {
        let limits = self.settings.alerts;
        let held_since =
            now - chrono::Duration::seconds(i64::try_from(limits.stuck_seconds).unwrap_or(0));
        let mut facts = crate::store::alerts::facts(self.store.conn(), held_since)?;
        facts.last_pass_ms = self.last_pass_ms;
        facts.dependencies_down = self
            .dependencies
            .iter()
            .filter(|h| h.state == HealthState::Down)
            .map(|h| (h.name.clone(), h.why().unwrap_or_default()))
            .collect();
        let judged = alerts::judge(&facts, &limits, now);
        let (current, began, ended) = alerts::carry(&self.alerts, judged);
        if began.is_empty() && ended.is_empty() {
            return Ok(false);
        }
        for a in &began {
            tracing::warn!(code = %a.code, "alert: {}", a.text);
        }
        for a in &ended {
            tracing::info!(code = %a.code, "alert over: {}", a.text);
        }
        let lines: Vec<audit::Record> = began
            .iter()
            .map(|a| (a, "alert_raised"))
            .chain(ended.iter().map(|a| (a, "alert_cleared")))
            .map(|(a, action)| audit::Record {
                actor: "engine",
                action,
                subject: Some(a.subject.as_deref().unwrap_or(&a.code)),
                detail: Some(&a.text),
                ..Default::default()
            })
            .collect();
        self.store.write(|tx| audit::append_all(tx, &lines, now))?;
        self.alerts = current;
        Ok(true)
    }

    /// Applies one command (see [`Core::apply_batch`]).
    pub fn apply(&mut self, command: Command) -> Result<Reply> {
        self.apply_batch(vec![command]).remove(0)
    }

    /// Applies commands in order with one commit for all of them (group
    /// commit): each runs in a savepoint of its own, so a refused command
    /// changes nothing, and its refusal is still written to the audit. The
    /// results come back only after the commit.
    pub fn apply_batch(&mut self, commands: Vec<Command>) -> Vec<Result<Reply>> {
        let now = self.now();
        let mut results: Vec<Option<Result<Reply>>> = Vec::with_capacity(commands.len());
        let mut batch = Vec::new();
        let mut metered = Vec::new();
        let router_snapshot_arrived = commands.iter().any(is_router_snapshot);
        for (index, mut command) in commands.into_iter().enumerate() {
            results.push(None);
            // A tick brings its router bodies: they are the engine's, not
            // the store's, so they are taken before the transaction.
            if let Command::Operator(Operator {
                command: Action::Tick { router, .. },
                ..
            }) = &mut command
                && let Some(bodies) = router.take()
                && let Err(e) = self.set_router(&bodies)
            {
                results[index] = Some(Err(e));
                continue;
            }
            if let Command::Operator(Operator {
                operator, command, ..
            }) = &command
                && let Some(job) = match command {
                    Action::Dispatch {} => Some(EdgeJob::Dispatch),
                    Action::Reconcile {} => Some(EdgeJob::Reconcile),
                    _ => None,
                }
            {
                results[index] = Some(self.ask_edge(job, &operator.clone()));
                continue;
            }
            if command.is_dry_run() {
                // A dry run may not commit anything.
                results[index] = Some(self.dry_run(command, now));
                continue;
            }
            if command.name() == "tick" {
                self.last_tick_at = Some(now);
            }
            let meta = Refusal {
                action: command.name(),
                subject: command.subject(),
                actor: command
                    .actor()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or(&self.settings.operator)
                    .to_string(),
            };
            metered.push(Metered::of(&command));
            batch.push(((index, meta), command));
        }
        if !batch.is_empty() {
            let indexes: Vec<usize> = batch.iter().map(|((i, _), _)| *i).collect();
            let started_at = self.started_at;
            let (settings, router, fleet) = (&self.settings, &self.router, &self.fleet);
            // The control mode is read once per batch, not once per command.
            let mut control = None;
            let pass = batch.iter().any(|(_, c)| c.is_pass());
            let heartbeats_only = batch
                .iter()
                .all(|(_, c)| matches!(c, Command::Heartbeat(_)));
            let mut caught_up = std::mem::take(&mut self.caught_up);
            let write = |store: &mut Store| {
                store.write_batch(
                    batch,
                    |conn, command| {
                        let state = match control.take() {
                            Some(state) => state,
                            None => crate::store::control::get(conn)?,
                        };
                        let mut work = Work::with_control(
                            conn, settings, router, fleet, now, started_at, state,
                        );
                        if command.is_tick() {
                            work.report_caught_up(std::mem::take(&mut caught_up));
                        }
                        let reply = work.apply(command);
                        // A refused command is rolled back: read the state anew.
                        control = reply.is_ok().then(|| work.into_control());
                        reply
                    },
                    |conn, (_, meta), error| record_refusal(conn, meta, error, now),
                    heartbeats_only,
                    |reply| matches!(reply, Reply::Heartbeat(h) if h.refreshed_only),
                )
            };
            let started = std::time::Instant::now();
            let written = if pass {
                self.store.with_pass_cache(write)
            } else {
                write(&mut self.store)
            };
            let took = started.elapsed();
            if pass {
                self.last_pass_ms = Some(took.as_millis() as u64);
            }
            // Kept for the next tick when this batch had none.
            self.caught_up = caught_up;
            // A refused command's reservations were rolled back with it.
            if !matches!(&written, Ok(replies) if replies.iter().all(Result::is_ok)) {
                self.fleet.forget();
            }
            match written {
                Ok(replies) => {
                    for ((index, reply), what) in indexes.into_iter().zip(replies).zip(metered) {
                        if let Some(what) = what {
                            self.meters
                                .count(&what, reply.as_ref().map_err(|_| ()), took);
                        }
                        results[index] = Some(reply);
                    }
                }
                Err(error) => {
                    // The commit itself failed: nothing in the batch happened.
                    let message = error.to_string();
                    for index in indexes {
                        results[index] = Some(Err(Error::Io {
                            context: "the batch was not committed".into(),
                            source: std::io::Error::other(message.clone()),
                        }));
                    }
                }
            }
        }
        // A router snapshot changed: the intake fetches AssistX's backlog
        // now instead of at its next tick (contract A2).
        if let Some(intake) = &self.intake
            && router_snapshot_arrived
        {
            intake.notify_one();
        }
        // Checked before anything is acknowledged: writes to a database
        // file that was deleted or replaced would be lost at the stop.
        if let Some(why) = self.failed.clone().or_else(|| self.store.vanished()) {
            self.failed = Some(why.clone());
            return results
                .iter()
                .map(|_| {
                    Err(Error::Io {
                        context: format!("the database is gone, nothing was kept: {why}"),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    })
                })
                .collect();
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::EngineGone)))
            .collect()
    }

    /// What the engine did, counted for `/metrics`.
    pub fn meters(&self) -> Arc<Meters> {
        self.meters.clone()
    }

    /// Why the engine must stop, if it must: its database was deleted or
    /// replaced under it. The engine then ends, and its process exits so a
    /// supervisor restarts it on a fresh cache.
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Takes the auto-router's bodies (A6) as the engine's view of the router.
    pub fn set_router(
        &mut self,
        bodies: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        self.router = RouterSnapshot::parse(bodies).map_err(|e| Error::bad_input("router", e))?;
        Ok(())
    }

    fn dry_run(&mut self, command: Command, now: DateTime<Utc>) -> Result<Reply> {
        let started_at = self.started_at;
        let (settings, router) = (&self.settings, &self.router);
        self.store.with_pass_cache(|store| {
            // A dry run's reservations are rolled back: it keeps no view.
            let fleet = FleetCache::default();
            store.dry_run(|conn| {
                Work::new(conn, settings, router, &fleet, now, started_at)?.apply(command)
            })
        })
    }

    /// Gives back what a pass borrowed, once its replies are out.
    pub fn settle(&mut self) {
        self.store.release_pass_cache();
    }

    /// A snapshot built now on the engine's own connection (for one-shot
    /// commands; the running engine publishes through its publisher).
    pub fn snapshot(&self) -> Result<Snapshot> {
        snapshot::build(self.store.conn(), &self.inputs())
    }

    /// What a snapshot needs besides the database. The router's badge is
    /// the intake's report when it runs, else what the last tick's bodies
    /// said (a tick from the command line or the demo).
    pub fn inputs(&self) -> Inputs {
        let reported = self.dependencies.iter().any(|h| h.name == "router");
        let router = (!reported).then(|| Health {
            name: "router".into(),
            state: if self.router.reachable {
                HealthState::Ok
            } else {
                HealthState::Unknown
            },
            last_success_at: None,
            last_error: None,
            detail: self
                .router
                .revision
                .as_ref()
                .map(|r| format!("revision {r}")),
        });
        Inputs {
            now: self.now(),
            last_tick_at: self.last_tick_at,
            health: self.dependencies.iter().cloned().chain(router).collect(),
            limits: Limits {
                stale_heartbeat_seconds: self.settings.stale_heartbeat_seconds,
                tick_interval_seconds: if self.settings.scheduler_enabled {
                    self.settings.tick_interval.as_secs()
                } else {
                    0
                },
                dispatch_enabled: self.settings.dispatch_enabled,
                breaker_cooldown_seconds: self.settings.breaker.cooldown_seconds,
                graph_enabled: self.settings.neo4j.is_some(),
            },
            alerts: self.alerts.clone(),
        }
    }

    /// Records how a dependency is doing, as the part of the program that
    /// talks to it saw it (the sync layer's AssistX and Neo4j).
    /// The sync edge's intake sends the scheduled ticks from now on; `wake`
    /// makes it fetch the backlog at once.
    pub fn take_ticks_from_intake(&mut self, wake: Arc<tokio::sync::Notify>) {
        self.intake = Some(wake);
    }

    /// Whether the engine's own clock runs the scheduled ticks.
    pub fn ticks_itself(&self) -> bool {
        self.settings.scheduler_enabled && self.intake.is_none()
    }

    /// The dispatcher an operator's `dispatch` wakes.
    pub fn set_dispatcher(&mut self, wake: Arc<tokio::sync::Notify>) {
        self.dispatcher = Some(wake);
    }

    /// The graph writer an operator's `reconcile` wakes.
    pub fn set_reconciler(&mut self, wake: Arc<tokio::sync::Notify>) {
        self.reconciler = Some(wake);
    }

    /// Takes what the sync edge learned: a dependency's health at once, the
    /// verdicts and graph outcomes to record one at a time
    /// ([`Core::record_sync`]) while no command waits.
    ///
    /// They are committed without an fsync: a verdict lost to a power cut
    /// leaves its event due, so it is sent again, byte for byte, and AssistX
    /// dedupes it (the graph's writes MERGE on their keys); the next synced
    /// commit makes it durable anyway.
    pub fn queue_sync(&mut self, mut report: super::SyncReport) {
        if let Some(health) = report.health.take() {
            self.set_health(health);
        }
        self.unrecorded.push(report);
    }

    /// Whether reported verdicts wait to be recorded.
    pub fn sync_waiting(&self) -> bool {
        !self.unrecorded.is_empty()
    }

    /// Records the next reported verdict or graph outcome.
    pub fn record_sync(&mut self) {
        let policy = crate::store::outbox::RetryPolicy {
            max_attempts: self.settings.outbox_max_attempts,
            base_seconds: self.settings.outbox_backoff_base_seconds,
            max_seconds: self.settings.outbox_backoff_max_seconds,
        };
        let now = self.now();
        self.unrecorded.record_next(&mut self.store, policy, now);
    }

    /// Once everything reported is recorded and committed, whether all of
    /// it was; `None` until then.
    pub fn sync_settled(&mut self) -> Option<std::result::Result<(), String>> {
        self.unrecorded.settled(&mut self.store)
    }

    /// An operator's `dispatch` or `reconcile`: the loop of the sync edge
    /// that does it is woken, and the request audited.
    fn ask_edge(&mut self, job: EdgeJob, by: &str) -> Result<Reply> {
        let (wake, on, action, detail) = match job {
            EdgeJob::Dispatch => (
                &self.dispatcher,
                self.settings.dispatch_enabled,
                "dispatch",
                "delivery of due outbox events asked",
            ),
            EdgeJob::Reconcile => (
                &self.reconciler,
                self.settings.neo4j.is_some(),
                "reconcile",
                "reconcile of pending outbox events against Neo4j asked",
            ),
        };
        let Some(wake) = wake else {
            let what = match (job, on) {
                (_, true) => format!(
                    "{action} runs in the daemon and the control room, not here (start `auto-assign daemon`)"
                ),
                (EdgeJob::Dispatch, false) => {
                    "outbox write-back is off (set AUTO_ASSIGN_DISPATCH_ENABLED=true)".into()
                }
                (EdgeJob::Reconcile, false) => {
                    "reconcile reads Neo4j, which is not configured (set AUTO_ASSIGN_NEO4J_URI)"
                        .into()
                }
            };
            return Err(Error::Unavailable { what });
        };
        wake.notify_one();
        let now = self.now();
        self.store.write(|tx| {
            let record = audit::Record {
                actor: by,
                action,
                detail: Some(detail),
                ..Default::default()
            };
            audit::append(tx, &record, now)
        })?;
        Ok(Reply::Recorded)
    }

    /// Takes a dependency's health as a client last saw it. Several clients
    /// report on AssistX (intake, dispatcher), each knowing only its own
    /// successes, so the badge keeps the latest of them.
    pub fn set_health(&mut self, mut health: Health) {
        match self.dependencies.iter_mut().find(|h| h.name == health.name) {
            Some(known) => {
                health.last_success_at = health.last_success_at.max(known.last_success_at);
                *known = health;
            }
            None => self.dependencies.push(health),
        }
    }
}

/// What the audit says of a refused command.
struct Refusal {
    action: &'static str,
    subject: Option<String>,
    actor: String,
}

/// Writes a refusal to the audit when the caller was at fault and the
/// command acted on something (an assignment, a worker, the control mode).
fn record_refusal(
    conn: &Connection,
    meta: &Refusal,
    error: &Error,
    now: DateTime<Utc>,
) -> Result<()> {
    if !error.is_caller_fault() || meta.subject.is_none() {
        return Ok(());
    }
    let detail = error.to_string();
    audit::append(
        conn,
        &audit::Record {
            actor: &meta.actor,
            action: meta.action,
            subject: meta.subject.as_deref(),
            refused: true,
            detail: Some(&detail),
            ..Default::default()
        },
        now,
    )
}

/// An inbound `router.*_snapshot.recorded` event (contract A2).
fn is_router_snapshot(command: &Command) -> bool {
    let Command::Event { event } = command else {
        return false;
    };
    event
        .get("event_type")
        .and_then(serde_json::Value::as_str)
        .is_some_and(crate::domain::envelope::is_router_snapshot)
}
