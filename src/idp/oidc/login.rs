//! A browser sign-in through an OIDC IdP, without HTTP of our own: authorization code + PKCE
//! S256 + nonce + single-use state (OIDC Core §3.1, RFC 7636), a redirect URI per IdP and
//! RFC 9207 `iss` against mix-up ([`super::mixup`]). The ID token from the token endpoint goes
//! through the same verifier as bearer tokens, with the nonce this login chose.
//! `routes/oidc_login.rs` extracts the query and cookie, calls [`OidcLogin::finish`], and
//! presents the outcome; every security decision of the flow is here.

use super::verify::parse_header;
use super::{OidcIdp, mixup};
use crate::clock::Clock;
use crate::domain::Identity;
use crate::idp::IdpRegistry;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, key};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// How long a sign-in may take at the IdP (the pending login's lifetime).
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long the token endpoint may take to answer.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The redirect URI to register at IdP `idp` (`config check` prints it). One per IdP
/// (RFC 9700 §4.4.2.2): a shared one would keep the mix-up attack open.
pub(crate) fn redirect_uri(public_url: &url::Url, idp: &str) -> String {
    format!(
        "{}/oidc/callback/{idp}",
        public_url.as_str().trim_end_matches('/')
    )
}

/// OIDC sign-ins: the configured IdPs, the store for pending logins, the HTTP client for the
/// token endpoint, and what the authorization request needs to say.
pub(crate) struct OidcLogin {
    idps: Arc<IdpRegistry>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    public_url: url::Url,
    /// `max_age` of the authorization request: the broker session's lifetime.
    max_age: Duration,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    idp: String,
    nonce: String,
    verifier: String,
    return_to: String,
}

/// A started sign-in: send the browser to `authorization_url`, and bind `state` to it (the
/// pending-login cookie), so the callback can only finish in the browser that started it.
pub(crate) struct Started {
    pub authorization_url: String,
    pub state: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("this identity provider's sign-in endpoints are not known yet (discovery)")]
    NotDiscovered,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The authorization response as the IdP sends it to the redirect URI.
#[derive(Deserialize)]
pub(crate) struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// RFC 9207: the issuer of this authorization response.
    pub iss: Option<String>,
}

