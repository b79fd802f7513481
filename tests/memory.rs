//! Freed memory goes back to the kernel from the engine's purger, an
//! idle-class thread, rather than from whichever thread frees next (the
//! control room's, say): see src/engine/purger.rs.

use auto_assign::config::{Overrides, load_with};
use auto_assign::engine::{self, core::Core};
use std::time::{Duration, Instant};

/// The process's resident memory, in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// The scheduling policy of this process's thread called `name` (field 41
/// of its stat: 5 is the idle class).
fn policy_of(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .find_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            (comm == name).then(|| rest.split(' ').nth(41 - 3)?.parse().ok())?
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_freed_on_a_quiet_thread_is_returned_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        database: Some(dir.path().join("cache.sqlite3").display().to_string()),
        ..Default::default()
    };
    let settings = load_with(&overrides, &|_| None).unwrap().settings;
    let (engine, _task) = engine::spawn(Core::open(settings).unwrap()).unwrap();
    // The thread takes its class once it runs.
    let started = Instant::now();
    while policy_of("purger") != Some(5) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the purger is not in the idle class: {:?}",
            policy_of("purger")
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // 256 MiB in 1 MiB blocks, written so that they are resident, then
    // freed by a thread that ends: nothing in this process frees a page
    // afterwards, which is when mimalloc itself would return them.
    let before = resident_kib();
    std::thread::spawn(|| {
        let blocks: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; 1 << 20]).collect();
        assert!(resident_kib() > 200 * 1024);
        drop(blocks);
    })
    .join()
    .unwrap();
    let freed = Instant::now();
    // mimalloc's own delay is one second; the purger comes every 250 ms.
    while resident_kib() > before + 64 * 1024 {
        assert!(
            freed.elapsed() < Duration::from_millis(900),
            "{} KiB resident, {before} KiB before the blocks",
            resident_kib()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(engine);
}
