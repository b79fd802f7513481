//! The SQLite cache, outbox and audit: the only code that speaks SQL.
//!
//! One [`Store`] is one connection, owned by the engine task: the single
//! writer. Every engine command runs in one transaction, so a crash leaves
//! either all of a command or none of it.

pub mod alerts;
pub mod approvals;
pub mod assignments;
pub mod audit;
pub mod candidates;
mod carry;
pub mod control;
pub mod events;
pub mod graph_delivery;
pub mod lock;
pub mod outbox;
pub mod restore;
pub mod runs;
mod schema;
pub mod workers;

use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct Store {
    conn: Connection,
    /// The page cache is a pass's, until `release_pass_cache`.
    pass_cache: bool,
    /// The database file as opened (path, device, inode), to notice it
    /// deleted or replaced under the engine.
    file: Option<(PathBuf, u64, u64)>,
    /// Writes waiting, uncommitted, for the next commit (`store/carry.rs`).
    carry: carry::Carry,
}

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The write-ahead log is started over, and its file cut back to this
/// size, once it holds more than this many bytes.
const WAL_RESTART_BYTES: i64 = 32 * 1024 * 1024;

/// The page cache between passes, in KiB (SQLite's negative cache_size):
/// heartbeats, claims and operator actions touch few pages.
const STEADY_CACHE_KIB: i64 = -8192;

