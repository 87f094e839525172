//! Browser sessions: after a verified SAML Response (or, later, an OIDC login) the browser
//! holds an opaque 256-bit token in a cookie; the store holds the identity under the token's
//! SHA-256, so a store dump never yields a usable cookie.
//!
//! The cookie is `__Host-` prefixed, Secure, HttpOnly, SameSite=Lax; only `serve --dev` on plain-http loopback drops the prefix and Secure, because
//! browsers refuse both without TLS. Sessions have an absolute lifetime (`[session] lifetime`,
//! 12 h by default): after it the user signs in at the IdP again, so group changes and
//! deprovisioning take effect; and an idle timeout (`idle_timeout`, 1 h).

use crate::domain::Identity;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::key;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

const SECURE_NAME: &str = "__Host-rolegate_session";
const DEV_NAME: &str = "rolegate_session";

#[derive(Serialize, Deserialize)]
pub struct Session {
    pub identity: Identity,
    /// Sent back in every form; compared in constant time.
    pub csrf: String,
    /// Unix seconds: when the user signed in and last used the session.
    pub created: i64,
    pub seen: i64,
    /// Unix seconds of the absolute end: `lifetime` after the IdP authenticated the user, and
    /// never past the IdP's own end (SAML `SessionNotOnOrAfter`). 0 in sessions stored before
    /// it existed: `created + lifetime` then.
    #[serde(default)]
    pub deadline: i64,
}

impl Session {
    pub(crate) fn ends_at(&self, lifetime: Duration) -> i64 {
        let by_lifetime = self.created + lifetime.as_secs() as i64;
        if self.deadline == 0 {
            by_lifetime
        } else {
            self.deadline.min(by_lifetime)
        }
    }
}

/// What a stale sign-in is told (the page and the audit line's reason `stale_authentication`).
pub const STALE_AUTHENTICATION: &str = "Your identity provider authenticated you longer ago than a session here may last (or its own session for this sign-in has ended). Sign out at your identity provider, sign in there again, then start again here.";

/// Why a sign-in cannot open a session.
#[derive(Debug)]
pub enum Refused {
    /// The IdP authenticated the user longer ago than a session lives (or its own session for
    /// this sign-in is already over): a session would be born dead.
    StaleAuthentication,
    Store(ApiError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Refused::Store(e)
    }
}

fn plain_http(state: &AppState) -> bool {
    state.public_url.scheme() == "http"
}

pub fn cookie_name(state: &AppState) -> &'static str {
    if plain_http(state) {
        DEV_NAME
    } else {
        SECURE_NAME
    }
}

fn store_key(token: &str) -> String {
    key("session", &hex::encode(Sha256::digest(token.as_bytes())))
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A new session for `identity`; returns the cookie to set. A fresh token on every sign-in
/// (session fixation: nothing from before the login survives it). The session ends
/// `[session] lifetime` after the IdP's authentication, never later than the IdP says; the
/// identity keeps that anchor as its `auth_time`, so a CLI sign-in it approves inherits it.
pub async fn create(
    state: &AppState,
    req: &HttpRequest,
    protocol: &'static str,
    mut identity: Identity,
) -> Result<Cookie<'static>, Refused> {
    let token = random_token();
    let now = state.clock.unix();
    let deadline = identity.sign_in_deadline(now, state.config.session.lifetime);
    if deadline <= now {
        return Err(Refused::StaleAuthentication);
    }
    identity.auth_time = Some(identity.auth_time.filter(|t| *t <= now).unwrap_or(now));
    let session = Session {
        identity,
        csrf: random_token(),
        created: now,
        seen: now,
        deadline,
    };
    let value = serde_json::to_vec(&session).map_err(|_| ApiError::internal())?;
    let lifetime = Duration::from_secs((deadline - now) as u64);
    state
        .store
        .put(&store_key(&token), &value, lifetime)
        .await
        .map_err(ApiError::from)?;
    let client_ip = state.client_label(req);
    state.audit.signed_in(&crate::audit::SignedIn {
        idp: session.identity.idp.as_str(),
        subject: &session.identity.subject,
        protocol,
        groups: session.identity.groups.len(),
        client_ip: &client_ip,
        session_ends: &crate::clock::rfc3339(
            std::time::UNIX_EPOCH + Duration::from_secs(deadline.max(0) as u64),
        ),
    });
    Ok(Cookie::build(cookie_name(state), token)
        .path("/")
        .http_only(true)
        .secure(!plain_http(state))
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            lifetime.as_secs() as i64,
        ))
        .finish())
}

