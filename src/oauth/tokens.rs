//! Broker tokens: an access token (`rgat_…`, `[cli] token_lifetime`) and a refresh token
//! (`rgrt_…`) in a family that lives at most `[cli] session_lifetime` from sign-in.
//!
//! Rotation with reuse detection (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): each refresh
//! spends its token and returns a new pair, its successor. A spent token presented again
//! means two parties hold it, so the family is revoked — the thief's and the user's tokens
//! alike — and an audit event says so. The one exception is a retry of a lost answer: within
//! [`REUSE_GRACE`], while the successor itself is still unspent, the SAME successor is returned
//! again, never a new pair, so a token family never forks into two live branches.
//!
//! To return the same pair the successor is kept in the spent token's record, sealed
//! (AES-256-GCM) under a key derived from the spent token itself: only its holder can open it,
//! and a store dump still yields no usable token.

use super::{CliTokens, GrantError};
use super::{random_token, token_hash};
use crate::domain::Identity;
use crate::store::key;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub(crate) const ACCESS_PREFIX: &str = "rgat_";
pub(crate) const REFRESH_PREFIX: &str = "rgrt_";
/// A spent refresh token presented again this soon is a concurrent retry, not theft.
pub(crate) const REUSE_GRACE: Duration = Duration::from_secs(10);

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
    /// The pair it was rotated into, sealed under this token (see [`seal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    successor: Option<String>,
}

/// What a successor pair needs to be handed out again: expiries are absolute.
#[derive(Serialize, Deserialize)]
struct Successor {
    access_token: String,
    access_expires: i64,
    refresh_token: String,
    refresh_expires: i64,
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
pub(crate) struct Issued {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds until the user must sign in at the IdP again (not in RFC 6749; the CLI shows it).
    pub refresh_expires_in: u64,
}

/// The key that seals a token's successor: derived from the token, never stored. (The store
/// keys a token by plain SHA-256 of it; the domain prefix keeps the two apart.)
fn successor_key(token: &str) -> aws_lc_rs::aead::LessSafeKey {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"rolegate refresh successor v1\0");
    h.update(token.as_bytes());
    let key = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &h.finalize())
        .expect("a 32-byte AES-256 key");
    aws_lc_rs::aead::LessSafeKey::new(key)
}

/// `successor` sealed under `token`: base64 of nonce ‖ ciphertext ‖ tag.
fn seal(token: &str, successor: &Successor) -> Result<String, GrantError> {
    use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
    use base64::Engine;
    let mut data = serde_json::to_vec(successor).map_err(|_| GrantError::Internal)?;
    let nonce: [u8; NONCE_LEN] = rand::random();
    successor_key(token)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| GrantError::Internal)?;
    let mut out = nonce.to_vec();
    out.extend(data);
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
}

fn open_sealed(token: &str, sealed: &str) -> Option<Successor> {
    use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(sealed)
        .ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = successor_key(token)
        .open_in_place(nonce, Aad::empty(), &mut data)
        .ok()?;
    serde_json::from_slice(plain).ok()
}

