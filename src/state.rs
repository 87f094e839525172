//! What every request handler shares: built once by `startup`, immutable afterwards.

use crate::aws::Issuer;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::ApiError;
use crate::idp::IdpRegistry;
use crate::metrics::Metrics;
use crate::policy::Mapper;
use crate::policy::loader::PolicyMapper;
use crate::store::{Store, key};
use crate::token::SigningKey;
use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub struct AppState {
    pub config: Arc<Config>,
    pub public_url: url::Url,
    pub store: Arc<dyn Store>,
    pub idps: Arc<IdpRegistry>,
    pub saml: Arc<crate::idp::saml::service::SamlService>,
    pub mapper: Arc<dyn Mapper>,
    /// The same policy as `mapper`, for explain, reload and its status.
    pub policy: Arc<PolicyMapper>,
    pub issuer: Arc<dyn Issuer>,
    /// The broker's own issuer key (web_identity mode, and always in --dev).
    pub issuer_key: Option<Arc<SigningKey>>,
    pub metrics: Arc<Metrics>,
    pub audit: Arc<crate::audit::Audit>,
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
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy — then the rightmost
/// `X-Forwarded-For` hop that is not itself a trusted proxy (the leftmost hops are whatever
/// the client chose to write, so they are never believed).
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(hops.first())
        .copied()
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn ip(peer: &str, xff: Option<&str>, trusted: &[&str]) -> String {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        if let Some(x) = xff {
            req = req.insert_header(("x-forwarded-for", x));
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        client_ip(&req.to_http_request(), &trusted)
            .unwrap()
            .to_string()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        // No trusted proxies: the header is ignored, whatever it says.
        assert_eq!(ip("203.0.113.9", Some("1.2.3.4"), &[]), "203.0.113.9");
        // From a trusted proxy: the rightmost untrusted hop, not the client-written leftmost.
        assert_eq!(
            ip(
                "10.0.0.5",
                Some("6.6.6.6, 198.51.100.7, 10.0.0.4"),
                &["10.0.0.0/8"]
            ),
            "198.51.100.7"
        );
        // Garbage hops are skipped; all hops trusted → the leftmost.
        assert_eq!(
            ip("10.0.0.5", Some("junk, 10.1.1.1"), &["10.0.0.0/8"]),
            "10.1.1.1"
        );
        // A trusted proxy that sent no header: the proxy itself.
        assert_eq!(ip("10.0.0.5", None, &["10.0.0.0/8"]), "10.0.0.5");
    }
}
