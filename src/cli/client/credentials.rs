//! `rolegate credentials`: credential_process JSON, cached per role and duration.
//!
//! The cache is renewed at least 15 minutes before expiry: botocore refreshes credentials at
//! 15 and 10 minutes before they expire, so a shorter margin would make every SDK call spawn
//! rolegate again. A warm cache costs one file read, no lock, no network: the fast path.

use super::broker::Refused;
use super::files::{lock, read_private, write_private};
use super::profile::{self, now};
use super::{Result, block_on, role_choice};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use url::Url;

pub const RENEW_BEFORE_SECS: i64 = 15 * 60;

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

pub(super) fn expires_at(v: &Value) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(v["Expiration"].as_str()?).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// Cached credentials still good for more than the renewal margin.
fn cached(path: &Path) -> Result<Option<Value>> {
    let Some(bytes) = read_private(path)? else {
        return Ok(None);
    };
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        eprintln!(
            "rolegate: {} is corrupted; fetching new credentials",
            path.display()
        );
        return Ok(None);
    };
    let fresh = v["Version"] == 1
        && v["AccessKeyId"].is_string()
        && expires_at(&v).is_some_and(|e| e - now() > RENEW_BEFORE_SECS);
    Ok(fresh.then_some(v))
}

/// Credentials for `role`: from the cache when fresh, else from the broker (refreshing the
/// broker token if needed) under the broker's lock, so concurrent callers fetch once.
pub fn get(broker: &Url, role: &str, duration: Option<u64>) -> Result<Value> {
    let path = cache_file(broker, role, duration)?;
    if let Some(v) = cached(&path)? {
        return Ok(v);
    }
    let refused = {
        let _lock = lock(&profile::cache(broker)?)?;
        // Another process may have fetched while this one waited for the lock.
        if let Some(v) = cached(&path)? {
            return Ok(v);
        }
        match block_on(fetch(broker, role, duration))? {
            Ok(mut v) => {
                // For `rolegate status`: which alias this file answers.
                v["Alias"] = json!(role);
                write_private(&path, &serde_json::to_vec(&v)?)?;
                return Ok(v);
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
) -> Result<std::result::Result<Value, Refused>> {
    let body = json!({ "role": role, "duration_seconds": duration });
    profile::call_api(
        broker,
        reqwest::Method::POST,
        "/api/v1/credentials",
        Some(&body),
    )
    .await
}

/// Prints credential_process JSON (Version 1) on stdout.
pub fn run(broker: &Url, role: &str, duration: Option<u64>) -> Result<()> {
    let v = get(broker, role, duration)?;
    let out = json!({
        "Version": 1,
        "AccessKeyId": v["AccessKeyId"],
        "SecretAccessKey": v["SecretAccessKey"],
        "SessionToken": v["SessionToken"],
        "Expiration": v["Expiration"],
    });
    println!("{out}");
    Ok(())
}
