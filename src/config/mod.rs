//! Settings: defaults < config file < `AUTO_ASSIGN_*` environment < flags.
//!
//! One table ([`SPECS`]) names every setting once: its file key, its
//! variable, its default and its meaning. `config show`, `config template`
//! and docs/configuration.md are all read off it, so they cannot drift.

use crate::domain::fleet::breaker::BreakerPolicy;
use crate::domain::lane::Lane;
use crate::domain::scorer::ScoringPolicy;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod file;
mod specs;
#[cfg(test)]
mod tests;

use crate::domain::bounded::MAX_LEASE_SECONDS;
use file::{Reader, read_file};

/// Upper bounds of the time settings, in seconds.
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
pub use specs::{SPECS, Spec, template};

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(&'static str),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Default => "default".into(),
            Source::File(path) => format!("file {}", path.display()),
            Source::Env(var) => format!("env {var}"),
            Source::Flag(flag) => format!("flag {flag}"),
        }
    }

    /// How a value from here is named in an error message.
    fn name(&self, key: &str) -> String {
        match self {
            Source::Default => format!("default of {key}"),
            Source::File(path) => format!("{key} in {}", path.display()),
            Source::Env(var) => var.clone(),
            Source::Flag(flag) => (*flag).to_string(),
        }
    }
}

/// Values given on the command line, which win over everything.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub database: Option<String>,
    pub operator: Option<String>,
    pub socket: Option<String>,
}

/// The effective settings, typed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_path: PathBuf,
    pub assistx_base_url: String,
    pub assistx_auth: Option<(String, String)>,
    pub assistx_timeout: Duration,
    pub router_base_url: String,
    pub router_timeout: Duration,
    pub scheduler_enabled: bool,
    pub tick_interval: Duration,
    pub default_lease_seconds: u64,
    pub stale_heartbeat_seconds: u64,
    pub stale_assignment_seconds: u64,
    pub dispatch_enabled: bool,
    pub dispatch_concurrency: usize,
    /// The graph, when `neo4j_uri` is set.
    pub neo4j: Option<Neo4jSettings>,
    pub graph_batch_size: usize,
    /// The realtime priority of the threads that answer; 0: they stay in
    /// the normal class (`engine::prompt`).
    pub realtime_priority: u8,
    pub api_token: Option<String>,
    /// Where the HTTP API listens; `None`: it is off.
    pub http_bind: Option<std::net::SocketAddr>,
    pub http_allow_open: bool,
    /// The longest an HTTP request may take, its body included.
    pub http_timeout: Duration,
    /// HTTP requests served at once: a flood is refused, never queued.
    pub http_max_concurrent: usize,
    /// An engine's HTTP API on another machine, for one-shot worker
    /// commands (`--url`, `AUTO_ASSIGN_URL`).
    pub url: Option<String>,
    pub scoring: ScoringPolicy,
    pub default_lanes: Vec<Lane>,
    pub max_retries: u32,
    pub breaker: BreakerPolicy,
    /// New candidates are deferred while this many wait; 0: no limit.
    pub max_queue_depth: u64,
    pub aging_step_seconds: u64,
    /// Worker selection: the owner filter and the score's weights.
    pub fleet: crate::domain::fleet::Policy,
    pub alerts: crate::domain::alerts::Thresholds,
    pub approval_ttl_seconds: u64,
    pub outbox_max_attempts: u32,
    pub outbox_backoff_base_seconds: u64,
    pub outbox_backoff_max_seconds: u64,
    pub heartbeat_history: u32,
    pub operator: String,
    pub socket_path: PathBuf,
    pub log_file: Option<PathBuf>,
    pub log_json: bool,
    pub log_level: String,
    /// Control-room key overrides: action name → key (`[keymap]` in the file).
    pub keymap: BTreeMap<String, String>,
    /// Workers the fleet is known to have (`[[worker]]` in the file): in
    /// the registry from the start, offline until they are heard from.
    pub known_workers: Vec<crate::domain::worker::Heartbeat>,
    /// How the control room writes times (`[ui] time`).
    pub ui_time: UiTime,
}

