//! Settings: defaults < config file < `AUTO_ASSIGN_*` environment < flags.
//!
//! One table ([`SPECS`]) names every setting once: its file key, its
//! variable, its default and its meaning. `config show`, `config template`
//! and docs/configuration.md are all read off it, so they cannot drift.

use crate::domain::lane::{Lane, SCORED_LANES, parse_lane_list};
use crate::domain::scorer::ScoringPolicy;
use crate::domain::truthy::parse_bool;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        "AssistX, the canonical task authority.",
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
        "auto-router's admin API.",
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
        "direct_workers_enabled",
        "false",
        "Allow the direct_worker lane.",
    ),
    secret(
        "api_token",
        "Token callers of auto-assign's own API must present.",
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
];

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
    pub api_token: Option<String>,
    pub scoring: ScoringPolicy,
    pub default_lanes: Vec<Lane>,
    pub max_retries: u32,
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
    let mut keymap = BTreeMap::new();
    if let Some(path) = path {
        let (file_values, file_keymap) = read_file(&path, explicit)?;
        for (key, value) in file_values {
            values.insert(key, (value, Source::File(path.clone())));
        }
        keymap = file_keymap;
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
    settings.keymap = keymap;
    Ok(Loaded { settings, values })
}

/// Reads the TOML file into raw strings per known key. A missing file is an
/// error only when it was named explicitly.
type FileValues = (Vec<(&'static str, String)>, BTreeMap<String, String>);

fn read_file(path: &Path, explicit: bool) -> Result<FileValues> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok((Vec::new(), BTreeMap::new()));
        }
        Err(e) => {
            return Err(Error::bad_input(
                "config file",
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Error::bad_input(
            "config file",
            format!("{} is not valid TOML: {}", path.display(), e.message()),
        )
    })?;
    let mut out = Vec::new();
    let mut keymap = BTreeMap::new();
    for (key, value) in table {
        if key == "keymap" {
            let toml::Value::Table(bindings) = value else {
                return Err(Error::bad_input(
                    format!("keymap in {}", path.display()),
                    "must be a table of action = \"key\"",
                ));
            };
            for (action, key) in bindings {
                let key = key.as_str().map(str::to_string).ok_or_else(|| {
                    Error::bad_input(
                        format!("keymap.{action} in {}", path.display()),
                        "must be a string such as \"A\" or \"ctrl-a\"",
                    )
                })?;
                keymap.insert(action, key);
            }
            continue;
        }
        let spec = SPECS.iter().find(|s| s.key == key).ok_or_else(|| {
            Error::bad_input(
                "config file",
                format!(
                    "unknown setting '{key}' in {} (see `auto-assign config template`)",
                    path.display()
                ),
            )
        })?;
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Table(t) => t
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            toml::Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => {
                return Err(Error::bad_input(
                    format!("setting {key} in {}", path.display()),
                    format!("unsupported value {other}"),
                ));
            }
        };
        out.push((spec.key, text));
    }
    Ok((out, keymap))
}

struct Reader<'a> {
    values: &'a BTreeMap<&'static str, (String, Source)>,
}

