//! The terminal: raw mode and the alternate screen on the way in, all of it
//! (mouse capture and bracketed paste too) undone on the way out, whether
//! the way out is a quit, an error, a panic or a signal.

use crate::error::{Error, Result};
use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableMouseCapture};
use ratatui::DefaultTerminal;

pub struct Terminal {
    /// Never dropped: ratatui's drop shows the cursor and reports a failure
    /// with `eprintln!`, which panics (and aborts, from a drop) when the
    /// terminal, standard error included, is gone. [`restore`] does its work.
    pub inner: std::mem::ManuallyDrop<DefaultTerminal>,
}

impl Terminal {
    /// `ratatui::init` also installs a panic hook (chained after
    /// color-eyre's) that restores the terminal before the report prints.
    pub fn enter(mouse: bool) -> Result<Terminal> {
        let inner = ratatui::try_init().map_err(|source| Error::Io {
            context: "cannot take over the terminal".into(),
            source,
        })?;
        if mouse {
            crossterm::execute!(std::io::stdout(), EnableMouseCapture).map_err(|source| {
                Error::Io {
                    context: "cannot enable the mouse".into(),
                    source,
                }
            })?;
        }
        Ok(Terminal {
            inner: std::mem::ManuallyDrop::new(inner),
        })
    }
}

impl Terminal {
    /// Ctrl-z, or a SIGTSTP from outside: the terminal is given back as it
    /// was, the process stops (SIGSTOP, which cannot be caught) and, once
    /// `fg` continues it, raw mode and the alternate screen come back and
    /// the next draw repaints everything.
    pub fn suspend(&mut self, mouse: bool) -> Result<()> {
        restore();
        let stopped =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::STOP);
        let io = |context: &str, source| Error::Io {
            context: context.into(),
            source,
        };
        stopped.map_err(|e| io("cannot stop", e.into()))?;
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| io("cannot take over the terminal", e))?;
        crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)
            .map_err(|e| io("cannot take over the terminal", e))?;
        if mouse {
            crossterm::execute!(std::io::stdout(), EnableMouseCapture)
                .map_err(|e| io("cannot enable the mouse", e))?;
        }
        // Not `Terminal::clear`: it asks the terminal for the cursor, whose
        // answer the key reader would swallow. The screen is wiped here and
        // both of ratatui's buffers forgotten, so the next draw is whole.
        crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
        )
        .map_err(|e| io("cannot take over the terminal", e))?;
        self.inner.swap_buffers();
        self.inner.swap_buffers();
        Ok(())
    }
}

/// Everything `enter` changed, undone, quietly. Not `ratatui::restore`: on
/// a terminal that is gone it reports with `eprintln!`, which panics when
/// standard error is that same dead terminal; from a drop, that aborted the
/// room before it could remove its socket.
fn restore() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

impl Drop for Terminal {
    fn drop(&mut self) {
        restore();
    }
}
