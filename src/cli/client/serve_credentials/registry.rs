//! Finding a running `serve-credentials` again: `rolegate env --server` prints its variables,
//! `rolegate logout` clears the files of servers that are gone.
//!
//! A server's only trace is its token file, `<cache>/serve-credentials-<port>.token`, so there
//! is nothing else to keep true. Whether a server still runs there, and what it serves, is asked
//! of the port itself: `GET /healthz` with the token names the roles served only to a client
//! holding the token, and a refused connection means the server is gone (its file is removed).
//! Another program that took the port never sees a live token: the file is removed only after
//! its server stopped.

use super::super::{Result, block_on, fail, files, profile};
use crate::present::shell::{Environment, Shell};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

const PREFIX: &str = "serve-credentials-";
const SUFFIX: &str = ".token";

/// `<cache>/serve-credentials-<port>.token`: beside the credentials it guards, 0600 in a 0700
/// directory only the user can change.
pub(super) fn token_file(broker: &Url, port: u16) -> Result<PathBuf> {
    Ok(profile::cache(broker)?.join(format!("{PREFIX}{port}{SUFFIX}")))
}

/// A server found through its token file.
struct Running {
    port: u16,
    token_file: PathBuf,
    roles: Vec<String>,
}

/// What the port of a token file answers.
enum Probe {
    Serving(Vec<String>),
    /// Nothing listens: the server stopped without removing its file (SIGKILL, a crash).
    Gone,
    /// Something answered, but not as a server holding this token.
    Unknown,
}

async fn probe(client: &reqwest::Client, port: u16, token: &str) -> Probe {
    let answer = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .header("Authorization", token)
        .send()
        .await;
    match answer {
        Err(e) if e.is_connect() => Probe::Gone,
        Err(_) => Probe::Unknown,
        Ok(r) => match r.json::<serde_json::Value>().await {
            Ok(v) => match v["roles"].as_array() {
                Some(roles) => Probe::Serving(
                    roles
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect(),
                ),
                None => Probe::Unknown,
            },
            Err(_) => Probe::Unknown,
        },
    }
}

/// Every server of this broker still running; the files of those gone are removed.
async fn running(broker: &Url) -> Result<Vec<Running>> {
    let dir = profile::cache(broker)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()?;
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(found);
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(port) = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|p| p.parse::<u16>().ok())
        else {
            continue;
        };
        let token_file = token_file(broker, port)?;
        // Read as every private file is: refused when others could read or replace it.
        let Some(token) = files::read_private(&token_file)? else {
            continue;
        };
        let token = String::from_utf8_lossy(&token).to_string();
        match probe(&client, port, &token).await {
            Probe::Serving(roles) => found.push(Running {
                port,
                token_file,
                roles,
            }),
            Probe::Gone => {
                let _ = std::fs::remove_file(&token_file);
            }
            Probe::Unknown => {}
        }
    }
    found.sort_by_key(|r| r.port);
    Ok(found)
}

/// Removes the token files of servers that are gone (for `logout`; running servers keep
/// theirs and serve again after the next `login`).
pub(crate) fn remove_stale(broker: &Url) -> Result<()> {
    block_on(running(broker)).map(|_| ())
}

/// `rolegate env --server <role>`: prints, in `format`'s shell, the variables of a running
/// `serve-credentials` that serves `role`.
pub(crate) fn env(broker: &Url, role: &str, format: &str) -> Result<()> {
    let shell = Shell::from_name(format).ok_or_else(|| {
        fail(format!(
            "unknown --format {format}: use sh (or bash, zsh), fish or powershell"
        ))
    })?;
    let servers = block_on(running(broker))?;
    let Some(server) = servers.iter().find(|s| s.roles.iter().any(|r| r == role)) else {
        let serving: Vec<String> = servers
            .iter()
            .map(|s| format!("{} on port {}", s.roles.join(", "), s.port))
            .collect();
        let now = if serving.is_empty() {
            String::new()
        } else {
            format!(" (running now: {})", serving.join("; "))
        };
        return Err(fail(format!(
            "no `rolegate serve-credentials` for {broker} serves {role} on this machine{now}. \
             Start one in another terminal (or a service): rolegate serve-credentials --role {role}"
        )));
    };
    let env = Environment::container(
        format!("http://127.0.0.1:{}/role/{role}", server.port),
        server.token_file.display().to_string(),
    );
    println!("{}", env.render(shell)?);
    Ok(())
}