/// A callback that passed every check.
pub(crate) struct Finished {
    pub identity: Identity,
    pub return_to: String,
    pub idp: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CallbackError {
    /// Refused: `reason` is the public code (audit, metrics), `message` what the page says.
    /// `idp` is empty when the login the callback claims is unknown.
    #[error("{reason}: {message}")]
    Refused {
        idp: String,
        reason: &'static str,
        message: &'static str,
    },
    /// The user (or the IdP's policy) declined at the IdP (OIDC Core §3.1.2.6).
    #[error("the sign-in was cancelled at the identity provider")]
    Cancelled { idp: String },
    /// The token endpoint could not be reached: a 502, nothing signed in.
    #[error("the identity provider's token endpoint is unreachable")]
    Unreachable,
    /// The stored pending login could not be read back.
    #[error("the pending login is unreadable")]
    Corrupt,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refused(idp: &str, reason: &'static str, message: &'static str) -> CallbackError {
    CallbackError::Refused {
        idp: idp.to_string(),
        reason,
        message,
    }
}

fn random() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

impl OidcLogin {
    /// `max_age` is what the authorization request asks of the IdP: the broker session's
    /// lifetime (`session.lifetime`).
    pub(crate) fn new(
        idps: Arc<IdpRegistry>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
        public_url: url::Url,
        max_age: Duration,
    ) -> Self {
        OidcLogin {
            idps,
            store,
            clock,
            http,
            metrics,
            public_url,
            max_age,
        }
    }

    /// The authorization request for `idp`, and the pending login stored under its `state`.
    /// `return_to` must already be a path on this site (`crate::untrusted::safe_return_to`).
    pub(crate) async fn start(
        &self,
        idp: &OidcIdp,
        return_to: String,
    ) -> Result<Started, StartError> {
        let endpoints = idp.endpoints().ok_or(StartError::NotDiscovered)?;
        let (state, nonce, verifier) = (random(), random(), random());
        // RFC 7636 §4.2: S256, always.
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut url = endpoints.authorization;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &idp.cfg.client_id)
            .append_pair(
                "redirect_uri",
                &redirect_uri(&self.public_url, idp.id.as_str()),
            )
            .append_pair("scope", "openid email profile groups")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            // OIDC Core §3.1.2.1: an IdP session older than a broker session may live makes
            // the IdP authenticate again, so the session anchored at `auth_time` is not born
            // dead.
            .append_pair("max_age", &self.max_age.as_secs().to_string());
        let pending = Pending {
            idp: idp.id.to_string(),
            nonce,
            verifier,
            return_to,
        };
        let value = serde_json::to_vec(&pending).expect("a struct of strings serialises");
        self.store
            .put(&key("oidc_pending", &state), &value, PENDING_TTL)
            .await?;
        Ok(Started {
            authorization_url: url.to_string(),
            state,
        })
    }

    /// The callback at `/oidc/callback/{path_idp}`; `bound_state` is the pending-login cookie
    /// of the browser that followed it.
    pub(crate) async fn finish(
        &self,
        path_idp: &str,
        q: &Callback,
        bound_state: Option<&str>,
    ) -> Result<Finished, CallbackError> {
        let Some(state) = q.state.as_deref().filter(|s| s.len() <= 64) else {
            return Err(refused(
                "",
                "invalid_state",
                "The sign-in response has no valid state.",
            ));
        };
        // Login CSRF: the state must come back to the browser that started the login. Checked
        // before the pending login is taken, so a leaked state cannot burn a victim's sign-in.
        if bound_state != Some(state) {
            return Err(refused(
                "",
                "invalid_state",
                "This sign-in was started in another browser; start again.",
            ));
        }
        // Single use: taken before anything else, so a replayed callback finds nothing.
        let Some(bytes) = self.store.take(&key("oidc_pending", state)).await? else {
            return Err(refused(
                "",
                "invalid_state",
                "This sign-in has expired or was already used; start again.",
            ));
        };
        let pending: Pending =
            serde_json::from_slice(&bytes).map_err(|_| CallbackError::Corrupt)?;
        let name = pending.idp.as_str();
        let Some(idp) = self.idps.oidc_by_id(name) else {
            return Err(refused(
                name,
                "unknown_idp",
                "The identity provider is no longer configured.",
            ));
        };
        let Some(endpoints) = idp.endpoints() else {
            return Err(refused(
                name,
                "idp_unavailable",
                "The identity provider is unavailable.",
            ));
        };
        // Mix-up (RFC 9700 §4.4): the response must come back at this IdP's own redirect URI
        // and, when it names its issuer (RFC 9207), name this IdP's. Checked before the error
        // branch too: an error from another IdP says nothing about this login.
        if let Err(m) = mixup::check_authorization_response(
            path_idp,
            name,
            &idp.cfg.issuer,
            endpoints.iss_parameter_supported,
            q.iss.as_deref(),
        ) {
            return Err(refused(
                name,
                m.reason(),
                "This sign-in response did not come from the identity provider it was started with; start again.",
            ));
        }
        if q.error.as_deref() == Some("access_denied") {
            return Err(CallbackError::Cancelled {
                idp: name.to_string(),
            });
        }
        if let Some(e) = &q.error {
            tracing::warn!(idp = %name, error = %e.chars().take(64).collect::<String>(), "IdP returned an error");
            return Err(refused(
                name,
                "idp_error",
                "The identity provider did not sign you in.",
            ));
        }
        let Some(code) = q.code.as_deref() else {
            return Err(refused(
                name,
                "invalid_request",
                "The sign-in response has no code.",
            ));
        };
        let id_token = self.exchange(idp, endpoints.token, code, &pending).await?;
        let verified = match parse_header(&id_token) {
            Ok(h) => {
                idp.verify(&id_token, &h, self.clock.as_ref(), Some(&pending.nonce))
                    .await
            }
            Err(e) => Err(e),
        };
        let identity = verified.map_err(|e| {
            self.metrics
                .verify_failures
                .with_label_values(&[e.reason()])
                .inc();
            tracing::warn!(idp = %idp.id, reason = e.reason(), "ID token from the code flow rejected");
            refused(
                name,
                e.reason(),
                "The identity provider's ID token was not accepted.",
            )
        })?;
        Ok(Finished {
            identity,
            return_to: pending.return_to,
            idp: pending.idp,
        })
    }

    /// The authorization code for the ID token at the token endpoint (client_secret_basic,
    /// OIDC Core §9, or a public client), with this login's PKCE verifier.
    async fn exchange(
        &self,
        idp: &OidcIdp,
        token_endpoint: url::Url,
        code: &str,
        pending: &Pending,
    ) -> Result<String, CallbackError> {
        let name = pending.idp.as_str();
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            (
                "redirect_uri",
                redirect_uri(&self.public_url, idp.id.as_str()),
            ),
            ("code_verifier", pending.verifier.clone()),
        ];
        let mut request = self.http.post(token_endpoint).timeout(TOKEN_TIMEOUT);
        match &idp.cfg.client_secret {
            Some(secret) => {
                request = request.basic_auth(&idp.cfg.client_id, Some(secret.expose()));
            }
            None => form.push(("client_id", idp.cfg.client_id.clone())),
        }
        let response = request.form(&form).send().await.map_err(|e| {
            tracing::error!(idp = %idp.id, error = %e.without_url(), "token endpoint unreachable");
            CallbackError::Unreachable
        })?;
        if !response.status().is_success() {
            tracing::warn!(idp = %idp.id, status = %response.status(), "token endpoint refused the code");
            return Err(refused(
                name,
                "idp_error",
                "The identity provider refused to complete the sign-in.",
            ));
        }
        #[derive(Deserialize)]
        struct Tokens {
            id_token: String,
        }
        let tokens = response
            .json::<Tokens>()
            .await
            .map_err(|_| refused(name, "idp_error", "The identity provider sent no ID token."))?;
        Ok(tokens.id_token)
    }
}
