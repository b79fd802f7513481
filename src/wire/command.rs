//! The commands the engine takes, spelled as protocol v1 spells them. This
//! enum is the one declaration of what a client may ask: the socket, `batch`
//! and the control room all send it, and `codec` turns it into a line and
//! back without knowing any command by name.
//!
//! A field that comes from outside and must not be blank says so with
//! `deserialize_with`; everything else is plain serde.

use crate::domain::bounded::{lease_opt, name, name_opt, text, text_opt};
use crate::domain::control::ControlMode;
use crate::domain::worker::Heartbeat;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a client asks the engine (the `op` of a request line).
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Command {
    /// A worker is alive; renews the leases it names or holds.
    Heartbeat(Heartbeat),
    Claim {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
        #[serde(deserialize_with = "name")]
        worker_id: String,
        #[serde(default, deserialize_with = "name_opt")]
        node_id: Option<String>,
        #[serde(default, deserialize_with = "lease_opt")]
        lease_seconds: Option<u64>,
        #[serde(default, deserialize_with = "name_opt")]
        correlation_id: Option<String>,
    },
    /// A worker asks for work: the engine claims for it the waiting
    /// assignment it should run next (contract C: a lane it serves, every
    /// capability the task needs, the task owner's when the owner filter is
    /// on; by effective priority), or says why there is none.
    Next {
        #[serde(deserialize_with = "name")]
        worker_id: String,
        #[serde(deserialize_with = "name")]
        node_id: String,
        #[serde(default, deserialize_with = "lease_opt")]
        lease_seconds: Option<u64>,
        #[serde(default, deserialize_with = "name_opt")]
        correlation_id: Option<String>,
    },
    /// A worker says it is working on an assignment it holds.
    Progress {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
        #[serde(deserialize_with = "name")]
        worker_id: String,
        #[serde(default, deserialize_with = "text_opt")]
        message: Option<String>,
        #[serde(default)]
        percent: Option<f64>,
    },
    Complete {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
        #[serde(deserialize_with = "name")]
        worker_id: String,
        #[serde(default)]
        status: Option<Completion>,
        #[serde(default, deserialize_with = "text_opt")]
        summary: Option<String>,
    },
    Fail {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
        #[serde(deserialize_with = "name")]
        worker_id: String,
        #[serde(default, deserialize_with = "text_opt")]
        reason: Option<String>,
        #[serde(default = "yes")]
        retryable: bool,
    },
    /// A worker gives back a lease it holds.
    Release {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
        #[serde(deserialize_with = "name")]
        worker_id: String,
        #[serde(default, deserialize_with = "text_opt")]
        reason: Option<String>,
        #[serde(default = "yes")]
        retry: bool,
    },
    /// An inbound AssistX event envelope (contract A1).
    Event { event: Map<String, Value> },
    /// A snapshot built after everything sent before it.
    Snapshot {},
    /// Why an assignment went where it did: its decision's reasons and
    /// skipped lanes (a snapshot lists assignments without them).
    Explain {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
    },
    /// One outbox event whole, body included.
    OutboxEvent { seq: i64 },
    /// Audit entries or outbox events older than `before` (the newest when
    /// absent), newest first, only those containing `contains` when given:
    /// what a control room shows past its snapshot's 200.
    Older {
        log: Log,
        #[serde(default)]
        before: Option<i64>,
        #[serde(default, deserialize_with = "text_opt")]
        contains: Option<String>,
        /// 1 to 1000; 200 when absent.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// An operator's command, named in the audit.
    #[serde(rename = "command")]
    #[strum(serialize = "command")]
    Operator(Operator),
}

/// The append-only lists a client may page through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Log {
    Audit,
    Outbox,
}

