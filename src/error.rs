//! The ONE place where errors of every layer become HTTP responses.
//!
//! Each layer has its own error enum and knows nothing of HTTP. Here each maps to a status, a
//! stable OAuth-style `error` code and a public `error_description` that never carries the
//! cause (the cause goes to the log, tied to the request id the client also sees).

use crate::aws::IssueError;
use crate::aws::limits::LimitError;
use crate::idp::VerifyError;
use crate::policy::Denied;
use crate::store::StoreError;
use crate::telemetry;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// Bearer-token failures answer with `WWW-Authenticate` (RFC 6750 §3).
    pub www_authenticate: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
    request_id: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
            www_authenticate: None,
        }
    }

    pub(crate) fn bad_request(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }

    pub(crate) fn forbidden(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, description)
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
    pub(crate) fn missing_token() -> Self {
        ApiError {
            www_authenticate: Some(r#"Bearer realm="rolegate""#.into()),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "send the IdP's ID token as `Authorization: Bearer <token>`",
            )
        }
    }

    pub(crate) fn invalid_token(description: impl Into<String>) -> Self {
        let description = description.into();
        let quoted = description.replace(['"', '\\'], "'");
        ApiError {
            www_authenticate: Some(format!(
                r#"Bearer realm="rolegate", error="invalid_token", error_description="{quoted}""#
            )),
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
        }
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error; quote the request id",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.description
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(challenge) = &self.www_authenticate {
            res.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
        }
        res.json(Body {
            error: self.code,
            error_description: &self.description,
            request_id: telemetry::current_request_id(),
        })
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        ApiError::invalid_token(e.public_description())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure; failing closed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the broker's state store is unavailable; try again shortly",
        )
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "access_denied", e.to_string())
    }
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        ApiError::bad_request(e.code(), e.to_string())
    }
}

/// A value STS sent that a format cannot hold (see [`crate::present`]): STS's answer is at
/// fault, as with any other unusable answer. The reason goes to the log.
impl From<crate::present::Unpresentable> for ApiError {
    fn from(_: crate::present::Unpresentable) -> Self {
        IssueError::Upstream.into()
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        use IssueError::*;
        match e {
            AccessDenied => ApiError::new(
                StatusCode::FORBIDDEN,
                "sts_access_denied",
                "AWS STS refused to assume the role: check that the role's trust policy trusts the broker \
                 (sts:AssumeRole, sts:TagSession, sts:SetSourceIdentity)",
            ),
            Validation(hint) => ApiError::bad_request(
                "sts_validation_error",
                format!("AWS STS rejected the request: {hint}"),
            ),
            PackedPolicyTooLarge => ApiError::bad_request(
                "sts_packed_policy_too_large",
                "AWS STS says the session policies and tags are too large once packed; use fewer or shorter ones",
            ),
            Throttled => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sts_throttled",
                "AWS STS is throttling the broker; try again in a few seconds",
            ),
            Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sts_unavailable",
                "AWS STS did not answer in time; try again shortly",
            ),
            Upstream => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "AWS STS failed; quote the request id",
            ),
            Internal => ApiError::internal(),
        }
    }
}

impl From<crate::aws::console::ConsoleError> for ApiError {
    fn from(e: crate::aws::console::ConsoleError) -> Self {
        use crate::aws::console::ConsoleError::*;
        match e {
            BadDestination => ApiError::bad_request("invalid_destination", e.to_string()),
            Unavailable => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "the AWS console federation endpoint is unavailable; try again",
            ),
            Refused => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "federation_refused",
                "the AWS console federation endpoint refused the session",
            ),
        }
    }
}

impl From<crate::rate_limit::RateLimited> for ApiError {
    fn from(e: crate::rate_limit::RateLimited) -> Self {
        use crate::rate_limit::RateLimited::*;
        match e {
            Exceeded { .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
            }
            Store(e) => e.into(),
        }
    }
}

impl From<crate::session::SessionError> for ApiError {
    fn from(e: crate::session::SessionError) -> Self {
        use crate::session::SessionError::*;
        match e {
            Store(e) => e.into(),
            Encode => ApiError::internal(),
        }
    }
}

