//! A browser sign-in through a SAML IdP, without HTTP: SP-initiated start (the AuthnRequest and
//! its pending request in the store) and the ACS (pending request taken, Response verified,
//! replay cache, identity). `routes/saml.rs` extracts the form and cookies, calls these, and
//! presents the outcome; every security decision of the flow is here.

use super::authn_request::{self, AuthnParams};
use super::pool::{Expected, PoolError};
use super::preparse::claimed_issuer;
use super::service::{SamlIdp, SamlService};
use super::{SamlError, attributes, decode_post};
use crate::clock::Clock;
use crate::domain::{Identity, IdpId};
use crate::store::{Store, StoreError, key};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long a sign-in may take at the IdP (the pending request's lifetime).
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(600);

/// SAML sign-ins: the SP's IdPs and verifiers, the store for pending requests and the replay
/// cache, and the clock every time check reads.
pub(crate) struct SamlLogin {
    saml: Arc<SamlService>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

/// What the ACS needs to finish a sign-in it started (stored under the RelayState).
#[derive(Serialize, Deserialize)]
struct Pending {
    request_id: String,
    idp: String,
    return_to: String,
    /// Sent with ForceAuthn because an earlier Response's authentication was too old to open
    /// a session: if this one is too, the sign-in is refused rather than retried forever.
    #[serde(default)]
    reauth: bool,
}

/// A started sign-in: send the browser to `redirect_url`, and bind `relay` to it (the
/// pending-login cookie), so the Response can only finish in the browser that started it.
pub(crate) struct Started {
    pub redirect_url: String,
    pub relay: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("the identity provider's metadata has no HTTP-Redirect sign-in endpoint")]
    NoSsoEndpoint,
    #[error("cannot build the AuthnRequest: {0}")]
    AuthnRequest(#[from] authn_request::AuthnRequestError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A Response that passed every check.
pub(crate) struct Accepted {
    pub identity: Identity,
    /// Where the sign-in started (`/` for an unsolicited Response: its RelayState is never a
    /// redirect target).
    pub return_to: String,
    pub idp: IdpId,
    /// This Response answered a ForceAuthn sent because of a stale authentication.
    pub reauth: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AcsError {
    /// The Response is refused; the code is public, the detail goes to the log.
    #[error(transparent)]
    Refused(#[from] SamlError),
    /// Every verifier is busy (src/idp/saml/pool.rs): a 503, try again.
    #[error("every SAML verifier is busy")]
    Busy,
    /// A verifier thread died; nothing was accepted.
    #[error("a SAML verifier was lost")]
    Lost,
    /// The store could not answer: fail closed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SamlLogin {
    pub(crate) fn new(
        saml: Arc<SamlService>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        SamlLogin { saml, store, clock }
    }

    /// SP-initiated sign-in at `idp`: an AuthnRequest for its HTTP-Redirect endpoint, and the
    /// pending request stored under a fresh RelayState. `return_to` must already be a path on
    /// this site (`crate::untrusted::safe_return_to`).
    pub(crate) async fn start(
        &self,
        idp: &SamlIdp,
        return_to: String,
        reauth: bool,
    ) -> Result<Started, StartError> {
        let md = idp.metadata();
        let sso_url = md
            .sso_redirect_url
            .as_deref()
            .ok_or(StartError::NoSsoEndpoint)?;
        // RelayState carries only an opaque key to the pending request (never a URL).
        let relay = hex::encode(rand::random::<[u8; 16]>());
        let redirect = authn_request::redirect(
            &AuthnParams {
                sso_url,
                sp_entity_id: &self.saml.entity_id,
                acs_url: &self.saml.acs_url,
                relay_state: &relay,
                force_authn: idp.cfg.force_authn || reauth,
                signing_key: self.saml.sp_key.as_ref(),
            },
            self.clock.now(),
        )?;
        let pending = Pending {
            request_id: redirect.request_id,
            idp: idp.id.to_string(),
            return_to,
            reauth,
        };
        let value = serde_json::to_vec(&pending).expect("a struct of strings serialises");
        self.store
            .put(&key("saml_pending", &relay), &value, PENDING_TTL)
            .await?;
        Ok(Started {
            redirect_url: redirect.url,
            relay,
        })
    }

    /// The ACS: `saml_response` and `relay_state` as posted, `bound_relay` the pending-login
    /// cookie of the browser that posted them.
    pub(crate) async fn finish(
        &self,
        saml_response: &str,
        relay_state: Option<&str>,
        bound_relay: Option<&str>,
    ) -> Result<Accepted, AcsError> {
        let xml = decode_post(saml_response)?;
        // The pending request is taken (single use) before verification: a replayed POST finds
        // nothing, and a forged one burns only the attacker's own login. The pending-login
        // cookie is compared first (it binds the Response to the browser that started the
        // sign-in): a post without it never reaches the store, so a leaked RelayState cannot
        // burn a victim's login
        // (`leaked_relay_state_without_cookie_keeps_victim_login`), and it goes on as unsolicited — refused
        // when it answers a request (login CSRF: an attacker's Response pushed into a victim's
        // browser).
        let relay = relay_state
            .filter(|r| r.len() == 32 && r.bytes().all(|b| b.is_ascii_hexdigit()))
            .filter(|r| bound_relay == Some(*r));
        let pending: Option<Pending> = match relay {
            Some(relay) => self
                .store
                .take(&key("saml_pending", relay))
                .await?
                .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
            None => None,
        };
        let (idp, expected, return_to) = match &pending {
            Some(p) => {
                let idp = self.saml.idp(&p.idp).ok_or(SamlError::InResponseTo)?;
                let expected = Expected::Request(p.request_id.clone());
                (idp.clone(), expected, p.return_to.clone())
            }
            None => {
                // IdP-initiated (or a stale/replayed login): find the IdP by the Issuer the
                // Response claims, then verify strictly against that IdP's own certificates.
                let issuer = claimed_issuer(&xml)?.ok_or(SamlError::WrongIssuer)?;
                let idp = self
                    .saml
                    .idp_by_entity_id(&issuer)
                    .ok_or(SamlError::WrongIssuer)?;
                let allowed = idp.cfg.allow_idp_initiated;
                // RelayState is never a redirect target for unsolicited Responses.
                (idp.clone(), Expected::Unsolicited { allowed }, "/".into())
            }
        };
        let job = self.saml.job(&idp, xml, expected, self.clock.clone());
        // Off the async workers, a bounded number at once (src/idp/saml/pool.rs).
        let verified = match self.saml.verifiers.run(move || job.run()).await {
            Ok(result) => result?,
            Err(PoolError::Busy) => return Err(AcsError::Busy),
            Err(PoolError::Lost) => return Err(AcsError::Lost),
        };
        // A store that lost its memory (Redis restarted without persistence; a new process on
        // the memory store) no longer knows what it consumed before: an assertion issued before
        // its memory began may already have been used, so it is refused (a restart never
        // reopens a replay window). One second of slack for second-precision timestamps.
        let epoch = self.store.epoch().await?;
        let epoch = epoch
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if verified.assertion.issue_instant.timestamp() < epoch - 1 {
            return Err(SamlError::BeforeStoreEpoch.into());
        }
        // Replay cache (SAML profiles 4.1.4.5): written only after full verification, so junk
        // cannot burn IDs; kept until the assertion could no longer be accepted anyway.
        let ttl = u64::try_from(verified.replay_until - self.clock.unix())
            .unwrap_or(0)
            .max(1);
        let replay_key = key(
            "saml_replay",
            &format!("{}:{}", idp.id, verified.assertion.id),
        );
        if !self
            .store
            .insert_once(&replay_key, Duration::from_secs(ttl))
            .await?
        {
            return Err(SamlError::Replay.into());
        }
        Ok(Accepted {
            identity: attributes::to_identity(&idp.id, &verified.assertion, &idp.cfg),
            return_to,
            idp: idp.id.clone(),
            reauth: pending.as_ref().is_some_and(|p| p.reauth),
        })
    }
}
