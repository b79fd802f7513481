//! The terminal: raw mode and the alternate screen on the way in, all of it
//! (mouse capture and bracketed paste too) undone on the way out, whether
//! the way out is a quit, an error, a panic or a signal.

use crate::error::{Error, Result};
use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableMouseCapture};
use ratatui::DefaultTerminal;

pub struct Terminal {
    pub inner: DefaultTerminal,
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
        Ok(Terminal { inner })
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = crossterm::execute!(
            std::io::stdout(),
            DisableMouseCapture,
            DisableBracketedPaste
        );
        ratatui::restore();
    }
}
