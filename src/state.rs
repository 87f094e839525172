//! What every request handler shares: built once by `startup`, immutable afterwards.

use crate::aws::Issuer;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::ApiError;
use crate::idp::IdpRegistry;
use crate::metrics::Metrics;
use crate::policy::Mapper;
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
    pub mapper: Arc<dyn Mapper>,
    pub issuer: Arc<dyn Issuer>,
    /// The broker's own issuer key (web_identity mode, and always in --dev).
    pub issuer_key: Option<Arc<SigningKey>>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    /// Store-backed fixed-window limit. A store error fails closed (503) like every other check.
    pub async fn rate_limit(&self, kind: &str, id: &str, per_minute: u32) -> Result<(), ApiError> {
        let n = self
            .store
            .incr(&key(kind, id), Duration::from_secs(60))
            .await
            .inspect_err(|_| {
                self.metrics
                    .store_errors
                    .with_label_values(&[self.store.backend()])
                    .inc();
            })?;
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
