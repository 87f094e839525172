//! Broker tokens: an access token (`rgat_…`, `[cli] token_lifetime`) and a refresh token
//! (`rgrt_…`) in a family that lives at most `[cli] session_lifetime` from sign-in.
//!
//! Rotation with reuse detection (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): each refresh
//! spends its token and returns a new pair. A spent token presented again means two parties
//! hold it — unless it comes within [`REUSE_GRACE`], which is what a second CLI process racing
//! the first one looks like (DESIGN § CLI contract) — so the family is revoked: the thief's
//! and the user's tokens alike, and the user signs in again.

use super::{random_token, token_hash};
use crate::domain::Identity;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::key;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

pub const ACCESS_PREFIX: &str = "rgat_";
pub const REFRESH_PREFIX: &str = "rgrt_";
/// A spent refresh token presented again this soon is a concurrent retry, not theft.
pub const REUSE_GRACE: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
struct Access {
    identity: Identity,
    family: String,
}

#[derive(Serialize, Deserialize)]
struct Refresh {
    identity: Identity,
    family: String,
    /// Unix seconds when it was spent (rotated); None while it is the live one.
    spent_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Family {
    /// Unix seconds of the sign-in that started it (the absolute lifetime counts from here).
    created: i64,
    revoked: bool,
    subject: String,
}

/// A token pair as the token endpoint returns it (RFC 6749 §5.1).
#[derive(Serialize)]
pub struct Issued {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds until the user must sign in at the IdP again (not in RFC 6749; the CLI shows it).
    pub refresh_expires_in: u64,
}

fn invalid_grant(why: &str) -> ApiError {
    ApiError::bad_request("invalid_grant", why.to_string())
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|_| ApiError::internal())
}

/// A new sign-in: a new family and its first pair.
pub async fn sign_in(state: &AppState, identity: Identity) -> Result<Issued, ApiError> {
    let family = hex::encode(rand::random::<[u8; 16]>());
    let now = state.clock.unix();
    let record = Family {
        // Anchored at the IdP's authentication (a browser session keeps it as auth_time), not
        // at the approval: a CLI sign-in approved late in a browser session must not get a
        // fresh lifetime of its own.
        created: identity.auth_time.filter(|t| *t <= now).unwrap_or(now),
        revoked: false,
        subject: identity.subject.clone(),
    };
    let value = serde_json::to_vec(&record).map_err(|_| ApiError::internal())?;
    state
        .store
        .put(
            &key("oauth_family", &family),
            &value,
            state.config.cli.session_lifetime,
        )
        .await?;
    pair(state, identity, &family, record.created).await
}

/// Seconds the family has left, or None once it is past its absolute lifetime.
fn left(state: &AppState, created: i64) -> Option<u64> {
    let end = created + state.config.cli.session_lifetime.as_secs() as i64;
    let now = state.clock.unix();
    (end > now).then(|| (end - now) as u64)
}

async fn pair(
    state: &AppState,
    identity: Identity,
    family: &str,
    created: i64,
) -> Result<Issued, ApiError> {
    let now = state.clock.unix();
    // Never past the IdP's own end for the sign-in (SAML SessionNotOnOrAfter).
    let left = left(state, created)
        .map(|l| match identity.idp_session_end {
            Some(end) => l.min(u64::try_from(end - now).unwrap_or(0)),
            None => l,
        })
        .filter(|l| *l > 0)
        .ok_or_else(|| {
            invalid_grant("this sign-in has reached its lifetime; run `rolegate login` again")
        })?;
    let access_ttl = state.config.cli.token_lifetime.as_secs().min(left);
    let access_token = random_token(ACCESS_PREFIX);
    let refresh_token = random_token(REFRESH_PREFIX);
    let access = serde_json::to_vec(&Access {
        identity: identity.clone(),
        family: family.to_string(),
    })
    .map_err(|_| ApiError::internal())?;
    let refresh = serde_json::to_vec(&Refresh {
        identity,
        family: family.to_string(),
        spent_at: None,
    })
    .map_err(|_| ApiError::internal())?;
    let store = &state.store;
    store
        .put(
            &key("oauth_access", &token_hash(&access_token)),
            &access,
            Duration::from_secs(access_ttl),
        )
        .await?;
    store
        .put(
            &key("oauth_refresh", &token_hash(&refresh_token)),
            &refresh,
            Duration::from_secs(left),
        )
        .await?;
    Ok(Issued {
        access_token,
        token_type: "Bearer",
        expires_in: access_ttl,
        refresh_token,
        refresh_expires_in: left,
    })
}

