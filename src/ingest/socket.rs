//! The socket file: its folder (0700), its mode (0600), and what to do with
//! one that is already there.

use super::client::Client;
use crate::error::{Error, Result};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use tokio::net::UnixListener;

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// Binds the engine's socket at `path`. A socket left by a dead engine is
/// removed; a live one is left alone and reported with the process that
/// holds it; a file that is not a socket is never touched.
pub async fn bind(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private::folder(dir).map_err(io(format!(
            "cannot create the socket folder {}",
            dir.display()
        )))?;
        private_folder(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(Error::bad_input(
                "socket path",
                format!(
                    "{} exists and is not a socket; move it or choose another --socket",
                    path.display()
                ),
            ));
        }
        Ok(_) => match Client::connect(path).await {
            Ok(mut client) => {
                let pid = client.hello().await.ok().and_then(|h| h["pid"].as_u64());
                return Err(Error::SocketInUse {
                    path: path.display().to_string(),
                    pid,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                // Another user's socket is theirs to remove, never ours.
                return Err(Error::bad_input("socket path", e.to_string()));
            }
            Err(_) => {
                tracing::info!(path = %path.display(), "removing a stale socket left by a dead engine");
                std::fs::remove_file(path).map_err(io(format!(
                    "cannot remove the stale socket {}",
                    path.display()
                )))?;
            }
        },
        Err(_) => {}
    }
    let listener =
        UnixListener::bind(path).map_err(io(format!("cannot listen on {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io(format!("cannot make {} private (0600)", path.display())))?;
    Ok(listener)
}

/// The socket is only as private as its folder: a folder another user owns,
/// or may write to, would let them move the socket aside and listen in its
/// place. Such a folder is refused, never changed (it may be shared on
/// purpose, like /tmp).
fn private_folder(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(io(format!("cannot read {}", dir.display())))?;
    let me = rustix::process::geteuid().as_raw();
    let advice = "put the socket in a folder only you can write to, such as $XDG_RUNTIME_DIR/auto-assign (the default)";
    if meta.uid() != me {
        return Err(Error::bad_input(
            "socket path",
            format!(
                "the folder {} belongs to uid {}, not to you (uid {me}): its owner could put a socket of theirs in place of this one; {advice}",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Error::bad_input(
            "socket path",
            format!(
                "other users can write to the folder {} (mode {:o}): one of them could move the socket aside and listen in its place; {advice}",
                dir.display(),
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Removes the socket file on a clean shutdown, if it is still ours.
pub fn remove(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}
