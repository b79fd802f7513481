//! The SQLite cache, outbox and audit: the only code that speaks SQL.
//!
//! One [`Store`] is one connection, owned by the engine task: the single
//! writer. Every engine command runs in one transaction, so a crash leaves
//! either all of a command or none of it.

pub mod approvals;
pub mod assignments;
pub mod audit;
pub mod candidates;
pub mod control;
pub mod events;
pub mod outbox;
pub mod runs;
mod schema;
pub mod workers;

use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up
    /// to date. A file that is not a database, or one written by a newer
    /// version, is refused and left untouched.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                context: format!("cannot create the database folder {}", dir.display()),
                source,
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        let mut store = Store { conn };
        store.configure().map_err(|e| match e {
            Error::Store(inner) => Error::bad_input(
                "database",
                format!(
                    "{} cannot be used as an auto-assign database: {inner}",
                    path.display()
                ),
            ),
            other => other,
        })?;
        Ok(store)
    }

    /// A private in-memory database (tests and `evaluate`-style dry runs).
    pub fn in_memory() -> Result<Store> {
        let mut store = Store {
            conn: Connection::open_in_memory()?,
        };
        store.configure()?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<()> {
        // WAL keeps readers off the writer's back; NORMAL sync is durable
        // against a killed process (the WAL is in the OS page cache), which is
        // the crash this program must survive.
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        // A 10,000-candidate tick writes tens of megabytes in one
        // transaction: a cache that holds it all avoids spilling pages to
        // the WAL and reading them back mid-transaction.
        self.conn.pragma_update(None, "cache_size", -65536)?;
        // Checkpoints run from the engine's idle housekeeping instead of
        // inside whichever commit happens to cross the threshold.
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Each command runs in a savepoint: its sub-journal stays in memory
        // instead of a temporary file written page by page.
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Every statement the engine runs stays prepared: fewer than this.
        self.conn.set_prepared_statement_cache_capacity(128);
        self.migrate()
    }

    fn migrate(&mut self) -> Result<()> {
        let current: usize = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        if current > schema::MIGRATIONS.len() {
            return Err(Error::bad_input(
                "database",
                format!(
                    "schema version {current} is newer than this program knows ({}); upgrade auto-assign or point it at another file",
                    schema::MIGRATIONS.len()
                ),
            ));
        }
        for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(current) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", index + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<usize> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }

    /// Runs `work` in one transaction: committed when it returns `Ok`,
    /// rolled back otherwise.
    pub fn write<T>(&mut self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction()?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Group commit: runs `each` on every item inside one transaction, each
    /// item in a savepoint of its own, so a refused item is rolled back alone
    /// (and `refused` may record why) while the others commit together. The
    /// results are only returned once the whole batch is committed.
    pub fn write_batch<M, I, T>(
        &mut self,
        mut items: Vec<(M, I)>,
        mut each: impl FnMut(&Connection, I) -> Result<T>,
        mut refused: impl FnMut(&Connection, &M, &Error) -> Result<()>,
    ) -> Result<Vec<Result<T>>> {
        if items.len() == 1 {
            // Alone, a command needs no savepoint: the transaction is its own.
            let (meta, item) = items.remove(0);
            let tx = self.conn.transaction()?;
            let result = each(&tx, item);
            match &result {
                Ok(_) => tx.commit()?,
                Err(error) => {
                    drop(tx); // rolls the command back
                    let tx = self.conn.transaction()?;
                    refused(&tx, &meta, error)?;
                    tx.commit()?;
                }
            }
            return Ok(vec![result]);
        }
        let tx = self.conn.transaction()?;
        let mut results = Vec::with_capacity(items.len());
        for (meta, item) in items {
            // Cached statements instead of rusqlite's savepoint guard, which
            // parses its SQL anew each time: this runs once per command.
            tx.prepare_cached("SAVEPOINT command")?.execute([])?;
            match each(&tx, item) {
                Ok(value) => {
                    tx.prepare_cached("RELEASE command")?.execute([])?;
                    results.push(Ok(value));
                }
                Err(error) => {
                    tx.prepare_cached("ROLLBACK TO command")?.execute([])?;
                    tx.prepare_cached("RELEASE command")?.execute([])?;
                    refused(&tx, &meta, &error)?;
                    results.push(Err(error));
                }
            }
        }
        tx.commit()?;
        Ok(results)
    }

    /// Runs `work` in a transaction that is always rolled back: the answer
    /// of a dry run, with nothing written.
    pub fn dry_run<T>(&mut self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction()?;
        let value = work(&tx);
        tx.rollback()?;
        value
    }

    /// Copies the WAL back into the database file without waiting for
    /// readers; called when the engine is idle, and on shutdown.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// JSON text of a value that is always serializable (our own types).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("\"unserializable: {e}\""))
}

#[cfg(test)]
mod tests {
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
}