impl From<crate::issue::NotIssued> for ApiError {
    fn from(e: crate::issue::NotIssued) -> Self {
        use crate::issue::NotIssued::*;
        match e {
            Denied(e) => e.into(),
            Limits(e) => e.into(),
            RateLimited(e) => e.into(),
            Sts(e) => e.into(),
            Console(e) => e.into(),
            Unrecorded(e) | Unchecked(e) => e.into(),
            Revoked(e) => ApiError::forbidden("session_revoked", e.to_string()),
        }
    }
}

impl From<crate::inventory::ListError> for ApiError {
    fn from(e: crate::inventory::ListError) -> Self {
        use crate::inventory::ListError::*;
        match e {
            NotPermitted => ApiError::forbidden("access_denied", e.to_string()),
            BadUser => ApiError::bad_request("invalid_request", e.to_string()),
            Store(e) => e.into(),
        }
    }
}

impl From<crate::revocation::request::RevokeError> for ApiError {
    fn from(e: crate::revocation::request::RevokeError) -> Self {
        use crate::revocation::request::RevokeError::*;
        match e {
            Invalid(why) => ApiError::bad_request("invalid_request", why),
            NotPermitted(why) => ApiError::forbidden("access_denied", why),
            UnknownSession(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            Store(e) => e.into(),
        }
    }
}

impl From<crate::oauth::GrantError> for ApiError {
    fn from(e: crate::oauth::GrantError) -> Self {
        use crate::oauth::GrantError::*;
        match e {
            InvalidGrant(why) => ApiError::bad_request("invalid_grant", why),
            Store(e) => e.into(),
            Internal => ApiError::internal(),
        }
    }
}

/// A SAML sign-in that cannot start. The pages show the same status, code and text.
impl From<crate::idp::saml::login::StartError> for ApiError {
    fn from(e: crate::idp::saml::login::StartError) -> Self {
        use crate::idp::saml::login::StartError::*;
        match e {
            NoSsoEndpoint => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "no_sso_endpoint",
                "The identity provider's metadata has no HTTP-Redirect sign-in endpoint.",
            ),
            AuthnRequest(detail) => {
                tracing::error!(error = %detail, "cannot build the AuthnRequest");
                ApiError::internal()
            }
            Store(e) => e.into(),
        }
    }
}

/// An OIDC sign-in that cannot start.
impl From<crate::idp::oidc::login::StartError> for ApiError {
    fn from(e: crate::idp::oidc::login::StartError) -> Self {
        use crate::idp::oidc::login::StartError::*;
        match e {
            NotDiscovered => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "idp_unavailable",
                "This identity provider's sign-in endpoints are not known yet (discovery); try again shortly.",
            ),
            Store(e) => e.into(),
        }
    }
}

/// The ACS's failures other than a refused Response (whose page, audit line and cookie the
/// route writes: `routes/saml.rs`).
impl From<crate::idp::saml::login::AcsError> for ApiError {
    fn from(e: crate::idp::saml::login::AcsError) -> Self {
        use crate::idp::saml::login::AcsError::*;
        match e {
            Refused(e) => ApiError::new(
                StatusCode::FORBIDDEN,
                e.code(),
                "The sign-in response from your identity provider was not accepted.",
            ),
            Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the broker is busy verifying sign-ins; try again in a few seconds",
            ),
            Lost => ApiError::internal(),
            // Store down: fail closed (503).
            Store(e) => e.into(),
        }
    }
}

/// The OIDC callback's failures other than a refusal or a cancel (`routes/oidc_login.rs`).
impl From<crate::idp::oidc::login::CallbackError> for ApiError {
    fn from(e: crate::idp::oidc::login::CallbackError) -> Self {
        use crate::idp::oidc::login::CallbackError::*;
        match e {
            Refused {
                reason, message, ..
            } => ApiError::new(StatusCode::FORBIDDEN, reason, message),
            Cancelled { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "cancelled",
                "The sign-in was cancelled at the identity provider; nothing was signed in.",
            ),
            Unreachable => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "the identity provider is unavailable",
            ),
            Corrupt => ApiError::internal(),
            Store(e) => e.into(),
        }
    }
}
