//! The `rolegate` command line. Each subcommand is a thin shell over the library. The
//! operators' commands exist with the `server` feature only: the engineer's build (`cli`) has
//! the client commands alone.

#[cfg(feature = "server")]
mod aws;
pub(crate) mod client;
#[cfg(feature = "server")]
mod config_check;
#[cfg(feature = "server")]
mod doctor;
#[cfg(feature = "server")]
mod policy;
#[cfg(feature = "server")]
mod serve;
mod sign;
#[cfg(feature = "server")]
mod verify;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The commands `rolegate --help` lists for engineers, in this order. A name that is not (yet)
/// a command is skipped; a test checks that every command is in exactly one group.
const FOR_ENGINEERS: &[&str] = &[
    "login",
    "credentials",
    "console",
    "env",
    "exec",
    "serve-credentials",
    "sign",
    "roles",
    "sessions",
    "setup",
    "status",
    "logout",
    "completion",
    "man",
];
/// The commands `rolegate --help` lists for the broker's operators.
const FOR_OPERATORS: &[&str] = &[
    "serve", "config", "policy", "verify", "aws", "doctor", "probe",
];

#[derive(Parser)]
#[command(
    name = "rolegate",
    version,
    about = "Federation identity broker for AWS: IdP sign-in in, STS credentials out",
    after_help = "Run `rolegate <command> --help` for what a command does, with an example."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[cfg(feature = "server")]
    /// Run the broker.
    #[command(after_long_help = "Example:\n  \
        rolegate serve --dev                       # try it: dev IdP, memory store, loopback\n  \
        rolegate serve --config /etc/rolegate/rolegate.toml")]
    Serve {
        /// The broker's config file (TOML).
        #[arg(long, env = "ROLEGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Try rolegate: memory store, built-in dev IdP (no password), generated keys, loopback only.
        #[arg(long)]
        dev: bool,
    },
    #[cfg(feature = "server")]
    /// Inspect configuration.
    #[command(after_long_help = "Example:\n  rolegate config check --config rolegate.toml")]
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    #[cfg(feature = "server")]
    /// Explain or lint the role-mapping policy.
    #[command(after_long_help = "Example:\n  \
        rolegate policy explain --config rolegate.toml --identity alice.json --role prod-readonly --action credentials\n  \
        rolegate policy lint --config rolegate.toml")]
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    #[cfg(feature = "server")]
    /// Run the broker's verifier on one proof, offline, at a given instant.
    #[command(after_long_help = "Example:\n  \
        rolegate verify jwt --jwks idp-keys.json --issuer https://idp.example.com \\\n    \
        --audience rolegate --now 2026-11-22T10:00:00Z < token.jwt")]
    Verify {
        #[command(subcommand)]
        command: VerifyCommand,
    },
    #[cfg(feature = "server")]
    /// Print the AWS side for the broker: trust policies, the OIDC provider.
    #[command(after_long_help = "Example:\n  \
        rolegate aws trust-policy --config rolegate.toml --role prod-readonly > trust.json\n  \
        rolegate aws oidc-provider --config rolegate.toml")]
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
    },
    #[cfg(feature = "server")]
    /// Check every catalogue role in IAM: trust, source identity, tags, durations, size.
    ///
    /// Reads each role with GetRole, ListRolePolicies and GetRolePolicy (and the OIDC provider
    /// with GetOpenIDConnectProvider in web_identity mode; all read-only). Exit 0
    /// when every role is right, 1 on any finding, 2 when IAM cannot be read (naming the roles).
    #[command(after_long_help = "Example:\n  \
        rolegate doctor --config rolegate.toml\n  \
        rolegate doctor --config rolegate.toml --json --fix-print")]
    Doctor(doctor::DoctorArgs),
    #[cfg(feature = "server")]
    /// Exit 0 if GET <url> answers 2xx within 2 s: the container healthcheck (the runtime
    /// image has no shell or curl).
    #[command(after_long_help = "Example:\n  rolegate probe http://127.0.0.1:8080/healthz")]
    Probe {
        /// The URL to GET, e.g. the broker's /healthz.
        url: String,
    },
    /// Sign in to a broker: opens the browser (loopback), or shows a code with --device.
    #[command(after_long_help = "Example:\n  \
        rolegate login --broker https://rolegate.example.com\n  \
        rolegate login --device          # over SSH: sign in from your laptop's browser")]
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
    /// Who is signed in, until when, and the cached credentials per role
    ///
    /// The broker, the IdP and subject of the sign-in and when it ends, and each cached role's
    /// credentials with their expiry. Exit 0 when signed in, 1 when not.
    #[command(after_long_help = "Example:\n  \
        rolegate status\n  \
        rolegate status --json | jq .signed_in")]
    Status {
        #[command(flatten)]
        broker: BrokerArg,
        /// Print JSON (for scripts) on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the sign-in at the broker and delete local tokens and cached credentials.
    #[command(after_long_help = "Example:\n  rolegate logout")]
    Logout {
        #[command(flatten)]
        broker: BrokerArg,
    },
    /// List the roles you may use.
    #[command(after_long_help = "Example:\n  \
        rolegate roles\n  \
        rolegate roles --json | jq -r '.roles[].alias'")]
    Roles {
        #[command(flatten)]
        broker: BrokerArg,
        /// The broker's answer as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The AWS sessions the broker issued to you (others' with rolegate:ListSessions); `revoke` ends them.
    ///
    /// Live sessions only, the soonest to expire first: role, client, when issued, when they
    /// expire, from which address, and the id `sessions revoke --session` names.
    #[command(
        after_long_help = "Example:\n  \
        rolegate sessions\n  \
        rolegate sessions --role prod-admin          # needs rolegate:ListSessions on it\n  \
        rolegate sessions --all --include-revoked    # every session you may list\n  \
        rolegate sessions --json | jq -r '.sessions[].id'\n  \
        rolegate sessions revoke --user corp:bob --reason 'INC-42 laptop stolen'",
        args_conflicts_with_subcommands = true
    )]
    Sessions {
        #[command(subcommand)]
        revoke: Option<SessionsCommand>,
        #[command(flatten)]
        broker: BrokerArg,
        /// One person's sessions: IDP:SUBJECT.
        #[arg(long, value_name = "IDP:SUBJECT", conflicts_with = "all")]
        user: Option<String>,
        /// One role's sessions (alias or ARN).
        #[arg(long, conflicts_with = "all")]
        role: Option<String>,
        /// Every session on the roles where you have rolegate:ListSessions.
        #[arg(long)]
        all: bool,
        /// Revoked sessions too (they are listed until they expire).
        #[arg(long)]
        include_revoked: bool,
        /// The broker's answer as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// credential_process JSON for a role (cached; renewed 15 minutes before expiry).
    #[command(
        after_long_help = "Example: in ~/.aws/config (`rolegate setup` writes these)\n  \
        [profile prod]\n  \
        credential_process = /usr/local/bin/rolegate credentials --broker https://rolegate.example.com prod-readonly\n\
        Without a role, on a terminal, a picker lists yours."
    )]
    Credentials(RoleArgs),
    /// Open the AWS console as a role (or print the sign-in URL).
    #[command(after_long_help = "Example:\n  \
        rolegate console prod-readonly --destination /s3/buckets\n  \
        rolegate console                 # pick a role from a list\n  \
        rolegate console prod-admin --switch          # change role in the same browser\n  \
        rolegate console prod-admin --container       # one Firefox container per role\n  \
        rolegate console prod-admin --browser-profile # one browser profile per role")]
    Console {
        #[command(flatten)]
        role: RoleArgs,
        /// A console path or URL to land on, e.g. /s3/buckets.
        #[arg(long)]
        destination: Option<String>,
        /// Print the URL instead of opening a browser.
        #[arg(long, conflicts_with_all = ["container", "browser_profile"])]
        print: bool,
        /// Sign out of the console session this browser holds first (AWS's sign-out, then
        /// this sign-in), to change roles in the same browser.
        #[arg(long)]
        switch: bool,
        /// Open in a Firefox container named after the role (needs the "Open external links
        /// in a container" extension); several roles stay signed in side by side.
        #[arg(long, conflicts_with = "browser_profile")]
        container: bool,
        /// Open in a browser profile of the role's own (Chrome, Chromium, Edge, Brave or
        /// Firefox; $BROWSER picks one), kept under ~/.local/share/rolegate/browser-profiles.
        #[arg(long)]
        browser_profile: bool,
    },
    /// Print shell commands that export a role's credentials.
    ///
    /// With --server, the two variables of a running `serve-credentials` for the role instead
    /// of keys (for containers and other shells; see the README's recipes).
    #[command(after_long_help = "Example:\n  \
        eval \"$(rolegate env prod-readonly)\"                 # sh, bash, zsh\n  \
        rolegate env prod-readonly --format fish | source\n  \
        eval \"$(rolegate env --server prod-readonly)\"        # a running serve-credentials")]
    Env {
        #[command(flatten)]
        role: RoleArgs,
        /// Print the variables of a running `rolegate serve-credentials` serving the role
        /// (AWS_CONTAINER_CREDENTIALS_FULL_URI and _AUTHORIZATION_TOKEN_FILE), not keys.
        #[arg(long)]
        server: bool,
        /// The shell to write for (bash and zsh read the sh form).
        #[arg(long, default_value = "sh", value_parser = ["sh", "bash", "zsh", "fish", "powershell"])]
        format: String,
    },
    /// Run a command with a role's credentials in its environment only.
    #[command(after_long_help = "Example:\n  \
        rolegate exec prod-readonly -- aws s3 ls\n  \
        rolegate exec prod-readonly --duration 4h -- terraform plan\n  \
        rolegate exec --server prod-readonly -- make deploy   # an endpoint, not keys, for hours")]
    Exec {
        #[command(flatten)]
        role: RoleArgs,
        /// Give the command a loopback credentials endpoint (as `serve-credentials`, for as long
        /// as it runs) instead of keys: its children and long builds get fresh credentials.
        #[arg(long)]
        server: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Serve roles' credentials to the AWS SDKs on 127.0.0.1 (containers, long builds).
    ///
    /// The container-credentials endpoint: `GET /role/<role>` with the token from a 0600 file.
    /// Prints AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE to
    /// export (for the first role); every answer comes from the same cache as `credentials`.
    #[command(after_long_help = "Example:\n  \
        rolegate serve-credentials --role prod-readonly --port 9911\n  \
        export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9911/role/prod-readonly\n  \
        export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=…   # the path it printed\n  \
        aws sts get-caller-identity")]
    ServeCredentials {
        #[command(flatten)]
        broker: BrokerArg,
        /// A role alias to serve at /role/<alias> (repeat for more).
        #[arg(long = "role", value_name = "ROLE", required = true)]
        roles: Vec<String>,
        /// The port on 127.0.0.1 (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Session length, e.g. 1h (default: the broker's; at most the role's maximum).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<u64>,
    },
    /// Sign a request to Amazon Neptune (IAM database auth) with a role's credentials.
    ///
    /// SigV4 headers (or a presigned URL) for a Neptune endpoint — Gremlin over WebSocket,
    /// openCypher, SPARQL — made with the brokered credentials of --role (or the AWS_*
    /// environment variables with --credentials env). The region comes from the host name.
    #[command(after_long_help = "Example:\n  \
        rolegate sign --role graph-reader --service neptune-db \\\n    \
        --url wss://db.cluster-abc123.us-east-1.neptune.amazonaws.com:8182/gremlin\n  \
        rolegate sign --credentials env --service neptune-db --format url \\\n    \
        --url https://db.cluster-abc123.us-east-1.neptune.amazonaws.com:8182/openCypher")]
    Sign {
        #[command(flatten)]
        broker: BrokerArg,
        /// The role whose brokered credentials sign (alias or ARN from `rolegate roles`).
        #[arg(
            long,
            value_name = "ROLE",
            required_unless_present = "credentials",
            conflicts_with = "credentials"
        )]
        role: Option<String>,
        /// Sign with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) instead.
        #[arg(long, value_enum)]
        credentials: Option<sign::CredentialSource>,
        /// The service to sign for: neptune-db.
        #[arg(long)]
        service: String,
        /// The Neptune endpoint: wss://…:8182/gremlin, https://…:8182/openCypher or /sparql.
        #[arg(long)]
        url: String,
        /// The region (default: from the endpoint's host name).
        #[arg(long)]
        region: Option<String>,
        /// The request's method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// What to print: headers to send, a presigned URL, or JSON {method, url, headers}.
        #[arg(long, value_enum, default_value = "headers")]
        format: sign::Format,
        /// How long a presigned URL (--format url) works, in seconds.
        #[arg(long, default_value_t = sign::DEFAULT_EXPIRES)]
        expires: u64,
        /// Session length of the brokered credentials, e.g. 1h (default: the broker's).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<u64>,
    },
    /// Write a credential_process profile per role into ~/.aws/config (dry run unless --write).
    #[command(after_long_help = "Example:\n  \
        rolegate setup                   # shows the change\n  \
        rolegate setup --write\n  \
        aws sts get-caller-identity --profile rolegate-prod-readonly\n  \
        rolegate setup --write --prune --name '{account}-{role}'")]
    Setup {
        #[command(flatten)]
        broker: BrokerArg,
        /// Write the change (else only show it).
        #[arg(long)]
        write: bool,
        /// Profile names: {role}, {account} (the account's name, else its id), {account_id}.
        #[arg(long, value_name = "TEMPLATE", default_value = "rolegate-{role}")]
        name: String,
        /// Profile names are <prefix><role> (the same as --name '<prefix>{role}').
        #[arg(long, conflicts_with = "name")]
        prefix: Option<String>,
        /// Remove the profiles of roles you no longer have (only inside the block setup
        /// manages); without it they are kept and listed.
        #[arg(long)]
        prune: bool,
        /// The region written into every profile (default: each role's, as the broker names it
        /// from its `[aws.partitions.*] region`).
        #[arg(long)]
        region: Option<String>,
    },
    /// Print a shell completion script for bash, zsh, fish or powershell.
    #[command(after_long_help = "Example:\n  \
        rolegate completion bash > ~/.local/share/bash-completion/completions/rolegate\n  \
        rolegate completion zsh > \"${fpath[1]}/_rolegate\"\n  \
        rolegate completion fish > ~/.config/fish/completions/rolegate.fish\n  \
        rolegate completion powershell >> $PROFILE")]
    Completion {
        /// The shell the script is for.
        #[arg(value_parser = ["bash", "zsh", "fish", "powershell"])]
        shell: String,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(after_long_help = "Example:\n  \
        rolegate man | man -l -\n  \
        rolegate man --out-dir ~/.local/share/man/man1   # rolegate.1, rolegate-login.1, …")]
    Man {
        /// Write rolegate.1 and rolegate-<command>.1 into this (existing) directory instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// `rolegate sessions revoke`.
#[derive(Subcommand)]
enum SessionsCommand {
    /// End AWS sessions now: on the broker at once, and on AWS through a Deny on each role.
    ///
    /// The person (or everyone in the scope) must sign in at their identity provider again
    /// before anything more is issued to them; with --freeze, nothing at all is issued in the
    /// scope until the freeze ends. Each affected role gets the inline policy
    /// rolegate-revocations (IAM applies it within a few minutes); the report says, per role,
    /// when it was written, or why not and the policy to apply by hand. Needs
    /// rolegate:RevokeSessions on the role, or on every role for --user, --idp, --all and
    /// any --freeze.
    #[command(after_long_help = "Examples:\n  \
        rolegate sessions revoke --session ses_0f3a… --reason 'CHG-7 wrong role'\n  \
        rolegate sessions revoke --user corp:bob --reason 'INC-42 laptop stolen'\n  \
        rolegate sessions revoke --role prod-admin --reason 'INC-43 key leaked'\n  \
        rolegate sessions revoke --idp partner --freeze 24h --reason 'INC-44 IdP compromised'\n  \
        rolegate sessions revoke --all --freeze 1h --reason INC-45   # the kill switch")]
    #[command(group(clap::ArgGroup::new("target").required(true).multiple(false)))]
    Revoke {
        #[command(flatten)]
        broker: BrokerArg,
        /// One session, by the id `rolegate sessions` lists (ends the person's sessions on its role).
        #[arg(long, group = "target", value_name = "ID")]
        session: Option<String>,
        /// One person, on every role: IDP:SUBJECT.
        #[arg(long, group = "target", value_name = "IDP:SUBJECT")]
        user: Option<String>,
        /// Everyone one identity provider vouched for (its id in the broker's config).
        #[arg(long, group = "target", value_name = "IDP")]
        idp: Option<String>,
        /// Everyone, on one role (alias or ARN).
        #[arg(long, group = "target")]
        role: Option<String>,
        /// Everyone, everywhere.
        #[arg(long, group = "target")]
        all: bool,
        /// Why: an incident or ticket (kept in the audit log and the inventory).
        #[arg(long, required = true)]
        reason: String,
        /// Issue nothing in the scope for this long, even to a fresh sign-in (e.g. 1h; at most 7d).
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        freeze: Option<u64>,
        /// The broker's answer as JSON, for scripts.
        #[arg(long)]
        json: bool,
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
    /// A role alias (or ARN) from `rolegate roles`; without one, on a terminal, pick from a list.
    #[arg(value_name = "ROLE")]
    role: Option<String>,
    /// The role, as a flag (the form `rolegate setup` writes into profiles).
    #[arg(long = "role", id = "role_flag", value_name = "ROLE")]
    role_flag: Option<String>,
    /// Session length, e.g. 1h, 90m or 4h (default: the broker's; at most the role's maximum).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<u64>,
}

impl RoleArgs {
    /// The broker, and the role named or picked; `usage` says how to name one.
    fn resolve(&self, usage: &str, action: &str) -> client::Result<(url::Url, String)> {
        let (positional, flag) = (self.role.as_deref(), self.role_flag.as_deref());
        // Two different names fail before anything else is looked at.
        client::role_choice::named(positional, flag)?;
        let broker = client::broker::resolve(self.broker.broker.as_deref())?;
        let role = client::role_choice::choose(&broker, positional, flag, usage, action)?;
        Ok((broker, role))
    }
}

/// A `--duration` clap could not read; clap prints the text after its own prefix.
#[derive(Debug, thiserror::Error)]
#[error("`{value}`: {source} (try 1h, 90m, 3600s)")]
struct BadDuration {
    value: String,
    source: humantime::DurationError,
}

fn parse_duration(s: &str) -> Result<u64, BadDuration> {
    humantime::parse_duration(s)
        .map(|d| d.as_secs())
        .map_err(|source| BadDuration {
            value: s.to_string(),
            source,
        })
}

/// `rolegate sessions --json | head`: once the reader goes away, `println!` panics with a
/// broken pipe. That is the reader's choice, not a bug to report with a backtrace: exit as a
/// process killed by SIGPIPE would (141), silently. Any other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// The command tree, with `--help` listing the commands in their two groups.
fn command() -> clap::Command {
    let cmd = Cli::command();
    let groups = grouped(&cmd);
    cmd.help_template(format!(
        "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{groups}Options:\n{{options}}{{after-help}}"
    ))
}

/// "Commands for engineers:" and "Commands for operators:", each command with its summary.
fn grouped(cmd: &clap::Command) -> String {
    let width = cmd
        .get_subcommands()
        .map(|c| c.get_name().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (heading, names) in [("engineers", FOR_ENGINEERS), ("operators", FOR_OPERATORS)] {
        // The engineer's build (no `server` feature) has no operators' commands: no heading.
        let commands: Vec<_> = names
            .iter()
            .filter_map(|n| cmd.find_subcommand(n))
            .collect();
        if commands.is_empty() {
            continue;
        }
        out.push_str(&format!("Commands for {heading}:\n"));
        for c in commands {
            let about = c
                .get_about()
                .map(std::string::ToString::to_string)
                .unwrap_or_default();
            out.push_str(&format!("  {:width$}  {about}\n", c.get_name()));
        }
        out.push('\n');
    }
    out
}

#[cfg(feature = "server")]
#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file (and the files it names); exit 1 naming the offending key.
    #[command(
        after_long_help = "Example:\n  rolegate config check --config /etc/rolegate/rolegate.toml"
    )]
    Check {
        /// The broker's config file (TOML).
        #[arg(long, env = "ROLEGATE_CONFIG")]
        config: PathBuf,
    },
}

