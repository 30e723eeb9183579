//! The `paymatch` binary: parse the command line, run it, report errors.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pipeline::cli::Cli::parse();
    match pipeline::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paymatch: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
