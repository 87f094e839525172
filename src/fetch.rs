//! Outbound fetches of documents the broker trusts (OIDC discovery, JWKS, SAML metadata).
//!
//! Two rules for every such fetch: the body is capped while it streams in — a hostile or
//! broken server that sends gigabytes (or never stops) costs at most the cap in memory — and
//! a redirect is followed only to `https`, so a compromised or misconfigured origin cannot
//! move the fetch onto plain http, where anyone on the path could swap the keys.

use std::time::Duration;

/// Redirects a fetch follows at most (all of them to https).
const MAX_REDIRECTS: usize = 5;

/// The redirect policy of the broker's outbound client: https targets only, at most
/// `MAX_REDIRECTS`. Plain http (even loopback, which configs allow for tests and `--dev`)
/// is never reached through a redirect.
pub(crate) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let scheme = attempt.url().scheme().to_string();
        if scheme != "https" {
            attempt.error(format!(
                "refused a redirect to {scheme}: only https is followed"
            ))
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// Why a capped fetch failed; every text names the URL, never a body. `pub` (in a crate-private
/// module) because the public IdP and SAML errors carry it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed (connection, TLS, timeout, a refused redirect).
    #[error("GET {url}: {reason}")]
    Request {
        /// The URL.
        url: String,
        /// reqwest's message and its source chain.
        reason: String,
    },
    /// The server answered with a non-success status.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
    },
    /// The body passed the cap.
    #[error("GET {url}: document larger than {max} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap, in bytes.
        max: usize,
    },
}

/// GETs `url` and returns its body, refusing (and hanging up) as soon as more than `max`
/// bytes have arrived. The error names the URL, never a body.
pub(crate) async fn get_capped(
    http: &reqwest::Client,
    url: &str,
    max: usize,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    let request = |e: &reqwest::Error| FetchError::Request {
        url: url.to_string(),
        reason: describe(e),
    };
    let mut res = http
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| request(&e))?;
    if !res.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: res.status(),
        });
    }
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
        max,
    };
    if res
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| request(&e))? {
        if body.len() + chunk.len() > max {
            // Dropping `res` closes the connection: the rest is never read.
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's message plus its source chain (a refused redirect's reason sits in the source).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
