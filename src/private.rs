//! Files and folders private to the user running the program: the cache
//! holds task titles and labels that may be secret, and the log names them
//! too. What this program creates is 0600 (files) or 0700 (folders) whatever
//! the umask; what already exists keeps the mode its owner gave it.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates `dir` and any missing parent, 0700.
pub fn folder(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates `path` empty and 0600 when it does not exist yet (its folder
/// too); an existing file is left as it is.
pub fn file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        folder(dir)?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_files_and_folders_are_private_and_existing_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file_path = dir.path().join("a/b/cache.sqlite3");
        file(&file_path).unwrap();
        assert_eq!(mode(&file_path), 0o600);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        let shared = dir.path().join("shared.log");
        std::fs::write(&shared, "kept").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
        file(&shared).unwrap();
        assert_eq!(mode(&shared), 0o640);
        assert_eq!(std::fs::read_to_string(&shared).unwrap(), "kept");
    }
}
