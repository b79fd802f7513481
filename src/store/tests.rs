//! The store on real SQLite files: schema, migrations, group commit, invariants.

use super::*;

#[test]
fn creates_file_and_folder_and_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/cache.sqlite3");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::MIGRATIONS.len());
    drop(store);
    // Reopening is a no-op migration.
    assert!(Store::open(&path).is_ok());
}

#[test]
fn deleted_file_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite3");
    drop(Store::open(&path).unwrap());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    assert!(Store::open(&path).is_ok());
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        b"these are my notes, not a database, and they are long enough",
    )
    .unwrap();
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(err.contains("notes.txt"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"these are my notes, not a database, and they are long enough"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite3");
    let store = Store::open(&path).unwrap();
    store
        .conn()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(store);
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(err.contains("newer"), "{err}");
}

#[test]
fn the_audit_is_append_only() {
    let store = Store::in_memory().unwrap();
    store
        .conn()
        .execute(
            "INSERT INTO audit (at, actor, action, outcome) VALUES ('t', 'a', 'x', 'ok')",
            [],
        )
        .unwrap();
    assert!(
        store
            .conn()
            .execute("UPDATE audit SET actor = 'b'", [])
            .is_err()
    );
    assert!(store.conn().execute("DELETE FROM audit", []).is_err());
}

/// A database as the first release left it: schema version 1, with a
/// row in each table a migration rebuilds.
fn version_1_database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.sqlite3");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 1;
         INSERT INTO assignments (assignment_id, task_id, status, version, lane, priority,
             decision_id, decision, lease_expires_at, created_at, updated_at)
         VALUES ('a1', 'T1', 'claimed', 3, 'local_only', 'batch', 'd1',
             '{\"status\":\"claimed\"}', '2026-01-01T00:00:00Z', 't', 't');
         INSERT INTO approvals (assignment_id, gate, requested_at) VALUES ('a1', 'risk high', 't');
         INSERT INTO outbox (idempotency_key, event_id, event_type, subject_id, body, created_at, updated_at)
         VALUES ('k1', 'e1', 'assignment.claimed', 'a1', '{}', 't', 't');
         INSERT INTO audit (at, actor, action, outcome) VALUES ('t', 'scott', 'approve', 'ok');",
    )
    .unwrap();
    (dir, path)
}

/// Every row `sql` returns, read by `row`.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
) -> Vec<T> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], row)
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn a_migration_refuses_broken_references_and_leaves_the_file_as_it_was() {
    let (_dir, path) = version_1_database();
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    conn.execute(
        "INSERT INTO approvals (assignment_id, gate, requested_at) VALUES ('gone', 'g', 't')",
        [],
    )
    .unwrap();
    drop(conn);
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(
        err.contains("approvals") && err.contains("delete it"),
        "{err}"
    );
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let approvals: i64 = conn
        .query_row("SELECT COUNT(*) FROM approvals", [], |r| r.get(0))
        .unwrap();
    assert_eq!((version, approvals), (1, 2));
}

#[test]
fn a_version_1_database_migrates_keeping_its_rows_and_rules() {
    let (_dir, path) = version_1_database();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::MIGRATIONS.len());
    let conn = store.conn();
    let row: (String, i64, String) = conn
        .query_row(
            "SELECT status, version, lease_expires_at FROM assignments WHERE assignment_id = 'a1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(row, ("claimed".into(), 3, "2026-01-01T00:00:00Z".into()));
    let gate: String = conn
        .query_row("SELECT gate FROM approvals", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gate, "risk high");
    // References, the status agreement, the outbox rules and its
    // sequence all hold on the rebuilt tables.
    let orphan =
        "INSERT INTO approvals (assignment_id, gate, requested_at) VALUES ('nope', 'g', 't')";
    assert!(conn.execute(orphan, []).is_err());
    let disagree = "UPDATE assignments SET status = 'running' WHERE assignment_id = 'a1'";
    let err = conn.execute(disagree, []).unwrap_err().to_string();
    assert!(err.contains("must agree"), "{err}");
    let bad_status = "UPDATE outbox SET status = 'lost'";
    assert!(conn.execute(bad_status, []).is_err());
    conn.execute("UPDATE outbox SET status = 'delivered'", [])
        .unwrap();
    assert!(conn.execute("UPDATE outbox SET attempts = 9", []).is_err());
    conn.execute(
        "INSERT INTO outbox (idempotency_key, event_id, event_type, subject_id, body, created_at, updated_at) \
         VALUES ('k2', 'e2', 'assignment.claimed', 'a1', '{}', 't', 't')",
        [],
    )
    .unwrap();
    let seqs: Vec<i64> = rows(conn, "SELECT seq FROM outbox ORDER BY seq", |r| r.get(0));
    assert_eq!(seqs, vec![1, 2]);
    conn.execute(
        "INSERT INTO audit (at, actor, action, outcome) VALUES ('t', 'engine', 'decide', 'ok')",
        [],
    )
    .unwrap();
    let audit: Vec<(i64, String)> = rows(conn, "SELECT seq, actor FROM audit ORDER BY seq", |r| {
        Ok((r.get(0)?, r.get(1)?))
    });
    assert_eq!(audit, vec![(1, "scott".into()), (2, "engine".into())]);
    assert!(conn.execute("DELETE FROM audit", []).is_err());
    assert!(
        conn.execute("UPDATE audit SET outcome = 'maybe'", [])
            .is_err()
    );
}