/// The page cache during a decision pass: a 10,000-candidate tick writes
/// tens of megabytes in one transaction, and a cache that holds it all
/// avoids spilling pages to the WAL and reading them back mid-transaction.
const PASS_CACHE_KIB: i64 = -65536;

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up
    /// to date. A file that is not a database, or one written by a newer
    /// version, is refused and left untouched.
    pub fn open(path: &Path) -> Result<Store> {
        // Made private before SQLite sees it: its WAL and shared-memory
        // files then take the same mode.
        crate::private::file(path).map_err(|source| Error::Io {
            context: format!("cannot create the database {}", path.display()),
            source,
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        let file = std::fs::metadata(path)
            .ok()
            .map(|m| (path.to_path_buf(), m.dev(), m.ino()));
        let mut store = Store {
            conn,
            pass_cache: false,
            file,
            carry: Default::default(),
        };
        store.configure().map_err(|e| match e {
            // The machine's fault (a read-only or full disk, no permission):
            // the file may be fine, the caller did nothing wrong.
            Error::Store(inner) if machine_fault(&inner) => Error::Io {
                context: format!("cannot write the database {}", path.display()),
                source: std::io::Error::other(inner),
            },
            Error::Store(inner) => Error::bad_input(
                "database",
                format!(
                    "{} cannot be used as an auto-assign database: {inner}",
                    path.display()
                ),
            ),
            other => other,
        })?;
        // The database and its log now exist: their names are made durable
        // too, or a power cut could take the whole file with it.
        sync_folder_of(path)?;
        Ok(store)
    }

    /// Opens a database for reading only: nothing is created, migrated or
    /// written, so a read-only command can never disturb the engine that
    /// owns the file. A missing file reads as an empty cache; a file at
    /// another schema version is refused, saying what to do.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Store::in_memory();
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let unusable = |inner: rusqlite::Error| {
            Error::bad_input(
                "database",
                format!(
                    "{} cannot be read as an auto-assign database: {inner}",
                    path.display()
                ),
            )
        };
        let conn = Connection::open_with_flags(path, flags).map_err(unusable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let store = Store {
            conn,
            pass_cache: false,
            file: None,
            carry: Default::default(),
        };
        let version = store.schema_version().map_err(|e| match e {
            Error::Store(inner) => unusable(inner),
            other => other,
        })?;
        let known = schema::MIGRATIONS.len();
        if version != known {
            let what = if version > known {
                "upgrade auto-assign to read it"
            } else {
                "start the engine once (auto-assign daemon) to bring it up to date"
            };
            return Err(Error::bad_input(
                "database",
                format!(
                    "{} is at schema version {version}, this program reads version {known}: {what}",
                    path.display()
                ),
            ));
        }
        Ok(store)
    }

    /// A second connection to the engine's database that only checkpoints
    /// it (see `engine/checkpointer.rs`). Nothing is created or migrated: the
    /// engine did that. No file (an engine in memory): nothing to checkpoint.
    pub fn open_for_checkpoints(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Store::in_memory();
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // A checkpoint fsyncs the log before copying it and the database
        // after, as the engine's own commits do.
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(Store {
            conn,
            pass_cache: false,
            file: None,
            carry: Default::default(),
        })
    }

    /// A private in-memory database (tests and `evaluate`-style dry runs).
    pub fn in_memory() -> Result<Store> {
        let mut store = Store {
            conn: Connection::open_in_memory()?,
            pass_cache: false,
            file: None,
            carry: Default::default(),
        };
        store.configure()?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<()> {
        // 4 KiB pages for a new file (an existing one keeps its own). Every
        // commit is fsync-ed, and most commits are small (a claim, a
        // heartbeat burst): 16 KiB pages made each write four times the bytes
        // and missed the claim and heartbeat goals, for a 10,000-candidate
        // tick 25-35 % faster (docs/benchmarks.md, issue 14).
        self.conn.pragma_update(None, "page_size", 4096)?;
        // WAL keeps readers off the writer's back. FULL syncs the log at
        // every commit, and a reply waits for its commit: what a client was
        // told is on disk, power cut or not (docs/decisions.md, "Acknowledged
        // means on disk"). Group commit makes that one fsync per burst.
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        // A small page cache between passes (see `with_pass_cache`).
        self.conn
            .pragma_update(None, "cache_size", STEADY_CACHE_KIB)?;
        // Checkpoints run from the engine's idle housekeeping instead of
        // inside whichever commit happens to cross the threshold.
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Each command runs in a savepoint: its sub-journal stays in memory
        // instead of a temporary file written page by page.
        self.conn.pragma_update(None, "temp_store", "MEMORY")?;
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // The engine is the only writer, but a checkpoint that truncates the
        // log holds the write lock a moment. A transaction that read first
        // and then writes is refused at once ("database is locked"), without
        // waiting: so every transaction takes the write lock when it begins.
        self.conn
            .set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        // A log that was cut back after a checkpoint is truncated to this.
        self.conn
            .pragma_update(None, "journal_size_limit", WAL_RESTART_BYTES)?;
        // Every statement the engine runs stays prepared: fewer than this.
        self.conn.set_prepared_statement_cache_capacity(128);
        // A migration that rebuilds a table drops it while other tables
        // still point at it: references are checked once it is back.
        self.conn.pragma_update(None, "foreign_keys", "OFF")?;
        self.migrate()?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
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
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
                .optional()?;
            if let Some(table) = broken {
                return Err(Error::bad_input(
                    "database",
                    format!(
                        "schema migration {} found rows in {table} that point at nothing; \
                         the file is left as it was (it is only a cache: delete it to rebuild)",
                        index + 1
                    ),
                ));
            }
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
        self.transact(work)
    }

    /// Group commit: runs `each` on every item inside one transaction, each
    /// item in a savepoint of its own, so a refused item is rolled back alone
    /// (and `refused` may record why) while the others commit together. The
    /// results are only returned once the whole batch is on disk.
    ///
    /// With `lazy` (the caller knows every item may turn out to be a mere
    /// refresh), the commit is written without its fsync, and the log is
    /// fsync-ed after it unless every result only `refreshed` what its
    /// sender will send again anyway (docs/decisions.md, "Acknowledged means
    /// on disk"). SQLite cannot change that choice inside the transaction,
    /// so it is made before, and mended after.
    pub fn write_batch<M, I, T>(
        &mut self,
        items: Vec<(M, I)>,
        each: impl FnMut(&Connection, I) -> Result<T>,
        refused: impl FnMut(&Connection, &M, &Error) -> Result<()>,
        lazy: bool,
        refreshed: impl Fn(&T) -> bool,
    ) -> Result<Vec<Result<T>>> {
        if !lazy {
            return self.commit_batch(items, each, refused);
        }
        let done = self.unsynced(|store| Ok(store.commit_batch(items, each, refused)))?;
        let only_refreshed =
            |results: &Vec<Result<T>>| results.iter().all(|r| r.as_ref().is_ok_and(&refreshed));
        if !done.as_ref().is_ok_and(only_refreshed) {
            self.sync_log()?;
        }
        done
    }

    /// fsyncs the write-ahead log: what was committed without an fsync is
    /// on disk once this returns (the file, not the descriptor, is synced).
    fn sync_log(&self) -> Result<()> {
        let Some((path, _, _)) = &self.file else {
            return Ok(());
        };
        let mut log = path.clone().into_os_string();
        log.push("-wal");
        let synced = std::fs::File::open(&log).and_then(|f| f.sync_data());
        synced.map_err(|source| Error::Io {
            context: format!("cannot fsync {}", Path::new(&log).display()),
            source,
        })
    }

    /// [`Store::write_batch`]'s transaction, committed as the connection's
    /// `synchronous` says.
    fn commit_batch<M, I, T>(
        &mut self,
        mut items: Vec<(M, I)>,
        mut each: impl FnMut(&Connection, I) -> Result<T>,
        mut refused: impl FnMut(&Connection, &M, &Error) -> Result<()>,
    ) -> Result<Vec<Result<T>>> {
        if items.len() == 1 && !self.carrying() {
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
        self.transact(|tx| {
            let mut results = Vec::with_capacity(items.len());
            for (meta, item) in items {
                let result = in_savepoint(tx, |tx| each(tx, item))?;
                if let Err(error) = &result {
                    refused(tx, &meta, error)?;
                }
                results.push(result);
            }
            Ok(results)
        })
    }

    /// Runs `work` with the large page cache a decision pass wants. The
    /// memory is given back by [`Store::release_pass_cache`], once the
    /// pass's replies are out: freeing tens of megabytes of pages takes long
    /// enough that no reply should wait for it.
    pub fn with_pass_cache<T>(&mut self, work: impl FnOnce(&mut Store) -> T) -> T {
        if !self.pass_cache {
            self.pass_cache = self
                .conn
                .pragma_update(None, "cache_size", PASS_CACHE_KIB)
                .is_ok();
        }
        work(self)
    }

    /// Gives a pass's page cache back: a daemon holding ten thousand
    /// assignments would otherwise keep 64 MiB for good.
    pub fn release_pass_cache(&mut self) {
        if !std::mem::take(&mut self.pass_cache) {
            return;
        }
        let shrunk = self
            .conn
            .pragma_update(None, "cache_size", STEADY_CACHE_KIB)
            .and_then(|_| self.conn.execute_batch("PRAGMA shrink_memory"));
        if let Err(e) = shrunk {
            tracing::warn!("cannot give the pass's page cache back: {e}");
        }
    }

    /// Runs `work` in a transaction that is always rolled back: the answer
    /// of a dry run, with nothing written.
    pub fn dry_run<T>(&mut self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        // Rare (an operator asks): carried writes are committed first rather
        // than rolled back with the dry run.
        self.commit_carried()?;
        let tx = self.conn.transaction()?;
        let value = work(&tx);
        tx.rollback()?;
        value
    }

    /// Why the database file is no longer the one this store writes to
    /// (deleted, its folder deleted, or replaced), if it is not: the writes
    /// would go to a file nobody will ever open again.
    pub fn vanished(&self) -> Option<String> {
        let (path, dev, ino) = self.file.as_ref()?;
        match std::fs::metadata(path) {
            Ok(m) if (m.dev(), m.ino()) == (*dev, *ino) => None,
            Ok(_) => Some(format!("{} was replaced by another file", path.display())),
            Err(e) => Some(format!("{} is gone ({e})", path.display())),
        }
    }

    /// Keeps the write-ahead log bounded; the engine's housekeeping calls
    /// it twice a second. It copies the log back into the database without
    /// waiting for readers. When the log has grown past [`WAL_RESTART_BYTES`]
    /// (readers kept it from starting over under a steady load) it waits a
    /// moment for them, so the next write starts the log from its beginning
    /// and `journal_size_limit` cuts the file back. `idle` (nothing to do for
    /// a while, and at a stop) truncates the log to nothing.
    pub fn checkpoint(&self, idle: bool) -> Result<()> {
        let mode = if idle { "TRUNCATE" } else { "PASSIVE" };
        let frames: i64 =
            self.conn
                .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
                    row.get(1)
                })?;
        // A page is at most 64 KiB: fewer frames than this cannot reach the
        // limit, and twice a second the page size need not be asked.
        if idle || frames <= WAL_RESTART_BYTES / 65536 {
            return Ok(());
        }
        let page: i64 = self
            .conn
            .pragma_query_value(None, "page_size", |row| row.get(0))?;
        if frames.saturating_mul(page) > WAL_RESTART_BYTES {
            // Readers hold their snapshots for milliseconds: waiting longer
            // than that would stall the engine, so try again next time.
            self.conn
                .busy_timeout(std::time::Duration::from_millis(100))?;
            let restarted = self
                .conn
                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
            self.conn.busy_timeout(BUSY_TIMEOUT)?;
            restarted?;
        }
        Ok(())
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Makes the names in the folder holding `file` durable: fsync-ing a new
/// file keeps its bytes, but its directory entry is the folder's to keep.
pub(crate) fn sync_folder_of(file: &Path) -> Result<()> {
    let folder = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| Error::Io {
            context: format!("cannot sync the folder {}", folder.display()),
            source,
        })
}

/// Runs `work` in a savepoint: its writes are undone if it fails. The outer
/// `Result` is SQLite failing at the savepoint itself; the inner is `work`'s.
/// Cached statements instead of rusqlite's savepoint guard, which parses its
/// SQL anew each time: this runs once per command and per carried write.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<Result<T>> {
    conn.prepare_cached("SAVEPOINT unit")?.execute([])?;
    let done = work(conn);
    if done.is_err() {
        conn.prepare_cached("ROLLBACK TO unit")?.execute([])?;
    }
    conn.prepare_cached("RELEASE unit")?.execute([])?;
    Ok(done)
}

/// Whether SQLite failed because of the machine (its disk or permissions)
/// rather than because of what the file holds.
fn machine_fault(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        error.sqlite_error_code(),
        Some(
            ReadOnly
                | SystemIoFailure
                | CannotOpen
                | DiskFull
                | PermissionDenied
                | FileLockingProtocolFailed
        )
    )
}