#[cfg(feature = "server")]
#[derive(Subcommand)]
enum AwsCommand {
    /// Print the trust policy (JSON) a catalogue role needs for the configured mode.
    #[command(after_long_help = "Example:\n  \
        rolegate aws trust-policy --config rolegate.toml --role prod-readonly > trust.json\n  \
        aws iam update-assume-role-policy --role-name ReadOnly --policy-document file://trust.json")]
    TrustPolicy(aws::TrustPolicyArgs),
    /// Print the IAM OIDC provider to register for the broker's issuer (web_identity mode).
    #[command(after_long_help = "Example:\n  rolegate aws oidc-provider --config rolegate.toml")]
    OidcProvider {
        /// The broker's config file (TOML).
        #[arg(long, env = "ROLEGATE_CONFIG")]
        config: PathBuf,
    },
    /// Print one web identity token as the broker signs it for a role (checks against STS).
    ///
    /// Signed with [issuer] signing_key_file, valid 5 minutes, no session tags: what
    /// deploy/aws/README.md uses to show real STS refusing it for any other role.
    #[command(after_long_help = "Example:\n  \
        aws sts assume-role-with-web-identity --role-session-name check \\\n    \
        --role-arn arn:aws:iam::111122223333:role/Admin \\\n    \
        --web-identity-token \"$(rolegate aws web-identity-token --config rolegate.toml --role prod-readonly)\"")]
    WebIdentityToken {
        /// The broker's config file (TOML).
        #[arg(long, env = "ROLEGATE_CONFIG")]
        config: PathBuf,
        /// The catalogue role (alias or ARN) the token is for.
        #[arg(long)]
        role: String,
    },
}

