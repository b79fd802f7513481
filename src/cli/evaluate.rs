//! `auto-assign evaluate`: the scorer alone, on a file, writing nothing.

use super::input::read_json;
use super::output;
use crate::config::Settings;
use crate::domain::candidate::{Candidate, backlog_items};
use crate::domain::control::ControlMode;
use crate::domain::fleet::FleetWorker;
use crate::domain::fleet::pool::Pool;
use crate::domain::lane::{Lane, parse_lane_list};
use crate::domain::router::RouterSnapshot;
use crate::domain::scorer::{DecisionContext, decide, place};
use crate::domain::worker::Heartbeat;
use crate::error::{Error, Result};
use chrono::Utc;
use clap::Args;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// One AssistX candidate, or a backlog body; `-` reads standard input.
    #[arg(long, value_name = "FILE|-")]
    pub task: String,
    /// The bodies of the five auto-router calls; without it the router
    /// counts as unreachable.
    #[arg(long, value_name = "FILE")]
    pub router: Option<String>,
    /// AssistX/Neo4j's status for the task.
    #[arg(long, value_name = "S")]
    pub canonical_status: Option<String>,
    /// Lanes to try, in order (overrides the candidate's allowed_lanes).
    #[arg(long, value_name = "a,b,...")]
    pub lanes: Option<String>,
    /// Workers to choose from: a JSON list of heartbeat objects (with
    /// `active_tasks` and `drained` when known); the decision then names
    /// the worker chosen and why each other one was not.
    #[arg(long, value_name = "FILE")]
    pub workers: Option<String>,
}

/// The workers of `--workers FILE`, each read as a heartbeat; an error
/// names the item and the field.
fn workers(path: &str) -> Result<Vec<FleetWorker>> {
    let what = |detail: String| Error::bad_input(format!("workers file {path}"), detail);
    let serde_json::Value::Array(items) = read_json(path)? else {
        return Err(what("expected a list of heartbeat objects".into()));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let count = |field: &str| item.get(field).and_then(serde_json::Value::as_u64);
            let active = count("active_tasks").unwrap_or(0).min(u64::from(u32::MAX)) as u32;
            let drained = item.get("drained").and_then(serde_json::Value::as_bool) == Some(true);
            let hb: Heartbeat = serde_path_to_error::deserialize(item)
                .map_err(|e| what(format!("item {index}: {} at {}", e.inner(), e.path())))?;
            hb.validate()
                .map_err(|(field, e)| what(format!("item {index}: {field}: {e}")))?;
            Ok(FleetWorker::from_heartbeat(&hb, active, drained))
        })
        .collect()
}

fn router_snapshot(path: Option<&str>) -> Result<RouterSnapshot> {
    let Some(path) = path else {
        return Ok(RouterSnapshot::unreachable());
    };
    let what = || format!("router file {path}");
    match read_json(path)? {
        serde_json::Value::Object(bodies) => {
            RouterSnapshot::parse(&bodies).map_err(|e| Error::bad_input(what(), e))
        }
        _ => Err(Error::bad_input(
            what(),
            "expected an object with context, quota, circuits, agent_clis, ops_summary",
        )),
    }
}

pub fn run(settings: &Settings, args: &EvaluateArgs, json: bool) -> Result<()> {
    let lanes: Option<Vec<Lane>> = args
        .lanes
        .as_deref()
        .map(parse_lane_list)
        .transpose()
        .map_err(|e| Error::bad_input("--lanes", e))?;
    let router = router_snapshot(args.router.as_deref())?;
    let body = read_json(&args.task)?;
    if !(body.is_object() || body.is_array()) {
        return Err(Error::bad_input(
            format!("file {}", args.task),
            "expected a candidate object or a backlog body",
        ));
    }
    let ctx = DecisionContext {
        policy: &settings.scoring,
        router: &router,
        control: ControlMode::Enabled,
        lanes: lanes.as_deref(),
        default_lanes: &settings.default_lanes,
        canonical_status: args
            .canonical_status
            .as_deref()
            .filter(|s| !s.trim().is_empty()),
        now: Utc::now(),
        lease_seconds: settings.default_lease_seconds,
        cache_only: !settings.dispatch_enabled,
    };
    // Every rejected worker is listed here, not only the first few: the
    // file is the operator's own, and small.
    let mut pool = args
        .workers
        .as_deref()
        .map(workers)
        .transpose()?
        .map(|fleet| Pool::new(fleet, settings.fleet, usize::MAX));
    let mut problems = Vec::new();
    for (index, item) in backlog_items(&body).into_iter().enumerate() {
        match Candidate::from_json(item) {
            Ok(candidate) => {
                let mut decision = decide(&candidate, &ctx);
                if let Some(pool) = &mut pool {
                    place(&mut decision, &candidate, &ctx, None, pool);
                }
                if json {
                    output::json_line(&decision);
                } else {
                    output::decision(&decision);
                }
            }
            Err(e) => problems.push(format!("item {index}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::bad_input(
            format!("file {}", args.task),
            problems.join("; "),
        ))
    }
}
