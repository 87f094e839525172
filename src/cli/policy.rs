//! `rolegate policy explain` and `rolegate policy lint`, on the same engine the server runs.
//! explain: exit 0 on allow, 1 on deny, 2 on usage or config errors.
//! lint: exit 0 with no findings, 1 with findings, 2 on usage or config errors.

use crate::config::Config;
use crate::domain::ClientKind;
use crate::policy::engine::Decision;
use crate::policy::explain::IdentityFile;
use crate::policy::loader::{LoadError, PolicyMapper};
use crate::policy::{Action, RequestContext, explain, lint};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(super) struct ExplainArgs {
    /// The broker's config file (its roles, IdPs and policy).
    #[arg(long, env = "ROLEGATE_CONFIG")]
    config: PathBuf,
    /// JSON file with the identity (idp, subject, email, email_verified, username, groups,
    /// claims, mfa, auth_time) and optionally source_ip, client and now.
    #[arg(long)]
    identity: PathBuf,
    /// Role alias or ARN.
    #[arg(long)]
    role: String,
    /// What the identity wants to do with the role.
    #[arg(long, value_enum)]
    action: ActionArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ActionArg {
    Console,
    Credentials,
}

impl From<ActionArg> for Action {
    fn from(a: ActionArg) -> Action {
        match a {
            ActionArg::Console => Action::Console,
            ActionArg::Credentials => Action::Credentials,
        }
    }
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("rolegate policy: {msg}");
    ExitCode::from(2)
}

fn load(config: &Path) -> Result<PolicyMapper, LoadError> {
    let config = Config::load(Some(config), false)?;
    PolicyMapper::load(&config)
}

pub(super) fn explain(a: ExplainArgs) -> ExitCode {
    let mapper = match load(&a.config) {
        Ok(m) => m,
        Err(e) => return usage(e),
    };
    let file: IdentityFile = match std::fs::read_to_string(&a.identity)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            // Strict: a second `groups` key must not silently replace the first.
            let v = crate::strict_json::parse(&t).map_err(|e| e.to_string())?;
            serde_json::from_value(v).map_err(|e| e.to_string())
        }) {
        Ok(f) => f,
        Err(e) => return usage(format!("{}: {e}", a.identity.display())),
    };
    let (identity, now) = match (file.identity(), file.now()) {
        (Ok(i), Ok(n)) => (i, n),
        (Err(e), _) | (_, Err(e)) => return usage(format!("{}: {e}", a.identity.display())),
    };
    let engine = mapper.engine();
    let Some(role) = engine.role(&a.role) else {
        return usage(format!(
            "role `{}` is not in the catalogue ([[role]])",
            a.role
        ));
    };
    let ctx = RequestContext {
        aws_session: None,
        identity: &identity,
        client: file.client.unwrap_or(ClientKind::Api),
        source_ip: file.source_ip,
        now,
    };
    let e = explain::explain(&engine, &ctx, role, a.action.into());
    println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
    if e.decision == Decision::Allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub(super) fn lint(config: &Path) -> ExitCode {
    let mapper = match load(config) {
        Ok(m) => m,
        Err(e) => {
            // A file that does not load is the first finding, with its file and JSON path.
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let findings = lint::lint(&mapper.engine());
    for f in &findings {
        println!("{f}");
    }
    if findings.is_empty() {
        println!(
            "no findings ({} statements)",
            mapper.engine().statements().len()
        );
    }
    if findings.iter().any(lint::Finding::is_warning) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