/// The zone the control room writes times in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiTime {
    /// The system's zone, named in the header.
    Local,
    Utc,
}

/// Where and how to reach Neo4j over Bolt.
#[derive(Clone, PartialEq)]
pub struct Neo4jSettings {
    pub uri: String,
    pub user: String,
    pub password: String,
    /// Empty: the server's default database.
    pub database: String,
}

impl std::fmt::Debug for Neo4jSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jSettings")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// The settings and, per key, the raw value and where it came from.
pub struct Loaded {
    pub settings: Settings,
    pub values: BTreeMap<&'static str, (String, Source)>,
}

/// The default config file: `$XDG_CONFIG_HOME/auto-assign/config.toml`,
/// else `~/.config/auto-assign/config.toml`.
pub fn default_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("auto-assign").join("config.toml"))
}

/// `$XDG_RUNTIME_DIR/auto-assign/engine.sock`, else `./data/engine.sock`.
pub fn default_socket_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match env("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Path::new(&dir).join("auto-assign").join("engine.sock"),
        None => PathBuf::from("./data/engine.sock"),
    }
}

/// Loads the settings from the process environment.
pub fn load(overrides: &Overrides) -> Result<Loaded> {
    // A variable that is not UTF-8 is an error, not a setting left out.
    for (key, value) in std::env::vars_os() {
        if let Some(key) = key.to_str().filter(|k| k.starts_with("AUTO_ASSIGN_"))
            && value.to_str().is_none()
        {
            return Err(Error::bad_input(
                format!("setting {key}"),
                "its value is not valid UTF-8",
            ));
        }
    }
    load_with(overrides, &|name| std::env::var(name).ok())
}

/// Loads the settings with `env` standing in for the environment (tests).
pub fn load_with(overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded> {
    let mut values: BTreeMap<&'static str, (String, Source)> = SPECS
        .iter()
        .map(|s| (s.key, (s.default.to_string(), Source::Default)))
        .collect();

    let (path, explicit) = match &overrides.config_file {
        Some(path) => (Some(path.clone()), true),
        None => (default_config_path(env), false),
    };
    let mut file = file::FileValues::default();
    if let Some(path) = path {
        file = read_file(&path, explicit)?;
        for (key, value) in std::mem::take(&mut file.values) {
            values.insert(key, (value, Source::File(path.clone())));
        }
    }
    for spec in SPECS {
        let var = spec.env();
        if let Some(value) = env(&var) {
            values.insert(spec.key, (value, Source::Env(var)));
        }
    }
    if let Some(db) = &overrides.database {
        values.insert("database_url", (db.clone(), Source::Flag("--database")));
    }
    if let Some(socket) = &overrides.socket {
        values.insert("socket_path", (socket.clone(), Source::Flag("--socket")));
    }
    if let Some(op) = &overrides.operator {
        values.insert("operator", (op.clone(), Source::Flag("--operator")));
    }
    let mut settings = build(&values, env)?;
    settings.keymap = file.keymap;
    settings.known_workers = file.workers;
    Ok(Loaded { settings, values })
}

/// An engine's HTTP API address: empty is none; otherwise an http(s) URL.
pub fn engine_url(given: &str) -> std::result::Result<Option<String>, String> {
    http_url(given, ENGINE_URL_EXAMPLE)
}

const ENGINE_URL_EXAMPLE: &str = "http://homelab:8080";

/// An http:// or https:// URL with a host, without its trailing slash;
/// `None` when empty. What is expected (with `example`) when it is not one.
fn http_url(given: &str, example: &str) -> std::result::Result<Option<String>, String> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(None);
    }
    let expected = || format!("an http:// or https:// URL such as {example}");
    let rest = given
        .strip_prefix("http://")
        .or_else(|| given.strip_prefix("https://"))
        .ok_or_else(expected)?;
    if rest.trim_matches('/').is_empty() || rest.contains(char::is_whitespace) {
        return Err(expected());
    }
    Ok(Some(given.trim_end_matches('/').to_string()))
}

