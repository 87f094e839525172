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
    #[error("token is larger than {0} characters")]
    TooLarge(usize),
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("signing algorithm `{0}` is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("token has critical header parameters this verifier does not understand")]
    UnsupportedCritical,
    #[error("token type `{0}` is not an ID token")]
    WrongType(String),
    #[error("token was signed by a key the IdP does not publish")]
    UnknownKey,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token issuer is not a configured identity provider")]
    UntrustedIssuer,
    #[error("token audience does not include this broker")]
    WrongAudience,
    #[error("token has several audiences but no `azp` naming this broker")]
    AzpRequired,
    #[error("token's authorized party (`azp`) is not this broker")]
    WrongAzp,
    #[error("token has no `exp` claim")]
    MissingExpiry,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (`nbf`)")]
    NotYetValid,
    #[error("token has no `iat` claim")]
    MissingIssuedAt,
    #[error("token was issued in the future (`iat`)")]
    IssuedInFuture,
    #[error("token has no `sub` claim")]
    MissingSubject,
    #[error("token lacks the required claim `{0}` or has another value")]
    RequiredClaim(String),
    #[error("token nonce does not match")]
    NonceMismatch,
    #[error("the identity provider's signing keys are not available yet")]
    KeysUnavailable,
}

impl VerifyError {
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
