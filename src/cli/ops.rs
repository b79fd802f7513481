//! Commands that change state go to the engine (the daemon's when one runs,
//! else one started here); read-only views read the store without writing.

use super::input::{read_json, read_json_or_lines};
use super::output::{self, or_dash, table};
use super::{Cmd, EventsCmd};
use crate::config::Settings;
use crate::domain::candidate::backlog_items;
use crate::domain::control::ControlMode;
use crate::domain::delivery::DeliveryStatus;
use crate::domain::lifecycle::Status;
use crate::domain::printable::escape;
use crate::engine::{Command, Reply};
use crate::error::{Error, Result};
use crate::host::{runtime, with_engine};
use crate::store::{Store, assignments, audit, graph_delivery, outbox};
use crate::wire::Action;
use crate::wire::codec::check;
use crate::wire::reply::Outcome;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutboxView {
    /// The events, each with its status, attempts and last error.
    List,
    /// Counts per status, the oldest pending event and the last error.
    Summary,
    /// Deliver what is due now (`--dry-run`: list it).
    Dispatch,
    /// Try a dead-lettered event again (its SEQ after `retry`).
    Retry,
    /// Mark pending events delivered whose key AssistX recorded in Neo4j.
    Reconcile,
    /// Where the provenance graph's writes stand, and what it refused.
    Graph,
}

/// What `auto-assign outbox` was asked.
pub struct OutboxAsk<'a> {
    pub view: OutboxView,
    pub seq: Option<i64>,
    pub status: Option<&'a str>,
    pub limit: usize,
    pub dry_run: bool,
}

/// The engine commands a CLI command stands for; `operator` is who the
/// audit names when no `--by` is given.
fn to_commands(cmd: Cmd, operator: &str) -> Result<Vec<Command>> {
    let by =
        |who: Option<String>, action: Action| Command::by(who.unwrap_or(operator.into()), action);
    Ok(vec![match cmd {
        Cmd::Tick {
            dry_run,
            task_file,
            router,
        } => {
            let router = match router {
                Some(path) => match read_json(&path)? {
                    Value::Object(bodies) => Some(bodies),
                    _ => {
                        return Err(Error::bad_input(
                            format!("router file {path}"),
                            "expected an object with context, quota, circuits, agent_clis, ops_summary",
                        ));
                    }
                },
                None => None,
            };
            let candidates = match task_file {
                Some(path) => {
                    let body = read_json(&path)?;
                    Some(backlog_items(&body).into_iter().cloned().collect())
                }
                None => None,
            };
            by(
                None,
                Action::Tick {
                    dry_run,
                    candidates,
                    router,
                },
            )
        }
        Cmd::Approve(v) => by(
            v.by,
            Action::Approve {
                assignment_id: v.id,
                reason: v.reason,
                expected_version: v.expected_version,
                expires_in_seconds: None,
            },
        ),
        Cmd::Reject(v) => by(
            v.by,
            Action::Reject {
                assignment_id: v.id,
                reason: v.reason,
                expected_version: v.expected_version,
            },
        ),
        Cmd::Release { verdict, no_retry } => by(
            verdict.by,
            Action::Release {
                assignment_id: verdict.id,
                reason: verdict.reason,
                retry: !no_retry,
                expected_version: verdict.expected_version,
            },
        ),
        Cmd::Claim {
            id,
            worker,
            node,
            lease_seconds,
        } => Command::Claim {
            assignment_id: id,
            worker_id: worker,
            node_id: node,
            lease_seconds,
            correlation_id: None,
        },
        Cmd::Next {
            worker,
            node,
            lease_seconds,
        } => Command::Next {
            worker_id: worker,
            node_id: node,
            lease_seconds,
            correlation_id: None,
        },
        Cmd::Complete {
            id,
            worker,
            status,
            summary,
        } => Command::Complete {
            assignment_id: id,
            worker_id: worker,
            status: Some(status),
            summary,
        },
        Cmd::Fail {
            id,
            worker,
            reason,
            no_retry,
        } => Command::Fail {
            assignment_id: id,
            worker_id: worker,
            reason,
            retryable: !no_retry,
        },
        Cmd::Drain { worker, reason } => by(None, Action::Drain { worker, reason }),
        Cmd::Undrain { worker, reason } => by(None, Action::Undrain { worker, reason }),
        Cmd::Control { mode, reason } => {
            let mode: ControlMode = mode
                .parse()
                .map_err(|e: String| Error::bad_input("control mode", e))?;
            by(None, Action::Control { mode, reason })
        }
        Cmd::Progress {
            id,
            worker,
            message,
            percent,
        } => Command::Progress {
            assignment_id: id,
            worker_id: worker,
            message,
            percent,
        },
        Cmd::Events(EventsCmd::Process {
            include_processed,
            dry_run,
        }) => by(
            None,
            Action::ProcessEvents {
                include_processed,
                dry_run,
                event_type: None,
                limit: None,
            },
        ),
        Cmd::Events(EventsCmd::Ingest { file }) => {
            return read_json_or_lines(&file)?
                .into_iter()
                .enumerate()
                .map(|(index, event)| match event {
                    Value::Object(event) => Ok(Command::Event { event }),
                    _ => Err(Error::bad_input(
                        format!("event {} of {file}", index + 1),
                        "an event must be a JSON object",
                    )),
                })
                .collect();
        }
        other => {
            return Err(Error::bad_input(
                "command",
                format!("{other:?} is not an engine command"),
            ));
        }
    }])
}

