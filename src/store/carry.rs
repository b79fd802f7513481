//! Carried writes: what may wait for someone else's commit.
//!
//! A delivery verdict needs no commit of its own: nobody waits for it but
//! the sync edge, and a verdict lost to a crash only sends its event again,
//! which AssistX dedupes. So the engine records verdicts one at a time in a
//! transaction it leaves open, and the next command's write commits them
//! together with its own. A heartbeat that arrives mid-drain then waits for
//! one verdict, not for a whole report and its commit (docs/benchmarks.md,
//! "Verdicts between heartbeats").
//!
//! The carried transaction commits without an fsync; a write that needs one
//! (every write outside [`Store::unsynced`]) fsyncs the log after it, which
//! is what `synchronous = FULL` does at its own commit.

use super::Store;
use crate::error::Result;
use rusqlite::Connection;

/// The state of the carried transaction.
#[derive(Debug, Default)]
pub(super) struct Carry {
    /// A transaction is open and holds carried writes.
    open: bool,
    /// How many writes it holds.
    units: usize,
    /// The write in hand needs no fsync (it runs inside `Store::unsynced`).
    lazy: bool,
    /// Why carried writes were lost (their commit failed) since
    /// [`Store::take_carry_loss`] was last asked.
    lost: Option<String>,
}