#[cfg(feature = "server")]
#[derive(Subcommand)]
enum PolicyCommand {
    /// The decision for one identity, role and action, with every statement and why it
    /// matched or not. Exit 0 on allow, 1 on deny, 2 on errors.
    #[command(after_long_help = "Example:\n  \
        rolegate policy explain --config rolegate.toml --identity alice.json \\\n    \
        --role prod-readonly --action credentials")]
    Explain(policy::ExplainArgs),
    /// Warn about IAM traps; exit 1 when there are findings.
    #[command(after_long_help = "Example:\n  rolegate policy lint --config rolegate.toml")]
    Lint {
        /// The broker's config file (TOML).
        #[arg(long, env = "ROLEGATE_CONFIG")]
        config: PathBuf,
    },
}

#[cfg(feature = "server")]
#[derive(Subcommand)]
enum VerifyCommand {
    /// Verify a JWT (compact form on stdin) as the broker would verify a bearer ID token.
    #[command(after_long_help = "Example:\n  \
        rolegate verify jwt --jwks idp-keys.json --issuer https://idp.example.com \\\n    \
        --audience rolegate --now 2026-11-22T10:00:00Z < token.jwt")]
    Jwt(verify::JwtArgs),
    /// Verify a SAML Response (base64 as posted, or XML, on stdin) as the ACS would.
    #[command(after_long_help = "Example:\n  \
        rolegate verify saml --idp-metadata idp-metadata.xml --sp-entity-id https://rolegate.example.com \\\n    \
        --acs-url https://rolegate.example.com/saml/acs --now 2026-11-22T10:00:00Z < response.b64")]
    Saml(verify::SamlArgs),
}

