//! The `flashlayer` command line: parses the arguments and runs the command (see the library
//! docs for the commands and where each lives).

use clap::Parser;
use flashlayer::commands::Command;

#[derive(Debug, Parser)]
#[command(
    name = "flashlayer",
    version,
    about = "Sequencer node for disposable, application-tailored EVM rollups"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> eyre::Result<()> {
    Cli::parse().command.execute()
}
