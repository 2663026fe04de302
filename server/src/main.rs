//! `pulsemq`: the broker binary. Everything lives in the library; this only
//! turns the result into an exit code and one readable line.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = pulsemq::config::Cli::from_env();
    match pulsemq::run::main_with(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pulsemq: {e}");
            ExitCode::FAILURE
        }
    }
}
