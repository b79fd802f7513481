//! The `auto-assign` binary: parse flags, run one command, report errors
//! once. Exit codes: 0 done, 2 bad input or a refused action, 1 anything else.

use auto_assign::cli::{Cli, run};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(report) = color_eyre::install() {
        eprintln!("auto-assign: cannot install the error reporter: {report}");
    }
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("auto-assign: {error}");
            if error.is_caller_fault() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// `auto-assign outbox | head -1`: once the reader is gone there is no one to
/// tell anything, so the command ends quietly with the status a shell gives
/// a process ended by SIGPIPE (141), instead of a backtrace. Rust ignores
/// SIGPIPE, so a closed pipe shows up as a failed print to standard output.
fn quiet_on_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info)
    }));
}
