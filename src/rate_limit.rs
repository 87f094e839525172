//! Per-minute budgets in the store: per client address for the unauthenticated surfaces
//! (`/login`, the ACS, the OIDC callback, `/oauth2/*`, bearer-token failures) and per
//! subject for issuance. Fixed one-minute windows; a store that cannot count fails closed.

use crate::store::{Store, StoreError, key};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The counters behind every rate limit.
pub struct RateLimits {
    store: Arc<dyn Store>,
}

/// Why a request was not let through.
#[derive(Debug, thiserror::Error)]
pub enum RateLimited {
    /// The budget for this minute is spent.
    #[error("more than {per_minute} requests a minute; slow down")]
    Exceeded {
        /// The budget that was exceeded.
        per_minute: u32,
    },
    /// The counter could not be read or written: refused, as every check fails closed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RateLimits {
    /// Counters kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        RateLimits { store }
    }

    /// Counts one request against `budget` (`ratelimit:acs` …) for `who`.
    pub async fn check(&self, budget: &str, who: &str, per_minute: u32) -> Result<(), RateLimited> {
        let n = self
            .store
            .incr(&key(budget, who), Duration::from_secs(60))
            .await?;
        if n > u64::from(per_minute) {
            return Err(RateLimited::Exceeded { per_minute });
        }
        Ok(())
    }

    /// [`Self::check`] keyed by the client's address (the one policies and the audit stream
    /// see; unknown addresses share one budget); `per_minute` 0 = off.
    pub async fn per_client(
        &self,
        budget: &str,
        client: Option<IpAddr>,
        per_minute: u32,
    ) -> Result<(), RateLimited> {
        if per_minute == 0 {
            return Ok(());
        }
        self.check(budget, &client_label(client), per_minute).await
    }
}

/// A client address as audit lines and rate-limit keys write it: `-` when unknown.
pub fn client_label(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "-".to_string(), |i| i.to_string())
}
