//! `auto-assign heartbeat`: a tiny worker agent for cron or a shell loop.

use super::ops::print_reply;
use crate::config::Settings;
use crate::domain::worker::{Heartbeat, WorkerStatus};
use crate::engine::Command;
use crate::error::{Error, Result};
use crate::host::{Link, runtime, with_engine};
use crate::wire::codec::check;
use clap::Args;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct HeartbeatArgs {
    /// The worker's node.
    #[arg(long)]
    pub node: String,
    /// The worker, unique on its node.
    #[arg(long)]
    pub worker: String,
    /// The assignment this worker is working on.
    #[arg(long)]
    pub assignment: Option<String>,
    /// ready, sleeping, busy, degraded, draining or offline.
    #[arg(long, default_value = "ready")]
    pub status: String,
    /// A lane the worker serves (repeat for several).
    #[arg(long = "lane", value_name = "LANE")]
    pub lanes: Vec<String>,
    /// A capability the worker has (repeat for several).
    #[arg(long = "capability", value_name = "CAPABILITY")]
    pub capabilities: Vec<String>,
    /// Whose worker it is (for the owner filter).
    #[arg(long)]
    pub owner: Option<String>,
    /// How many tasks it runs at once.
    #[arg(long, default_value_t = 1)]
    pub max_concurrent: u32,
    /// Keep sending, every SECONDS, until interrupted.
    #[arg(long, value_name = "SECONDS")]
    pub every: Option<f64>,
}

fn heartbeat(args: &HeartbeatArgs) -> Result<Heartbeat> {
    let mut hb = Heartbeat::new(&args.node, &args.worker);
    hb.assignment_id = args.assignment.clone();
    hb.status = args
        .status
        .parse::<WorkerStatus>()
        .map_err(|e| Error::bad_input("--status", e))?;
    hb.lanes = args.lanes.clone();
    hb.capabilities = args.capabilities.clone();
    hb.owner = args.owner.clone();
    hb.max_concurrent = args.max_concurrent;
    hb.validate()
        .map_err(|(field, message)| Error::bad_input(field, message))?;
    let command = Command::Heartbeat(hb);
    check(&command).map_err(|e| Error::bad_input(e.field.unwrap_or_default(), e.message))?;
    let Command::Heartbeat(hb) = command else {
        unreachable!("made as a heartbeat just above")
    };
    Ok(hb)
}

pub fn run(settings: Settings, args: &HeartbeatArgs, json: bool) -> Result<()> {
    let hb = heartbeat(args)?;
    // Below a tenth of a second it is a flood, not a heartbeat; past a day
    // every engine would have called the worker stale long before.
    let every = match args.every {
        None => None,
        Some(s) if (0.1..=86_400.0).contains(&s) => Some(Duration::from_secs_f64(s)),
        Some(_) => {
            return Err(Error::bad_input(
                "--every",
                "must be from 0.1 to 86400 seconds",
            ));
        }
    };
    runtime()?.block_on(async move {
        let Some(every) = every else {
            let reply = with_engine(&settings, |link| link_send(link, hb)).await?;
            print_reply(&reply, json);
            return Ok(());
        };
        let mut ticker = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
            // An engine restart or a busy database is not the end of a
            // worker: report and try again next time. A refusal is final.
            match with_engine(&settings, |link| link_send(link, hb.clone())).await {
                Ok(reply) => print_reply(&reply, json),
                Err(e) if e.is_caller_fault() => return Err(e),
                Err(e) => eprintln!("auto-assign: heartbeat not delivered: {e}"),
            }
        }
    })
}

async fn link_send(link: Link, hb: Heartbeat) -> Result<crate::engine::Reply> {
    link.send(Command::Heartbeat(hb)).await
}
