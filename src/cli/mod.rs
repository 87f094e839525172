//! The `rolegate` command line. Each subcommand is a thin shell over the library.

mod config_check;
mod policy;
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
    /// Explain or lint the role-mapping policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
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
enum PolicyCommand {
    /// The decision for one identity, role and action, with every statement and why it
    /// matched or not. Exit 0 on allow, 1 on deny, 2 on errors.
    Explain(policy::ExplainArgs),
    /// Warn about IAM traps; exit 1 when there are findings.
    Lint {
        #[arg(long, env = "ROLEGATE_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum VerifyCommand {
    /// Verify a JWT (compact form on stdin) as the broker would verify a bearer ID token.
    Jwt(verify::JwtArgs),
    /// Verify a SAML Response (base64 as posted, or XML, on stdin) as the ACS would.
    Saml(verify::SamlArgs),
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, dev } => serve::run(config, dev),
        Command::Config {
            command: ConfigCommand::Check { config },
        } => config_check::run(&config),
        Command::Policy {
            command: PolicyCommand::Explain(args),
        } => policy::explain(args),
        Command::Policy {
            command: PolicyCommand::Lint { config },
        } => policy::lint(&config),
        Command::Verify {
            command: VerifyCommand::Saml(args),
        } => verify::saml(args),
        Command::Verify {
            command: VerifyCommand::Jwt(args),
        } => verify::jwt(args),
    }
}
