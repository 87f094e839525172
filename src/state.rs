//! What every request handler shares: built once by `startup`, immutable afterwards.

use crate::aws::Issuer;
use crate::client_addr::{ForwardedHeader, TrustedProxies};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::ApiError;
use crate::idp::IdpRegistry;
use crate::metrics::Metrics;
use crate::policy::loader::PolicyMapper;
use crate::store::{Store, key};
use crate::token::SigningKey;
use actix_web::HttpRequest;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub struct AppState {
    /// The validated configuration (policies reload separately, through `policy`).
    pub config: Arc<Config>,
    /// `[server] public_url`: what the broker calls itself in links, cookies and metadata.
    pub public_url: url::Url,
    /// Short-lived shared state (memory or Redis, metered): pending logins, replay caches,
    /// sessions, codes, rate-limit counters.
    pub store: Arc<dyn Store>,
    /// The OIDC IdPs (and the dev IdP): bearer-token verification and their keys.
    pub idps: Arc<IdpRegistry>,
    /// The SAML service provider: each SAML IdP's metadata and the verifiers.
    pub saml: Arc<crate::idp::saml::service::SamlService>,
    /// Browser sign-in through SAML IdPs: start and ACS.
    pub saml_login: Arc<crate::idp::saml::login::SamlLogin>,
    /// Browser sign-in through OIDC IdPs: start and callback.
    pub oidc_login: Arc<crate::idp::oidc::login::OidcLogin>,
    /// The role-mapping policy: decisions ([`crate::policy::Mapper`]), explain, reload and
    /// its status.
    pub policy: Arc<PolicyMapper>,
    /// What calls STS (`assume_role` or `web_identity`).
    pub sts: Arc<dyn Issuer>,
    /// The broker's own signing key as an OIDC issuer toward AWS (web_identity mode, and
    /// always in --dev), published at `/.well-known/jwks.json`.
    pub broker_key: Option<Arc<SigningKey>>,
    /// Prometheus counters and histograms.
    pub metrics: Arc<Metrics>,
    /// The audit stream: one event per issuance and per refusal.
    pub audit: Arc<crate::audit::Audit>,
    /// The one clock every time check reads (injected in tests).
    pub clock: Arc<dyn Clock>,
    /// Outbound HTTP (discovery, JWKS, SAML metadata).
    pub http: reqwest::Client,
}

impl AppState {
    /// Store-backed fixed-window limit. A store error fails closed (503) like every other check.
    pub async fn rate_limit(&self, kind: &str, id: &str, per_minute: u32) -> Result<(), ApiError> {
        let n = self
            .store
            .incr(&key(kind, id), Duration::from_secs(60))
            .await?;
        if n > u64::from(per_minute) {
            return Err(ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("more than {per_minute} requests a minute; slow down"),
            ));
        }
        Ok(())
    }

    /// [`Self::rate_limit`] keyed by the client address ([`client_ip`]: the same one policies
    /// see); `per_minute` 0 = off. `kind` names the budget (`ratelimit:acs` …).
    pub async fn limit_per_ip(
        &self,
        req: &HttpRequest,
        kind: &str,
        per_minute: u32,
    ) -> Result<(), ApiError> {
        if per_minute == 0 {
            return Ok(());
        }
        self.rate_limit(kind, &self.client_label(req), per_minute)
            .await
    }

    /// [`client_ip`] as audit lines and rate-limit keys write it: `-` when unknown.
    pub fn client_label(&self, req: &HttpRequest) -> String {
        client_ip(req, &self.config.server.trusted_proxies)
            .map_or_else(|| "-".to_string(), |i| i.to_string())
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy — then the walk of
/// [`crate::client_addr`] through the configured forwarding header. Policies (`aws:SourceIp`),
/// rate limits and the audit stream all use this one address.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let name = match trusted.header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let lines = req.headers().get_all(name).map(|v| v.to_str().ok());
    Some(trusted.client(peer, lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn ip(
        peer: &str,
        headers: &[(&str, &str)],
        trusted: &[&str],
        header: ForwardedHeader,
    ) -> String {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        for (n, v) in headers {
            req = req.append_header((*n, *v));
        }
        let trusted = TrustedProxies {
            nets: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            header,
        };
        client_ip(&req.to_http_request(), &trusted)
            .unwrap()
            .to_string()
    }

    #[test]
    fn only_the_configured_forwarding_header_is_read() {
        let h = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
            ("cf-connecting-ip", "198.51.100.3"),
            ("x-real-ip", "198.51.100.4"),
        ];
        let t = &["10.0.0.0/8"];
        assert_eq!(
            ip("10.0.0.5", &h, t, ForwardedHeader::XForwardedFor),
            "198.51.100.1"
        );
        assert_eq!(
            ip("10.0.0.5", &h, t, ForwardedHeader::Forwarded),
            "198.51.100.2"
        );
        assert_eq!(
            ip("203.0.113.9", &h, t, ForwardedHeader::XForwardedFor),
            "203.0.113.9"
        );
    }

    #[test]
    fn xff_multiple_header_lines_are_read_in_order() {
        let h = [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7, 10.0.0.4"),
        ];
        assert_eq!(
            ip(
                "10.0.0.5",
                &h,
                &["10.0.0.0/8"],
                ForwardedHeader::XForwardedFor
            ),
            "198.51.100.7"
        );
    }
}
