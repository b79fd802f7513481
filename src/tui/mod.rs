//! The control room: a ratatui view of the engine's snapshots, with keys
//! that become engine commands. Data (`app`, `panes`, `rows`) is kept apart
//! from drawing (`views`); the loop here only moves messages between the
//! terminal, the engine and the app, and draws when something changed.

pub mod app;
pub mod attention;
pub mod clock;
#[doc(hidden)]
pub mod fixtures;
pub mod keymap;
pub mod panes;
pub mod rows;
pub mod source;
pub mod term;
pub mod theme;
pub mod views;

use crate::config::Settings;
use crate::error::{Error, Result};
use app::{App, Effect};
use crossterm::event::{Event, KeyEventKind};
use keymap::Keymap;
use source::Source;
use std::time::{Duration, Instant};
use theme::Theme;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// At most this many frames a second, however busy the engine is.
const FRAME: Duration = Duration::from_millis(33);

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub attach: bool,
    pub read_only: bool,
    pub theme: Option<String>,
    pub mouse: bool,
}

/// Where the control room logs: the configured file, else
/// `$XDG_STATE_HOME/auto-assign/control-room.log`, else `./data/control-room.log`.
pub fn log_path(settings: &Settings) -> std::path::PathBuf {
    settings
        .log_file
        .clone()
        .unwrap_or_else(|| match std::env::var("XDG_STATE_HOME") {
            Ok(dir) if !dir.is_empty() => std::path::Path::new(&dir)
                .join("auto-assign")
                .join("control-room.log"),
            _ => std::path::PathBuf::from("./data/control-room.log"),
        })
}

pub fn theme_for(options: &Options) -> Result<Theme> {
    let no_color = std::env::var("NO_COLOR").is_ok_and(|v| !v.is_empty());
    Theme::load(
        options.theme.as_deref().unwrap_or("default"),
        no_color,
        theme::terminal_has_truecolor(),
    )
}

/// Ctrl-z: in raw mode a key, not a signal.
fn is_suspend(key: &crossterm::event::KeyEvent) -> bool {
    key.code == crossterm::event::KeyCode::Char('z')
        && key
            .modifiers
            .contains(crossterm::event::KeyModifiers::CONTROL)
}

/// Runs the control room until the operator quits (or a signal ends it).
pub async fn run(source: Source, settings: &Settings, options: &Options) -> Result<()> {
    // This thread draws: a frame must not wait behind a busy neighbour.
    crate::engine::prompt::enter(settings.realtime_priority);
    let theme = theme_for(options)?;
    let keymap = Keymap::new(&settings.keymap)?;
    let mut snapshots = source.snapshots();
    let mut connection = source.connection();
    let first = snapshots.borrow_and_update().clone();
    let mut app = App::new(
        first,
        keymap,
        settings.operator.clone(),
        options.read_only,
        connection.borrow_and_update().clone(),
    );
    app.log_path = log_path(settings).display().to_string();
    app.clock = clock::Clock::new(settings.ui_time);
    let link = source.link();

    let mut terminal = term::Terminal::enter(options.mouse)?;
    let (key_tx, mut keys) = mpsc::channel(256);
    std::thread::spawn(move || {
        while let Ok(event) = crossterm::event::read() {
            if key_tx.blocking_send(event).is_err() {
                break;
            }
        }
    });
    let (result_tx, mut results) = mpsc::channel(16);
    let io = |source| Error::Io {
        context: "cannot watch signals".into(),
        source,
    };
    let mut term_signal = signal(SignalKind::terminate()).map_err(io)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(io)?;
    // Ctrl-c and Ctrl-\\ arrive as keys in raw mode; these are the same
    // signals sent by `kill`, which must not leave a broken terminal.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(io)?;
    let mut quit_signal = signal(SignalKind::quit()).map_err(io)?;
    let mut stop_signal =
        signal(SignalKind::from_raw(rustix::process::Signal::TSTP.as_raw())).map_err(io)?;
    let mut ended_by = None;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    let mut engine_lost = false;
    let mut last_draw = Instant::now() - FRAME;
    while !app.quit {
        if dirty && last_draw.elapsed() >= FRAME {
            // A terminal that went away (a killed tmux session, a dropped
            // SSH connection) ends the room like a hangup: cleaned up and
            // logged, not a bare error on a screen nobody sees.
            if let Err(e) = terminal
                .inner
                .draw(|frame| views::draw(frame, &app, &theme))
            {
                ended_by = Some(format!("the terminal is gone ({e})"));
                break;
            }
            dirty = false;
            last_draw = Instant::now();
        }
        let until_frame = FRAME.saturating_sub(last_draw.elapsed());
        tokio::select! {
            event = keys.recv() => match event {
                Some(Event::Key(key)) if key.kind == KeyEventKind::Press && is_suspend(&key) => {
                    terminal.suspend(options.mouse)?;
                    dirty = true;
                }
                Some(Event::Key(key)) if key.kind == KeyEventKind::Press => {
                    if let Some(Effect::Send { label, commands }) = app.on_key(key) {
                        let (link, results) = (link.clone(), result_tx.clone());
                        tokio::spawn(async move {
                            let outcome = link
                                .send_all(commands)
                                .await
                                .into_iter()
                                .map(|r| r.map_err(|e| e.to_string()))
                                .collect();
                            let _ = results.send((label, outcome)).await;
                        });
                    }
                    dirty = true;
                }
                Some(_) => dirty = true, // resize, focus: redraw
                None => break,
            },
            changed = snapshots.changed() => match changed {
                Ok(()) => {
                    app.set_snapshot(snapshots.borrow_and_update().clone());
                    dirty = true;
                }
                // Only a hosted engine that stopped (a fault) closes this:
                // the room must not go on showing a frozen world.
                Err(_) => {
                    engine_lost = true;
                    break;
                }
            },
            Ok(()) = connection.changed() => {
                app.connection = connection.borrow_and_update().clone();
                dirty = true;
            }
            Some((label, outcome)) = results.recv() => {
                app.on_results(&label, outcome);
                dirty = true;
            }
            _ = clock.tick() => {
                app.tick(chrono::Utc::now());
                dirty = true;
            }
            _ = tokio::time::sleep(until_frame), if dirty => {}
            _ = stop_signal.recv() => {
                terminal.suspend(options.mouse)?;
                dirty = true;
            }
            _ = term_signal.recv() => { ended_by = Some("SIGTERM".into()); break }
            _ = hangup.recv() => { ended_by = Some("SIGHUP: the terminal hung up".into()); break }
            _ = interrupt.recv() => { ended_by = Some("SIGINT".into()); break }
            _ = quit_signal.recv() => { ended_by = Some("SIGQUIT".into()); break }
        }
    }
    drop(terminal);
    if let Some(why) = &ended_by {
        tracing::info!("the control room ends: {why}");
    }
    // The engine stops once every link to it is gone.
    drop(link);
    source.stop().await;
    if engine_lost {
        tracing::error!("the engine stopped; the control room exits");
        return Err(Error::EngineGone);
    }
    Ok(())
}