/// `http_bind`, else the old service's `host` and `port` (the host 127.0.0.1
/// when only the port is given: loopback unless the operator says so).
fn http_bind(r: &Reader) -> Result<Option<std::net::SocketAddr>> {
    let bind = r.text("http_bind");
    if !bind.is_empty() {
        return bind
            .parse()
            .map(Some)
            .or_else(|_| r.fail("http_bind", "an address such as 127.0.0.1:8080"));
    }
    let port = r.text("port");
    if port.is_empty() {
        return Ok(None);
    }
    let port: u16 = match port.parse() {
        Ok(port) => port,
        Err(_) => return r.fail("port", "a port number from 0 to 65535"),
    };
    let host = Some(r.text("host"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "127.0.0.1".into());
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Ok(Some(std::net::SocketAddr::new(ip, port))),
        Err(_) => r.fail("host", "an IP address such as 127.0.0.1 or 0.0.0.0"),
    }
}

fn database_path(url: &str) -> PathBuf {
    // sqlite:///relative and sqlite:////absolute, as SQLAlchemy writes them.
    let path = url
        .strip_prefix("sqlite:///")
        .or_else(|| url.strip_prefix("sqlite://"))
        .unwrap_or(url);
    PathBuf::from(path)
}

fn build(
    values: &BTreeMap<&'static str, (String, Source)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings> {
    let r = Reader { values };
    let database = r.text("database_url");
    if database.is_empty() {
        return r.fail("database_url", "a database path or sqlite:/// URL");
    }
    let user = r.text("assistx_auth_user");
    let pass = r.text("assistx_auth_pass");
    let token = r.text("api_token");
    let operator = Some(r.text("operator"))
        .filter(|o| !o.is_empty())
        .or_else(|| env("USER").filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "operator".into());
    Ok(Settings {
        database_path: database_path(&database),
        assistx_base_url: r
            .url("assistx_base_url", "http://localhost:8000")?
            .unwrap_or_default(),
        assistx_auth: (!user.is_empty() && !pass.is_empty()).then_some((user, pass)),
        assistx_timeout: r.seconds("assistx_timeout_seconds", HOUR)?,
        router_base_url: r
            .url("router_base_url", "http://localhost:8088")?
            .unwrap_or_default(),
        router_timeout: r.seconds("router_timeout_seconds", HOUR)?,
        scheduler_enabled: r.bool("scheduler_enabled")?,
        tick_interval: r.seconds("tick_interval_seconds", DAY)?,
        default_lease_seconds: r.whole("default_lease_seconds", 1, MAX_LEASE_SECONDS)?,
        stale_heartbeat_seconds: r.whole("stale_heartbeat_seconds", 1, DAY)?,
        stale_assignment_seconds: r.whole("stale_assignment_seconds", 0, DAY)?,
        dispatch_enabled: r.bool("dispatch_enabled")?,
        dispatch_concurrency: r.whole("dispatch_concurrency", 1, 64)? as usize,
        neo4j: neo4j(&r)?,
        graph_batch_size: r.whole("graph_batch_size", 1, 5000)? as usize,
        realtime_priority: r.whole("realtime_priority", 0, 99)? as u8,
        api_token: (!token.is_empty()).then_some(token),
        http_bind: http_bind(&r)?,
        http_allow_open: r.bool("http_allow_open")?,
        http_timeout: r.seconds("http_timeout_seconds", HOUR)?,
        http_max_concurrent: r.whole("http_max_concurrent", 1, 65_536)? as usize,
        url: r.url("url", ENGINE_URL_EXAMPLE)?,
        scoring: ScoringPolicy {
            base_scores: r.lane_scores("lane_base_scores")?,
            local_only_boost: r.fraction("local_only_boost")?,
            priority_boost: r.fraction("priority_boost")?,
            retry_penalty_per_attempt: r.fraction("retry_penalty_per_attempt")?,
            retry_penalty_max: r.fraction("retry_penalty_max")?,
            direct_workers_enabled: r.bool("direct_workers_enabled")?,
        },
        default_lanes: r.lanes("default_lanes")?,
        max_retries: r.whole("max_retries", 0, 1000)? as u32,
        max_queue_depth: r.whole("max_queue_depth", 0, 10_000_000)?,
        aging_step_seconds: r.whole("aging_step_seconds", 1, DAY)?,
        fleet: crate::domain::fleet::Policy {
            owner_filter: r.bool("owner_filter")?,
            weights: crate::domain::fleet::Weights {
                health: r.fraction("worker_weight_health")?,
                idle: r.fraction("worker_weight_idle")?,
                cost: r.fraction("worker_weight_cost")?,
                affinity: r.fraction("worker_weight_affinity")?,
            },
        },
        alerts: crate::domain::alerts::Thresholds {
            queue_depth: r.whole("alert_queue_depth", 0, 10_000_000)?,
            stuck_seconds: 60 * r.whole("alert_stuck_minutes", 0, 30 * 24 * 60)?,
            latency_ms: r.whole("alert_latency_ms", 0, 3_600_000)?,
            starving_seconds: 60 * r.whole("alert_starving_minutes", 0, 30 * 24 * 60)?,
        },
        breaker: BreakerPolicy {
            failures: r.whole("breaker_failures", 1, 100)? as u32,
            cooldown_seconds: r.whole("breaker_cooldown_seconds", 1, DAY)?,
        },
        approval_ttl_seconds: r.whole("approval_ttl_seconds", 1, 30 * DAY)?,
        outbox_max_attempts: r.whole("outbox_max_attempts", 1, 1000)? as u32,
        outbox_backoff_base_seconds: r.whole("outbox_backoff_base_seconds", 1, DAY)?,
        outbox_backoff_max_seconds: r.whole("outbox_backoff_max_seconds", 1, DAY)?,
        heartbeat_history: r.whole("heartbeat_history", 1, 10_000)? as u32,
        operator,
        socket_path: Some(r.text("socket_path"))
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| default_socket_path(env)),
        log_file: Some(r.text("log_file"))
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        log_json: match r.text("log_format").as_str() {
            "plain" => false,
            "json" => true,
            _ => return r.fail("log_format", "plain or json"),
        },
        log_level: match r.text("log_level").to_ascii_lowercase().as_str() {
            level @ ("error" | "warn" | "info" | "debug" | "trace") => level.to_string(),
            _ => return r.fail("log_level", "one of error, warn, info, debug, trace"),
        },
        keymap: BTreeMap::new(),
        known_workers: Vec::new(),
        ui_time: match r.text("ui_time").to_ascii_lowercase().as_str() {
            "local" => UiTime::Local,
            "utc" => UiTime::Utc,
            _ => return r.fail("ui_time", "local or utc"),
        },
    })
}

