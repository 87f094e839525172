//! Identity providers: turn a proof (today: an OIDC ID token) into an [`Identity`].
//!
//! `oidc` verifies bearer JWTs against an IdP's published keys; `dev` is the built-in
//! development IdP for `serve --dev`, which issues real ID tokens that the same `oidc` code
//! verifies. The registry finds the IdP a token claims to come from (by exact `iss`) and lets
//! only that IdP's verifier judge it.

pub(crate) mod dev;
pub mod oidc;
mod registry;
pub mod saml;

pub use registry::IdpRegistry;

use crate::domain::Identity;

/// Why a token was refused. `reason()` is a fixed label for metrics and logs;
/// `public_description()` is safe to return to the caller (it never echoes token content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Larger than the cap, refused before decoding.
    #[error("token is larger than {0} characters")]
    TooLarge(usize),
    /// Not a JWS compact token with JSON header and claims.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// An `alg` outside the allow list (`none`, HMAC and unknown ones included).
    #[error("signing algorithm `{0}` is not accepted")]
    UnsupportedAlgorithm(String),
    /// A `crit` header parameter: RFC 7515 says refuse what is not understood.
    #[error("token has critical header parameters this verifier does not understand")]
    UnsupportedCritical,
    /// A `typ` that marks another kind of token (an access token, a logout token).
    #[error("token type `{0}` is not an ID token")]
    WrongType(String),
    /// A `kid` the IdP's current keys do not have (even after a refetch).
    #[error("token was signed by a key the IdP does not publish")]
    UnknownKey,
    /// The signature does not verify with the key named.
    #[error("token signature is invalid")]
    BadSignature,
    /// The `iss` is no configured IdP.
    #[error("token issuer is not a configured identity provider")]
    UntrustedIssuer,
    /// No `aud` value is one this broker accepts.
    #[error("token audience does not include this broker")]
    WrongAudience,
    /// Several audiences and no `azp`: OIDC Core 3.1.3.7 needs it to know the intended client.
    #[error("token has several audiences but no `azp` naming this broker")]
    AzpRequired,
    /// An `azp` that is not an accepted client.
    #[error("token's authorized party (`azp`) is not this broker")]
    WrongAzp,
    /// No `exp`: a token without an end is refused.
    #[error("token has no `exp` claim")]
    MissingExpiry,
    /// Past `exp` (with the clock skew).
    #[error("token has expired")]
    Expired,
    /// Before `nbf` (with the clock skew).
    #[error("token is not valid yet (`nbf`)")]
    NotYetValid,
    /// No `iat`.
    #[error("token has no `iat` claim")]
    MissingIssuedAt,
    /// An `iat` later than now plus the clock skew.
    #[error("token was issued in the future (`iat`)")]
    IssuedInFuture,
    /// No `sub`: there would be no one to audit.
    #[error("token has no `sub` claim")]
    MissingSubject,
    /// A configured `required_claims` entry is absent or differs.
    #[error("token lacks the required claim `{0}` or has another value")]
    RequiredClaim(String),
    /// The `nonce` is not the one this sign-in sent.
    #[error("token nonce does not match")]
    NonceMismatch,
    /// Keys not fetched yet (discovery still failing): a retryable outage, not a bad token.
    #[error("the identity provider's signing keys are not available yet")]
    KeysUnavailable,
}

impl VerifyError {
    /// The fixed label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        use VerifyError::*;
        match self {
            TooLarge(_) => "too_large",
            Malformed(_) => "malformed",
            UnsupportedAlgorithm(_) => "unsupported_alg",
            UnsupportedCritical => "unsupported_crit",
            WrongType(_) => "wrong_typ",
            UnknownKey => "unknown_kid",
            BadSignature => "bad_signature",
            UntrustedIssuer => "untrusted_issuer",
            WrongAudience => "wrong_aud",
            AzpRequired => "azp_required",
            WrongAzp => "wrong_azp",
            MissingExpiry => "missing_exp",
            Expired => "expired",
            NotYetValid => "not_yet_valid",
            MissingIssuedAt => "missing_iat",
            IssuedInFuture => "iat_in_future",
            MissingSubject => "missing_sub",
            RequiredClaim(_) => "required_claim",
            NonceMismatch => "nonce_mismatch",
            KeysUnavailable => "keys_unavailable",
        }
    }

    pub(crate) fn public_description(&self) -> String {
        self.to_string()
    }
}

/// What a successful verification yields.
pub type Verified = Result<Identity, VerifyError>;
