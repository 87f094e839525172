//! The authenticated caller of an API route (`Authorization: Bearer`): a verified IdP ID token
//! (apps), or a broker access token from `rolegate login` (the CLI, [`crate::oauth::tokens`]).

use crate::domain::{ClientKind, Identity};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::oauth::{CliTokens, tokens};
use crate::policy::RequestContext;
use crate::rate_limit::RateLimits;
use crate::routes::client::ClientIp;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

pub(crate) struct Caller {
    pub identity: Identity,
    pub ip: Option<IpAddr>,
    /// `Cli` for broker tokens, `Api` for IdP tokens: policies may tell them apart
    /// (`rolegate:client`).
    pub client: ClientKind,
    /// The `User-Agent`, recorded with the sessions issued to this caller.
    pub user_agent: Option<String>,
}

impl Caller {
    pub(crate) fn context(&self, state: &AppState) -> RequestContext<'_> {
        RequestContext {
            aws_session: None,
            identity: &self.identity,
            client: self.client,
            source_ip: self.ip,
            now: state.clock.now(),
        }
    }

    /// What the caller asks the issuance for.
    pub(crate) fn asks<'a>(
        &'a self,
        role: &'a str,
        duration_seconds: Option<u64>,
        action: crate::policy::Action,
    ) -> crate::issue::Request<'a> {
        crate::issue::Request {
            identity: &self.identity,
            client: self.client,
            ip: self.ip,
            role,
            duration_seconds,
            action,
            user_agent: self.user_agent.as_deref(),
            reason: None,
        }
    }
}

/// RFC 6750 §2.1: `Bearer` (case-insensitive) and the token.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let ip = ClientIp::extract_sync(&req, payload);
        Box::pin(async move {
            let state = super::service::<AppState>(&req)?;
            let token = bearer(&req).ok_or_else(ApiError::missing_token)?;
            // Before verification, so a flood of junk tokens is throttled per client address.
            let limit = state.config.limits.requests_per_minute_per_ip;
            if let (Some(ip), true) = (ip.0, limit > 0) {
                let limits = super::service::<RateLimits>(&req)?;
                limits.check("ratelimit:ip", &ip.to_string(), limit).await?;
            }
            let metrics = super::service::<Metrics>(&req)?;
            let (identity, client) = if token.starts_with(tokens::ACCESS_PREFIX) {
                let cli = super::service::<CliTokens>(&req)?;
                (broker_token(&cli, &metrics, &token).await?, ClientKind::Cli)
            } else {
                (
                    id_token(&state, &metrics, &token, ip).await?,
                    ClientKind::Api,
                )
            };
            Ok(Caller {
                identity,
                ip: ip.0,
                client,
                user_agent: crate::routes::client::user_agent(&req).map(str::to_string),
            })
        })
    }
}

/// A broker access token from `rolegate login`.
async fn broker_token(
    cli: &CliTokens,
    metrics: &Metrics,
    token: &str,
) -> Result<Identity, ApiError> {
    match tokens::authenticate(cli, token).await? {
        Some(identity) => Ok(identity),
        None => {
            metrics
                .verify_failures
                .with_label_values(&["broker_token"])
                .inc();
            Err(ApiError::invalid_token(
                "unknown, expired or revoked broker token; run `rolegate login`",
            ))
        }
    }
}

/// An IdP's ID token, verified against that IdP's keys.
async fn id_token(
    state: &AppState,
    metrics: &Metrics,
    token: &str,
    ip: ClientIp,
) -> Result<Identity, ApiError> {
    let e = match state.idps.verify_bearer(token, state.clock.as_ref()).await {
        Ok(identity) => return Ok(identity),
        Err(e) => e,
    };
    metrics
        .verify_failures
        .with_label_values(&[e.reason()])
        .inc();
    tracing::info!(reason = e.reason(), client_ip = ?ip.0, "bearer token rejected");
    if e == crate::idp::VerifyError::KeysUnavailable {
        return Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "idp_unavailable",
            "the identity provider's keys are not loaded yet; try again shortly",
        ));
    }
    Err(e.into())
}

/// An administrator: `Authorization: Bearer <[admin] token>`, compared in constant time.
/// Without a configured token the admin routes do not exist (404).
pub(crate) struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = (|| {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(ApiError::internal)?;
            let expected = state
                .config
                .admin_token
                .as_ref()
                .ok_or_else(ApiError::not_found)?;
            let token = bearer(req).ok_or_else(ApiError::missing_token)?;
            if expected.ct_eq(token.as_bytes()) {
                Ok(Admin)
            } else {
                let ip = ClientIp::extract_sync(req, &mut Payload::None);
                tracing::warn!(client_ip = ?ip.0, "wrong admin token");
                Err(ApiError::invalid_token("not the admin token"))
            }
        })();
        std::future::ready(result)
    }
}
