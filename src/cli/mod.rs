//! The `rolegate` command line. Each subcommand is a thin shell over the library.

pub mod client;
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
        /// Try rolegate: memory store, built-in dev IdP (no password), generated keys, loopback only.
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
    /// Exit 0 if GET <url> answers 2xx within 2 s: the container healthcheck (the runtime
    /// image has no shell or curl).
    Probe { url: String },
    /// Sign in to a broker: opens the browser (loopback), or shows a code with --device.
    Login {
        #[command(flatten)]
        broker: BrokerArg,
        /// Sign in from another device's browser (for SSH sessions, containers…).
        #[arg(long)]
        device: bool,
        /// Sign in again even when already signed in, without asking.
        #[arg(long)]
        force: bool,
    },
    /// The broker, who is signed in there and until when, and the cached credentials per role.
    /// Exit 0 when signed in, 1 when not.
    Status {
        #[command(flatten)]
        broker: BrokerArg,
        /// Print JSON (for scripts) on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the sign-in at the broker and delete local tokens and cached credentials.
    Logout {
        #[command(flatten)]
        broker: BrokerArg,
    },
    /// List the roles you may use.
    Roles {
        #[command(flatten)]
        broker: BrokerArg,
        #[arg(long)]
        json: bool,
    },
    /// credential_process JSON for a role (cached; renewed 15 minutes before expiry).
    Credentials(RoleArgs),
    /// Open the AWS console as a role (or print the sign-in URL).
    Console {
        #[command(flatten)]
        role: RoleArgs,
        /// A console path or URL to land on, e.g. /s3/buckets.
        #[arg(long)]
        destination: Option<String>,
        /// Print the URL instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
    /// Print shell commands that export a role's credentials.
    Env {
        #[command(flatten)]
        role: RoleArgs,
        #[arg(long, default_value = "sh", value_parser = ["sh", "fish", "powershell"])]
        format: String,
    },
    /// Run a command with a role's credentials in its environment only.
    Exec {
        #[command(flatten)]
        role: RoleArgs,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Write a credential_process profile per role into ~/.aws/config (dry run unless --write).
    Setup {
        #[command(flatten)]
        broker: BrokerArg,
        #[arg(long)]
        write: bool,
        /// Profile names are <prefix><role>.
        #[arg(long, default_value = "rolegate-")]
        prefix: String,
        /// The region written into every profile (default: each role's, as the broker names it
        /// from its `[aws.partitions.*] region`).
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(clap::Args)]
struct BrokerArg {
    /// The broker's URL (else ROLEGATE_BROKER, else the broker of the last login).
    #[arg(long)]
    broker: Option<String>,
}

#[derive(clap::Args)]
struct RoleArgs {
    #[command(flatten)]
    broker: BrokerArg,
    /// A role alias (or ARN) from `rolegate roles`.
    #[arg(long)]
    role: String,
    /// Session length, e.g. 1h or 90m (default: the broker's).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<u64>,
}

fn parse_duration(s: &str) -> Result<u64, String> {
    humantime::parse_duration(s)
        .map(|d| d.as_secs())
        .map_err(|e| format!("`{s}`: {e} (try 1h, 90m, 3600s)"))
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
        Command::Probe { url } => probe(&url),
        client_command => client::exit(run_client(client_command)),
    }
}

fn probe(url: &str) -> ExitCode {
    let result = client::block_on(async {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(2))
            .build()?
            .get(url)
            .send()
            .await
    });
    match result {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("rolegate probe: {url} answered {}", r.status());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("rolegate probe: {url}: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_client(command: Command) -> client::Result<ExitCode> {
    use client::{broker::resolve, commands, credentials, login, setup, status};
    let ok = |_| ExitCode::SUCCESS;
    match command {
        Command::Login {
            broker,
            device,
            force,
        } => login::run(&resolve(broker.broker.as_deref())?, device, force).map(ok),
        Command::Status { broker, json } => status::run(&resolve(broker.broker.as_deref())?, json),
        Command::Logout { broker } => commands::logout(&resolve(broker.broker.as_deref())?).map(ok),
        Command::Roles { broker, json } => {
            commands::roles(&resolve(broker.broker.as_deref())?, json).map(ok)
        }
        Command::Credentials(r) => {
            credentials::run(&resolve(r.broker.broker.as_deref())?, &r.role, r.duration).map(ok)
        }
        Command::Console {
            role: r,
            destination,
            print,
        } => commands::console(
            &resolve(r.broker.broker.as_deref())?,
            &r.role,
            r.duration,
            destination.as_deref(),
            print,
        )
        .map(ok),
        Command::Env { role: r, format } => commands::env(
            &resolve(r.broker.broker.as_deref())?,
            &r.role,
            r.duration,
            &format,
        )
        .map(ok),
        Command::Exec { role: r, command } => commands::exec(
            &resolve(r.broker.broker.as_deref())?,
            &r.role,
            r.duration,
            &command,
        ),
        Command::Setup {
            broker,
            write,
            prefix,
            region,
        } => setup::run(
            &resolve(broker.broker.as_deref())?,
            write,
            &prefix,
            region.as_deref(),
        )
        .map(ok),
        _ => unreachable!("server commands are handled by run()"),
    }
}