/// The steps SQLite plans for `sql`.
fn plan(store: &Store, sql: &str) -> Vec<String> {
    rows(store.conn(), &format!("EXPLAIN QUERY PLAN {sql}"), |r| {
        r.get(3)
    })
}

/// Housekeeping runs twice a second: what it looks for is found by
/// index, not by reading every assignment or approval.
#[test]
fn housekeeping_reads_its_indexes() {
    let store = Store::in_memory().unwrap();
    let leases = plan(
        &store,
        "SELECT assignment_id FROM assignments \
         WHERE status IN ('claimed', 'running') AND lease_expires_at < '2026' \
         ORDER BY lease_expires_at",
    );
    assert!(
        leases.iter().any(|s| s.contains("assignments_leases")),
        "{leases:?}"
    );
    let lapsed = plan(
        &store,
        "SELECT p.assignment_id FROM approvals p JOIN assignments a ON a.assignment_id = p.assignment_id \
         WHERE a.status = 'approved' AND p.expires_at IS NOT NULL AND p.expires_at < '2026'",
    );
    assert!(
        lapsed.iter().any(|s| s.contains("approvals_expiry")),
        "{lapsed:?}"
    );
}

#[test]
fn a_new_database_uses_4_kib_pages_and_an_existing_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let page_size = |store: &Store| -> i64 {
        store
            .conn()
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap()
    };
    let store = Store::open(&dir.path().join("new.sqlite3")).unwrap();
    assert_eq!(page_size(&store), 4096);
    // A cache made by an earlier version, with 16 KiB pages.
    let old = dir.path().join("old.sqlite3");
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute_batch("PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
        .unwrap();
    drop(conn);
    assert_eq!(page_size(&Store::open(&old).unwrap()), 16384);
}

/// SQLite is built as `.cargo/config.toml` says: without memory
/// statistics, whose one process-wide mutex the engine's writes waited on
/// behind the idle-class readers (docs/decisions.md).
#[test]
fn sqlite_keeps_no_memory_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cache.sqlite3")).unwrap();
    let mut options = store.conn().prepare("PRAGMA compile_options").unwrap();
    let options: Vec<String> = options
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "{options:?}"
    );
}

/// A lazy batch commits, keeps what it wrote, and leaves every later
/// commit fsync-ed again, whether its log had to be synced or not.
#[test]
fn a_lazy_batch_commits_and_the_next_commit_is_synced_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sqlite3");
    let mut store = Store::open(&path).unwrap();
    let synchronous = |store: &Store| -> i64 {
        store
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(synchronous(&store), 2, "FULL");
    for mere_refresh in [true, false] {
        let items = vec![((), 1), ((), 2)];
        let done = store
            .write_batch(
                items,
                |conn, n: i64| {
                    conn.execute(
                        "INSERT INTO candidates (task_id, body, updated_at) VALUES (?1, '{}', 'x') \
                         ON CONFLICT (task_id) DO UPDATE SET body = excluded.body",
                        [format!("T{n}")],
                    )?;
                    Ok(n)
                },
                |_, _, _| Ok(()),
                true,
                |_| mere_refresh,
            )
            .unwrap();
        assert_eq!(done.len(), 2);
        assert_eq!(synchronous(&store), 2, "FULL again");
    }
    let kept: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM candidates", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 2);
}

/// Schema v10 stores each waiting event's task key, taken from its body as
/// the index before it did, so the dispatcher's order per task carries on
/// across the upgrade; delivered events are left as they were.
#[test]
fn version_10_keys_the_waiting_events_by_task_and_keeps_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v9.sqlite3");
    let before = schema::MIGRATIONS.len() - 1;
    {
        let conn = Connection::open(&path).unwrap();
        for sql in &schema::MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", before).unwrap();
        let insert = "INSERT INTO outbox (idempotency_key, event_id, event_type, subject_id, body, \
             status, created_at, updated_at) VALUES (?1, ?1, 'assign.x', ?2, ?3, ?4, 't', 't')";
        for (key, subject, body, status) in [
            ("k1", "a1", r#"{"payload":{"task_id":"T1"}}"#, "delivered"),
            ("k2", "a1", r#"{"payload":{"task_id":"T1"}}"#, "pending"),
            ("k3", "a2", r#"{"payload":{"task_id":"T2"}}"#, "failed"),
            ("k4", "a3", r#"{"payload":{"task_id":"T1"}}"#, "pending"),
            (
                "k5",
                "control",
                r#"{"payload":{"mode":"paused"}}"#,
                "pending",
            ),
        ] {
            conn.execute(insert, [key, subject, body, status]).unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    let keys: Vec<(String, Option<String>)> = rows(
        store.conn(),
        "SELECT idempotency_key, task_key FROM outbox ORDER BY seq",
        |r| Ok((r.get(0)?, r.get(1)?)),
    );
    let some = |k: &str, t: Option<&str>| (k.to_string(), t.map(String::from));
    assert_eq!(
        keys,
        [
            some("k1", None),
            some("k2", Some("T1")),
            some("k3", Some("T2")),
            some("k4", Some("T1")),
            some("k5", Some("control")),
        ]
    );
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    let heads: Vec<String> = outbox::due_heads(store.conn(), far, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect();
    assert_eq!(heads, ["k2", "k3", "k5"], "k4 waits behind k2, its task's");
}
