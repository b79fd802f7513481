//! Checkpoints off the engine's thread. A checkpoint copies the log back
//! into the database and fsyncs both: a millisecond or more, during which a
//! claim arriving at the engine used to wait. The checkpointer runs them on
//! its own connection (WAL lets a checkpoint run beside the writer); the
//! engine's housekeeping only says when.

use super::background;
use crate::error::Result;
use crate::store::Store;
use std::path::Path;
use std::sync::mpsc;

pub struct Checkpointer {
    /// `true` asks for the log to be truncated (the engine is idle).
    requests: mpsc::Sender<bool>,
}

impl Checkpointer {
    /// Starts the checkpoint thread on its own connection to `database`.
    pub fn spawn(database: &Path) -> Result<Checkpointer> {
        let store = Store::open_for_checkpoints(database)?;
        let (requests, inbox) = mpsc::channel::<bool>();
        background::spawn("checkpoints", move || {
            while let Ok(first) = inbox.recv() {
                // Requests that queued behind a slow checkpoint are one.
                let idle = inbox.try_iter().fold(first, |idle, next| idle || next);
                if let Err(e) = store.checkpoint(idle) {
                    tracing::warn!("checkpoint failed: {e}");
                }
            }
        })?;
        Ok(Checkpointer { requests })
    }

    /// Asks for a checkpoint; `idle` truncates the log.
    pub fn request(&self, idle: bool) {
        let _ = self.requests.send(idle);
    }
}
