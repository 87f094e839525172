//! Which broker, and talking to it: `--broker`, else `ROLEGATE_BROKER`, else the broker of
//! the last `rolegate login`.

use super::files::{config_dir, read_private, write_private};
use super::{Result, fail};
use serde_json::Value;
use std::time::Duration;
use url::Url;

pub(crate) fn resolve(flag: Option<&str>) -> Result<Url> {
    let chosen = match flag.filter(|s| !s.is_empty()) {
        Some(f) => f.to_string(),
        None => match std::env::var("ROLEGATE_BROKER")
            .ok()
            .filter(|s| !s.is_empty())
        {
            Some(e) => e,
            None => match read_private(&config_dir()?.join("current-broker"))? {
                Some(b) => String::from_utf8_lossy(&b).trim().to_string(),
                None => {
                    return Err(fail(
                        "which broker? pass --broker https://rolegate.example.com (or set ROLEGATE_BROKER), then `rolegate login`",
                    ));
                }
            },
        },
    };
    let url = Url::parse(&chosen).map_err(|_| fail(format!("`{chosen}` is not a URL")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(fail(format!(
            "{chosen}: the broker must be https (plain http only on loopback, for development)"
        )));
    }
    Ok(url)
}

pub(crate) fn remember(broker: &Url) -> Result<()> {
    write_private(
        &config_dir()?.join("current-broker"),
        broker.as_str().as_bytes(),
    )
}

/// A file-name-safe name for a broker (`rolegate.example.com`, `127.0.0.1_8080`).
pub(crate) fn key(broker: &Url) -> String {
    let host = broker.host_str().unwrap_or("broker");
    let raw = match broker.port() {
        Some(p) => format!("{host}_{p}"),
        None => host.to_string(),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rolegate-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client")
}

/// An OAuth/API error body: `error` and `error_description`.
#[derive(Debug)]
pub(crate) struct Refused {
    pub status: u16,
    pub error: String,
    pub description: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} (HTTP {})",
            self.error, self.description, self.status
        )
    }
}

pub(crate) enum Answer {
    Ok(Value),
    Refused(Refused),
}

fn unreachable(broker: &Url, e: reqwest::Error) -> super::CliError {
    // reqwest's messages never carry the request body (where tokens travel).
    fail(format!(
        "cannot reach the broker at {broker}: {}",
        e.without_url()
    ))
}

async fn answer(broker: &Url, r: reqwest::Response) -> Result<Answer> {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(Answer::Ok(body));
    }
    if body.get("error").is_none() {
        return Err(fail(format!(
            "the broker at {broker} answered HTTP {status}; is that the right URL?"
        )));
    }
    let error = body["error"].as_str().unwrap_or("error").to_string();
    let mut description = body["error_description"].as_str().unwrap_or("").to_string();
    // The CLI's sign-in is still valid, so plain `rolegate login` would say "already signed
    // in": a revocation on a role asks for a new authentication at the IdP.
    if error == "session_revoked" && description.contains("sign in at your identity provider") {
        description.push_str(" (`rolegate login --force` signs you in again)");
    }
    Ok(Answer::Refused(Refused {
        status,
        error,
        description,
    }))
}

pub(crate) async fn post_form(broker: &Url, path: &str, form: &[(&str, &str)]) -> Result<Answer> {
    let url = broker.join(path)?;
    let r = http()
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| unreachable(broker, e))?;
    answer(broker, r).await
}

pub(crate) async fn api(
    broker: &Url,
    access_token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer> {
    let url = broker.join(path)?;
    let mut req = http().request(method, url).bearer_auth(access_token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.map_err(|e| unreachable(broker, e))?;
    answer(broker, r).await
}
