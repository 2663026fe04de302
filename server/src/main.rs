//! `pulsemq`: the broker binary. Everything lives in the library; this only
//! turns the result into an exit code and one readable line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = pulsemq::config::Cli::parse();
    match pulsemq::run::main_with(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pulsemq: {e}");
            ExitCode::FAILURE
        }
    }
}