/// An operator command and who gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    #[serde(deserialize_with = "name")]
    pub operator: String,
    pub command: Action,
    /// Do it in a transaction that is rolled back: the reply says what
    /// would happen (the old HTTP API's `dry_run`, which defaults to true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// What an operator may ask (the `command` of an `op: command` line).
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    Approve {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
        #[serde(default, deserialize_with = "text_opt")]
        reason: Option<String>,
        /// Refuse unless the assignment is still at this version.
        #[serde(default)]
        expected_version: Option<i64>,
        /// How long the approval holds; `approval_ttl_seconds` when absent.
        #[serde(default)]
        expires_in_seconds: Option<u64>,
    },
    Reject {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
        #[serde(default, deserialize_with = "text_opt")]
        reason: Option<String>,
        #[serde(default)]
        expected_version: Option<i64>,
    },
    /// Take an assignment back; with `retry` the task is offered again.
    Release {
        #[serde(deserialize_with = "name")]
        assignment_id: String,
        #[serde(default, deserialize_with = "text_opt")]
        reason: Option<String>,
        #[serde(default = "yes")]
        retry: bool,
        #[serde(default)]
        expected_version: Option<i64>,
    },
    /// A scheduler pass: time-revealed work, then the given backlog (or the
    /// cached one), with the router bodies (A6) when given.
    Tick {
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        candidates: Option<Vec<Value>>,
        #[serde(default)]
        router: Option<Map<String, Value>>,
    },
    Control {
        mode: ControlMode,
        #[serde(default, deserialize_with = "text_opt")]
        reason: Option<String>,
    },
    /// Process stored inbound events (all of them again with `include_processed`).
    ProcessEvents {
        #[serde(default)]
        include_processed: bool,
        #[serde(default)]
        dry_run: bool,
        /// Only events of this type.
        #[serde(default, deserialize_with = "name_opt")]
        event_type: Option<String>,
        /// At most this many, in arrival order; all when absent.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Decide these candidates now and store the decisions.
    Evaluate { candidates: Vec<Value> },
    /// An action a client refused on its own (a read-only control room),
    /// written to the audit so every refusal is on record.
    RecordRefusal {
        #[serde(deserialize_with = "name")]
        action: String,
        #[serde(default, deserialize_with = "name_opt")]
        subject: Option<String>,
        #[serde(deserialize_with = "text")]
        reason: String,
    },
    /// Stop giving a worker new work (`node/worker`); what it holds runs
    /// to its end. Kept across restarts until `undrain`.
    Drain {
        #[serde(deserialize_with = "name")]
        worker: String,
        #[serde(default, deserialize_with = "text_opt")]
        reason: Option<String>,
    },
    /// Give a drained worker work again.
    Undrain {
        #[serde(deserialize_with = "name")]
        worker: String,
        #[serde(default, deserialize_with = "text_opt")]
        reason: Option<String>,
    },
    /// Expire now the leases that ran out and mark silent workers stale
    /// (what the engine does every few seconds on its own).
    ExpireStale {},
    /// Deliver due outbox events now (the sync layer's).
    Dispatch {},
    /// Give a dead-lettered outbox event another round of attempts, the
    /// same bytes again (after fixing what AssistX refused).
    RetryOutbox { seq: i64 },
    /// Mark outbox events AssistX already recorded as delivered (the sync layer's).
    Reconcile {},
}

/// How a worker says an assignment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Completion {
    Success,
    Failure,
}

fn yes() -> bool {
    true
}

impl Command {
    /// An operator command given by `operator`.
    pub fn by(operator: impl Into<String>, command: Action) -> Command {
        Command::Operator(Operator {
            operator: operator.into(),
            command,
            dry_run: false,
        })
    }

    /// An operator's command done in a transaction that is rolled back.
    pub fn trial(operator: impl Into<String>, command: Action) -> Command {
        Command::Operator(Operator {
            operator: operator.into(),
            command,
            dry_run: true,
        })
    }

    /// The name the audit and the counters use: the op, or for an operator
    /// command its own name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Operator(o) => (&o.command).into(),
            other => other.into(),
        }
    }

    /// The assignment, worker or setting the command acts on, for the audit.
    pub fn subject(&self) -> Option<String> {
        match self {
            Command::Claim { assignment_id, .. }
            | Command::Progress { assignment_id, .. }
            | Command::Complete { assignment_id, .. }
            | Command::Fail { assignment_id, .. }
            | Command::Release { assignment_id, .. } => Some(assignment_id.clone()),
            Command::Heartbeat(hb) => Some(hb.key()),
            Command::Operator(o) => match &o.command {
                Action::Approve { assignment_id, .. }
                | Action::Reject { assignment_id, .. }
                | Action::Release { assignment_id, .. } => Some(assignment_id.clone()),
                Action::Control { mode, .. } => Some(format!("control:{mode}")),
                Action::Drain { worker, .. } | Action::Undrain { worker, .. } => {
                    Some(worker.clone())
                }
                _ => None,
            },
            Command::Next {
                node_id, worker_id, ..
            } => Some(crate::domain::worker::worker_key(node_id, worker_id)),
            Command::Event { .. }
            | Command::Snapshot {}
            | Command::Explain { .. }
            | Command::OutboxEvent { .. }
            | Command::Older { .. } => None,
        }
    }

    /// Who the audit names: the worker or the operator.
    pub fn actor(&self) -> Option<&str> {
        match self {
            Command::Claim { worker_id, .. }
            | Command::Next { worker_id, .. }
            | Command::Progress { worker_id, .. }
            | Command::Complete { worker_id, .. }
            | Command::Fail { worker_id, .. }
            | Command::Release { worker_id, .. } => Some(worker_id),
            Command::Heartbeat(hb) => Some(&hb.worker_id),
            Command::Operator(o) => Some(&o.operator),
            Command::Event { .. }
            | Command::Snapshot {}
            | Command::Explain { .. }
            | Command::OutboxEvent { .. }
            | Command::Older { .. } => None,
        }
    }

    /// True for a command that may decide a whole backlog in one pass.
    /// A tick that writes (not a dry run).
    pub fn is_tick(&self) -> bool {
        matches!(
            self,
            Command::Operator(Operator {
                command: Action::Tick { dry_run: false, .. },
                ..
            })
        )
    }

    pub fn is_pass(&self) -> bool {
        matches!(
            self,
            Command::Operator(Operator {
                command: Action::Tick { .. }
                    | Action::Evaluate { .. }
                    | Action::ProcessEvents { .. },
                ..
            })
        )
    }

    /// True for a dry run, which must commit nothing.
    pub fn is_dry_run(&self) -> bool {
        matches!(
            self,
            Command::Operator(Operator { dry_run: true, .. })
                | Command::Operator(Operator {
                    command: Action::Tick { dry_run: true, .. }
                        | Action::ProcessEvents { dry_run: true, .. },
                    ..
                })
        )
    }
}
