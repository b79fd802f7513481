//! The table of every setting: its file key, its variable, its default
//! and its meaning, and the template printed from it.

pub struct Spec {
    pub key: &'static str,
    pub default: &'static str,
    pub help: &'static str,
    pub secret: bool,
}

impl Spec {
    pub fn env(&self) -> String {
        format!("AUTO_ASSIGN_{}", self.key.to_ascii_uppercase())
    }
}

const fn spec(key: &'static str, default: &'static str, help: &'static str) -> Spec {
    Spec {
        key,
        default,
        help,
        secret: false,
    }
}

const fn secret(key: &'static str, help: &'static str) -> Spec {
    Spec {
        key,
        default: "",
        help,
        secret: true,
    }
}

pub const SPECS: &[Spec] = &[
    spec(
        "database_url",
        "sqlite:///./data/auto_assign.sqlite3",
        "The SQLite cache: a sqlite:/// URL or a plain path. Safe to delete while the engine is stopped.",
    ),
    spec(
        "assistx_base_url",
        "http://localhost:8000",
        "AssistX, the canonical task authority (an http:// or https:// URL, checked at start).",
    ),
    spec(
        "assistx_auth_user",
        "",
        "AssistX Basic auth user (Basic auth is sent only when user and password are both set).",
    ),
    secret("assistx_auth_pass", "AssistX Basic auth password."),
    spec(
        "assistx_timeout_seconds",
        "5",
        "Timeout of one AssistX call, in seconds.",
    ),
    spec(
        "router_base_url",
        "http://localhost:8088",
        "auto-router's admin API (an http:// or https:// URL, checked at start).",
    ),
    spec(
        "router_timeout_seconds",
        "5",
        "Timeout of one auto-router call, in seconds.",
    ),
    spec(
        "scheduler_enabled",
        "false",
        "Run scheduled ticks on their own (backlog intake every tick interval).",
    ),
    spec(
        "tick_interval_seconds",
        "300",
        "Seconds between scheduled ticks.",
    ),
    spec(
        "default_lease_seconds",
        "900",
        "Lease length of a claim that names none.",
    ),
    spec(
        "stale_heartbeat_seconds",
        "120",
        "A worker silent this long is stale; its leases expire without using a retry.",
    ),
    spec(
        "stale_assignment_seconds",
        "0",
        "Grace after a lease runs out before it expires.",
    ),
    spec(
        "dispatch_enabled",
        "false",
        "Write outbox events back to AssistX.",
    ),
    spec(
        "dispatch_concurrency",
        "4",
        "Outbox events posted to AssistX at once, each about another task (1-64).",
    ),
    spec(
        "neo4j_uri",
        "",
        "Neo4j's Bolt address (bolt://host:7687, neo4j://host:7687 or host:port); empty: no graph, AssistX only.",
    ),
    spec("neo4j_user", "neo4j", "Neo4j user."),
    secret("neo4j_password", "Neo4j password."),
    spec(
        "neo4j_database",
        "",
        "Neo4j database; empty: the server's default database.",
    ),
    spec(
        "graph_batch_size",
        "2000",
        "Outbox events written to the provenance graph per transaction (1-5000).",
    ),
    spec(
        "realtime_priority",
        "0",
        "Run the threads that answer (engine, socket, control room) in the realtime class at this priority (1-99), so a busy neighbour such as Neo4j cannot delay them; 0: off. Needs LimitRTPRIO or CAP_SYS_NICE.",
    ),
    spec(
        "direct_workers_enabled",
        "false",
        "Allow the direct_worker lane.",
    ),
    secret(
        "api_token",
        "Token callers of auto-assign's own API must present.",
    ),
    spec(
        "http_bind",
        "",
        "Address the HTTP API listens on, e.g. 127.0.0.1:8080 (empty: off unless port is set).",
    ),
    spec(
        "host",
        "",
        "The old service's name for the HTTP API's host (default 127.0.0.1 when only port is set).",
    ),
    spec(
        "port",
        "",
        "The old service's name for the HTTP API's port: setting it turns the API on.",
    ),
    spec(
        "http_allow_open",
        "false",
        "Let the HTTP API listen beyond loopback without api_token (not advised).",
    ),
    spec(
        "url",
        "",
        "An engine's HTTP API on another machine: worker commands go there instead of the socket.",
    ),
    spec(
        "http_timeout_seconds",
        "10",
        "Longest an HTTP request may take, its body included, before 503.",
    ),
    spec(
        "http_max_concurrent",
        "256",
        "HTTP requests served at once; more are refused with 503 at once.",
    ),
    spec(
        "lane_base_scores",
        "local_only=0.78,router_model=0.66,free_api=0.55,direct_worker=0.20",
        "Base score per lane; an unlisted lane scores 0.",
    ),
    spec(
        "local_only_boost",
        "0.1",
        "Added on local_only for sensitive or local-only work.",
    ),
    spec(
        "priority_boost",
        "0.05",
        "Added for critical, repo_critical and interactive priorities.",
    ),
    spec(
        "retry_penalty_per_attempt",
        "0.05",
        "Subtracted per earlier attempt.",
    ),
    spec("retry_penalty_max", "0.2", "Cap of the retry penalty."),
    spec(
        "default_lanes",
        "router_model,local_only,free_api",
        "Lanes tried, in order, for a candidate that lists none.",
    ),
    spec(
        "max_retries",
        "3",
        "A retryable failure goes back to the queue while retry_count is below this.",
    ),
    spec(
        "aging_step_seconds",
        "300",
        "A waiting task's priority rises one level per this many seconds, so none starves.",
    ),
    spec(
        "owner_filter",
        "false",
        "Offer a task only to its owner's workers; a task with no owner is then offered to none.",
    ),
    spec(
        "alert_queue_depth",
        "100",
        "Alert when more assignments than this wait (0: never).",
    ),
    spec(
        "alert_stuck_minutes",
        "60",
        "Alert when a worker has held one task longer than this (0: never).",
    ),
    spec(
        "alert_latency_ms",
        "1000",
        "Alert when a decision pass takes longer than this (0: never).",
    ),
    spec(
        "alert_starving_minutes",
        "25",
        "Alert when a task has waited for a worker longer than this (0: never).",
    ),
    spec(
        "worker_weight_health",
        "0.4",
        "Weight of a worker's health (success rate, latency, uptime) in its score.",
    ),
    spec(
        "worker_weight_idle",
        "0.3",
        "Weight of a worker's free places (the spread term) in its score.",
    ),
    spec(
        "worker_weight_cost",
        "0.2",
        "Weight of a worker's cheapness (1 - its reported cost) in its score.",
    ),
    spec(
        "worker_weight_affinity",
        "0.1",
        "Weight of a worker belonging to the task's owner in its score.",
    ),
    spec(
        "max_queue_depth",
        "50000",
        "New candidates are deferred while this many assignments wait (0: no limit).",
    ),
    spec(
        "breaker_failures",
        "3",
        "A worker's failures or timeouts in a row that open its circuit breaker (1-100).",
    ),
    spec(
        "breaker_cooldown_seconds",
        "300",
        "How long an open breaker gives its worker nothing before one trial task.",
    ),
    spec(
        "approval_ttl_seconds",
        "86400",
        "An approval not acted on within this many seconds lapses and must be given again.",
    ),
    spec(
        "outbox_max_attempts",
        "10",
        "Delivery attempts before an outbox event is dead-lettered.",
    ),
    spec(
        "outbox_backoff_base_seconds",
        "5",
        "First retry delay of a failed delivery; it doubles per attempt, jittered.",
    ),
    spec(
        "outbox_backoff_max_seconds",
        "900",
        "Cap of the retry delay.",
    ),
    spec(
        "heartbeat_history",
        "100",
        "Heartbeats kept per worker besides its latest.",
    ),
    spec(
        "operator",
        "",
        "Name recorded in the audit for operator actions (default: $USER).",
    ),
    spec(
        "socket_path",
        "",
        "The engine's Unix socket (default: $XDG_RUNTIME_DIR/auto-assign/engine.sock, else ./data/engine.sock).",
    ),
    spec(
        "log_file",
        "",
        "The daemon's log file; empty: no file (the control room always logs to a file, see docs/operations.md).",
    ),
    spec("log_format", "plain", "Log lines as plain text or json."),
    spec(
        "log_level",
        "info",
        "Least severe log level written: error, warn, info, debug or trace.",
    ),
    spec(
        "ui_time",
        "local",
        "Times in the control room: local (the system's zone, named) or utc ([ui] time in the file).",
    ),
];

/// A commented TOML template with every setting at its default.
pub fn template() -> String {
    let mut out = String::from(
        "# auto-assign configuration.\n# Precedence: flags > AUTO_ASSIGN_* environment > this file > defaults.\n\n",
    );
    for spec in SPECS {
        out.push_str(&format!("# {}\n# env: {}\n", spec.help, spec.env()));
        out.push_str(&format!("# {} = {:?}\n\n", spec.key, spec.default));
    }
    out
}
