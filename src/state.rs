//! What the handlers share besides their services: built once by `startup`, immutable
//! afterwards. The stages themselves are services of their own, each registered with the app
//! on its own so a handler names the ones it uses: [`crate::issue::Issuance`],
//! [`crate::session::Sessions`], [`crate::favourites::Favourites`],
//! [`crate::oauth::CliTokens`], [`crate::rate_limit::RateLimits`],
//! [`crate::idp::saml::login::SamlLogin`], [`crate::idp::oidc::login::OidcLogin`],
//! [`crate::audit::Audit`], [`crate::metrics::Metrics`], and the proxy list behind
//! [`crate::routes::client::ClientIp`].

use crate::clock::Clock;
use crate::config::Config;
use crate::idp::IdpRegistry;
use crate::policy::loader::PolicyMapper;
use crate::store::Store;
use crate::token::SigningKey;
use std::sync::Arc;

/// The broker's configuration and the read-only views handlers render from.
pub struct AppState {
    /// The validated configuration (policies reload separately, through `policy`).
    pub config: Arc<Config>,
    /// `[server] public_url`: what the broker calls itself in links, cookies and metadata.
    pub public_url: url::Url,
    /// The store, for readiness and the `--dev` IdP's codes only: every other use goes
    /// through a service that owns its keys.
    pub store: Arc<dyn Store>,
    /// The OIDC IdPs (and the dev IdP): bearer-token verification and their keys.
    pub idps: Arc<IdpRegistry>,
    /// The SAML service provider: each SAML IdP's metadata (the sign-in page lists them, the
    /// metadata route publishes ours).
    pub saml: Arc<crate::idp::saml::service::SamlService>,
    /// The role-mapping policy: decisions ([`crate::policy::Mapper`]), explain, reload and
    /// its status.
    pub policy: Arc<PolicyMapper>,
    /// The broker's own signing key as an OIDC issuer toward AWS (web_identity mode, and
    /// always in --dev), published at `/.well-known/jwks.json`.
    pub broker_key: Option<Arc<SigningKey>>,
    /// The one clock every time check reads (injected in tests).
    pub clock: Arc<dyn Clock>,
    /// Outbound HTTP (discovery, JWKS, SAML metadata refreshes).
    pub http: reqwest::Client,
}
