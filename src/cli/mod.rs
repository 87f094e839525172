//! The `rolegate` command line. Each subcommand is a thin shell over the library.

mod config_check;
mod serve;
mod verify;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rolegate",
    version,
    about = "Federation identity broker for AWS: IdP sign-in in, STS credentials out"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker.
    Serve {
        #[arg(long, env = "ROLEGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Try rolegate: memory store, built-in dev IdP (any password), generated keys, loopback only.
        #[arg(long)]
        dev: bool,
    },
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the broker's verifier on one proof, offline, at a given instant.
    Verify {
        #[command(subcommand)]
        command: VerifyCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file (and the files it names); exit 1 naming the offending key.
    Check {
        #[arg(long, env = "ROLEGATE_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum VerifyCommand {
    /// Verify a JWT (compact form on stdin) as the broker would verify a bearer ID token.
    Jwt(verify::JwtArgs),
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, dev } => serve::run(config, dev),
        Command::Config {
            command: ConfigCommand::Check { config },
        } => config_check::run(&config),
        Command::Verify {
            command: VerifyCommand::Jwt(args),
        } => verify::jwt(args),
    }
}
