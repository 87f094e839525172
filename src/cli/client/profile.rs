//! The broker tokens of one sign-in, per broker. Refreshing rotates the refresh token, so it
//! happens only under the broker's file lock (see [`super::files::lock`]).

use super::broker::{self, Answer};
use super::files::{cache_dir, config_dir, read_private, write_private};
use super::{Result, fail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use url::Url;

/// An access token this close to expiry is refreshed first.
const REFRESH_MARGIN_SECS: i64 = 60;

#[derive(Serialize, Deserialize)]
pub(crate) struct Profile {
    pub broker: String,
    pub access_token: String,
    /// Unix seconds.
    pub access_expires_at: i64,
    pub refresh_token: String,
    pub refresh_expires_at: i64,
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, crate::clock::secs)
}

fn path(broker: &Url) -> Result<PathBuf> {
    Ok(config_dir()?
        .join("brokers")
        .join(format!("{}.json", broker::key(broker))))
}

/// Where this broker's credential cache and lock live.
pub(crate) fn cache(broker: &Url) -> Result<PathBuf> {
    Ok(cache_dir()?.join(broker::key(broker)))
}

pub(crate) fn not_signed_in(broker: &Url) -> super::CliError {
    fail(format!(
        "not signed in to {broker}; run `rolegate login --broker {broker}`"
    ))
}

pub(crate) fn load(broker: &Url) -> Result<Option<Profile>> {
    let p = path(broker)?;
    match read_private(&p)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| {
            fail(format!(
                "{} is corrupted; delete it and run `rolegate login`",
                p.display()
            ))
        }),
    }
}

/// Saves a token response (RFC 6749 §5.1 plus `refresh_expires_in`).
pub(crate) fn save(broker: &Url, tokens: &Value) -> Result<Profile> {
    let t = now();
    let field = |k: &str| {
        tokens[k]
            .as_str()
            .map(String::from)
            .ok_or_else(|| fail(format!("the broker's token response lacks `{k}`")))
    };
    let secs = |k: &str| tokens[k].as_i64().unwrap_or(0);
    let profile = Profile {
        broker: broker.to_string(),
        access_token: field("access_token")?,
        access_expires_at: t + secs("expires_in"),
        refresh_token: field("refresh_token")?,
        refresh_expires_at: t + secs("refresh_expires_in"),
    };
    write_private(&path(broker)?, &serde_json::to_vec_pretty(&profile)?)?;
    Ok(profile)
}

pub(crate) fn delete(broker: &Url) -> Result<()> {
    match std::fs::remove_file(path(broker)?) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// A live access token, refreshed (rotating the refresh token) when it is about to expire or
/// when `force` says the broker just refused it. The caller holds the broker's lock.
pub(crate) async fn access_token(broker: &Url, force: bool) -> Result<String> {
    let p = load(broker)?.ok_or_else(|| not_signed_in(broker))?;
    let t = now();
    if !force && p.access_expires_at - t > REFRESH_MARGIN_SECS {
        return Ok(p.access_token);
    }
    if p.refresh_expires_at <= t {
        delete(broker)?;
        return Err(fail(format!(
            "your sign-in to {broker} has expired; run `rolegate login --broker {broker}`"
        )));
    }
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", crate::oauth::CLI_CLIENT_ID),
        ("refresh_token", p.refresh_token.as_str()),
    ];
    match broker::post_form(broker, "/oauth2/token", &form).await? {
        Answer::Ok(tokens) => Ok(save(broker, &tokens)?.access_token),
        Answer::Refused(r) if r.error == "invalid_grant" => {
            delete(broker)?;
            // The broker's reason, without its own advice to run login: ours follows.
            let reason = r
                .description
                .split("; run `rolegate login")
                .next()
                .unwrap_or_default();
            Err(fail(format!(
                "your sign-in to {broker} ended ({reason}); run `rolegate login --broker {broker}`"
            )))
        }
        Answer::Refused(r) => Err(fail(format!("the broker refused to refresh: {r}"))),
    }
}

/// An API call with a live broker token; if the broker answers 401 anyway (revoked, or a
/// broker restart without Redis), one forced refresh and a retry. The caller holds the lock.
pub(crate) async fn call_api(
    broker: &Url,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<std::result::Result<Value, broker::Refused>> {
    let mut token = access_token(broker, false).await?;
    for attempt in 0..2 {
        match broker::api(broker, &token, method.clone(), path, body).await? {
            Answer::Ok(v) => return Ok(Ok(v)),
            Answer::Refused(r) if r.status == 401 && attempt == 0 => {
                token = access_token(broker, true).await?;
            }
            Answer::Refused(r) => return Ok(Err(r)),
        }
    }
    Err(not_signed_in(broker))
}
