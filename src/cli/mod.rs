//! The command line: flags → settings → one command. Each subcommand group
//! has its own file; this one only declares the grammar and dispatches.

mod batch;
mod cache;
mod daemon;
mod evaluate;
mod heartbeat;
mod input;
mod logging;
mod ops;
mod output;
mod room;
mod status;
mod watch;

use crate::config::{self, Overrides};
use crate::error::Result;
use crate::wire::Completion;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "auto-assign",
    version,
    about = "Assignment engine and control room for a homelab fleet of AI agent workers"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Options every command takes; listed apart so that each command's own
/// options come first in its help.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Config file (default: $XDG_CONFIG_HOME/auto-assign/config.toml, optional).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// SQLite cache path or sqlite:/// URL (overrides AUTO_ASSIGN_DATABASE_URL).
    #[arg(long, global = true, value_name = "PATH")]
    pub database: Option<String>,
    /// The engine's socket (overrides AUTO_ASSIGN_SOCKET_PATH).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<String>,
    /// Name recorded in the audit for operator actions.
    #[arg(long, global = true, value_name = "NAME")]
    pub operator: Option<String>,
    /// Daemon and control room: serve the HTTP API on ADDR (overrides
    /// AUTO_ASSIGN_HTTP_BIND, AUTO_ASSIGN_HOST and AUTO_ASSIGN_PORT).
    #[arg(long, global = true, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Worker commands (heartbeat, next, claim, progress, complete, fail,
    /// release): send them to the engine's HTTP API at URL instead of the
    /// socket, with AUTO_ASSIGN_API_TOKEN (overrides AUTO_ASSIGN_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Control room: attach to the engine on the socket (never start one).
    #[arg(long, global = true)]
    pub attach: bool,
    /// Control room: show everything, change nothing.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Control room: a built-in theme (default, light, high-contrast, mono) or a TOML file.
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// Control room: capture the mouse (off by default, so text can be copied).
    #[arg(long, global = true)]
    pub mouse: bool,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Show what the engine holds: queue, approvals, workers, outbox.
    Status,
    /// The control room over a simulated fleet (no outside service needed).
    Demo,
    /// Decide one candidate or a backlog without writing anything.
    Evaluate(evaluate::EvaluateArgs),
    /// Run one scheduler pass.
    Tick {
        /// Decide and report, then roll everything back.
        #[arg(long)]
        dry_run: bool,
        /// A backlog body to decide instead of the cached candidates.
        #[arg(long, value_name = "FILE")]
        task_file: Option<String>,
        /// The auto-router bodies to decide with.
        #[arg(long, value_name = "FILE")]
        router: Option<String>,
    },
    /// Approve a gated assignment.
    Approve(Verdict),
    /// Reject a gated assignment.
    Reject(Verdict),
    /// Release an assignment; by default the task is offered again.
    Release {
        #[command(flatten)]
        verdict: Verdict,
        /// Do not offer the task again.
        #[arg(long)]
        no_retry: bool,
    },
    /// Claim an assignment for a worker.
    Claim {
        /// The assignment (assign_…).
        id: String,
        /// The worker taking it.
        #[arg(long)]
        worker: String,
        /// The worker's node (default: local).
        #[arg(long)]
        node: Option<String>,
        /// The lease's length (default: default_lease_seconds).
        #[arg(long, value_name = "S")]
        lease_seconds: Option<u64>,
    },
    /// Ask for work as a worker: the engine claims the assignment it should
    /// run next (by lane, capabilities and effective priority), or says why
    /// there is none.
    Next {
        /// The worker asking; it must have sent a heartbeat.
        #[arg(long)]
        worker: String,
        /// The worker's node.
        #[arg(long)]
        node: String,
        /// The lease's length (default: default_lease_seconds).
        #[arg(long, value_name = "S")]
        lease_seconds: Option<u64>,
    },
    /// Report an assignment finished.
    Complete {
        /// The assignment (assign_…).
        id: String,
        /// The worker holding it.
        #[arg(long)]
        worker: String,
        /// `failure` reports a retryable failure.
        #[arg(long, value_enum, default_value = "success")]
        status: Completion,
        /// What was done, kept with the completion.
        #[arg(long)]
        summary: Option<String>,
    },
    /// Report an assignment failed.
    Fail {
        /// The assignment (assign_…).
        id: String,
        /// The worker holding it.
        #[arg(long)]
        worker: String,
        /// Why it failed, kept with the failure.
        #[arg(long)]
        reason: Option<String>,
        /// The failure is final: do not retry.
        #[arg(long)]
        no_retry: bool,
    },
    /// Give a worker (NODE/WORKER) nothing new; what it holds runs to its
    /// end. Kept across restarts until `undrain`.
    Drain {
        #[arg(value_name = "NODE/WORKER")]
        worker: String,
        /// Recorded in the audit.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Give a drained worker (NODE/WORKER) work again.
    Undrain {
        #[arg(value_name = "NODE/WORKER")]
        worker: String,
        /// Recorded in the audit.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Set the assignment control mode: enabled, paused, draining, maintenance.
    Control {
        /// enabled, paused, draining or maintenance.
        mode: String,
        /// Recorded in the audit and sent with the change.
        #[arg(long)]
        reason: Option<String>,
    },
    /// The inbound event mirror.
    #[command(subcommand)]
    Events(EventsCmd),
    /// The outbox of events for AssistX and the provenance graph:
    /// list, summary, dispatch, retry SEQ, reconcile, graph.
    Outbox {
        #[arg(value_enum, default_value = "list")]
        view: ops::OutboxView,
        /// With `retry`: the dead-lettered event's SEQ.
        seq: Option<i64>,
        /// Only events of this status.
        #[arg(long)]
        status: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// With `dispatch`: list what would be sent now, send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Assignments, newest change first.
    Assignments {
        /// Only assignments of this status.
        #[arg(long)]
        status: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// The audit of transitions and operator actions.
    Audit {
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only operator and worker actions.
        #[arg(long)]
        operators: bool,
    },
    /// Run engine commands from JSON lines (one command per line, one reply
    /// per line, each written after its change is committed).
    Batch {
        /// The commands; `-` reads standard input.
        #[arg(default_value = "-")]
        file: String,
    },
    /// Settings.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Run the engine headless with its socket (for systemd).
    Daemon,
    /// Send a worker heartbeat (once, or every few seconds).
    Heartbeat(heartbeat::HeartbeatArgs),
    /// Report progress on an assignment a worker holds.
    Progress {
        /// The assignment (assign_…).
        id: String,
        /// The worker holding it.
        #[arg(long)]
        worker: String,
        /// What the worker is doing now.
        #[arg(long)]
        message: Option<String>,
        /// How far it is, 0 to 100.
        #[arg(long)]
        percent: Option<f64>,
    },
    /// Print the running engine's changes, one line each.
    Watch,
    /// The SQLite cache itself.
    #[command(subcommand)]
    Cache(CacheCmd),
}

/// What an operator says of one assignment (approve, reject, release).
#[derive(Debug, Args)]
pub struct Verdict {
    /// The assignment (assign_…).
    pub id: String,
    /// Who the audit names (default: the configured operator).
    #[arg(long)]
    pub by: Option<String>,
    /// Recorded in the audit and sent with the event.
    #[arg(long)]
    pub reason: Option<String>,
    /// Refuse unless the assignment is still at this version.
    #[arg(long, value_name = "V")]
    pub expected_version: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// Store inbound events (one envelope, a list, or JSON lines) and process them.
    Ingest {
        /// The events; `-` reads standard input.
        file: String,
    },
    /// Process stored events that were not processed yet.
    Process {
        /// Process every stored event again (an explicit replay).
        #[arg(long)]
        include_processed: bool,
        /// Process and report, then roll everything back.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCmd {
    /// Rebuild a deleted cache from the Neo4j provenance graph and
    /// AssistX's task statuses (refused when the cache holds anything).
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective settings, secrets masked, with where each came from.
    Show,
    /// Print a commented template of every setting.
    Template,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let overrides = Overrides {
        config_file: cli.global.config.clone(),
        database: cli.global.database.clone(),
        operator: cli.global.operator.clone(),
        socket: cli.global.socket.clone(),
    };
    let json = cli.global.json;
    if let Some(Cmd::Config(ConfigCmd::Template)) = &cli.command {
        print!("{}", config::template());
        return Ok(());
    }
    let loaded = config::load(&overrides)?;
    let mut settings = loaded.settings.clone();
    if let Some(addr) = cli.global.http {
        settings.http_bind = Some(addr);
    }
    if let Some(url) = &cli.global.url {
        settings.url =
            config::engine_url(url).map_err(|e| crate::error::Error::bad_input("--url", e))?;
    }
    let room = crate::tui::Options {
        attach: cli.global.attach,
        read_only: cli.global.read_only,
        theme: cli.global.theme.clone(),
        mouse: cli.global.mouse,
    };
    match cli.command {
        Some(Cmd::Config(_)) => status::config_show(&loaded, json),
        None => room::control_room(settings, &room),
        Some(Cmd::Demo) => room::demo(settings, &room),
        Some(Cmd::Status) => status::show(&settings, json),
        Some(Cmd::Evaluate(args)) => evaluate::run(&settings, &args, json),
        Some(Cmd::Batch { file }) => batch::run(settings, &file),
        Some(Cmd::Daemon) => daemon::run(settings),
        Some(Cmd::Heartbeat(args)) => heartbeat::run(settings, &args, json),
        Some(Cmd::Watch) => watch::run(&settings, json),
        Some(Cmd::Cache(CacheCmd::Rebuild)) => cache::rebuild(&settings, json),
        Some(Cmd::Outbox {
            view,
            seq,
            status,
            limit,
            dry_run,
        }) => {
            let asked = ops::OutboxAsk {
                view,
                seq,
                status: status.as_deref(),
                limit,
                dry_run,
            };
            ops::outbox(&settings, asked, json)
        }
        Some(Cmd::Assignments { status, limit }) => {
            ops::assignments(&settings, status.as_deref(), limit, json)
        }
        Some(Cmd::Audit { limit, operators }) => ops::audit(&settings, limit, operators, json),
        Some(other) => ops::engine_command(settings, other, json),
    }
}