async fn family(state: &AppState, id: &str) -> Result<Option<Family>, ApiError> {
    match state.store.get(&key("oauth_family", id)).await? {
        Some(b) => Ok(Some(decode(&b)?)),
        None => Ok(None),
    }
}

/// The identity behind a live access token; None for unknown, expired or revoked tokens.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Option<Identity>, ApiError> {
    if !token.starts_with(ACCESS_PREFIX) {
        return Ok(None);
    }
    let Some(bytes) = state
        .store
        .get(&key("oauth_access", &token_hash(token)))
        .await?
    else {
        return Ok(None);
    };
    let access: Access = decode(&bytes)?;
    // Revoking a family (logout, refresh-token reuse) ends its access tokens at once.
    match family(state, &access.family).await? {
        Some(f) if !f.revoked && left(state, f.created).is_some() => Ok(Some(access.identity)),
        _ => Ok(None),
    }
}

/// RFC 6749 §6 with rotation: spends `token` and returns the next pair of its family.
pub async fn refresh(state: &AppState, token: &str) -> Result<Issued, ApiError> {
    let unknown =
        || invalid_grant("unknown, expired or revoked refresh token; run `rolegate login`");
    if !token.starts_with(REFRESH_PREFIX) {
        return Err(unknown());
    }
    let refresh_key = key("oauth_refresh", &token_hash(token));
    let Some(bytes) = state.store.get(&refresh_key).await? else {
        return Err(unknown());
    };
    let first: Refresh = decode(&bytes)?;
    let fam = family(state, &first.family).await?.ok_or_else(unknown)?;
    if fam.revoked {
        return Err(unknown());
    }
    let left = left(state, fam.created).ok_or_else(unknown)?;
    // Spend it atomically; learn when it was spent before, if it was.
    let now = state.clock.unix();
    let before: Mutex<Option<Option<i64>>> = Mutex::new(None);
    state
        .store
        .update(&refresh_key, Duration::from_secs(left), &|old| {
            let mut r: Refresh = serde_json::from_slice(old?).ok()?;
            *before.lock().expect("lock") = Some(r.spent_at);
            r.spent_at.get_or_insert(now);
            serde_json::to_vec(&r).ok()
        })
        .await?;
    let spent_before = before.lock().expect("lock").take().ok_or_else(unknown)?;
    match spent_before {
        None => {}
        Some(at) if now - at <= REUSE_GRACE.as_secs() as i64 => {
            tracing::info!(family = %first.family, "refresh token presented twice within the grace window");
        }
        Some(at) => {
            revoke_family(state, &first.family).await?;
            state
                .metrics
                .oauth_events
                .with_label_values(&["refresh_reuse"])
                .inc();
            tracing::warn!(
                family = %first.family,
                subject = %fam.subject,
                spent_secs_ago = now - at,
                "a spent refresh token was presented again: the family is revoked"
            );
            return Err(invalid_grant(
                "this refresh token was already used; the sign-in is revoked; run `rolegate login`",
            ));
        }
    }
    pair(state, first.identity, &first.family, fam.created).await
}

async fn revoke_family(state: &AppState, id: &str) -> Result<(), ApiError> {
    let family_key = key("oauth_family", id);
    let ttl = state.config.cli.session_lifetime;
    state
        .store
        .update(&family_key, ttl, &|old| {
            let mut f: Family = serde_json::from_slice(old?).ok()?;
            f.revoked = true;
            serde_json::to_vec(&f).ok()
        })
        .await?;
    Ok(())
}

/// RFC 7009: revoking a refresh token ends its family (and so every access token of it);
/// revoking an access token ends that token. Unknown tokens are not an error (§2.2).
pub async fn revoke(state: &AppState, token: &str) -> Result<(), ApiError> {
    if token.starts_with(REFRESH_PREFIX) {
        let k = key("oauth_refresh", &token_hash(token));
        if let Some(bytes) = state.store.get(&k).await? {
            let r: Refresh = decode(&bytes)?;
            revoke_family(state, &r.family).await?;
        }
        state.store.delete(&k).await?;
    } else if token.starts_with(ACCESS_PREFIX) {
        let k = key("oauth_access", &token_hash(token));
        if let Some(bytes) = state.store.get(&k).await? {
            let a: Access = decode(&bytes)?;
            revoke_family(state, &a.family).await?;
        }
        state.store.delete(&k).await?;
    }
    Ok(())
}