/// Sends the command's engine commands in order (to the daemon when one
/// runs) and prints each reply; stops at the first refusal.
pub fn engine_command(settings: Settings, cmd: Cmd, json: bool) -> Result<()> {
    let commands = to_commands(cmd, &settings.operator)?;
    for command in &commands {
        check(command).map_err(|e| {
            let field = e.field.unwrap_or_else(|| command.name().into());
            Error::bad_input(field, e.message)
        })?;
    }
    runtime()?.block_on(with_engine(&settings, |link| async move {
        for command in commands {
            print_reply(&link.send(command).await?, json);
        }
        Ok(())
    }))
}

pub fn print_reply(reply: &Reply, json: bool) {
    if json {
        return output::json_line(reply);
    }
    match reply {
        Reply::Outcomes(outcomes) => outcomes.iter().for_each(print_outcome),
        Reply::Tick(t) => {
            let c = &t.counts;
            println!(
                "tick{}: {} candidates, {} recommended, {} approval required, {} blocked, {} unchanged, {} expired, {} stale workers",
                if t.dry_run {
                    " (dry run, nothing written)"
                } else {
                    ""
                },
                c.candidates,
                c.recommended,
                c.approval_required,
                c.blocked,
                c.unchanged,
                c.expired,
                c.stale_workers
            );
            if c.deferred > 0 {
                println!(
                    "deferred: {} new candidates (the queue is full; see max_queue_depth)",
                    c.deferred
                );
            }
            if let Some(note) = &t.note {
                println!("note: {note}");
            }
            t.outcomes.iter().for_each(print_outcome);
        }
        Reply::Assignment(a) => println!(
            "{}  {}  version {}  task {}  lane {}  worker {}  retries {}",
            a.assignment_id,
            a.status,
            a.version,
            escape(&a.task_id),
            a.lane,
            or_dash(a.worker_id.as_deref()),
            a.retry_count
        ),
        Reply::Heartbeat(h) => println!(
            "{}/{}: {} lease(s) renewed, {} started",
            h.node_id,
            h.worker_id,
            h.renewed.len(),
            h.started.len()
        ),
        Reply::Recorded => println!("recorded"),
        Reply::Explanation(e) => output::json_line(e),
        Reply::OutboxEvent(e) => output::json_line(e),
        Reply::AuditRows(rows) => rows.iter().for_each(output::json_line),
        Reply::OutboxRows(rows) => rows.iter().for_each(output::json_line),
        Reply::NoWork(why) => println!("no work: {}", escape(why)),
        Reply::Snapshot(s) => println!("{}", super::watch::summary(s)),
        Reply::Control(c) => println!(
            "control mode: {} ({})",
            c.mode,
            escape(&or_dash(c.reason.as_deref()))
        ),
        Reply::Ingested(i) => println!(
            "{}: {:?}{}",
            escape(&i.idempotency_key),
            i.mirrored,
            i.processed
                .as_ref()
                .map(|p| format!(", {}", p.action))
                .unwrap_or_default()
        ),
        Reply::Processed(list) => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|p| {
                    vec![
                        p.idempotency_key.clone(),
                        p.event_type.clone(),
                        p.action.clone(),
                        or_dash(p.reason.as_deref()),
                        or_dash(p.detail.as_deref()),
                    ]
                })
                .collect();
            table(&["KEY", "TYPE", "ACTION", "REASON", "DETAIL"], &rows);
        }
    }
}

