//! All configured IdPs, and the choice of which one judges a bearer token.

use super::VerifyError;
use super::dev::DevIdp;
use super::oidc::verify::{MAX_TOKEN_CHARS, parse_header, peek_issuer};
use super::oidc::{KeySource, OidcIdp, RefreshError};
use crate::clock::Clock;
use crate::config::{Config, IdpKind};
use crate::domain::{Identity, IdpId};
use crate::token::KeyError;
use std::sync::Arc;

/// Every configured IdP that verifies bearer tokens: OIDC, and the dev IdP in `--dev`.
pub struct IdpRegistry {
    oidc: Vec<Arc<OidcIdp>>,
    /// The built-in dev IdP, in `--dev` only.
    pub dev: Option<Arc<DevIdp>>,
}

impl IdpRegistry {
    /// Builds every IdP; keys are loaded later by [`IdpRegistry::refresh_all`] (after the
    /// server listens, because the dev IdP's discovery is served by the broker itself). Only
    /// the dev IdP's key can fail.
    pub fn build(
        config: &Config,
        public_url: &url::Url,
        http: &reqwest::Client,
    ) -> Result<Self, KeyError> {
        let mut oidc = Vec::new();
        let mut dev = None;
        for idp in &config.idps {
            match &idp.kind {
                IdpKind::Oidc(cfg) => {
                    let source = match &cfg.jwks_file {
                        Some(p) => KeySource::File(p.clone()),
                        None => KeySource::Discovery(http.clone()),
                    };
                    oidc.push(Arc::new(OidcIdp::new(
                        idp.id.clone(),
                        (**cfg).clone(),
                        source,
                    )));
                }
                IdpKind::Dev(d) => {
                    let dev_idp =
                        Arc::new(DevIdp::new(idp.id.clone(), public_url, d.users.clone())?);
                    let source = KeySource::Discovery(http.clone());
                    oidc.push(Arc::new(OidcIdp::new(
                        idp.id.clone(),
                        dev_idp.oidc_config(),
                        source,
                    )));
                    dev = Some(dev_idp);
                }
                // SAML IdPs sign browsers in through the ACS (idp::saml::service); they
                // issue no bearer tokens.
                IdpKind::Saml(_) => {}
            }
        }
        Ok(IdpRegistry { oidc, dev })
    }

    /// The OIDC IdPs, in configuration order.
    pub fn oidc(&self) -> &[Arc<OidcIdp>] {
        &self.oidc
    }

    /// The OIDC IdP configured under `id`.
    pub(crate) fn oidc_by_id(&self, id: &str) -> Option<&Arc<OidcIdp>> {
        self.oidc.iter().find(|i| i.id.as_str() == id)
    }

    pub(crate) fn all_ready(&self) -> bool {
        self.oidc.iter().all(|i| i.is_ready())
    }

    /// Loads keys for every IdP, one result per IdP in configuration order (the server's key
    /// refresher runs this; a failure keeps that IdP's last good keys in place).
    pub async fn refresh_all(&self) -> Vec<(&IdpId, Result<(), RefreshError>)> {
        let mut results = Vec::with_capacity(self.oidc.len());
        for idp in &self.oidc {
            results.push((&idp.id, idp.refresh().await));
        }
        results
    }

    /// Verifies an IdP-issued bearer token with the verifier of the IdP named by its exact
    /// `iss`. The unverified `iss` only selects the verifier; that verifier checks it again.
    pub(crate) async fn verify_bearer(
        &self,
        token: &str,
        clock: &dyn Clock,
    ) -> Result<Identity, VerifyError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(VerifyError::TooLarge(MAX_TOKEN_CHARS));
        }
        let header = parse_header(token)?; // structural errors first, before reading any claim
        let iss = peek_issuer(token).ok_or(VerifyError::Malformed("payload has no iss"))?;
        let idp = self
            .oidc
            .iter()
            .find(|i| i.cfg.issuer == iss)
            .ok_or(VerifyError::UntrustedIssuer)?;
        idp.verify(token, &header, clock, None).await
    }
}