/// Every row `sql` returns, each mapped by `row`.
pub(crate) fn all_rows<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inserts rows with multi-row `INSERT ... VALUES (...), (...)` statements
/// of up to 32 rows: what a statement costs on its own (and AUTOINCREMENT's
/// sqlite_sequence update) is paid once per group, not once per row, which
/// halves the cost of writing a 10,000-candidate pass.
///
/// `head` names the table and columns, `tail` follows the values (an
/// `ON CONFLICT` clause, or nothing); `bind` gives a row's values in column
/// order. Returns the number of rows changed.
pub(crate) fn insert_many<R>(
    conn: &Connection,
    head: &str,
    width: usize,
    tail: &str,
    rows: &[R],
    bind: impl Fn(&R, &mut Values) -> rusqlite::Result<()>,
) -> Result<usize> {
    const ROWS: usize = 32;
    let row = format!("({})", vec!["?"; width].join(", "));
    let mut changed = 0;
    for group in rows.chunks(ROWS) {
        let values = vec![row.as_str(); group.len()].join(", ");
        let mut stmt = conn.prepare_cached(&format!("{head} VALUES {values} {tail}"))?;
        let mut next = Values {
            stmt: &mut stmt,
            index: 1,
        };
        for item in group {
            bind(item, &mut next)?;
        }
        changed += stmt.raw_execute()?;
    }
    Ok(changed)
}

/// The next parameters of an [`insert_many`] statement.
pub(crate) struct Values<'s, 'c> {
    stmt: &'s mut rusqlite::CachedStatement<'c>,
    index: usize,
}

impl Values<'_, '_> {
    pub(crate) fn push(&mut self, value: &dyn rusqlite::ToSql) -> rusqlite::Result<()> {
        self.stmt.raw_bind_parameter(self.index, value)?;
        self.index += 1;
        Ok(())
    }
}

/// JSON text of a value that is always serializable (our own types).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("\"unserializable: {e}\""))
}

#[cfg(test)]
mod tests;
