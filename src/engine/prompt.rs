//! The threads that answer (the engine's, the async runtime's workers that
//! serve the socket, the control room's) may run in the realtime class,
//! when the operator sets `realtime_priority` and the system allows it.
//!
//! Why: on a small box that also runs Neo4j, the graph's JVM keeps a core
//! busy while it catches up. A normal thread that wakes next to a busy one
//! waits for the next timer tick (up to 4 ms at 250 Hz), and a shorter
//! time slice did not change that. A heartbeat's reply wakes three threads
//! in turn, so its p99 went from 0.5 to 3.5 ms during a catch-up. A
//! realtime thread preempts at once, unless the kernel itself is busy on
//! that core (docs/decisions.md, docs/benchmarks.md).
//!
//! Round-robin at a low priority: the threads mostly wait, and the kernel
//! keeps 5 % of every second for the normal class, so a long pass cannot
//! lock the box. Snapshots, checkpoints and the sync edge stay in the idle
//! class (`background`): they are what may wait.

use std::sync::atomic::{AtomicBool, Ordering};
use thread_priority::{
    RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
};

/// Said once per process: every thread would be refused for the same reason.
static REFUSAL_LOGGED: AtomicBool = AtomicBool::new(false);

/// Puts the calling thread in the realtime class at `priority` (1-99);
/// 0 leaves it as it is. A refusal is logged once, naming what grants it,
/// and the thread keeps its class: the work is the same, only answered
/// later when the cores are busy.
pub fn enter(priority: u8) {
    if priority == 0 {
        return;
    }
    if let Err(why) = try_enter(priority)
        && !REFUSAL_LOGGED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(
            "realtime_priority = {priority} was refused ({why}); the threads that answer \
             stay in the normal class. Grant it with LimitRTPRIO={priority} in the \
             service's unit, or CAP_SYS_NICE"
        );
    }
}

fn try_enter(priority: u8) -> Result<(), String> {
    let value = ThreadPriorityValue::try_from(priority).map_err(|e| e.to_string())?;
    let policy = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::RoundRobin);
    thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Crossplatform(value),
        policy,
    )
    .map_err(|e| match e {
        thread_priority::Error::OS(code) => std::io::Error::from_raw_os_error(code).to_string(),
        e => format!("{e:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThreadSchedulePolicy {
        thread_priority::thread_schedule_policy().unwrap()
    }

    /// Granted, the thread is realtime; refused (no LimitRTPRIO, no
    /// CAP_SYS_NICE), it keeps the normal class and the engine carries on.
    #[test]
    fn a_thread_enters_the_realtime_class_when_allowed_and_stays_normal_when_not() {
        std::thread::spawn(|| {
            let before = policy();
            let entered = try_enter(1);
            let realtime = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::RoundRobin);
            match entered {
                Ok(()) => assert_eq!(policy(), realtime),
                Err(why) => {
                    assert!(!why.is_empty());
                    assert_eq!(policy(), before);
                }
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn priority_zero_leaves_the_thread_as_it_is() {
        std::thread::spawn(|| {
            let before = policy();
            enter(0);
            assert_eq!(policy(), before);
        })
        .join()
        .unwrap();
    }
}
