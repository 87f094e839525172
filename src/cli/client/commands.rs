//! `rolegate roles`, `console`, `env`, `exec`, `logout`.

use super::broker::{self, Answer};
use super::files::lock;
use super::{Result, block_on, credentials, fail, profile, role_choice};
use crate::domain::text::for_terminal;
use crate::present::Credentials;
use crate::present::shell::{Environment, Shell};
use serde_json::{Value, json};
use std::process::ExitCode;
use url::Url;

/// Calls the API under the broker's lock (the token may need a refresh, which rotates it).
pub(crate) fn call(
    broker: &Url,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    call_answer(broker, method, path, body)?.map_err(|r| fail(r.description))
}

/// [`call`], with the broker's refusal as it came (the lock is released on return).
fn call_answer(
    broker: &Url,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<std::result::Result<Value, broker::Refused>> {
    let _lock = lock(&profile::cache(broker)?)?;
    block_on(profile::call_api(broker, method, path, body.as_ref()))
}

pub(crate) fn roles(broker: &Url, as_json: bool) -> Result<()> {
    let v = call(broker, reqwest::Method::GET, "/api/v1/roles", None)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let roles = v["roles"].as_array().cloned().unwrap_or_default();
    if roles.is_empty() {
        eprintln!("No AWS role is granted to you on {broker}.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = roles
        .iter()
        .map(|r| {
            let account = match r["account_name"].as_str() {
                Some(n) => format!("{n} ({})", r["account"].as_str().unwrap_or("")),
                None => r["account"].as_str().unwrap_or("").to_string(),
            };
            let actions: Vec<&str> = r["actions"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let max = r["max_duration_seconds"].as_u64().unwrap_or(0);
            // The broker's strings reach the terminal escaped (see text::for_terminal).
            vec![
                for_terminal(r["alias"].as_str().unwrap_or("")),
                for_terminal(&account),
                for_terminal(&actions.join(",")),
                crate::clock::human(max),
            ]
        })
        .collect();
    super::sessions::print_table(&["ROLE", "ACCOUNT", "ACTIONS", "MAX"], &rows);
    Ok(())
}

/// How `rolegate console` opens the console (see [`super::console_open`]).
pub(crate) struct ConsoleOptions<'a> {
    pub destination: Option<&'a str>,
    /// Print the link instead of opening it.
    pub print: bool,
    /// Sign out of the browser's console session first.
    pub switch: bool,
    pub opener: super::console_open::Opener,
}

pub(crate) fn console(
    broker: &Url,
    role: &str,
    duration: Option<u64>,
    o: &ConsoleOptions<'_>,
) -> Result<()> {
    let destination = o.destination;
    let body = json!({"role": role, "duration_seconds": duration, "destination": destination});
    let v = call_answer(
        broker,
        reqwest::Method::POST,
        "/api/v1/console-url",
        Some(body),
    )?
    .map_err(|r| role_choice::refused(broker, role, "console", "no console sign-in for", &r))?;
    let url = v["url"]
        .as_str()
        .ok_or_else(|| fail("the broker's answer has no url"))?;
    if o.print {
        let link = super::console_open::web_link(url)?;
        let link = if o.switch {
            super::console_open::switching(&link)
        } else {
            link
        };
        println!("{link}");
    } else {
        eprintln!("Opening the AWS console as {role} (the link works once, for 15 minutes).");
        super::console_open::open(url, role, o.opener, o.switch)?;
    }
    Ok(())
}

/// Prints the commands that export a role's credentials in `format`'s shell (see
/// [`crate::present::shell`] for each shell's quoting).
pub(crate) fn env(broker: &Url, role: &str, duration: Option<u64>, format: &str) -> Result<()> {
    let shell = Shell::from_name(format).ok_or_else(|| {
        fail(format!(
            "unknown --format {format}: use sh (or bash, zsh), fish or powershell"
        ))
    })?;
    let c = credentials::get(broker, role, duration)?;
    println!("{}", session_env(&c).render(shell)?);
    Ok(())
}

/// The variables `env` prints and `exec` sets; the region only when the user has none set.
fn session_env(c: &Credentials) -> Environment {
    let preset = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    Environment::session(c, preset("AWS_REGION") || preset("AWS_DEFAULT_REGION"))
}

/// Runs `cmd` with the role's credentials in its environment only; exits with its status.
pub(crate) fn exec(
    broker: &Url,
    role: &str,
    duration: Option<u64>,
    cmd: &[String],
) -> Result<ExitCode> {
    let (program, args) = cmd
        .split_first()
        .ok_or_else(|| fail("nothing to run: rolegate exec <role> -- command args…"))?;
    let c = credentials::get(broker, role, duration)?;
    let env = session_env(&c);
    let mut child = std::process::Command::new(program);
    child.args(args).envs(env.for_process()?);
    // A profile named in the environment would win over these variables in some SDKs.
    for k in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"] {
        child.env_remove(k);
    }
    let status = child
        .status()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    Ok(ExitCode::from(
        u8::try_from(status.code().unwrap_or(1).clamp(0, 255)).unwrap_or(u8::MAX),
    ))
}

/// Revokes the sign-in at the broker (RFC 7009) and deletes the tokens and cached credentials.
pub(crate) fn logout(broker: &Url) -> Result<()> {
    let cache = profile::cache(broker)?;
    let _lock = lock(&cache)?;
    if let Some(p) = profile::load(broker).unwrap_or(None) {
        let form = [
            ("client_id", crate::oauth::CLI_CLIENT_ID),
            ("token", p.refresh_token.as_str()),
            ("token_type_hint", "refresh_token"),
        ];
        match block_on(broker::post_form(broker, "/oauth2/revoke", &form)) {
            Ok(Answer::Ok(_)) => {}
            Ok(Answer::Refused(r)) => {
                eprintln!("rolegate: the broker did not revoke the sign-in: {r}");
            }
            Err(e) => eprintln!("rolegate: {}; the local tokens are deleted anyway", e.0),
        }
    }
    profile::delete(broker)?;
    // Running servers keep their token files: they serve again after the next `login`.
    if let Err(e) = super::serve_credentials::registry::remove_stale(broker) {
        eprintln!("rolegate: {}", e.0);
    }
    for e in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with("creds-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    // `current-broker` stays: the next `rolegate login` needs no --broker.
    eprintln!("Signed out of {broker}; `rolegate login` signs in again.");
    Ok(())
}
