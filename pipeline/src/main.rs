//! The `paymatch` binary: parse the command line, run it, report errors.

use clap::Parser;

/// mimalloc keeps freed memory for reuse; see the workspace `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = pipeline::cli::Cli::parse();
    match pipeline::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e)
            if e.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            // The reader went away (`| head`): nothing left to say.
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paymatch: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
