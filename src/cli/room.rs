//! `auto-assign` (no command) and `auto-assign demo`: the control room.

use super::logging;
use crate::config::Settings;
use crate::demo;
use crate::error::Result;
use crate::host::service_runtime;
use crate::tui::{self, Options, source::Source};

/// The control room draws a full screen: it needs a terminal that can.
/// Refused before anything starts, naming what to use instead.
fn check_terminal(term: Option<&str>) -> Result<()> {
    use std::io::IsTerminal;
    let why = if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        "it needs a terminal (standard input and output are not one)"
    } else if matches!(term, None | Some("") | Some("dumb")) {
        "TERM is dumb or unset, and the control room draws a full screen"
    } else {
        return Ok(());
    };
    Err(crate::error::Error::Unavailable {
        what: format!(
            "the control room cannot run here: {why}; use `auto-assign status`, `auto-assign watch` \
             or `auto-assign daemon`"
        ),
    })
}

/// Logs go to a file, never onto the screen the control room draws.
fn log_to_file(settings: &Settings) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>> {
    let mut settings = settings.clone();
    settings.log_file = Some(tui::log_path(&settings));
    logging::init(&settings, false)
}

pub fn control_room(settings: Settings, options: &Options) -> Result<()> {
    // Checked before the terminal is taken over, so a bad theme or keymap
    // is a plain error message.
    tui::theme_for(options)?;
    tui::keymap::Keymap::new(&settings.keymap)?;
    check_terminal(std::env::var("TERM").ok().as_deref())?;
    let _guard = log_to_file(&settings)?;
    service_runtime(&settings)?.block_on(async {
        let source = Source::start(&settings, options.attach).await?;
        tui::run(source, &settings, options).await
    })
}

pub fn demo(settings: Settings, options: &Options) -> Result<()> {
    tui::theme_for(options)?;
    check_terminal(std::env::var("TERM").ok().as_deref())?;
    let (settings, dir) = demo::settings(&settings)?;
    let _guard = log_to_file(&settings)?;
    let result = service_runtime(&settings)?.block_on(async {
        let source = Source::start(&settings, false).await?;
        demo::simulate(source.socket())?;
        tui::run(source, &settings, options).await
    });
    let _ = std::fs::remove_dir_all(dir);
    result
}