fn print_outcome(o: &Outcome) {
    match &o.decision {
        Some(d) => output::decision(d),
        None => println!(
            "{}  {}  {}",
            escape(&o.task_id),
            o.result,
            escape(&or_dash(o.note.as_deref()))
        ),
    }
}

pub fn outbox(settings: &Settings, asked: OutboxAsk, json: bool) -> Result<()> {
    let OutboxAsk {
        view,
        seq,
        status,
        limit,
        dry_run,
    } = asked;
    // A flag a view does not take is refused rather than ignored: `outbox
    // list 5` must not list everything while its reader expects one event.
    let refused = [
        (
            "SEQ",
            seq.is_some() && view != OutboxView::Retry,
            "outbox retry",
        ),
        (
            "--dry-run",
            dry_run && view != OutboxView::Dispatch,
            "outbox dispatch",
        ),
        (
            "--status",
            status.is_some() && view != OutboxView::List,
            "outbox list",
        ),
    ];
    if let Some((what, _, only)) = refused.into_iter().find(|(_, wrong, _)| *wrong) {
        return Err(Error::bad_input(what, format!("only `{only}` takes it")));
    }
    let action = match (view, dry_run, seq) {
        (OutboxView::Dispatch, false, _) => Some(Action::Dispatch {}),
        (OutboxView::Retry, _, Some(seq)) => Some(Action::RetryOutbox { seq }),
        (OutboxView::Reconcile, _, _) => Some(Action::Reconcile {}),
        (OutboxView::Retry, _, None) => {
            return Err(Error::bad_input(
                "seq",
                "outbox retry needs the event's SEQ (auto-assign outbox --status dead_letter lists them)",
            ));
        }
        _ => None,
    };
    if let Some(action) = action {
        let command = Command::by(settings.operator.clone(), action);
        return runtime()?.block_on(with_engine(settings, |link| async move {
            print_reply(&link.send(command).await?, json);
            Ok(())
        }));
    }
    let store = Store::open_read_only(&settings.database_path)?;
    match view {
        OutboxView::Summary => {
            let s = outbox::summary(store.conn())?;
            if json {
                output::json_line(&s);
            } else {
                let rows = vec![vec![
                    s.pending.to_string(),
                    s.failed.to_string(),
                    s.delivered.to_string(),
                    s.conflict.to_string(),
                    s.dead_letter.to_string(),
                    or_dash(s.oldest_pending_at.as_deref()),
                    or_dash(s.last_error.as_deref()),
                ]];
                table(
                    &[
                        "PENDING",
                        "FAILED",
                        "DELIVERED",
                        "CONFLICT",
                        "DEAD_LETTER",
                        "OLDEST_PENDING",
                        "LAST_ERROR",
                    ],
                    &rows,
                );
            }
        }
        OutboxView::List => {
            let status: Option<DeliveryStatus> = status
                .map(str::parse)
                .transpose()
                .map_err(|e: String| Error::bad_input("--status", e))?;
            print_events(&outbox::list(store.conn(), status, false, limit)?, json);
        }
        OutboxView::Graph => print_graph(&store, limit, json)?,
        // What the dispatcher would send now: each task's next due event.
        OutboxView::Dispatch | OutboxView::Retry | OutboxView::Reconcile => {
            print_events(
                &outbox::due_heads(store.conn(), chrono::Utc::now(), limit)?,
                json,
            );
        }
    }
    Ok(())
}

