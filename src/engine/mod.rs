//! The engine: one tokio task owns the [`Core`] (and so the store). Callers
//! send [`Command`]s over an mpsc and get the reply on a oneshot, sent only
//! after the change is committed; every change publishes a fresh
//! `Arc<Snapshot>` on a watch channel.
//!
//! Assignment is event-driven: a command that brings a candidate, ends a
//! lease or frees a task decides at once. The timer only does what time
//! alone reveals: lease expiry and stale workers twice a second, and the
//! scheduled tick every `tick_interval_seconds` when the scheduler is on.

pub(crate) mod background;
mod checkpointer;
pub mod core;
pub mod counters;
pub mod meters;
mod pass;
pub mod prompt;
pub mod publisher;
mod purger;
pub mod snapshot;
mod sync_report;
mod work;

pub use crate::wire::{Command, Reply};
pub use core::Core;
pub use snapshot::Snapshot;
pub use sync_report::SyncReport;

use crate::wire::Action;
use crate::wire::codec::REJECT_CODES;
use checkpointer::Checkpointer;
use counters::Counters;
use publisher::Publisher;

/// Who the audit names for a scheduled tick.
const SCHEDULER: &str = "scheduler";

use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Bounded: a flood of commands waits for the engine instead of growing
/// memory without limit.
const QUEUE: usize = 1024;

/// The most commands committed together.
const BURST: usize = 512;

type Request = (Command, oneshot::Sender<Result<Reply>>);

/// What the sync edge learned, with where to say it is recorded.
type Report = (SyncReport, oneshot::Sender<Result<()>>);

/// One input of the engine loop.
enum Input {
    Command(Request),
    Report(Report),
}

/// A cheap, clonable way to talk to the engine.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Request>,
    reports: mpsc::Sender<Report>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    rejected: Arc<Counters>,
    meters: Arc<meters::Meters>,
    database: Arc<std::path::Path>,
}

impl EngineHandle {
    /// Sends a command and waits for its committed reply.
    pub async fn send(&self, command: Command) -> Result<Reply> {
        self.submit(command)
            .await?
            .await
            .map_err(|_| Error::EngineGone)?
    }

    /// Hands the engine what the sync edge learned (delivery verdicts, a
    /// dependency's health); returns once it is recorded.
    pub async fn report(&self, report: SyncReport) -> Result<()> {
        let (done_tx, done_rx) = oneshot::channel();
        self.reports
            .send((report, done_tx))
            .await
            .map_err(|_| Error::EngineGone)?;
        done_rx.await.map_err(|_| Error::EngineGone)?
    }

    /// Whether the engine has stopped.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// The database the engine serves.
    pub fn database(&self) -> &std::path::Path {
        &self.database
    }

    /// Lines the engine's doors refused, per reason: they count here, and
    /// every snapshot reports them.
    pub fn rejected(&self) -> &Counters {
        &self.rejected
    }

    /// What the engine did since it started, counted as it committed.
    pub fn meters(&self) -> Arc<meters::Meters> {
        self.meters.clone()
    }

    /// Queues a command (waiting while the queue is full) and returns where
    /// its committed reply will arrive. Lets a connection pipeline requests
    /// while keeping their order.
    pub async fn submit(&self, command: Command) -> Result<oneshot::Receiver<Result<Reply>>> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.commands
            .send((command, reply_tx))
            .await
            .map_err(|_| Error::EngineGone)?;
        Ok(reply_rx)
    }
}

/// Recovers stored state, then runs the engine until every handle is
/// dropped. Returns the handle and the task (which yields the core back).
pub fn spawn(mut core: Core) -> Result<(EngineHandle, JoinHandle<Core>)> {
    core.recover()?;
    purger::start();
    let first = Arc::new(core.snapshot()?);
    let (snapshot_tx, snapshot_rx) = watch::channel(first);
    let rejected = Arc::new(Counters::new(&REJECT_CODES));
    let core_database = core.settings().database_path.clone();
    let meters = core.meters();
    let publisher = Publisher::spawn(
        &core.settings().database_path,
        snapshot_tx,
        rejected.clone(),
    )?;
    let checkpointer = Checkpointer::spawn(&core.settings().database_path)?;
    let (command_tx, command_rx) = mpsc::channel(QUEUE);
    let (report_tx, report_rx) = mpsc::channel(16);
    let inputs = Inputs {
        commands: command_rx,
        reports: report_rx,
    };
    let priority = core.settings().realtime_priority;
    let task = tokio::task::spawn_blocking(move || {
        prompt::enter(priority);
        run(core, inputs, publisher, checkpointer)
    });
    Ok((
        EngineHandle {
            commands: command_tx,
            reports: report_tx,
            snapshots: snapshot_rx,
            rejected,
            meters,
            database: Arc::from(core_database.as_path()),
        },
        task,
    ))
}

/// The engine loop. It runs on a blocking thread because every command is
/// SQLite work; it waits on the channel with a timeout that doubles as the
/// housekeeping clock.
/// The engine loop's two inboxes.
struct Inputs {
    commands: mpsc::Receiver<Request>,
    reports: mpsc::Receiver<Report>,
}