/// The Neo4j settings, or `None` when no URI is set. neo4rs takes a bare
/// `host:port` or one of the Bolt schemes; anything else would only fail
/// at the first connection, long after start.
fn neo4j(r: &Reader) -> Result<Option<Neo4jSettings>> {
    let uri = r.text("neo4j_uri").trim().to_string();
    if uri.is_empty() {
        return Ok(None);
    }
    let address = match uri.split_once("://") {
        Some(("bolt" | "bolt+s" | "bolt+ssc" | "neo4j" | "neo4j+s" | "neo4j+ssc", rest)) => rest,
        Some(_) => {
            return r.fail(
                "neo4j_uri",
                "bolt://host:port, neo4j://host:port or host:port",
            );
        }
        None => uri.as_str(),
    };
    if address.is_empty() || address.contains(char::is_whitespace) {
        return r.fail(
            "neo4j_uri",
            "bolt://host:port, neo4j://host:port or host:port",
        );
    }
    Ok(Some(Neo4jSettings {
        uri,
        user: r.text("neo4j_user"),
        password: r.text("neo4j_password"),
        database: r.text("neo4j_database").trim().to_string(),
    }))
}

impl Loaded {
    /// `key = value  # source` per setting, secrets masked.
    pub fn show(&self) -> Vec<(String, String, String)> {
        SPECS
            .iter()
            .map(|spec| {
                let (value, source) = &self.values[spec.key];
                let shown = if spec.secret && !value.is_empty() {
                    "********".to_string()
                } else {
                    value.clone()
                };
                (spec.key.to_string(), shown, source.describe())
            })
            .collect()
    }
}
