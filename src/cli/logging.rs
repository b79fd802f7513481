//! Logs through tracing: to a file (never onto a terminal the control room
//! draws on) and, for the daemon, to stderr; plain or JSON.

use crate::config::Settings;
use crate::error::{Error, Result};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Installs the global subscriber. Keep the guard alive: dropping it flushes
/// and stops the log writer.
pub fn init(settings: &Settings, to_stderr: bool) -> Result<Option<WorkerGuard>> {
    let filter = EnvFilter::new(format!("auto_assign={}", settings.log_level));
    let (file, guard) = match &settings.log_file {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            crate::private::file(path).map_err(|source| Error::Io {
                context: format!("cannot create the log {}", path.display()),
                source,
            })?;
            let name = path
                .file_name()
                .ok_or_else(|| Error::bad_input("setting log_file", "must name a file"))?;
            let (writer, guard) =
                tracing_appender::non_blocking(tracing_appender::rolling::never(dir, name));
            (Some(writer), Some(guard))
        }
        None => (None, None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    let installed = match (file, to_stderr, settings.log_json) {
        (Some(file), true, true) => builder
            .json()
            .with_writer(file.and(std::io::stderr))
            .try_init(),
        (Some(file), true, false) => builder.with_writer(file.and(std::io::stderr)).try_init(),
        (Some(file), false, true) => builder.json().with_writer(file).try_init(),
        (Some(file), false, false) => builder.with_writer(file).try_init(),
        (None, _, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (None, _, false) => builder.with_writer(std::io::stderr).try_init(),
    };
    installed.map_err(|e| Error::Io {
        context: "cannot install logging".into(),
        source: std::io::Error::other(e),
    })?;
    Ok(guard)
}
