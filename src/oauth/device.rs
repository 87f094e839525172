//! RFC 8628 device authorization. The CLI gets a `device_code` (secret, polled with) and a
//! `user_code` (short, typed or confirmed by a person on `/device`); a signed-in browser
//! approves or denies; the CLI's next poll gets tokens, once.
//!
//! The record lives under the device code's hash and is changed only by compare-and-set
//! (`src/store`): polls record their time so §3.5 `slow_down` can be enforced (and the
//! interval grows by 5 s from then on), and approval records who approved.

use super::{CliTokens, GrantError};
use super::{random_token, token_hash};
use crate::domain::Identity;
use crate::store::key;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

/// How long a user has to approve (RFC 8628 §3.2 `expires_in`).
pub(crate) const EXPIRES_IN: Duration = Duration::from_secs(600);
/// The polling interval the CLI starts with (§3.2 `interval`; §3.5 adds 5 s per `slow_down`).
pub(crate) const INTERVAL: u64 = 5;
/// After expiry the record is kept this long, so a late poll hears `expired_token` (§3.5)
/// rather than `invalid_grant`.
const TOMBSTONE: Duration = Duration::from_secs(600);
/// §6.1: consonants only (no vowels, so no words; no 0/O, 1/I confusion), 8 characters:
/// 20^8 ≈ 2^34.6 combinations, with guesses rate-limited per user.
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Decision {
    Pending,
    Approved { identity: Box<Identity> },
    Denied,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct DeviceRequest {
    /// Normalized: 8 letters, no dash.
    pub user_code: String,
    pub client_id: String,
    /// Unix seconds.
    pub created: i64,
    pub expires: i64,
    pub interval: u64,
    pub last_poll: Option<i64>,
    /// Where the CLI asked from, shown on the approval page (§5.4: a user should notice a
    /// request that is not theirs).
    pub ip: Option<String>,
    pub decision: Decision,
}

/// `ABCD-EFGH`, as shown to people.
pub(crate) fn display(user_code: &str) -> String {
    if user_code.len() == USER_CODE_LEN {
        format!("{}-{}", &user_code[..4], &user_code[4..])
    } else {
        user_code.to_string()
    }
}

/// What a person typed → the stored form: case, spaces and dashes do not matter (§6.1).
pub(crate) fn normalize(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

fn new_user_code() -> String {
    (0..USER_CODE_LEN)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// Starts a device authorization; returns the device code and the stored request.
pub(crate) async fn start(
    cli: &CliTokens,
    client_id: &str,
    ip: Option<String>,
) -> Result<(String, DeviceRequest), GrantError> {
    let device_code = random_token("rgdc_");
    let hash = token_hash(&device_code);
    let now = cli.clock.unix();
    // A fresh user code that no live request holds (collisions are rare; retry a few times).
    let mut user_code = None;
    for _ in 0..5 {
        let candidate = new_user_code();
        let k = key("oauth_user_code", &candidate);
        if cli.store.insert_once(&k, EXPIRES_IN).await? {
            cli.store.put(&k, hash.as_bytes(), EXPIRES_IN).await?;
            user_code = Some(candidate);
            break;
        }
    }
    let user_code = user_code.ok_or(GrantError::Internal)?;
    let request = DeviceRequest {
        user_code,
        client_id: client_id.to_string(),
        created: now,
        expires: now + crate::clock::secs(EXPIRES_IN),
        interval: INTERVAL,
        last_poll: None,
        ip,
        decision: Decision::Pending,
    };
    let value = serde_json::to_vec(&request).map_err(|_| GrantError::Internal)?;
    cli.store
        .put(&key("oauth_device", &hash), &value, EXPIRES_IN + TOMBSTONE)
        .await?;
    Ok((device_code, request))
}

/// The pending request a user code names (for the approval page), with its device hash.
pub(crate) async fn find(
    cli: &CliTokens,
    user_code: &str,
) -> Result<Option<(String, DeviceRequest)>, GrantError> {
    let Some(hash) = cli.store.get(&key("oauth_user_code", user_code)).await? else {
        return Ok(None);
    };
    let hash = String::from_utf8(hash).map_err(|_| GrantError::Internal)?;
    let Some(bytes) = cli.store.get(&key("oauth_device", &hash)).await? else {
        return Ok(None);
    };
    let r: DeviceRequest = serde_json::from_slice(&bytes).map_err(|_| GrantError::Internal)?;
    let live = matches!(r.decision, Decision::Pending) && r.expires > cli.clock.unix();
    Ok(live.then_some((hash, r)))
}

/// Records the user's decision on a pending request; false if it was no longer pending (or
/// expired) — a request is decided once.
pub(crate) async fn decide(
    cli: &CliTokens,
    hash: &str,
    approve: Option<Identity>,
) -> Result<bool, GrantError> {
    let now = cli.clock.unix();
    // The user code of the request this call decided, if it did.
    let decided: Mutex<Option<String>> = Mutex::new(None);
    let k = key("oauth_device", hash);
    cli.store
        .update(&k, EXPIRES_IN + TOMBSTONE, &|old| {
            let mut r: DeviceRequest = serde_json::from_slice(old?).ok()?;
            let open = matches!(r.decision, Decision::Pending) && r.expires > now;
            *decided.lock().expect("lock") = open.then(|| r.user_code.clone());
            if open {
                r.decision = match &approve {
                    Some(identity) => Decision::Approved {
                        identity: Box::new(identity.clone()),
                    },
                    None => Decision::Denied,
                };
            }
            serde_json::to_vec(&r).ok()
        })
        .await?;
    let decided = decided.lock().expect("lock").take();
    if let Some(user_code) = &decided {
        // The code has done its job: it cannot be looked up (or guessed) again.
        cli.store.delete(&key("oauth_user_code", user_code)).await?;
    }
    Ok(decided.is_some())
}

/// What a poll of the token endpoint learns (RFC 8628 §3.5).
#[derive(Debug)]
pub(crate) enum Poll {
    Pending,
    SlowDown,
    Denied,
    Expired,
    Approved(Box<Identity>),
    Unknown,
}

pub(crate) async fn poll(
    cli: &CliTokens,
    device_code: &str,
    client_id: &str,
) -> Result<Poll, GrantError> {
    let k = key("oauth_device", &token_hash(device_code));
    let now = cli.clock.unix();
    let seen: Mutex<Option<(DeviceRequest, bool)>> = Mutex::new(None);
    cli.store
        .update(&k, EXPIRES_IN + TOMBSTONE, &|old| {
            let mut r: DeviceRequest = serde_json::from_slice(old?).ok()?;
            // §3.5: polling faster than the interval is answered with slow_down, and the
            // interval grows by 5 seconds for every later poll.
            let too_fast = r
                .last_poll
                .is_some_and(|last| now - last < i64::try_from(r.interval).unwrap_or(i64::MAX));
            if too_fast {
                r.interval += 5;
            }
            r.last_poll = Some(now);
            *seen.lock().expect("lock") = Some((r.clone(), too_fast));
            serde_json::to_vec(&r).ok()
        })
        .await?;
    let Some((r, too_fast)) = seen.lock().expect("lock").take() else {
        return Ok(Poll::Unknown);
    };
    if r.client_id != client_id {
        return Ok(Poll::Unknown);
    }
    if now >= r.expires {
        return Ok(Poll::Expired);
    }
    if too_fast {
        return Ok(Poll::SlowDown);
    }
    Ok(match r.decision {
        Decision::Pending => Poll::Pending,
        Decision::Denied => {
            cli.store.delete(&k).await?;
            Poll::Denied
        }
        // Single use: of two pollers holding the same device code, one gets the tokens.
        Decision::Approved { .. } => match cli.store.take(&k).await? {
            Some(bytes) => match serde_json::from_slice::<DeviceRequest>(&bytes) {
                Ok(DeviceRequest {
                    decision: Decision::Approved { identity },
                    ..
                }) => Poll::Approved(identity),
                _ => Poll::Unknown,
            },
            None => Poll::Unknown,
        },
    })
}