/// The graph's delivery state, then the events it refused.
fn print_graph(store: &Store, limit: usize, json: bool) -> Result<()> {
    let summary = graph_delivery::summary(store.conn())?;
    let refused = graph_delivery::refused(store.conn(), limit)?;
    if json {
        output::json_line(&serde_json::json!({"summary": summary, "refused": refused}));
        return Ok(());
    }
    let s = &summary;
    table(
        &[
            "WRITTEN_THROUGH",
            "PENDING",
            "REFUSED",
            "OLDEST_PENDING",
            "ATTEMPTS",
            "NEXT_ATTEMPT",
            "LAST_ERROR",
        ],
        &[vec![
            s.delivered_seq.to_string(),
            s.pending.to_string(),
            s.refused.to_string(),
            or_dash(s.oldest_pending_at.as_deref()),
            s.attempts.to_string(),
            or_dash(s.next_attempt_at.as_deref()),
            or_dash(s.last_error.as_deref()),
        ]],
    );
    if !refused.is_empty() {
        println!();
        let rows = refused
            .iter()
            .map(|(seq, error, at)| vec![seq.to_string(), at.clone(), error.clone()])
            .collect::<Vec<_>>();
        table(&["SEQ", "AT", "REFUSED_BECAUSE"], &rows);
    }
    Ok(())
}

fn print_events(events: &[outbox::OutboxEvent], json: bool) {
    let headers = ["SEQ", "STATUS", "TYPE", "SUBJECT", "ATTEMPTS", "KEY"];
    output::list(events, json, &headers, |e| {
        vec![
            e.seq.to_string(),
            e.status.clone(),
            e.event_type.clone(),
            e.subject_id.clone(),
            e.attempts.to_string(),
            e.idempotency_key.clone(),
        ]
    });
}

pub fn assignments(
    settings: &Settings,
    status: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<()> {
    let status: Option<Status> = status
        .map(str::parse)
        .transpose()
        .map_err(|e: String| Error::bad_input("--status", e))?;
    let store = Store::open_read_only(&settings.database_path)?;
    let filter = assignments::Filter {
        status,
        ..Default::default()
    };
    let list = assignments::list(store.conn(), filter, limit)?;
    let headers = [
        "ASSIGNMENT",
        "TASK",
        "STATUS",
        "LANE",
        "SCORE",
        "WORKER",
        "RETRIES",
        "VERSION",
        "UPDATED",
    ];
    output::list(&list, json, &headers, |a| {
        vec![
            a.assignment_id.clone(),
            a.task_id.clone(),
            a.status.to_string(),
            a.lane.clone(),
            a.decision.score.to_string(),
            or_dash(a.worker_id.as_deref()),
            a.retry_count.to_string(),
            a.version.to_string(),
            a.updated_at.clone(),
        ]
    });
    Ok(())
}

pub fn audit(settings: &Settings, limit: usize, operators: bool, json: bool) -> Result<()> {
    let store = Store::open_read_only(&settings.database_path)?;
    let entries = audit::recent(store.conn(), limit, operators)?;
    let headers = [
        "SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "CHANGE", "OUTCOME", "DETAIL",
    ];
    output::list(&entries, json, &headers, |e| {
        let change = match (&e.from_status, &e.to_status) {
            (None, None) => "-".to_string(),
            (from, to) => format!("{} -> {}", or_dash(from.as_deref()), or_dash(to.as_deref())),
        };
        vec![
            e.seq.to_string(),
            e.at.clone(),
            e.actor.clone(),
            e.action.clone(),
            or_dash(e.subject.as_deref()),
            change,
            e.outcome.clone(),
            or_dash(e.detail.as_deref()),
        ]
    });
    Ok(())
}
