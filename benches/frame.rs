//! Building one control-room frame at 200×50 over a snapshot of 10,000
//! tasks and 1,000 workers, on every pane. Prints p50/p99 per pane.
//!
//! `cargo bench --bench frame`

use auto_assign::tui::app::{App, Connection};
use auto_assign::tui::fixtures;
use auto_assign::tui::keymap::Keymap;
use auto_assign::tui::panes::Pane;
use auto_assign::tui::theme::Theme;
use auto_assign::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let snapshot = Arc::new(fixtures::large(10_000, 1_000));
    let theme = Theme::load("default", false, false).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    for pane in [
        Pane::Recommendations,
        Pane::Workers,
        Pane::Queue,
        Pane::Approvals,
    ] {
        let keymap = Keymap::new(&BTreeMap::new()).unwrap();
        let mut app = App::new(
            snapshot.clone(),
            keymap,
            "bench".into(),
            false,
            Connection::InProcess,
        );
        app.now = fixtures::now();
        app.pane = pane;
        let mut samples: Vec<Duration> = Vec::with_capacity(500);
        for i in 0..520 {
            // A new second every 25 frames: ages change, as they do live.
            app.now = fixtures::now() + chrono::Duration::seconds(i / 25);
            let started = Instant::now();
            terminal.draw(|f| views::draw(f, &app, &theme)).unwrap();
            if i >= 20 {
                samples.push(started.elapsed());
            }
        }
        samples.sort();
        let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        println!(
            "frame 200x50, 10,000 tasks, 1,000 workers, {:<15} p50 {:>9.3?}  p99 {:>9.3?}  (goal p99 ≤ 2 ms)",
            pane.title(),
            p(0.5),
            p(0.99)
        );
        // A new snapshot: the pane's rows are built once, then cached.
        let mut rebuilds: Vec<Duration> = (0..20)
            .map(|_| {
                app.set_snapshot(Arc::new((*snapshot).clone()));
                let started = Instant::now();
                terminal.draw(|f| views::draw(f, &app, &theme)).unwrap();
                started.elapsed()
            })
            .collect();
        rebuilds.sort();
        println!(
            "    first frame after a new snapshot (rows rebuilt): p50 {:>9.3?}",
            rebuilds[10]
        );
    }
}
