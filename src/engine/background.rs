//! Threads that serve the engine but must never slow its replies: snapshot
//! builds and checkpoints. They run in Linux's idle scheduling class, so
//! they get a core only when nothing else wants it.
//!
//! A niceness was not enough: on a two-core box a snapshot build of a few
//! thousand assignments (30-50 ms) at niceness 19 still doubled the tail of
//! a claim's round trip (p99 4 ms against 1.2-1.7 ms), because a thread
//! that wakes has to wait for the running one's slice. An idle-class thread
//! is preempted at once. Under a load that keeps every core busy, such a
//! thread still gets a sliver of CPU, so snapshots and checkpoints slow
//! down but never stop (docs/decisions.md).

use crate::error::{Error, Result};
use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};

/// Starts `work` on a named thread in the idle scheduling class.
pub fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
            let thread = thread_priority::thread_native_id();
            // Refused (another OS, a sandbox): the work is the same, only
            // less polite.
            if let Err(e) =
                thread_priority::set_thread_priority_and_policy(thread, ThreadPriority::Min, idle)
            {
                tracing::debug!("background thread keeps its priority: {e:?}");
            }
            work()
        })
        .map(drop)
        .map_err(|source| Error::Io {
            context: format!("cannot start the {name} thread"),
            source,
        })
}
