//! OAuth 2.0 for the `rolegate` CLI: how an engineer's terminal gets a broker token without
//! ever holding an IdP password or an AWS key.
//!
//! Two ways in, both ending with a browser session that approved the request:
//! - [`device`]: RFC 8628 device authorization — the CLI shows a short user code, the user
//!   confirms it on `/device` in any browser (a laptop for an SSH session);
//! - [`code`]: the loopback flow of RFC 8252 §7.3 — the CLI listens on `127.0.0.1:<port>`, the
//!   browser on the same machine comes back there with a single-use code bound to a PKCE S256
//!   challenge (RFC 7636).
//!
//! Both yield [`tokens`]: an opaque access token the API accepts as `Authorization: Bearer`,
//! and a refresh token that rotates on every use; a rotated token presented again revokes its
//! whole family — except a retry within a short grace, which gets the same successor back. A family ends at the
//! absolute `[cli] session_lifetime`, after which the user signs in at the IdP again.
//!
//! Everything is stored hashed (SHA-256 of the token) with a TTL; nothing here trusts the CLI.

#[cfg(feature = "server")]
pub(crate) mod code;
#[cfg(feature = "server")]
pub(crate) mod device;
#[cfg(feature = "server")]
pub(crate) mod tokens;

#[cfg(feature = "server")]
use sha2::{Digest, Sha256};

/// The CLI's sign-ins: device requests, authorization codes, broker tokens and their refresh
/// families, all in the store.
#[cfg(feature = "server")]
pub(crate) struct CliTokens {
    pub(crate) store: std::sync::Arc<dyn crate::store::Store>,
    pub(crate) clock: std::sync::Arc<dyn crate::clock::Clock>,
    pub(crate) audit: std::sync::Arc<crate::audit::Audit>,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// `[cli]`: the flows offered and the lifetimes of tokens and sign-ins.
    pub config: crate::config::CliConfig,
    /// A sign-in a revocation (of the person, their IdP, or everyone) or the IdP's removal
    /// ended is refused at its next use.
    pub(crate) revocations: std::sync::Arc<crate::revocation::Revocations>,
}

#[cfg(feature = "server")]
impl CliTokens {
    /// The CLI's sign-ins kept in `store`.
    pub(crate) fn new(
        store: std::sync::Arc<dyn crate::store::Store>,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
        audit: std::sync::Arc<crate::audit::Audit>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        config: crate::config::CliConfig,
        revocations: std::sync::Arc<crate::revocation::Revocations>,
    ) -> Self {
        CliTokens {
            store,
            clock,
            audit,
            metrics,
            config,
            revocations,
        }
    }
}

/// Why a CLI grant, token or device request was refused.
#[cfg(feature = "server")]
#[derive(Debug, thiserror::Error)]
pub(crate) enum GrantError {
    /// RFC 6749 §5.2 `invalid_grant`: the code, token or device request is not good (any
    /// more); the text says what to do.
    #[error("{0}")]
    InvalidGrant(String),
    /// The store failed: refused, never accepted.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A stored record could not be encoded or read back (a bug, not input).
    #[error("a stored record could not be encoded or read")]
    Internal,
}

/// The built-in public client (no secret: a CLI cannot keep one).
pub(crate) const CLI_CLIENT_ID: &str = "rolegate-cli";

/// 256 random bits, URL-safe, with a prefix that says what the token is (and lets secret
/// scanners find leaked ones).
#[cfg(feature = "server")]
pub(crate) fn random_token(prefix: &str) -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What the store keys a token under: a store dump never yields a usable token.
#[cfg(feature = "server")]
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
