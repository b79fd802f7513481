//! The socket file: its folder (0700), its mode (0600), and what to do with
//! one that is already there.

use super::client::Client;
use crate::error::{Error, Result};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
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
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(format!(
                "cannot create the socket folder {}",
                dir.display()
            )))?;
        // A folder that already existed keeps its mode unless we tighten it:
        // the socket is only as private as the folder it is in.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(format!("cannot make {} private (0700)", dir.display())))?;
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

/// Removes the socket file on a clean shutdown, if it is still ours.
pub fn remove(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}
