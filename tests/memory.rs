//! Freed memory goes back to the kernel from the engine's purger, an
//! idle-class thread, rather than from whichever thread frees next (the
//! control room's, say): see src/engine/purger.rs.

mod common;

use auto_assign::config::{Overrides, load_with};
use auto_assign::engine::{self, core::Core};
use common::{eventually, resident_kib, thread_policies};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_freed_on_a_quiet_thread_is_returned_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        database: Some(dir.path().join("cache.sqlite3").display().to_string()),
        ..Default::default()
    };
    let settings = load_with(&overrides, &|_| None).unwrap().settings;
    let (engine, _task) = engine::spawn(Core::open(settings).unwrap()).unwrap();
    let me = std::process::id();
    // The thread takes its class once it runs.
    eventually(
        "the purger in the idle class",
        Duration::from_secs(5),
        Duration::from_millis(10),
        || {
            thread_policies(me)
                .contains(&("purger".to_string(), 5))
                .then_some(())
        },
    );

    // 256 MiB in 1 MiB blocks, written so that they are resident, then
    // freed by a thread that ends: nothing in this process frees a page
    // afterwards, which is when mimalloc itself would return them.
    let before = resident_kib(me);
    std::thread::spawn(move || {
        let blocks: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; 1 << 20]).collect();
        assert!(resident_kib(me) > 200 * 1024);
        drop(blocks);
    })
    .join()
    .unwrap();
    // mimalloc's own delay is one second; the purger comes every 250 ms.
    eventually(
        &format!("resident memory back near the {before} KiB before the blocks"),
        Duration::from_millis(900),
        Duration::from_millis(20),
        || (resident_kib(me) <= before + 64 * 1024).then_some(()),
    );
    drop(engine);
}
