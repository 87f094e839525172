//! `rolegate status`: which broker, who is signed in there and until when, and the cached
//! credentials per role with their expiry. Exit 0 when signed in, 1 when not.

use super::credentials::CacheFile;
use super::files::read_private;
use super::profile::{self, Profile, now};
use super::{Result, fail, when};
use crate::domain::text::for_terminal;
use crate::present::Credentials;
use serde_json::{Value, json};
use std::process::ExitCode;
use url::Url;

/// The broker's view of the caller (`GET /api/v1/me`), when the sign-in still works there.
pub(crate) struct SignedIn {
    pub profile: Profile,
    pub me: Value,
}

impl SignedIn {
    /// "alice via Development IdP": who, as pages show it.
    pub(crate) fn who(&self) -> String {
        let s = |k: &str| for_terminal(self.me[k].as_str().unwrap_or(""));
        format!("{} via {}", s("name"), s("idp_name"))
    }
}

/// The live sign-in to `broker`: None when there is none locally; an error when the broker
/// cannot be asked or refuses it (the message says what to run).
pub(crate) fn signed_in(broker: &Url) -> Result<Option<SignedIn>> {
    let Some(p) = profile::load(broker)? else {
        return Ok(None);
    };
    if p.refresh_expires_at <= now() {
        return Ok(None);
    }
    let me = super::commands::call(broker, reqwest::Method::GET, "/api/v1/me", None)?;
    // A refresh during the call rotated the tokens: report the saved ones.
    let profile = profile::load(broker)?.unwrap_or(p);
    Ok(Some(SignedIn { profile, me }))
}

/// One cached credential set, as `credentials` left it.
struct Cached {
    role: String,
    role_arn: String,
    expires_at: Option<i64>,
}

fn cached_credentials(broker: &Url) -> Vec<Cached> {
    let Ok(dir) = profile::cache(broker) else {
        return Vec::new();
    };
    let mut out: Vec<Cached> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("creds-"))
        .filter_map(|e| {
            let bytes = read_private(&e.path()).ok()??;
            let name = e.file_name().to_string_lossy().to_string();
            // A file that does not read as credentials is listed as unreadable, not hidden.
            let file = serde_json::from_slice::<CacheFile>(&bytes).ok();
            let c = file.as_ref().map(|f| &f.credentials);
            Some(Cached {
                // Written by `credentials` since it records the alias; older files: the name.
                role: file
                    .as_ref()
                    .and_then(|f| f.alias.clone())
                    .unwrap_or_else(|| name.trim_start_matches("creds-").to_string()),
                role_arn: c.and_then(|c| c.role_arn.clone()).unwrap_or_default(),
                expires_at: c.map(Credentials::expires_at_unix),
            })
        })
        .collect();
    out.sort_by(|a, b| a.role.cmp(&b.role));
    out
}

pub(crate) fn run(broker: &Url, as_json: bool) -> Result<ExitCode> {
    let t = now();
    let session = signed_in(broker);
    let creds = cached_credentials(broker);
    if as_json {
        let (signed, error) = match &session {
            Ok(Some(s)) => (
                json!({
                    "idp": s.me["idp"], "idp_name": s.me["idp_name"], "subject": s.me["subject"],
                    "name": s.me["name"], "groups": s.me["groups"],
                    "sign_in_ends": when::rfc3339(s.profile.refresh_expires_at),
                }),
                Value::Null,
            ),
            Ok(None) => (Value::Null, Value::Null),
            Err(e) => (Value::Null, json!(e.0)),
        };
        let credentials: Vec<Value> = creds
            .iter()
            .map(|c| {
                json!({
                    "role": c.role, "role_arn": c.role_arn,
                    "expiration": c.expires_at.map(when::rfc3339),
                    "valid": c.expires_at.is_some_and(|e| e > t),
                })
            })
            .collect();
        let out = json!({
            "broker": broker.as_str(),
            "signed_in": signed,
            "error": error,
            "credentials": credentials,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        eprintln!("Broker       {broker}");
        match &session {
            Ok(Some(s)) => {
                eprintln!(
                    "Signed in    {}, {}",
                    s.who(),
                    when::until(s.profile.refresh_expires_at, t)
                );
                eprintln!(
                    "             subject {}",
                    for_terminal(s.me["subject"].as_str().unwrap_or(""))
                );
                let groups: Vec<&str> = s.me["groups"]
                    .as_array()
                    .map(|g| g.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                eprintln!(
                    "Groups       {}",
                    for_terminal(&if groups.is_empty() {
                        "(none)".to_string()
                    } else {
                        groups.join(", ")
                    })
                );
            }
            Ok(None) => eprintln!("Signed in    no: run `rolegate login --broker {broker}`"),
            Err(e) => eprintln!("Signed in    no: {}", for_terminal(&e.0)),
        }
        if creds.is_empty() {
            eprintln!("Credentials  none cached");
        } else {
            eprintln!("Credentials  (cached; `rolegate credentials <role>` renews them)");
            let w = creds.iter().map(|c| c.role.len()).max().unwrap_or(0);
            for c in &creds {
                let state = c
                    .expires_at
                    .map_or_else(|| "unreadable".to_string(), |e| when::until(e, t));
                eprintln!(
                    "  {:w$}  {state}  {}",
                    for_terminal(&c.role),
                    for_terminal(&c.role_arn)
                );
            }
        }
    }
    Ok(match session {
        Ok(Some(_)) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// For `login`: refuses to start again over a live sign-in unless the user agrees.
pub(crate) fn confirm_new_sign_in(broker: &Url, current: &SignedIn) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    let t = now();
    eprintln!(
        "Already signed in to {broker} as {}, {}.",
        current.who(),
        when::until(current.profile.refresh_expires_at, t)
    );
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        eprintln!("Nothing changed; `rolegate login --force` signs in again.");
        return Ok(false);
    }
    eprint!("Sign in again (for example as someone else)? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| fail(format!("cannot read the answer: {e}")))?;
    let yes = matches!(answer.trim(), "y" | "Y" | "yes" | "Yes");
    if !yes {
        eprintln!("Nothing changed.");
    }
    Ok(yes)
}
