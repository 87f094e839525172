//! Browser sessions: after a verified SAML Response (or, later, an OIDC login) the browser
//! holds an opaque 256-bit token in a cookie; the store holds the identity under the token's
//! SHA-256, so a store dump never yields a usable cookie.
//!
//! The cookie is `__Host-` prefixed, Secure, HttpOnly, SameSite=Lax; only `serve --dev` on plain-http loopback drops the prefix and Secure, because
//! browsers refuse both without TLS. Sessions have an absolute lifetime (`[session] lifetime`,
//! 12 h by default): after it the user signs in at the IdP again, so group changes and
//! deprovisioning take effect; and an idle timeout (`idle_timeout`, 1 h).

use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::SessionConfig;
use crate::domain::Identity;
use crate::store::{Store, StoreError, key};
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

const SECURE_NAME: &str = "__Host-rolegate_session";
const DEV_NAME: &str = "rolegate_session";

#[derive(Serialize, Deserialize)]
pub(crate) struct Session {
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
        let by_lifetime = self.created.saturating_add(crate::clock::secs(lifetime));
        if self.deadline == 0 {
            by_lifetime
        } else {
            self.deadline.min(by_lifetime)
        }
    }
}

/// What a stale sign-in is told (the page and the audit line's reason `stale_authentication`).
pub(crate) const STALE_AUTHENTICATION: &str = "Your identity provider authenticated you longer ago than a session here may last (or its own session for this sign-in has ended). Sign out at your identity provider, sign in there again, then start again here.";

/// Why a sign-in cannot open a session.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The IdP authenticated the user longer ago than a session lives (or its own session for
    /// this sign-in is already over): a session would be born dead.
    StaleAuthentication,
    /// The session could not be stored.
    Failed(SessionError),
}

/// What keeps a session from being read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// The store failed: every session check fails closed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A session could not be encoded (it holds only strings and numbers: a bug, not input).
    #[error("a session could not be encoded")]
    Encode,
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Failed(e.into())
    }
}

/// Browser sessions: opening them at sign-in, reading and spending them per request, ending
/// them. Owns the store entries under `session:` and the cookie's name and attributes.
pub(crate) struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Arc<Audit>,
    limits: SessionConfig,
    /// `serve --dev` on plain-http loopback: the cookie loses `__Host-` and Secure.
    plain_http: bool,
    /// A person-wide revocation after the session's sign-in ends it at its next use.
    revocations: Arc<crate::revocation::Revocations>,
}

