//! The tests' Bolt server (ArcadeDB, started by `scripts/bolt-server`,
//! which `scripts/test` runs): each test gets a database of its own,
//! created over ArcadeDB's HTTP API and dropped afterwards, so tests run
//! in parallel and again. Without the server a test is skipped, except
//! under `CI=true`, where it fails.
#![allow(dead_code)]

use auto_assign::config::Neo4jSettings;
use auto_assign::sync::graph::Graph;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};

/// A database of its own on the test server.
pub struct BoltDb {
    pub settings: Neo4jSettings,
    http: String,
    runtime: tokio::runtime::Runtime,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl BoltDb {
    /// A fresh database, or `None` (skip) when no server was started and
    /// this is not CI.
    pub fn fresh(test: &str) -> Option<BoltDb> {
        let db = Self::unmade(test)?;
        db.make();
        Some(db)
    }

    /// [`BoltDb::fresh`] with the database not made yet: until
    /// [`BoltDb::make`], a client finds the server but not its database.
    pub fn unmade(test: &str) -> Option<BoltDb> {
        let vars = [
            "AUTO_ASSIGN_TEST_BOLT_URI",
            "AUTO_ASSIGN_TEST_BOLT_HTTP",
            "AUTO_ASSIGN_TEST_BOLT_PASSWORD",
        ]
        .map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        let [Some(uri), Some(http), Some(password)] = vars else {
            let why = "no Bolt server: run the tests with scripts/test, which starts one \
                       (or `eval $(scripts/bolt-server start)`)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: {why}; with CI=true a graph test fails instead of skipping");
            }
            eprintln!("{test}: SKIPPED: {why}");
            return None;
        };
        let name = format!(
            "t{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(20)
                .collect::<String>()
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = BoltDb {
            settings: Neo4jSettings {
                uri,
                user: "root".into(),
                password,
                database: name,
            },
            http,
            runtime,
        };
        Some(db)
    }

    pub fn make(&self) {
        self.server_command(&format!("create database {}", self.settings.database));
    }

    fn server_command(&self, command: &str) {
        let client = reqwest::Client::new();
        let answer = self.runtime.block_on(async {
            client
                .post(format!("{}/api/v1/server", self.http))
                .basic_auth("root", Some(&self.settings.password))
                .body(serde_json::json!({"command": command}).to_string())
                .send()
                .await
                .and_then(|a| a.error_for_status())
        });
        if let Err(e) = answer {
            panic!("ArcadeDB refused `{command}`: {e}");
        }
    }

    /// The environment that points the binary at this database.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTO_ASSIGN_NEO4J_URI", self.settings.uri.clone()),
            ("AUTO_ASSIGN_NEO4J_USER", self.settings.user.clone()),
            ("AUTO_ASSIGN_NEO4J_PASSWORD", self.settings.password.clone()),
            ("AUTO_ASSIGN_NEO4J_DATABASE", self.settings.database.clone()),
        ]
    }

    pub fn graph(&self) -> Graph {
        self.runtime
            .block_on(Graph::connect(&self.settings))
            .expect("connect to the test Bolt server")
    }

    /// Runs a statement.
    pub fn run(&self, cypher: &str, params: Value) {
        let graph = self.graph();
        self.runtime
            .block_on(graph.run(with_params(cypher, params)))
            .unwrap_or_else(|e| panic!("{cypher}: {e}"));
    }

    /// One column of a query's rows.
    pub fn column(&self, cypher: &str, params: Value, name: &str) -> Vec<Value> {
        let graph = self.graph();
        self.runtime
            .block_on(graph.column(with_params(cypher, params), name))
            .unwrap_or_else(|e| panic!("{cypher}: {e}"))
    }

    /// A count query's answer (`RETURN count(...) AS n`).
    pub fn count(&self, cypher: &str, params: Value) -> i64 {
        self.column(cypher, params, "n")[0].as_i64().unwrap_or(-1)
    }

    pub fn block_on<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime.block_on(work)
    }
}

impl Drop for BoltDb {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.server_command(&format!("drop database {}", self.settings.database))
        }));
    }
}

/// A query with a JSON object's entries as its parameters.
pub fn with_params(cypher: &str, params: Value) -> neo4rs::Query {
    let mut query = neo4rs::query(cypher);
    if let Value::Object(map) = params {
        for (key, value) in map {
            query = query.param(&key, neo4rs::BoltType::try_from(value).unwrap());
        }
    }
    query
}
