//! `rolegate credentials`: credential_process JSON, cached per role and duration.
//!
//! The cache is renewed at least 15 minutes before expiry: botocore refreshes credentials at
//! 15 and 10 minutes before they expire, so a shorter margin would make every SDK call spawn
//! rolegate again. A warm cache costs one file read, no lock, no network: the fast path.

use super::broker::Refused;
use super::files::{lock, read_private, write_private};
use super::profile::{self, now};
use super::{Result, block_on, fail, role_choice};
use crate::present::Credentials;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use url::Url;

pub(crate) const RENEW_BEFORE_SECS: i64 = 15 * 60;

fn cache_file(broker: &Url, role: &str, duration: Option<u64>) -> Result<PathBuf> {
    let safe: String = role
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    // Two aliases that sanitize alike must not share a file.
    let tag = &hex::encode(Sha256::digest(role.as_bytes()))[..8];
    let d = duration.map_or_else(|| "default".to_string(), |d| d.to_string());
    Ok(profile::cache(broker)?.join(format!("creds-{safe}-{tag}-{d}.json")))
}

/// A cache file: the broker's answer as [`Credentials`] (what `credentials` prints), plus the
/// alias it answers, for `rolegate status`.
#[derive(Serialize, Deserialize)]
pub(super) struct CacheFile {
    #[serde(flatten)]
    pub credentials: Credentials,
    /// Absent from files written before the alias was recorded: `status` shows the file name.
    #[serde(rename = "Alias", default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// Cached credentials still good for more than the renewal margin.
fn cached(path: &Path) -> Result<Option<Credentials>> {
    let Some(bytes) = read_private(path)? else {
        return Ok(None);
    };
    let Ok(file) = serde_json::from_slice::<CacheFile>(&bytes) else {
        eprintln!(
            "rolegate: {} is corrupted; fetching new credentials",
            path.display()
        );
        return Ok(None);
    };
    let c = file.credentials;
    Ok(fresh(&c, now()).then_some(c))
}

/// Whether `c` is still served at `now` (unix seconds): more than the renewal margin before
/// its expiry. The clock is a parameter so the boundary is tested at any instant.
fn fresh(c: &Credentials, now: i64) -> bool {
    c.expires_at_unix() - now > RENEW_BEFORE_SECS
}

/// Credentials for `role`: from the cache when fresh, else from the broker (refreshing the
/// broker token if needed) under the broker's lock, so concurrent callers fetch once.
pub(crate) fn get(broker: &Url, role: &str, duration: Option<u64>) -> Result<Credentials> {
    let path = cache_file(broker, role, duration)?;
    if let Some(c) = cached(&path)? {
        return Ok(c);
    }
    let refused = {
        let _lock = lock(&profile::cache(broker)?)?;
        // Another process may have fetched while this one waited for the lock.
        if let Some(c) = cached(&path)? {
            return Ok(c);
        }
        match block_on(fetch(broker, role, duration))? {
            Ok(credentials) => {
                let file = CacheFile {
                    credentials,
                    alias: Some(role.to_string()),
                };
                write_private(&path, &serde_json::to_vec(&file)?)?;
                return Ok(file.credentials);
            }
            Err(r) => r,
        }
    };
    // Outside the lock: explaining asks the broker for the user's roles.
    Err(role_choice::refused(
        broker,
        role,
        "credentials",
        "no credentials for",
        &refused,
    ))
}

async fn fetch(
    broker: &Url,
    role: &str,
    duration: Option<u64>,
) -> Result<std::result::Result<Credentials, Refused>> {
    let body = json!({ "role": role, "duration_seconds": duration });
    let answer = profile::call_api(
        broker,
        reqwest::Method::POST,
        "/api/v1/credentials",
        Some(&body),
    )
    .await?;
    Ok(match answer {
        Ok(v) => Ok(read_answer(v)?),
        Err(r) => Err(r),
    })
}

/// The broker's answer as [`Credentials`]; the error names the field that is missing or wrong.
fn read_answer(v: Value) -> Result<Credentials> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." {
            String::new()
        } else {
            format!("{at}: ")
        };
        fail(format!(
            "the broker's answer to POST /api/v1/credentials is not credentials: {at}{}",
            e.inner()
        ))
    })
}

/// Prints credential_process JSON (Version 1) on stdout.
pub(crate) fn run(broker: &Url, role: &str, duration: Option<u64>) -> Result<()> {
    let c = get(broker, role, duration)?;
    println!("{}", c.credential_process_json()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_answer_without_a_session_token_is_refused_naming_the_field() {
        let v = json!({
            "Version": 1, "AccessKeyId": "ASIA", "SecretAccessKey": "s",
            "Expiration": "2100-01-01T00:00:00Z", "Region": "eu-west-1",
        });
        let e = read_answer(v).unwrap_err().0;
        assert!(e.contains("missing field `SessionToken`"), "{e}");
        let v = json!({
            "Version": 1, "AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": 7,
            "Expiration": "2100-01-01T00:00:00Z",
        });
        let e = read_answer(v).unwrap_err().0;
        assert!(e.contains("SessionToken: invalid type"), "{e}");
    }

    #[test]
    fn credentials_are_renewed_from_fifteen_minutes_before_expiry_at_an_injected_clock() {
        let c = Credentials::for_tests("ASIA", "s", "t", None);
        let expiry = c.expires_at_unix();
        assert!(
            fresh(&c, expiry - RENEW_BEFORE_SECS - 1),
            "16 minutes left: served"
        );
        assert!(
            !fresh(&c, expiry - RENEW_BEFORE_SECS),
            "15 minutes left: renewed"
        );
        assert!(!fresh(&c, expiry - 60), "about to expire: renewed");
        assert!(!fresh(&c, expiry + 3600), "expired: renewed, never served");
        assert!(fresh(&c, expiry - 12 * 3600), "hours left: served");
    }

    #[test]
    fn a_cache_file_keeps_the_alias_beside_the_credentials() {
        let file = CacheFile {
            credentials: Credentials::for_tests("ASIA", "s", "t", Some("eu-west-1")),
            alias: Some("prod-ro".into()),
        };
        let bytes = serde_json::to_vec(&file).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["Alias"], "prod-ro");
        assert_eq!(v["SessionToken"], "t");
        let back: CacheFile = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.alias.as_deref(), Some("prod-ro"));
        assert_eq!(back.credentials.region.as_deref(), Some("eu-west-1"));
        // What scripts/bench/cli_credentials.sh writes: the five fields alone.
        let bare = br#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s","SessionToken":"t","Expiration":"2100-01-01T00:00:00Z"}"#;
        assert!(
            serde_json::from_slice::<CacheFile>(bare)
                .unwrap()
                .alias
                .is_none()
        );
    }
}