impl Reader<'_> {
    fn raw(&self, key: &str) -> (&str, &Source) {
        let (value, source) = &self.values[key];
        (value.trim(), source)
    }

    fn fail<T>(&self, key: &str, expected: &str) -> Result<T> {
        let (value, source) = self.raw(key);
        Err(Error::bad_input(
            format!("setting {}", source.name(key)),
            format!("'{value}' is not {expected}"),
        ))
    }

    fn text(&self, key: &str) -> String {
        self.raw(key).0.to_string()
    }

    fn bool(&self, key: &str) -> Result<bool> {
        let (value, _) = self.raw(key);
        // Contract A10: only 1, true, yes, on are true; an unknown word is an error.
        match parse_bool(value) {
            Some(b) if !matches!(value.to_ascii_lowercase().as_str(), "y" | "n") => Ok(b),
            _ => self.fail(key, "a boolean (true/false, 1/0, yes/no, on/off)"),
        }
    }

    fn whole<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        self.raw(key)
            .0
            .parse()
            .or_else(|_| self.fail(key, "a whole number of at least 0"))
    }

    fn seconds(&self, key: &str) -> Result<Duration> {
        let (value, _) = self.raw(key);
        match value.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
            _ => self.fail(key, "a number of seconds of at least 0"),
        }
    }

    fn fraction(&self, key: &str) -> Result<f64> {
        match self.raw(key).0.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(f),
            _ => self.fail(key, "a decimal number"),
        }
    }

    fn lane_scores(&self, key: &str) -> Result<BTreeMap<Lane, f64>> {
        let expected = "a list like local_only=0.78,router_model=0.66 over local_only, router_model, free_api, direct_worker";
        let mut scores = BTreeMap::new();
        for part in self.raw(key).0.split(',').filter(|p| !p.trim().is_empty()) {
            let Some((lane, score)) = part.split_once('=') else {
                return self.fail(key, expected);
            };
            let lane: Lane = match lane.parse() {
                Ok(lane) if SCORED_LANES.contains(&lane) => lane,
                _ => return self.fail(key, expected),
            };
            let Ok(score) = score.trim().parse::<f64>() else {
                return self.fail(key, expected);
            };
            if !score.is_finite() {
                return self.fail(key, expected);
            }
            scores.insert(lane, score);
        }
        Ok(scores)
    }

    fn lanes(&self, key: &str) -> Result<Vec<Lane>> {
        parse_lane_list(self.raw(key).0).or_else(|e| self.fail(key, &format!("a lane list ({e})")))
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
        assistx_base_url: r.text("assistx_base_url"),
        assistx_auth: (!user.is_empty() && !pass.is_empty()).then_some((user, pass)),
        assistx_timeout: r.seconds("assistx_timeout_seconds")?,
        router_base_url: r.text("router_base_url"),
        router_timeout: r.seconds("router_timeout_seconds")?,
        scheduler_enabled: r.bool("scheduler_enabled")?,
        tick_interval: r.seconds("tick_interval_seconds")?,
        default_lease_seconds: r.whole("default_lease_seconds")?,
        stale_heartbeat_seconds: r.whole("stale_heartbeat_seconds")?,
        stale_assignment_seconds: r.whole("stale_assignment_seconds")?,
        dispatch_enabled: r.bool("dispatch_enabled")?,
        api_token: (!token.is_empty()).then_some(token),
        scoring: ScoringPolicy {
            base_scores: r.lane_scores("lane_base_scores")?,
            local_only_boost: r.fraction("local_only_boost")?,
            priority_boost: r.fraction("priority_boost")?,
            retry_penalty_per_attempt: r.fraction("retry_penalty_per_attempt")?,
            retry_penalty_max: r.fraction("retry_penalty_max")?,
            direct_workers_enabled: r.bool("direct_workers_enabled")?,
        },
        default_lanes: r.lanes("default_lanes")?,
        max_retries: r.whole("max_retries")?,
        approval_ttl_seconds: r.whole("approval_ttl_seconds")?,
        outbox_max_attempts: r.whole("outbox_max_attempts")?,
        outbox_backoff_base_seconds: r.whole("outbox_backoff_base_seconds")?,
        outbox_backoff_max_seconds: r.whole("outbox_backoff_max_seconds")?,
        heartbeat_history: r.whole("heartbeat_history")?,
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
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_env(pairs: &[(&str, &str)], overrides: &Overrides) -> Result<Loaded> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_with(overrides, &move |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_contract_a10() {
        let s = load_env(&[], &Overrides::default()).unwrap().settings;
        assert_eq!(s.database_path, PathBuf::from("./data/auto_assign.sqlite3"));
        assert_eq!(s.assistx_base_url, "http://localhost:8000");
        assert_eq!(s.assistx_auth, None);
        assert_eq!(s.assistx_timeout, Duration::from_secs(5));
        assert_eq!(s.router_base_url, "http://localhost:8088");
        assert!(!s.scheduler_enabled);
        assert_eq!(s.tick_interval, Duration::from_secs(300));
        assert_eq!(s.default_lease_seconds, 900);
        assert_eq!(s.stale_heartbeat_seconds, 120);
        assert_eq!(s.stale_assignment_seconds, 0);
        assert!(!s.dispatch_enabled);
        assert_eq!(s.scoring, ScoringPolicy::default());
        assert_eq!(s.default_lanes, crate::domain::lane::DEFAULT_LANES.to_vec());
    }

    #[test]
    fn env_overrides_with_old_names() {
        let s = load_env(
            &[
                ("AUTO_ASSIGN_DIRECT_WORKERS_ENABLED", "YES"),
                ("AUTO_ASSIGN_LANE_BASE_SCORES", "free_api=0.9"),
                ("AUTO_ASSIGN_DATABASE_URL", "/tmp/x.db"),
                ("AUTO_ASSIGN_ASSISTX_AUTH_USER", "u"),
                ("AUTO_ASSIGN_ASSISTX_AUTH_PASS", "p"),
            ],
            &Overrides::default(),
        )
        .unwrap()
        .settings;
        assert!(s.scoring.direct_workers_enabled);
        assert_eq!(
            s.scoring.base_scores,
            BTreeMap::from([(Lane::FreeApi, 0.9)])
        );
        assert_eq!(s.database_path, PathBuf::from("/tmp/x.db"));
        assert_eq!(s.assistx_auth, Some(("u".into(), "p".into())));
    }

    #[test]
    fn basic_auth_needs_both_parts() {
        let s = load_env(
            &[("AUTO_ASSIGN_ASSISTX_AUTH_USER", "u")],
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.settings.assistx_auth, None);
    }

    #[test]
    fn unparsable_value_names_the_variable_and_form() {
        let err = load_env(
            &[("AUTO_ASSIGN_TICK_INTERVAL_SECONDS", "soon")],
            &Overrides::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("AUTO_ASSIGN_TICK_INTERVAL_SECONDS"), "{err}");
        assert!(err.contains("seconds"), "{err}");
        let err = load_env(
            &[("AUTO_ASSIGN_SCHEDULER_ENABLED", "maybe")],
            &Overrides::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("AUTO_ASSIGN_SCHEDULER_ENABLED") && err.contains("boolean"),
            "{err}"
        );
        let err = load_env(
            &[("AUTO_ASSIGN_LANE_BASE_SCORES", "warp=1")],
            &Overrides::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("AUTO_ASSIGN_LANE_BASE_SCORES"), "{err}");
    }

    #[test]
    fn precedence_flag_over_env_over_file_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "database_url = \"/from/file\"\ntick_interval_seconds = 60\nmax_retries = 5\n",
        )
        .unwrap();
        let mut overrides = Overrides {
            config_file: Some(file.clone()),
            ..Default::default()
        };
        let loaded = load_env(
            &[
                ("AUTO_ASSIGN_DATABASE_URL", "/from/env"),
                ("AUTO_ASSIGN_MAX_RETRIES", "7"),
            ],
            &overrides,
        )
        .unwrap();
        assert_eq!(loaded.settings.database_path, PathBuf::from("/from/env"));
        assert_eq!(loaded.settings.tick_interval, Duration::from_secs(60));
        assert_eq!(loaded.settings.max_retries, 7);
        assert_eq!(
            loaded.values["tick_interval_seconds"].1,
            Source::File(file.clone())
        );
        overrides.database = Some("/from/flag".into());
        let loaded = load_env(&[("AUTO_ASSIGN_DATABASE_URL", "/from/env")], &overrides).unwrap();
        assert_eq!(loaded.settings.database_path, PathBuf::from("/from/flag"));
        assert_eq!(loaded.values["database_url"].1, Source::Flag("--database"));
    }

    #[test]
    fn file_errors_name_the_file_or_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "tick_interval_secs = 1\n").unwrap();
        let overrides = Overrides {
            config_file: Some(file.clone()),
            ..Default::default()
        };
        let err = load_env(&[], &overrides).err().unwrap().to_string();
        assert!(err.contains("tick_interval_secs"), "{err}");
        std::fs::write(&file, "max_retries = \"many\"\n").unwrap();
        let err = load_env(&[], &overrides).err().unwrap().to_string();
        assert!(
            err.contains("max_retries in") && err.contains("'many'"),
            "{err}"
        );
        std::fs::write(&file, "= broken").unwrap();
        assert!(
            load_env(&[], &overrides)
                .err()
                .unwrap()
                .to_string()
                .contains("not valid TOML")
        );
        let missing = Overrides {
            config_file: Some(dir.path().join("none.toml")),
            ..Default::default()
        };
        assert!(load_env(&[], &missing).is_err());
    }

    #[test]
    fn missing_default_file_is_fine_and_xdg_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().to_str().unwrap();
        assert!(load_env(&[("XDG_CONFIG_HOME", xdg)], &Overrides::default()).is_ok());
        std::fs::create_dir_all(dir.path().join("auto-assign")).unwrap();
        std::fs::write(
            dir.path().join("auto-assign/config.toml"),
            "[lane_base_scores]\nlocal_only = 0.5\n",
        )
        .unwrap();
        let s = load_env(&[("XDG_CONFIG_HOME", xdg)], &Overrides::default())
            .unwrap()
            .settings;
        assert_eq!(
            s.scoring.base_scores,
            BTreeMap::from([(Lane::LocalOnly, 0.5)])
        );
    }

    #[test]
    fn the_keymap_table_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[keymap]\napprove = \"A\"\n").unwrap();
        let overrides = Overrides {
            config_file: Some(file.clone()),
            ..Default::default()
        };
        let loaded = load_env(&[], &overrides).unwrap();
        assert_eq!(
            loaded.settings.keymap.get("approve").map(String::as_str),
            Some("A")
        );
        std::fs::write(&file, "[keymap]\napprove = 5\n").unwrap();
        let err = load_env(&[], &overrides).err().unwrap().to_string();
        assert!(err.contains("keymap.approve"), "{err}");
    }

    #[test]
    fn show_masks_secrets() {
        let loaded = load_env(
            &[("AUTO_ASSIGN_API_TOKEN", "hunter2")],
            &Overrides::default(),
        )
        .unwrap();
        let row = loaded
            .show()
            .into_iter()
            .find(|(k, _, _)| k == "api_token")
            .unwrap();
        assert_eq!(row.1, "********");
        assert_eq!(row.2, "env AUTO_ASSIGN_API_TOKEN");
    }

    #[test]
    fn template_is_valid_toml_naming_every_setting() {
        let text = template();
        assert!(text.parse::<toml::Table>().is_ok());
        for spec in SPECS {
            assert!(text.contains(&spec.env()), "{}", spec.key);
        }
    }
}

#[cfg(test)]
mod doc_tests {
    use super::SPECS;

    /// docs/configuration.md lists every setting, so it cannot fall behind.
    #[test]
    fn configuration_doc_names_every_setting() {
        let doc = include_str!("../docs/configuration.md");
        for spec in SPECS {
            assert!(
                doc.contains(&format!("`{}`", spec.env())),
                "{} missing from docs/configuration.md",
                spec.env()
            );
        }
    }
}
