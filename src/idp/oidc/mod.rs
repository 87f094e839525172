//! One configured OIDC IdP: its settings, its key cache, and where the keys come from.
//! [`verify`] checks ID tokens (bearer tokens and the code flow alike); [`login`] is the
//! browser's code flow, HTTP-free; [`mixup`] its defence against IdP mix-up.

pub mod keys;
pub(crate) mod login;
pub(crate) mod mixup;
pub mod verify;

use crate::clock::Clock;
use crate::config::OidcIdpConfig;
use crate::domain::{Identity, IdpId};
use crate::idp::VerifyError;
use keys::{KeyCache, KeySet, MIN_REFETCH_INTERVAL};
use std::path::PathBuf;
use std::time::Duration;

/// Discovery documents and JWKS larger than this are refused (a hostile or broken endpoint
/// must not make the broker buffer without bound).
const MAX_DOC_BYTES: usize = 512 * 1024;

/// Why an IdP's keys could not be (re)loaded; logged, and the last good keys stay in place.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The `jwks_file` cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The JWK Set (file or `jwks_uri`) is unusable.
    #[error(transparent)]
    Jwks(#[from] keys::JwksError),
    /// Fetching the discovery document or the JWK Set failed.
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    /// The discovery document is not JSON.
    #[error("discovery document at {url} is not JSON: {source}")]
    DiscoveryNotJson {
        /// The discovery URL.
        url: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The discovery document's `issuer` is not the configured one (OIDC Discovery §4.3).
    #[error("discovery document at {url} names another issuer")]
    OtherIssuer {
        /// The discovery URL.
        url: String,
    },
    /// The discovery document has no `jwks_uri`.
    #[error("{url} has no jwks_uri")]
    NoJwksUri {
        /// The discovery URL.
        url: String,
    },
    /// `jwks_uri` does not parse.
    #[error("jwks_uri is not a URL")]
    JwksUriNotUrl,
    /// `jwks_uri` is plain http (and not loopback).
    #[error("jwks_uri must be https")]
    JwksUriNotHttps,
}

/// Where an OIDC IdP's signing keys come from.
pub enum KeySource {
    /// OIDC Discovery 1.0 §4 at `<issuer>/.well-known/openid-configuration`, then `jwks_uri`.
    Discovery(reqwest::Client),
    /// `jwks_file`: offline keys, read once at start.
    File(PathBuf),
}

/// One configured OIDC IdP: its settings and its cached keys.
pub struct OidcIdp {
    /// Its `[[idp]] id`.
    pub id: IdpId,
    /// Its settings.
    pub cfg: OidcIdpConfig,
    /// Its current signing keys, refreshed in place.
    pub keys: KeyCache,
    source: KeySource,
    /// From discovery: where browser sign-in (authorization code + PKCE) goes.
    endpoints: std::sync::RwLock<Option<Endpoints>>,
}

/// The authorization-code endpoints of an IdP (OIDC Discovery §3).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Where the browser is sent to sign in.
    pub authorization: url::Url,
    /// Where the code is exchanged.
    pub token: url::Url,
    /// RP-Initiated Logout 1.0 §2.1, when the IdP offers it.
    pub(crate) end_session: Option<url::Url>,
    /// RFC 9207 `authorization_response_iss_parameter_supported`: every authorization
    /// response then carries `iss`, and one without it is refused.
    pub(crate) iss_parameter_supported: bool,
}

impl OidcIdp {
    /// An IdP with no keys yet: [`OidcIdp::refresh`] loads them.
    pub fn new(id: IdpId, cfg: OidcIdpConfig, source: KeySource) -> Self {
        OidcIdp {
            id,
            cfg,
            keys: KeyCache::default(),
            source,
            endpoints: Default::default(),
        }
    }

    /// None until discovery ran (and always for `jwks_file` IdPs): no browser sign-in then.
    pub fn endpoints(&self) -> Option<Endpoints> {
        self.endpoints.read().expect("endpoints lock").clone()
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.keys.get().is_some()
    }

    /// Fetches and swaps in fresh keys. On failure the last good keys stay in place.
    pub async fn refresh(&self) -> Result<(), RefreshError> {
        let _one_at_a_time = self.keys.fetching.lock().await;
        let keys = match &self.source {
            KeySource::File(p) => {
                let bytes = tokio::fs::read(p)
                    .await
                    .map_err(|source| RefreshError::ReadFile {
                        path: p.clone(),
                        source,
                    })?;
                KeySet::from_jwks_json(&bytes)?
            }
            KeySource::Discovery(http) => self.discover(http).await?,
        };
        self.keys.replace(keys);
        Ok(())
    }

    async fn discover(&self, http: &reqwest::Client) -> Result<KeySet, RefreshError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.cfg.issuer.trim_end_matches('/')
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&fetch(http, &url).await?).map_err(|source| {
                RefreshError::DiscoveryNotJson {
                    url: url.clone(),
                    source,
                }
            })?;
        // OIDC Discovery §4.3: the `issuer` in the document must be identical to the one we use.
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.cfg.issuer.as_str()) {
            return Err(RefreshError::OtherIssuer { url });
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| RefreshError::NoJwksUri { url: url.clone() })?;
        let parsed = url::Url::parse(jwks_uri).map_err(|_| RefreshError::JwksUriNotUrl)?;
        if parsed.scheme() != "https" && !crate::config::is_loopback_url(&parsed) {
            return Err(RefreshError::JwksUriNotHttps);
        }
        let endpoint = |key: &str| {
            doc.get(key)
                .and_then(|v| v.as_str())
                .and_then(|u| url::Url::parse(u).ok())
                .filter(|u| u.scheme() == "https" || crate::config::is_loopback_url(u))
        };
        if let (Some(authorization), Some(token)) = (
            endpoint("authorization_endpoint"),
            endpoint("token_endpoint"),
        ) {
            *self.endpoints.write().expect("endpoints lock") = Some(Endpoints {
                authorization,
                token,
                end_session: endpoint("end_session_endpoint"),
                iss_parameter_supported: doc
                    .get("authorization_response_iss_parameter_supported")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
            });
        }
        Ok(KeySet::from_jwks_json(&fetch(http, jwks_uri).await?)?)
    }

    /// Verifies a bearer token. An unknown `kid` triggers one refetch (the IdP may have
    /// rotated), but no more than once a minute.
    /// `header` is `verify::parse_header(token)`, parsed once by the caller.
    pub async fn verify(
        &self,
        token: &str,
        header: &verify::Header,
        clock: &dyn Clock,
        nonce: Option<&str>,
    ) -> Result<Identity, VerifyError> {
        let x = verify::Expectations {
            idp: &self.id,
            cfg: &self.cfg,
            nonce,
        };
        let keys = self.keys.get().ok_or(VerifyError::KeysUnavailable)?;
        match verify::verify(token, header, &keys, clock, &x) {
            Err(VerifyError::UnknownKey) if self.keys.claim_fetch_slot(MIN_REFETCH_INTERVAL) => {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(idp = %self.id, error = %e, "key refetch after unknown kid failed; keeping last good keys");
                }
                let keys = self.keys.get().ok_or(VerifyError::KeysUnavailable)?;
                verify::verify(token, header, &keys, clock, &x)
            }
            other => other,
        }
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, crate::fetch::FetchError> {
    crate::fetch::get_capped(http, url, MAX_DOC_BYTES, Duration::from_secs(5)).await
}
