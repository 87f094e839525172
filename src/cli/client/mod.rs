//! The engineer's side: `rolegate login`, `credentials` (the AWS CLI's and SDKs'
//! `credential_process`), `roles`, `console` (opened as [`console_open`] says), `env`, `exec`,
//! `logout`, `sessions`, `setup`, `status`, and `serve-credentials` (the SDKs' container-credentials
//! endpoint, [`serve_credentials`]); which role they act as is [`role_choice`].
//!
//! State on disk, all mode 0600 in 0700 directories:
//! - `$XDG_CONFIG_HOME/rolegate/brokers/<broker>.json` — the broker tokens of one sign-in
//!   ([`profile`]); `current-broker` names the broker of the last `login` (kept by `logout`);
//! - `$XDG_CACHE_HOME/rolegate/<broker>/` — credentials per role and duration
//!   ([`credentials`]) and `.lock`, the one file lock under which a process refreshes the broker
//!   token and fetches credentials, so 20 SDK processes asking at once cause one STS call; and
//!   `serve-credentials-<port>.token`, a running endpoint's token;
//! - `$XDG_DATA_HOME/rolegate/browser-profiles/<role>/` — `console --browser-profile`'s
//!   profiles, which hold console cookies.
//!
//! Files are written through `O_EXCL|O_NOFOLLOW` temporaries in directories only the user can
//! change ([`files`]). The broker is not trusted with what lands in other programs' hands:
//! `setup` refuses aliases and account names that would add lines to `~/.aws/config`, and
//! links are opened with an argument vector, never a shell, and only when they are http(s).
//!
//! Messages go to stderr, never stdout: stdout belongs to `credential_process`.

pub(crate) mod broker;
pub(crate) mod commands;
pub(crate) mod console_open;
pub(crate) mod credentials;
pub(crate) mod files;
pub(crate) mod login;
pub(crate) mod profile;
pub(crate) mod role_choice;
pub(crate) mod serve_credentials;
pub(crate) mod sessions;
pub(crate) mod setup;
pub(crate) mod status;
pub(crate) mod when;

use std::process::ExitCode;

/// An error for the person at the terminal: what went wrong and what to do about it.
#[derive(Debug)]
pub(crate) struct CliError(pub String);

impl<T: std::fmt::Display> From<T> for CliError {
    fn from(e: T) -> Self {
        CliError(e.to_string())
    }
}

pub(crate) type Result<T> = std::result::Result<T, CliError>;

pub(crate) fn fail(msg: impl Into<String>) -> CliError {
    CliError(msg.into())
}

/// Runs a client command: errors to stderr with exit status 1.
pub(crate) fn exit(r: Result<ExitCode>) -> ExitCode {
    match r {
        Ok(code) => code,
        Err(CliError(m)) => {
            // Messages quote the broker (error descriptions, names): never its control bytes.
            let m: Vec<String> = m.lines().map(crate::domain::text::for_terminal).collect();
            eprintln!("rolegate: {}", m.join("\n"));
            ExitCode::from(1)
        }
    }
}

/// A small runtime for the network calls; the warm-cache path never builds one.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}
