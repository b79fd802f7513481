//! Freed memory handed back to the kernel from a thread nobody waits on.
//!
//! mimalloc returns memory a second after it was freed, from whichever
//! thread next frees a page: often the control room's drawing thread, as it
//! frees a little every frame. Each return is a `madvise` that waits until
//! every other core running one of our threads has flushed its TLB; on a
//! virtual machine whose other core is busy that took the room 2-6 ms, once
//! for every batch the sync edge wrote into the graph (docs/benchmarks.md,
//! "A sixth look"). A forced collect here, more often than that second,
//! returns the memory first, so the other threads find nothing left to do.

use std::sync::Once;
use std::time::Duration;

/// Well inside mimalloc's one-second delay, so that an idle-class thread
/// delayed by a busy machine still comes first.
const EVERY: Duration = Duration::from_millis(250);

/// Starts the purger once per process.
pub fn start() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let started = super::background::spawn("purger", || {
            loop {
                std::thread::sleep(EVERY);
                // SAFETY: mimalloc's collect takes no pointers and may be
                // called from any thread at any time.
                unsafe { libmimalloc_sys::mi_collect(true) };
            }
        });
        // Without it mimalloc still returns memory, from other threads.
        if let Err(e) = started {
            tracing::warn!("{e}");
        }
    });
}