impl Inputs {
    /// The next input, commands first; `None` once every handle is gone.
    async fn next(&mut self) -> Option<Input> {
        tokio::select! {
            biased;
            command = self.commands.recv() => command.map(Input::Command),
            report = self.reports.recv() => report.map(Input::Report),
        }
    }

    /// What is already queued, commands first, without waiting.
    fn ready(&mut self) -> Option<Input> {
        let command = self.commands.try_recv().ok().map(Input::Command);
        command.or_else(|| self.reports.try_recv().ok().map(Input::Report))
    }
}

/// Answers the sync edge's reports once all they asked is recorded and
/// committed (or could not be). Returns whether that changed anything.
fn answer_reports(core: &mut Core, waiting: &mut Vec<oneshot::Sender<Result<()>>>) -> bool {
    if waiting.is_empty() {
        return false;
    }
    let Some(outcome) = core.sync_settled() else {
        return false;
    };
    for done in waiting.drain(..) {
        let _ = done.send(outcome.clone().map_err(|why| Error::Unavailable {
            what: format!("the sync edge's report was not recorded ({why}); its events stay due"),
        }));
    }
    outcome.is_ok()
}

fn run(
    mut core: Core,
    mut inputs: Inputs,
    publisher: Publisher,
    checkpointer: Checkpointer,
) -> Core {
    // Twice a second: a silent worker is marked stale within half a second
    // of its grace running out.
    let housekeeping_every = Duration::from_millis(500);
    let tick_every = core.settings().tick_interval.max(Duration::from_secs(1));
    let scheduler = core.ticks_itself();
    let runtime = tokio::runtime::Handle::current();
    let start = tokio::time::Instant::now();
    let mut next_housekeeping = start + housekeeping_every;
    // The write-ahead log is truncated once the engine has had nothing to
    // do for a second.
    let mut last_command = start;
    let mut truncated = false;
    let mut next_tick = start + tick_every;
    // The sync edge's reports, answered once recorded.
    let mut reports = Vec::new();
    loop {
        let deadline = if scheduler {
            next_housekeeping.min(next_tick)
        } else {
            next_housekeeping
        };
        // Reported verdicts are recorded one at a time while nothing else
        // waits: a command arriving meanwhile is served next, and its
        // commit takes the verdicts recorded so far along.
        let received = if core.sync_waiting() {
            match inputs.ready() {
                Some(input) => Ok(Some(input)),
                None => {
                    core.record_sync();
                    // While verdicts wait, this loop keeps its core for a
                    // whole round (a few ms). A thread woken meanwhile (the
                    // socket's, with a heartbeat or a reply to write) gets
                    // the core here; in the normal class it would otherwise
                    // wait behind us for a timer tick (docs/benchmarks.md,
                    // "Yielding between verdicts").
                    std::thread::yield_now();
                    Err(())
                }
            }
        } else {
            let next = tokio::time::timeout_at(deadline, inputs.next());
            runtime.block_on(next).map_err(|_elapsed| ())
        };
        let mut changed = false;
        match received {
            Ok(None) => break,
            Ok(Some(Input::Report((report, done)))) => {
                core.queue_sync(report);
                reports.push(done);
            }
            Ok(Some(Input::Command(first))) => {
                last_command = tokio::time::Instant::now();
                truncated = false;
                // Group commit: what is already queued is applied with the
                // first command and committed once; every reply waits for
                // that commit.
                let mut burst = vec![first];
                while burst.len() < BURST {
                    match inputs.commands.try_recv() {
                        Ok(request) => burst.push(request),
                        Err(_) => break,
                    }
                }
                // Snapshot requests are answered by the publisher after the
                // burst's commit, so they see all of it.
                let (wanting, burst): (Vec<_>, Vec<_>) = burst
                    .into_iter()
                    .partition(|(c, _)| matches!(c, Command::Snapshot {}));
                let (batch, replies): (Vec<Command>, Vec<_>) = burst.into_iter().unzip();
                let results = core.apply_batch(batch);
                changed |= results.iter().any(Result::is_ok);
                for (result, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(result);
                }
                for (_, reply) in wanting {
                    publisher.fresh(core.inputs(), reply);
                }
                if let Some(why) = core.failed() {
                    tracing::error!("the engine stops: {why}");
                    break;
                }
            }
            Err(()) => {}
        }
        changed |= answer_reports(&mut core, &mut reports);
        let now = tokio::time::Instant::now();
        if now >= next_housekeeping {
            next_housekeeping = now + housekeeping_every;
            match core.housekeeping() {
                Ok(expired) => changed |= expired,
                Err(e) => tracing::error!("housekeeping failed: {e}"),
            }
            let idle = !truncated && now - last_command >= Duration::from_secs(1);
            checkpointer.request(idle);
            truncated |= idle;
        }
        if scheduler && now >= next_tick {
            next_tick = now + tick_every;
            let tick = Command::by(
                SCHEDULER,
                Action::Tick {
                    dry_run: false,
                    candidates: None,
                    router: None,
                },
            );
            match core.apply(tick) {
                Ok(_) => changed = true,
                Err(e) => tracing::error!("scheduled tick failed: {e}"),
            }
        }
        if changed {
            publisher.changed(core.inputs());
        }
        core.settle();
    }
    while core.sync_waiting() {
        core.record_sync();
    }
    answer_reports(&mut core, &mut reports);
    core
}