fn invalid_grant(why: &str) -> GrantError {
    GrantError::InvalidGrant(why.to_string())
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, GrantError> {
    serde_json::from_slice(bytes).map_err(|_| GrantError::Internal)
}

/// A new sign-in: a new family and its first pair.
pub(crate) async fn sign_in(cli: &CliTokens, identity: Identity) -> Result<Issued, GrantError> {
    let family = hex::encode(rand::random::<[u8; 16]>());
    let now = cli.clock.unix();
    let record = Family {
        // Anchored at the IdP's authentication (a browser session keeps it as auth_time), not
        // at the approval: a CLI sign-in approved late in a browser session must not get a
        // fresh lifetime of its own.
        created: identity.auth_time.filter(|t| *t <= now).unwrap_or(now),
        revoked: false,
        subject: identity.subject.clone(),
    };
    let value = serde_json::to_vec(&record).map_err(|_| GrantError::Internal)?;
    cli.store
        .put(
            &key("oauth_family", &family),
            &value,
            cli.config.session_lifetime,
        )
        .await?;
    pair(cli, identity, &family, record.created).await
}

/// Seconds the family has left, or None once it is past its absolute lifetime.
fn left(cli: &CliTokens, created: i64) -> Option<u64> {
    let end = created.saturating_add(crate::clock::secs(cli.config.session_lifetime));
    let now = cli.clock.unix();
    u64::try_from(end - now).ok().filter(|left| *left > 0)
}

async fn pair(
    cli: &CliTokens,
    identity: Identity,
    family: &str,
    created: i64,
) -> Result<Issued, GrantError> {
    let now = cli.clock.unix();
    // Never past the IdP's own end for the sign-in (SAML SessionNotOnOrAfter).
    let left = left(cli, created)
        .map(|l| match identity.idp_session_end {
            Some(end) => l.min(crate::clock::unsigned_secs(end - now)),
            None => l,
        })
        .filter(|l| *l > 0)
        .ok_or_else(|| {
            invalid_grant("this sign-in has reached its lifetime; run `rolegate login` again")
        })?;
    let access_ttl = cli.config.token_lifetime.as_secs().min(left);
    let access_token = random_token(ACCESS_PREFIX);
    let refresh_token = random_token(REFRESH_PREFIX);
    let access = serde_json::to_vec(&Access {
        identity: identity.clone(),
        family: family.to_string(),
    })
    .map_err(|_| GrantError::Internal)?;
    let refresh = serde_json::to_vec(&Refresh {
        identity,
        family: family.to_string(),
        spent_at: None,
        successor: None,
    })
    .map_err(|_| GrantError::Internal)?;
    let store = &cli.store;
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

async fn family(cli: &CliTokens, id: &str) -> Result<Option<Family>, GrantError> {
    match cli.store.get(&key("oauth_family", id)).await? {
        Some(b) => Ok(Some(decode(&b)?)),
        None => Ok(None),
    }
}

/// The identity behind a live access token; None for unknown, expired or revoked tokens.
pub(crate) async fn authenticate(
    cli: &CliTokens,
    token: &str,
) -> Result<Option<Identity>, GrantError> {
    if !token.starts_with(ACCESS_PREFIX) {
        return Ok(None);
    }
    let Some(bytes) = cli
        .store
        .get(&key("oauth_access", &token_hash(token)))
        .await?
    else {
        return Ok(None);
    };
    let access: Access = decode(&bytes)?;
    // Revoking a family (logout, refresh-token reuse) ends its access tokens at once, and so
    // does an administrator's revocation of the person (the refresh then says why).
    match family(cli, &access.family).await? {
        Some(f) if !f.revoked && left(cli, f.created).is_some() => {
            let ended = cli
                .revocations
                .ends_sign_in(&access.identity, f.created)
                .await?;
            Ok(ended.is_none().then_some(access.identity))
        }
        _ => Ok(None),
    }
}

/// RFC 6749 §6 with rotation: spends `token` and returns the next pair of its family — or,
/// for a retry within the grace window, the pair it already returned (see the module doc).
pub(crate) async fn refresh(
    cli: &CliTokens,
    token: &str,
    client_ip: Option<IpAddr>,
) -> Result<Issued, GrantError> {
    let unknown =
        || invalid_grant("unknown, expired or revoked refresh token; run `rolegate login`");
    if !token.starts_with(REFRESH_PREFIX) {
        return Err(unknown());
    }
    let refresh_key = key("oauth_refresh", &token_hash(token));
    let Some(bytes) = cli.store.get(&refresh_key).await? else {
        return Err(unknown());
    };
    let first: Refresh = decode(&bytes)?;
    let fam = family(cli, &first.family).await?.ok_or_else(unknown)?;
    if fam.revoked {
        return Err(unknown());
    }
    let left = left(cli, fam.created).ok_or_else(unknown)?;
    if let Some(why) = cli
        .revocations
        .ends_sign_in(&first.identity, fam.created)
        .await?
    {
        return Err(invalid_grant(&format!("{why}; run `rolegate login`")));
    }
    let idp = first.identity.idp.to_string();
    let reuse = Reuse {
        token,
        idp: &idp,
        family: &first.family,
        fam: &fam,
        client_ip,
    };
    if let Some(at) = first.spent_at {
        return reused(cli, &reuse, at, first.successor.as_deref()).await;
    }
    // The successor exists (stored) before the token is spent, so whoever sees it spent can
    // be handed that very pair.
    let now = cli.clock.unix();
    let next = pair(cli, first.identity, &first.family, fam.created).await?;
    let sealed = seal(token, &successor_of(&next, now))?;
    let lost: Mutex<Option<(i64, Option<String>)>> = Mutex::new(None);
    let seen = AtomicBool::new(false);
    cli.store
        .update(&refresh_key, Duration::from_secs(left), &|old| {
            // A compare-and-set may call this more than once: only the last call counts.
            let r = old.and_then(|b| serde_json::from_slice::<Refresh>(b).ok());
            seen.store(r.is_some(), Ordering::SeqCst);
            *lost.lock().expect("lock") = None;
            let mut r = r?;
            match r.spent_at {
                Some(at) => *lost.lock().expect("lock") = Some((at, r.successor.clone())),
                None => {
                    r.spent_at = Some(now);
                    r.successor = Some(sealed.clone());
                }
            }
            serde_json::to_vec(&r).ok()
        })
        .await?;
    let lost = lost.lock().expect("lock").take();
    if !seen.load(Ordering::SeqCst) || lost.is_some() {
        // Another request spent it first (or it vanished): this pair was never handed out.
        discard(cli, &next).await?;
    }
    match (seen.load(Ordering::SeqCst), lost) {
        (false, _) => Err(unknown()),
        (true, None) => Ok(next),
        (true, Some((at, successor))) => reused(cli, &reuse, at, successor.as_deref()).await,
    }
}

/// Who presented a spent token, for the decision and the audit event.
struct Reuse<'a> {
    token: &'a str,
    idp: &'a str,
    family: &'a str,
    fam: &'a Family,
    client_ip: Option<IpAddr>,
}

/// A spent token again: within the grace window, while its successor is still unspent, the
/// same successor (a retry of a lost answer); otherwise the whole family is revoked.
async fn reused(
    cli: &CliTokens,
    r: &Reuse<'_>,
    spent_at: i64,
    successor: Option<&str>,
) -> Result<Issued, GrantError> {
    let now = cli.clock.unix();
    let retry = now - spent_at <= crate::clock::secs(REUSE_GRACE);
    if retry
        && let Some(s) = successor.and_then(|s| open_sealed(r.token, s))
        && is_live(cli, &s.refresh_token).await?
    {
        cli.metrics
            .oauth_events
            .with_label_values(&["refresh_retry"])
            .inc();
        tracing::info!(family = %r.family, "refresh retried within the grace window: the same successor");
        return Ok(issued_from(s, now));
    }
    revoke_family(cli, r.family).await?;
    cli.metrics
        .oauth_events
        .with_label_values(&["refresh_reuse"])
        .inc();
    let reason = if retry {
        "spent token presented again after its successor was used"
    } else {
        "spent token presented again after the grace window"
    };
    let ip = r.client_ip.map(|i| i.to_string()).unwrap_or_default();
    cli.audit.refresh_reuse(&crate::audit::RefreshReuse {
        idp: r.idp,
        subject: &r.fam.subject,
        family: r.family,
        spent_secs_ago: now - spent_at,
        client_ip: &ip,
        reason,
    });
    tracing::warn!(
        family = %r.family,
        subject = %r.fam.subject,
        spent_secs_ago = now - spent_at,
        "a spent refresh token was presented again: the family is revoked"
    );
    Err(invalid_grant(
        "this refresh token was already used; the sign-in is revoked; run `rolegate login`",
    ))
}

/// A refresh token of the family that has not been spent yet.
async fn is_live(cli: &CliTokens, token: &str) -> Result<bool, GrantError> {
    let k = key("oauth_refresh", &token_hash(token));
    Ok(match cli.store.get(&k).await? {
        Some(b) => decode::<Refresh>(&b)?.spent_at.is_none(),
        None => false,
    })
}

/// Deletes a pair that was minted but never handed out.
async fn discard(cli: &CliTokens, issued: &Issued) -> Result<(), GrantError> {
    let store = &cli.store;
    store
        .delete(&key("oauth_access", &token_hash(&issued.access_token)))
        .await?;
    store
        .delete(&key("oauth_refresh", &token_hash(&issued.refresh_token)))
        .await?;
    Ok(())
}

fn successor_of(issued: &Issued, now: i64) -> Successor {
    Successor {
        access_token: issued.access_token.clone(),
        access_expires: now.saturating_add(i64::try_from(issued.expires_in).unwrap_or(i64::MAX)),
        refresh_token: issued.refresh_token.clone(),
        refresh_expires: now
            .saturating_add(i64::try_from(issued.refresh_expires_in).unwrap_or(i64::MAX)),
    }
}

fn issued_from(s: Successor, now: i64) -> Issued {
    Issued {
        access_token: s.access_token,
        token_type: "Bearer",
        expires_in: (s.access_expires - now).max(0).unsigned_abs(),
        refresh_token: s.refresh_token,
        refresh_expires_in: (s.refresh_expires - now).max(0).unsigned_abs(),
    }
}

async fn revoke_family(cli: &CliTokens, id: &str) -> Result<(), GrantError> {
    let family_key = key("oauth_family", id);
    let ttl = cli.config.session_lifetime;
    cli.store
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
pub(crate) async fn revoke(cli: &CliTokens, token: &str) -> Result<(), GrantError> {
    if token.starts_with(REFRESH_PREFIX) {
        let k = key("oauth_refresh", &token_hash(token));
        if let Some(bytes) = cli.store.get(&k).await? {
            let r: Refresh = decode(&bytes)?;
            revoke_family(cli, &r.family).await?;
        }
        cli.store.delete(&k).await?;
    } else if token.starts_with(ACCESS_PREFIX) {
        let k = key("oauth_access", &token_hash(token));
        if let Some(bytes) = cli.store.get(&k).await? {
            let a: Access = decode(&bytes)?;
            revoke_family(cli, &a.family).await?;
        }
        cli.store.delete(&k).await?;
    }
    Ok(())
}
