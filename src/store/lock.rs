//! One engine per database: an exclusive lock on `<database>.lock`, held for
//! the engine's life (the kernel lets go of it when the process dies, however
//! it dies), with the holder's pid written in it so a second engine can say
//! who holds it. Two engines on one file, each with its own socket, used to
//! both run and fail each other's writes with "database is locked".

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

pub struct EngineLock {
    _file: File,
}

/// Where the lock of `database` lives.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl EngineLock {
    pub fn take(database: &Path) -> Result<EngineLock> {
        let path = lock_path(database);
        let io = |source| Error::Io {
            context: format!("cannot lock {}", path.display()),
            source,
        };
        crate::private::file(&path).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                write!(file, "{}", std::process::id()).map_err(io)?;
                super::sync_folder_of(&path)?;
                Ok(EngineLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Err(Error::DatabaseInUse {
                    path: database.display().to_string(),
                    pid: holder.trim().parse().ok(),
                })
            }
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_engine_is_refused_naming_the_first_and_the_lock_outlives_neither() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cache.sqlite3");
        let first = EngineLock::take(&db).unwrap();
        match EngineLock::take(&db) {
            Err(Error::DatabaseInUse { pid, .. }) => {
                assert_eq!(pid, Some(u64::from(std::process::id())))
            }
            other => panic!("{:?}", other.err()),
        }
        drop(first);
        assert!(EngineLock::take(&db).is_ok());
    }
}
