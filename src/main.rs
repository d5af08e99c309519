use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use trailscan::{cli::Cli, cmd, config::Config, messages};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = Config::resolve(cli, std::io::stdout().is_terminal()).and_then(cmd::run);
    match result {
        Ok(code) => code,
        // A closed pipe (`trailscan sessions | head`) is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            messages::fatal(&e);
            ExitCode::from(cmd::EXIT_ERROR)
        }
    }
}
