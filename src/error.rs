//! The library's error type. Callers must tell apart bad input (the caller can
//! fix it), refusals (the state does not allow it) and faults (ours or the
//! machine's), so each is its own variant; the CLI maps them to exit codes.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// Input from outside (a file, a flag, a message) that is not acceptable.
    #[error("invalid {what}: {message}")]
    BadInput { what: String, message: String },

    /// A lifecycle transition the state machine does not allow.
    #[error("illegal transition for {assignment_id}: {from} -> {event}: {why}")]
    IllegalTransition {
        assignment_id: String,
        from: String,
        event: String,
        why: String,
    },

    /// The row the caller acted on changed since the caller read it.
    #[error("stale version for {assignment_id}: you saw version {seen}, it is now {current}")]
    StaleVersion {
        assignment_id: String,
        seen: i64,
        current: i64,
    },

    /// Something named by the caller does not exist.
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },

    /// The current control mode forbids the action.
    #[error("assignment control mode is {mode}; {action} is not allowed")]
    ControlMode { mode: String, action: String },

    /// A drained worker asked for new work.
    #[error(
        "worker {worker} is drained: it finishes what it holds and takes nothing new (undrain it first)"
    )]
    WorkerDrained { worker: String },

    /// A worker whose circuit breaker is open asked for work.
    #[error("worker {worker} gets no new work: {why}")]
    BreakerOpen { worker: String, why: String },

    /// A worker acted on an assignment it does not hold.
    #[error("worker {worker_id} does not hold assignment {assignment_id}")]
    NotHeld {
        assignment_id: String,
        worker_id: String,
    },

    #[error("database error: {0}")]
    Store(#[from] rusqlite::Error),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Another engine holds the socket.
    #[error("another engine is running on {path}{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    SocketInUse { path: String, pid: Option<u64> },

    /// Another engine holds the database.
    #[error("another engine{} is running on the database {path}; stop it first, or give this one another --database", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    DatabaseInUse { path: String, pid: Option<u64> },

    /// A running engine refused a request sent over its socket.
    #[error("{message}")]
    Remote { code: String, message: String },

    /// What was asked cannot be done here: turned off, run elsewhere, or
    /// not in this build; `what` says which.
    #[error("{what}; nothing was done")]
    Unavailable { what: String },

    /// The engine task is gone (shut down or crashed).
    #[error("the engine is not running")]
    EngineGone,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad_input(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::BadInput {
            what: what.into(),
            message: message.into(),
        }
    }

    /// True when the caller sent something that can never succeed as sent;
    /// the CLI answers these with exit code 2.
    pub fn is_caller_fault(&self) -> bool {
        match self {
            Error::Remote { code, .. } => !matches!(code.as_str(), "store" | "io" | "engine_gone"),
            Error::Store(_)
            | Error::Io { .. }
            | Error::EngineGone
            | Error::SocketInUse { .. }
            | Error::DatabaseInUse { .. } => false,
            _ => true,
        }
    }

    /// A short stable code for machine readers (CLI JSON, the socket).
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadInput { .. } => "bad_input",
            Error::IllegalTransition { .. } => "illegal_transition",
            Error::StaleVersion { .. } => "stale_version",
            Error::NotFound { .. } => "not_found",
            Error::ControlMode { .. } => "control_mode",
            Error::NotHeld { .. } => "assignment_not_held",
            Error::WorkerDrained { .. } => "worker_drained",
            Error::BreakerOpen { .. } => "breaker_open",
            Error::Store(_) => "store",
            Error::Io { .. } => "io",
            Error::EngineGone => "engine_gone",
            Error::Unavailable { .. } => "unavailable",
            Error::SocketInUse { .. } => "socket_in_use",
            Error::DatabaseInUse { .. } => "database_in_use",
            Error::Remote { .. } => "remote",
        }
    }
}
