//! Settings from every source, and the docs that list them.

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

#[cfg(test)]
mod doc_tests {
    use super::SPECS;

    /// docs/configuration.md lists every setting, so it cannot fall behind.
    #[test]
    fn configuration_doc_names_every_setting() {
        let doc = include_str!("../../docs/configuration.md");
        for spec in SPECS {
            assert!(
                doc.contains(&format!("`{}`", spec.env())),
                "{} missing from docs/configuration.md",
                spec.env()
            );
        }
    }
}

#[test]
fn every_number_and_length_of_time_is_bounded_and_named_when_not() {
    let refused = |key: &str, value: &str| {
        let e = load_env(&[(key, value)], &Overrides::default())
            .err()
            .unwrap_or_else(|| panic!("{key}={value} was accepted"))
            .to_string();
        assert!(e.contains(key), "{e}");
    };
    refused(
        "AUTO_ASSIGN_TICK_INTERVAL_SECONDS",
        "99999999999999999999999",
    );
    refused("AUTO_ASSIGN_TICK_INTERVAL_SECONDS", "86401");
    refused("AUTO_ASSIGN_ASSISTX_TIMEOUT_SECONDS", "1e300");
    refused("AUTO_ASSIGN_DEFAULT_LEASE_SECONDS", "9223372036854775807");
    refused("AUTO_ASSIGN_DEFAULT_LEASE_SECONDS", "0");
    refused("AUTO_ASSIGN_APPROVAL_TTL_SECONDS", "9223372036854775807");
    refused("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "9223372036854775807");
    refused(
        "AUTO_ASSIGN_STALE_ASSIGNMENT_SECONDS",
        "9223372036854775807",
    );
    refused("AUTO_ASSIGN_MAX_RETRIES", "4294967296");
    // Realtime priorities end at 99; one past must not wrap to a small one.
    refused("AUTO_ASSIGN_REALTIME_PRIORITY", "100");
    refused("AUTO_ASSIGN_REALTIME_PRIORITY", "-1");
    refused("AUTO_ASSIGN_REALTIME_PRIORITY", "356");
    let at_the_limit = load_env(
        &[
            ("AUTO_ASSIGN_DEFAULT_LEASE_SECONDS", "604800"),
            ("AUTO_ASSIGN_TICK_INTERVAL_SECONDS", "86400"),
        ],
        &Overrides::default(),
    )
    .unwrap()
    .settings;
    assert_eq!(at_the_limit.default_lease_seconds, 604_800);
    assert_eq!(at_the_limit.tick_interval, Duration::from_secs(86_400));
}

#[test]
fn each_bounded_setting_is_accepted_at_its_limit_and_refused_beyond() {
    let limits = [
        ("AUTO_ASSIGN_ASSISTX_TIMEOUT_SECONDS", "3600", "3600.5"),
        ("AUTO_ASSIGN_ROUTER_TIMEOUT_SECONDS", "3600", "3601"),
        ("AUTO_ASSIGN_TICK_INTERVAL_SECONDS", "86400", "86401"),
        ("AUTO_ASSIGN_DEFAULT_LEASE_SECONDS", "604800", "604801"),
        ("AUTO_ASSIGN_STALE_HEARTBEAT_SECONDS", "86400", "86401"),
        ("AUTO_ASSIGN_STALE_ASSIGNMENT_SECONDS", "86400", "86401"),
        ("AUTO_ASSIGN_APPROVAL_TTL_SECONDS", "2592000", "2592001"),
        ("AUTO_ASSIGN_MAX_RETRIES", "1000", "1001"),
        ("AUTO_ASSIGN_OUTBOX_MAX_ATTEMPTS", "1000", "1001"),
        ("AUTO_ASSIGN_OUTBOX_BACKOFF_BASE_SECONDS", "86400", "86401"),
        ("AUTO_ASSIGN_OUTBOX_BACKOFF_MAX_SECONDS", "86400", "86401"),
        ("AUTO_ASSIGN_HEARTBEAT_HISTORY", "10000", "10001"),
        ("AUTO_ASSIGN_DISPATCH_CONCURRENCY", "64", "65"),
        ("AUTO_ASSIGN_DISPATCH_CONCURRENCY", "1", "0"),
        ("AUTO_ASSIGN_GRAPH_BATCH_SIZE", "5000", "5001"),
        ("AUTO_ASSIGN_GRAPH_BATCH_SIZE", "1", "0"),
    ];
    for (key, at, beyond) in limits {
        assert!(
            load_env(&[(key, at)], &Overrides::default()).is_ok(),
            "{key}={at} is within its range"
        );
        let refused = load_env(&[(key, beyond)], &Overrides::default())
            .err()
            .unwrap_or_else(|| panic!("{key}={beyond} was accepted"))
            .to_string();
        assert!(refused.contains(key), "{refused}");
    }
}

#[test]
fn neo4j_is_optional_and_its_uri_is_checked_at_start() {
    let none = load_env(&[], &Overrides::default()).unwrap().settings;
    assert_eq!(none.neo4j, None, "no URI: AssistX only");
    for uri in [
        "bolt://graph:7687",
        "neo4j+s://graph.example:7687",
        "127.0.0.1:7687",
    ] {
        let s = load_env(
            &[
                ("AUTO_ASSIGN_NEO4J_URI", uri),
                ("AUTO_ASSIGN_NEO4J_PASSWORD", "secret-pw"),
                ("AUTO_ASSIGN_NEO4J_DATABASE", "assist"),
            ],
            &Overrides::default(),
        )
        .unwrap();
        let graph = s.settings.neo4j.clone().unwrap();
        assert_eq!(
            (
                graph.uri.as_str(),
                graph.user.as_str(),
                graph.password.as_str(),
                graph.database.as_str()
            ),
            (uri, "neo4j", "secret-pw", "assist")
        );
        assert!(
            !format!("{graph:?}").contains("secret-pw"),
            "the password is never printed"
        );
        let shown = s
            .show()
            .into_iter()
            .find(|(k, _, _)| k == "neo4j_password")
            .unwrap();
        assert_eq!(shown.1, "********");
    }
    for bad in ["http://graph:7474", "bolt://", "bolt://a b"] {
        let refused = load_env(&[("AUTO_ASSIGN_NEO4J_URI", bad)], &Overrides::default())
            .err()
            .unwrap_or_else(|| panic!("{bad} was accepted"))
            .to_string();
        assert!(
            refused.contains("AUTO_ASSIGN_NEO4J_URI") && refused.contains("bolt://"),
            "{refused}"
        );
    }
}

/// A base URL that is not one is refused at start, naming its variable,
/// rather than failing every call later as a "builder error".
#[test]
fn the_peers_base_urls_are_checked_at_start() {
    let s = load_env(
        &[
            ("AUTO_ASSIGN_ASSISTX_BASE_URL", "https://assistx.lan/"),
            ("AUTO_ASSIGN_ROUTER_BASE_URL", " http://router:8088 "),
        ],
        &Overrides::default(),
    )
    .unwrap()
    .settings;
    assert_eq!(
        (s.assistx_base_url.as_str(), s.router_base_url.as_str()),
        ("https://assistx.lan", "http://router:8088")
    );
    for (var, bad) in [
        ("AUTO_ASSIGN_ASSISTX_BASE_URL", "not a url"),
        ("AUTO_ASSIGN_ASSISTX_BASE_URL", "localhost:8000"),
        ("AUTO_ASSIGN_ROUTER_BASE_URL", "ftp://router"),
        ("AUTO_ASSIGN_ROUTER_BASE_URL", "http://"),
    ] {
        let refused = load_env(&[(var, bad)], &Overrides::default())
            .err()
            .unwrap_or_else(|| panic!("{var}={bad} was accepted"))
            .to_string();
        assert!(
            refused.contains(var) && refused.contains("an http:// or https:// URL"),
            "{refused}"
        );
    }
}

#[test]
fn the_ui_section_sets_the_room_time_and_a_bad_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[ui]\ntime = \"utc\"\n").unwrap();
    let overrides = Overrides {
        config_file: Some(path.clone()),
        ..Overrides::default()
    };
    let loaded = load_with(&overrides, &|_| None).unwrap();
    assert_eq!(loaded.settings.ui_time, UiTime::Utc);
    std::fs::write(&path, "[ui]\ntime = \"mars\"\n").unwrap();
    let err = load_with(&overrides, &|_| None).err().unwrap().to_string();
    assert!(err.contains("ui_time") && err.contains("mars"), "{err}");
    std::fs::write(&path, "[ui]\nzone = \"utc\"\n").unwrap();
    let err = load_with(&overrides, &|_| None).err().unwrap().to_string();
    assert!(err.contains("ui_zone"), "{err}");
    std::fs::write(&path, "ui = 3\n").unwrap();
    let err = load_with(&overrides, &|_| None).err().unwrap().to_string();
    assert!(err.contains("[ui]"), "{err}");
    std::fs::write(
        &path,
        "[fleet]\nowner_filter = true\naging_step_seconds = 60\n",
    )
    .unwrap();
    let loaded = load_with(&overrides, &|_| None).unwrap();
    assert!(loaded.settings.fleet.owner_filter);
    assert_eq!(loaded.settings.aging_step_seconds, 60);
    // Workers the fleet is known to have, read as heartbeats are.
    std::fs::write(
        &path,
        "[[worker]]\nnode_id = \"homelab\"\nworker_id = \"gpu-1\"\nlanes = [\"local_only\"]\nmax_concurrent = 2\n\n\
         [[worker]]\nnode_id = \"mac\"\nworker_id = \"w\"\n",
    )
    .unwrap();
    let known = load_with(&overrides, &|_| None)
        .unwrap()
        .settings
        .known_workers;
    assert_eq!(known.len(), 2);
    assert_eq!(
        (known[0].key(), known[0].max_concurrent),
        ("homelab/gpu-1".into(), 2)
    );
    std::fs::write(
        &path,
        "[[worker]]\nnode_id = \"a\"\nworker_id = \"b\"\n[[worker]]\nnode_id = \"c\"\nworker_id = \"d\"\nmax_concurrent = 0\n",
    )
    .unwrap();
    let err = load_with(&overrides, &|_| None).err().unwrap().to_string();
    assert!(
        err.contains("[[worker]] number 2") && err.contains("max_concurrent"),
        "{err}"
    );
    std::fs::write(&path, "[[worker]]\nnode_id = \"a\"\n").unwrap();
    let err = load_with(&overrides, &|_| None).err().unwrap().to_string();
    assert!(err.contains("worker_id"), "{err}");
    let defaults = load_with(&Overrides::default(), &|_| None).unwrap();
    assert_eq!(defaults.settings.ui_time, UiTime::Local);
}