impl Store {
    /// Runs `work` in the carried transaction (opened if none is), in a
    /// savepoint of its own: a failing `work` undoes only its own writes.
    /// Nothing is committed; [`Store::commit_carried`] or the next write
    /// does that.
    pub fn carry(&mut self, work: impl FnOnce(&Connection) -> Result<()>) -> Result<()> {
        if !self.carry.open {
            // SQLite fixes a transaction's fsync when it begins: this one
            // never fsyncs, its committer does when it must.
            self.conn.pragma_update(None, "synchronous", "NORMAL")?;
            if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
                self.conn.pragma_update(None, "synchronous", "FULL")?;
                return Err(e.into());
            }
            self.carry.open = true;
        }
        super::in_savepoint(&self.conn, work)??;
        self.carry.units += 1;
        Ok(())
    }

    /// Commits the carried writes, if any, without an fsync.
    pub fn commit_carried(&mut self) -> Result<()> {
        self.end_carry(false)
    }

    /// Whether carried writes wait for a commit.
    pub fn carrying(&self) -> bool {
        self.carry.open
    }

    /// How many writes are carried.
    pub fn carried(&self) -> usize {
        self.carry.units
    }

    /// Why carried writes were lost since last asked, if they were.
    pub fn take_carry_loss(&mut self) -> Option<String> {
        self.carry.lost.take()
    }

    /// Runs `work` with its commits written but not fsync-ed (a later
    /// fsync-ed commit carries them to disk); every commit after it is
    /// fsync-ed again.
    pub(super) fn unsynced<T>(&mut self, work: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        if self.carry.open {
            // The carried transaction already commits unsynced; its
            // committer is told not to fsync after.
            self.carry.lazy = true;
            let done = work(self);
            self.carry.lazy = false;
            return done;
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let done = work(self);
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        done
    }

    /// Runs `work` in a transaction and commits it. While writes are
    /// carried, `work` runs in a savepoint of their transaction (a failing
    /// `work` leaves them be), which then commits with them: fsync-ed
    /// unless the caller is inside [`Store::unsynced`].
    pub(super) fn transact<T>(&mut self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if !self.carry.open {
            let tx = self.conn.transaction()?;
            let value = work(&tx)?;
            tx.commit()?;
            return Ok(value);
        }
        let value = super::in_savepoint(&self.conn, work)??;
        let synced = !self.carry.lazy;
        self.end_carry(synced)?;
        Ok(value)
    }

    fn end_carry(&mut self, synced: bool) -> Result<()> {
        if !self.carry.open {
            return Ok(());
        }
        self.carry.open = false;
        self.carry.units = 0;
        let committed = self.conn.execute_batch("COMMIT");
        if committed.is_err() && !self.conn.is_autocommit() {
            // Nothing half-done stays open: the writes are lost, and said so.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = &committed {
            self.carry.lost = Some(e.to_string());
        }
        let restored = self.conn.pragma_update(None, "synchronous", "FULL");
        committed?;
        restored?;
        if synced {
            self.sync_log()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::path::{Path, PathBuf};

    fn insert(conn: &Connection, task: &str) -> Result<()> {
        conn.execute(
            "INSERT INTO candidates (task_id, body, updated_at) VALUES (?1, '{}', 'x')",
            [task],
        )?;
        Ok(())
    }

    /// The tasks another connection sees: what is committed.
    fn committed(path: &Path) -> Vec<String> {
        let reader = Store::open_read_only(path).unwrap();
        let mut stmt = reader
            .conn()
            .prepare("SELECT task_id FROM candidates ORDER BY task_id")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(|r| r.unwrap()).collect()
    }

    fn synchronous(store: &Store) -> i64 {
        store
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    fn store() -> (tempfile::TempDir, PathBuf, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite3");
        let store = Store::open(&path).unwrap();
        (dir, path, store)
    }

    #[test]
    fn the_next_write_commits_carried_writes_with_its_own() {
        let (_dir, path, mut store) = store();
        store.carry(|c| insert(c, "T1")).unwrap();
        store.carry(|c| insert(c, "T2")).unwrap();
        assert!(store.carrying());
        assert_eq!(store.carried(), 2);
        assert!(committed(&path).is_empty(), "carried, not committed");
        store.write(|c| insert(c, "T3")).unwrap();
        assert!(!store.carrying());
        assert_eq!(store.carried(), 0);
        assert_eq!(committed(&path), ["T1", "T2", "T3"]);
        assert_eq!(synchronous(&store), 2, "every commit after is FULL again");
        assert_eq!(store.take_carry_loss(), None);
    }

    /// A carried write that fails undoes only its own writes; a write that
    /// fails leaves the carried ones for a later commit.
    #[test]
    fn a_failure_undoes_only_its_own_writes() {
        let (_dir, path, mut store) = store();
        store.carry(|c| insert(c, "T1")).unwrap();
        let twice = store.carry(|c| {
            insert(c, "T2")?;
            insert(c, "T1")
        });
        assert!(twice.is_err(), "T1 is there already");
        let refused = store.write(|c| {
            insert(c, "T3")?;
            Err::<(), _>(Error::bad_input("test", "refused"))
        });
        assert!(refused.is_err());
        assert!(store.carrying(), "T1 still waits for a commit");
        assert_eq!(store.carried(), 1);
        store.commit_carried().unwrap();
        assert_eq!(committed(&path), ["T1"]);
        assert_eq!(synchronous(&store), 2);
    }

    /// A batch of commands takes the carried writes along in its one
    /// commit, and a lazy one leaves later commits fsync-ed again.
    #[test]
    fn a_batch_commits_carried_writes_with_its_own() {
        let (_dir, path, mut store) = store();
        for (lazy, (carried, mine)) in [(true, ("T1", "T2")), (false, ("T3", "T4"))] {
            store.carry(|c| insert(c, carried)).unwrap();
            let done = store
                .write_batch(vec![((), mine)], insert, |_, _, _| Ok(()), lazy, |_| true)
                .unwrap();
            assert!(done[0].is_ok());
            assert!(!store.carrying());
            assert_eq!(synchronous(&store), 2);
        }
        assert_eq!(committed(&path), ["T1", "T2", "T3", "T4"]);
    }

    /// A dry run rolls back its own writes, not the carried ones.
    #[test]
    fn a_dry_run_keeps_carried_writes() {
        let (_dir, path, mut store) = store();
        store.carry(|c| insert(c, "T1")).unwrap();
        store.dry_run(|c| insert(c, "T2")).unwrap();
        assert!(!store.carrying());
        assert_eq!(committed(&path), ["T1"]);
    }
}
