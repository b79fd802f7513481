//! The `auto-assign` binary: parse flags, run one command, report errors
//! once. Exit codes: 0 done, 2 bad input or a refused action, 1 anything else.

use auto_assign::cli::{Cli, run};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(report) = color_eyre::install() {
        eprintln!("auto-assign: cannot install the error reporter: {report}");
    }
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