fn store_key(token: &str) -> String {
    key("session", &hex::encode(Sha256::digest(token.as_bytes())))
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    /// Sessions in `store`; `plain_http` for `serve --dev` on loopback without TLS.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Arc<Audit>,
        limits: SessionConfig,
        plain_http: bool,
        revocations: Arc<crate::revocation::Revocations>,
    ) -> Self {
        Sessions {
            store,
            clock,
            audit,
            limits,
            plain_http,
            revocations,
        }
    }

    /// The cookie's name: `__Host-` prefixed unless on plain http.
    pub(crate) fn cookie_name(&self) -> &'static str {
        if self.plain_http {
            DEV_NAME
        } else {
            SECURE_NAME
        }
    }

    /// A new session for `identity`; returns the cookie to set. A fresh token on every sign-in
    /// (session fixation: nothing from before the login survives it). The session ends
    /// `[session] lifetime` after the IdP's authentication, never later than the IdP says; the
    /// identity keeps that anchor as its `auth_time`, so a CLI sign-in it approves inherits it.
    pub(crate) async fn create(
        &self,
        client: Option<IpAddr>,
        protocol: &'static str,
        mut identity: Identity,
    ) -> Result<Cookie<'static>, Refused> {
        let token = random_token();
        let now = self.clock.unix();
        let deadline = identity.sign_in_deadline(now, self.limits.lifetime);
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
        let value =
            serde_json::to_vec(&session).map_err(|_| Refused::Failed(SessionError::Encode))?;
        let lifetime = Duration::from_secs(crate::clock::unsigned_secs(deadline - now));
        self.store.put(&store_key(&token), &value, lifetime).await?;
        let client_ip = crate::rate_limit::client_label(client);
        self.audit.signed_in(&crate::audit::SignedIn {
            idp: session.identity.idp.as_str(),
            subject: &session.identity.subject,
            protocol,
            groups: session.identity.groups.len(),
            client_ip: &client_ip,
            session_ends: &crate::clock::rfc3339_of(deadline),
        });
        Ok(Cookie::build(self.cookie_name(), token)
            .path("/")
            .http_only(true)
            .secure(!self.plain_http)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::seconds(
                crate::clock::secs(lifetime),
            ))
            .finish())
    }

    /// The session the request's cookie names, if it is live.
    pub(crate) async fn current(&self, req: &HttpRequest) -> Result<Option<Session>, SessionError> {
        let Some(c) = req.cookie(self.cookie_name()) else {
            return Ok(None);
        };
        let token = c.value();
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let key = store_key(token);
        let Some(bytes) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let Ok(mut session) = serde_json::from_slice::<Session>(&bytes) else {
            return Ok(None);
        };
        let now = self.clock.unix();
        let limits = &self.limits;
        let idle = now - session.seen > crate::clock::secs(limits.idle_timeout);
        let anchor = session.identity.auth_time.unwrap_or(session.created);
        if idle
            || now >= session.ends_at(limits.lifetime)
            || self
                .revocations
                .ends_sign_in(&session.identity, anchor)
                .await?
                .is_some()
        {
            self.store.delete(&key).await?;
            return Ok(None);
        }
        // Record use at most once a minute (one store write, not one per request); the entry
        // keeps the absolute deadline as its TTL.
        if now - session.seen > 60 {
            session.seen = now;
            let value = serde_json::to_vec(&session).map_err(|_| SessionError::Encode)?;
            self.store
                .put(&key, &value, self.time_left(&session, now))
                .await?;
        }
        Ok(Some(session))
    }

    /// What is left of the session's absolute lifetime: the TTL of every rewrite of its entry, so
    /// that recording use or spending a CSRF token never extends it. At least a second, because a
    /// zero TTL would mean "keep forever" to a store.
    fn time_left(&self, session: &Session, now: i64) -> Duration {
        let left = session.ends_at(self.limits.lifetime) - now;
        Duration::from_secs(crate::clock::unsigned_secs(left).max(1))
    }

    /// Ends the session and returns a cookie that clears it.
    pub(crate) async fn end(&self, req: &HttpRequest) -> Result<Cookie<'static>, StoreError> {
        if let Some(c) = req.cookie(self.cookie_name()) {
            self.store.delete(&store_key(c.value())).await?;
        }
        let mut gone = Cookie::build(self.cookie_name(), "")
            .path("/")
            .http_only(true)
            .secure(!self.plain_http)
            .same_site(SameSite::Lax)
            .finish();
        gone.make_removal();
        Ok(gone)
    }

    /// Spends the session's CSRF token for a console or credentials POST (single-use for
    /// those): atomically, so of two identical POSTs (a replay, a double click) only
    /// one gets through. The next page the user loads carries the new token.
    pub(crate) async fn spend_csrf(
        &self,
        req: &HttpRequest,
        session: &Session,
        presented: &str,
    ) -> Result<bool, StoreError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let Some(c) = req.cookie(self.cookie_name()) else {
            return Ok(false);
        };
        if !csrf_ok(session, presented) {
            return Ok(false);
        }
        let left = self.time_left(session, self.clock.unix());
        let spent = AtomicBool::new(false);
        let next = random_token();
        let presented = presented.to_string();
        self.store
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
}

/// Whether `presented` is the session's CSRF token (constant time).
pub(crate) fn csrf_ok(session: &Session, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    session.csrf.len() == presented.len()
        && bool::from(session.csrf.as_bytes().ct_eq(presented.as_bytes()))
}