/// The session the request's cookie names, if it is live.
pub async fn current(state: &AppState, req: &HttpRequest) -> Result<Option<Session>, ApiError> {
    let Some(c) = req.cookie(cookie_name(state)) else {
        return Ok(None);
    };
    let token = c.value();
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let key = store_key(token);
    let Some(bytes) = state.store.get(&key).await? else {
        return Ok(None);
    };
    let Ok(mut session) = serde_json::from_slice::<Session>(&bytes) else {
        return Ok(None);
    };
    let now = state.clock.unix();
    let limits = &state.config.session;
    let idle = now - session.seen > limits.idle_timeout.as_secs() as i64;
    if idle || now >= session.ends_at(limits.lifetime) {
        state.store.delete(&key).await?;
        return Ok(None);
    }
    // Record use at most once a minute (one store write, not one per request); the entry
    // keeps the absolute deadline as its TTL.
    if now - session.seen > 60 {
        session.seen = now;
        let value = serde_json::to_vec(&session).map_err(|_| ApiError::internal())?;
        state
            .store
            .put(&key, &value, time_left(state, &session, now))
            .await?;
    }
    Ok(Some(session))
}

/// What is left of the session's absolute lifetime: the TTL of every rewrite of its entry, so
/// that recording use or spending a CSRF token never extends it. At least a second, because a
/// zero TTL would mean "keep forever" to a store.
fn time_left(state: &AppState, session: &Session, now: i64) -> Duration {
    let left = session.ends_at(state.config.session.lifetime) - now;
    Duration::from_secs(left.max(1) as u64)
}

/// Ends the session and returns a cookie that clears it.
pub async fn end(state: &AppState, req: &HttpRequest) -> Result<Cookie<'static>, ApiError> {
    if let Some(c) = req.cookie(cookie_name(state)) {
        state.store.delete(&store_key(c.value())).await?;
    }
    let mut gone = Cookie::build(cookie_name(state), "")
        .path("/")
        .http_only(true)
        .secure(!plain_http(state))
        .same_site(SameSite::Lax)
        .finish();
    gone.make_removal();
    Ok(gone)
}

/// Spends the session's CSRF token for a console or credentials POST (single-use for
/// those): atomically, so of two identical POSTs (a replay, a double click) only
/// one gets through. The next page the user loads carries the new token.
pub async fn spend_csrf(
    state: &AppState,
    req: &HttpRequest,
    session: &Session,
    presented: &str,
) -> Result<bool, ApiError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(c) = req.cookie(cookie_name(state)) else {
        return Ok(false);
    };
    if !csrf_ok(session, presented) {
        return Ok(false);
    }
    let left = time_left(state, session, state.clock.unix());
    let spent = AtomicBool::new(false);
    let next = random_token();
    let presented = presented.to_string();
    state
        .store
        .update(&store_key(c.value()), left, &|old| {
            let mut s: Session = serde_json::from_slice(old?).ok()?;
            let matches = csrf_ok(&s, &presented);
            spent.store(matches, Ordering::SeqCst);
            if matches {
                s.csrf = next.clone();
            }
            serde_json::to_vec(&s).ok()
        })
        .await?;
    Ok(spent.load(Ordering::SeqCst))
}

pub fn csrf_ok(session: &Session, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    session.csrf.len() == presented.len()
        && bool::from(session.csrf.as_bytes().ct_eq(presented.as_bytes()))
}