/// The `rolegate` command: parses the arguments, runs the command, returns its exit code.
pub fn run() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
    // The engineer's build gives reqwest's rustls its crypto (ring); the broker's build has
    // reqwest's default, aws-lc-rs, the provider jsonwebtoken and the AWS SDK use too.
    #[cfg(not(feature = "server"))]
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        #[cfg(feature = "server")]
        Command::Serve { config, dev } => serve::run(config, dev),
        #[cfg(feature = "server")]
        Command::Config {
            command: ConfigCommand::Check { config },
        } => config_check::run(&config),
        #[cfg(feature = "server")]
        Command::Policy {
            command: PolicyCommand::Explain(args),
        } => policy::explain(args),
        #[cfg(feature = "server")]
        Command::Policy {
            command: PolicyCommand::Lint { config },
        } => policy::lint(&config),
        #[cfg(feature = "server")]
        Command::Verify {
            command: VerifyCommand::Saml(args),
        } => verify::saml(args),
        #[cfg(feature = "server")]
        Command::Verify {
            command: VerifyCommand::Jwt(args),
        } => verify::jwt(args),
        #[cfg(feature = "server")]
        Command::Aws {
            command: AwsCommand::TrustPolicy(args),
        } => aws::trust_policy_command(&args),
        #[cfg(feature = "server")]
        Command::Aws {
            command: AwsCommand::OidcProvider { config },
        } => aws::oidc_provider_command(&config),
        #[cfg(feature = "server")]
        Command::Aws {
            command: AwsCommand::WebIdentityToken { config, role },
        } => aws::web_identity_token_command(&config, &role),
        #[cfg(feature = "server")]
        Command::Doctor(args) => doctor::run(&args),
        #[cfg(feature = "server")]
        Command::Probe { url } => probe(&url),
        client_command => client::exit(run_client(client_command)),
    }
}

