//! How many connections the socket takes. A process may hold only so many
//! files (`RLIMIT_NOFILE`); the engine asks for all it may have, and keeps
//! some for itself (the database, its log, its WAL), so that a flood of
//! clients is told no instead of starving the engine of files.

use rustix::process::{Resource, getrlimit, setrlimit};

/// Files kept for the engine itself, whatever the clients do.
const RESERVED: u64 = 32;

/// The most connections served at once, when the file limit allows.
const MOST: u64 = 4096;

/// Raises the soft file limit to the hard one (a systemd service starts at
/// 1024) and returns how many connections to serve at once.
pub fn connections() -> usize {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!("cannot raise the open-file limit: {e}");
        }
        limit = getrlimit(Resource::Nofile);
    }
    let files = limit.current.unwrap_or(MOST + RESERVED);
    files.saturating_sub(RESERVED).clamp(1, MOST) as usize
}