#[cfg(feature = "server")]
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

/// `rolegate completion <shell>`: the script clap_complete writes for this build's commands.
fn completion(shell: &str) -> client::Result<()> {
    let shell: clap_complete::Shell = shell.parse().map_err(client::fail)?;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "rolegate", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(())
}

/// `rolegate man`: rolegate(1) on stdout, or with `out_dir` a page per command written there.
fn man(out_dir: Option<&Path>) -> client::Result<()> {
    let cmd = Cli::command();
    if let Some(dir) = out_dir {
        clap_mangen::generate_to(cmd, dir).map_err(|e| {
            client::fail(format!(
                "cannot write the manual pages into {}: {e}",
                dir.display()
            ))
        })?;
        eprintln!("Wrote the manual pages into {}.", dir.display());
        return Ok(());
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    std::io::stdout().lock().write_all(&page)?;
    Ok(())
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
        Command::Sessions {
            revoke:
                Some(SessionsCommand::Revoke {
                    broker,
                    session,
                    user,
                    idp,
                    role,
                    all,
                    reason,
                    freeze,
                    json,
                }),
            ..
        } => {
            let target = match (session, user, idp, role) {
                (Some(id), ..) => client::sessions::Target::Session(id),
                (_, Some(u), ..) => client::sessions::Target::User(u),
                (_, _, Some(i), _) => client::sessions::Target::Idp(i),
                (.., Some(r)) => client::sessions::Target::Role(r),
                _ if all => client::sessions::Target::All,
                _ => {
                    return Err(
                        "name what to revoke: --session, --user, --idp, --role or --all".into(),
                    );
                }
            };
            let broker = resolve(broker.broker.as_deref())?;
            client::sessions::revoke(&broker, &target, &reason, freeze, json)
        }
        Command::Sessions {
            revoke: None,
            broker,
            user,
            role,
            all,
            include_revoked,
            json,
        } => {
            let filter = client::sessions::Filter {
                user: user.as_deref(),
                role: role.as_deref(),
                all,
                include_revoked,
            };
            client::sessions::list(&resolve(broker.broker.as_deref())?, &filter, json).map(ok)
        }
        Command::Credentials(r) => {
            let (broker, role) = r.resolve("rolegate credentials <role>", "credentials")?;
            credentials::run(&broker, &role, r.duration).map(ok)
        }
        Command::Console {
            role: r,
            destination,
            print,
            switch,
            container,
            browser_profile,
        } => {
            use client::console_open::Opener;
            let (broker, role) = r.resolve("rolegate console <role>", "console")?;
            let options = commands::ConsoleOptions {
                destination: destination.as_deref(),
                print,
                switch,
                opener: match (container, browser_profile) {
                    (true, _) => Opener::Container,
                    (_, true) => Opener::Profile,
                    _ => Opener::Default,
                },
            };
            commands::console(&broker, &role, r.duration, &options).map(ok)
        }
        Command::Env {
            role: r,
            server,
            format,
        } => {
            let (broker, role) = r.resolve("rolegate env <role>", "credentials")?;
            if server {
                if r.duration.is_some() {
                    return Err(client::fail(
                        "--duration is the server's: rolegate serve-credentials --role <role> --duration …",
                    ));
                }
                client::serve_credentials::registry::env(&broker, &role, &format).map(ok)
            } else {
                commands::env(&broker, &role, r.duration, &format).map(ok)
            }
        }
        Command::Exec {
            role: r,
            server,
            command,
        } => {
            let (broker, role) = r.resolve("rolegate exec <role> -- command", "credentials")?;
            if server {
                client::serve_credentials::exec(&broker, &role, r.duration, &command)
            } else {
                commands::exec(&broker, &role, r.duration, &command)
            }
        }
        Command::Setup {
            broker,
            write,
            name,
            prefix,
            prune,
            region,
        } => {
            let name = match prefix {
                Some(p) => setup::NameTemplate::prefixed(&p),
                None => setup::NameTemplate::parse(&name)?,
            };
            let options = setup::Options {
                write,
                prune,
                name,
                region,
            };
            setup::run(&resolve(broker.broker.as_deref())?, &options).map(ok)
        }
        Command::ServeCredentials {
            broker,
            roles,
            port,
            duration,
        } => client::serve_credentials::run(
            &resolve(broker.broker.as_deref())?,
            &roles,
            port,
            duration,
        )
        .map(ok),
        Command::Sign {
            broker,
            role,
            credentials: _,
            service,
            url,
            region,
            method,
            format,
            expires,
            duration,
        } => {
            let args = sign::SignArgs {
                url: &url,
                service: &service,
                region: region.as_deref(),
                method: &method,
                format,
                expires,
            };
            match role {
                Some(role) => sign::run(&args, || {
                    sign::role_keys(&resolve(broker.broker.as_deref())?, &role, duration)
                }),
                None => sign::run(&args, sign::env_keys),
            }
            .map(ok)
        }
        Command::Completion { shell } => completion(&shell).map(ok),
        Command::Man { out_dir } => man(out_dir.as_deref()).map(ok),
        #[cfg(feature = "server")]
        _ => unreachable!("server commands are handled by run()"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_in_exactly_one_help_group() {
        let cmd = Cli::command();
        for c in cmd.get_subcommands() {
            let name = c.get_name();
            let groups = FOR_ENGINEERS
                .iter()
                .chain(FOR_OPERATORS)
                .filter(|n| **n == name);
            assert_eq!(
                groups.count(),
                1,
                "`{name}` must be in exactly one of FOR_ENGINEERS, FOR_OPERATORS"
            );
        }
        let help = command().render_help().to_string();
        let engineers = help.find("Commands for engineers:").unwrap();
        // The engineer's build has no operators' commands, and no heading for them.
        let operators = help.find("Commands for operators:");
        assert_eq!(operators.is_some(), cfg!(feature = "server"), "{help}");
        let operators = operators.unwrap_or(help.len());
        assert!(engineers < operators, "{help}");
        for (name, (start, end)) in FOR_ENGINEERS
            .iter()
            .map(|n| (n, (engineers, operators)))
            .chain(FOR_OPERATORS.iter().map(|n| (n, (operators, help.len()))))
        {
            if cmd.find_subcommand(name).is_some() {
                assert!(
                    help[start..end].contains(&format!("\n  {name} ")),
                    "{name}: {help}"
                );
            }
        }
        assert!(
            help.contains("Options:") && help.contains("--help"),
            "{help}"
        );
    }

    /// Every command, at every level, says what it does and shows an example in its long
    /// help; every argument says what it is.
    #[test]
    fn every_command_and_flag_has_help_and_every_command_an_example() {
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in c.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(format!("`{path}`: no description"));
                }
                let example = sub
                    .get_after_long_help()
                    .map(std::string::ToString::to_string)
                    .unwrap_or_default();
                if !example.starts_with("Example") || !example.contains("rolegate ") {
                    missing.push(format!("`{path}`: no example in after_long_help"));
                }
                for a in sub.get_arguments() {
                    let id = a.get_id().as_str();
                    if id == "help" || id == "version" {
                        continue;
                    }
                    if a.get_help().is_none() && a.get_long_help().is_none() {
                        missing.push(format!("`{path}`: argument `{id}` has no description"));
                    }
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "rolegate", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn the_command_tree_is_consistent() {
        command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::from_arg_matches(&command().try_get_matches_from(args)?)
    }

    fn role_args(cli: Cli) -> RoleArgs {
        match cli.command {
            Command::Credentials(r) => r,
            Command::Console { role, .. } | Command::Env { role, .. } => role,
            Command::Exec { role, command, .. } => {
                assert_eq!(command, ["aws", "s3", "ls"]);
                role
            }
            _ => panic!("not a role command"),
        }
    }

    #[test]
    fn a_role_is_named_by_position_or_by_flag() {
        for args in [
            &["rolegate", "credentials", "prod-ro"][..],
            &["rolegate", "credentials", "--role", "prod-ro"],
            &["rolegate", "console", "prod-ro", "--print"],
            &["rolegate", "env", "prod-ro", "--format", "zsh"],
            &["rolegate", "exec", "prod-ro", "--", "aws", "s3", "ls"],
            &[
                "rolegate", "exec", "--role", "prod-ro", "--", "aws", "s3", "ls",
            ],
        ] {
            let r = role_args(parse(args).unwrap());
            let named = client::role_choice::named(r.role.as_deref(), r.role_flag.as_deref());
            assert_eq!(named.unwrap().as_deref(), Some("prod-ro"), "{args:?}");
        }
        // As `rolegate setup` has always written it into profiles.
        let r = role_args(
            parse(&[
                "rolegate",
                "credentials",
                "--broker",
                "https://rg.example.com/",
                "--role",
                "a",
            ])
            .unwrap(),
        );
        assert_eq!(r.role_flag.as_deref(), Some("a"));
        assert_eq!(r.broker.broker.as_deref(), Some("https://rg.example.com/"));
        let r = role_args(parse(&["rolegate", "credentials", "a", "--role", "b"]).unwrap());
        assert!(client::role_choice::named(r.role.as_deref(), r.role_flag.as_deref()).is_err());
        let r = role_args(parse(&["rolegate", "credentials"]).unwrap());
        assert!(r.role.is_none() && r.role_flag.is_none());
    }

    #[test]
    fn shells_and_durations_are_accepted_as_people_write_them() {
        for shell in ["sh", "bash", "zsh", "fish", "powershell"] {
            assert!(
                parse(&["rolegate", "env", "r", "--format", shell]).is_ok(),
                "{shell}"
            );
        }
        assert!(parse(&["rolegate", "env", "r", "--format", "csh"]).is_err());
        let r = role_args(parse(&["rolegate", "credentials", "r", "--duration", "4h"]).unwrap());
        assert_eq!(r.duration, Some(4 * 3600));
        let r = role_args(parse(&["rolegate", "credentials", "r", "--duration", "1h30m"]).unwrap());
        assert_eq!(r.duration, Some(5400));
    }
}
