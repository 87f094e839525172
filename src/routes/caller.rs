//! The authenticated caller of an API route (`Authorization: Bearer`): a verified IdP ID token
//! (apps), or a broker access token from `rolegate login` (the CLI, [`crate::oauth::tokens`]).

use crate::domain::{ClientKind, Identity};
use crate::error::ApiError;
use crate::policy::RequestContext;
use crate::state::{AppState, client_ip};
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

pub struct Caller {
    pub identity: Identity,
    pub ip: Option<IpAddr>,
    /// `Cli` for broker tokens, `Api` for IdP tokens: policies may tell them apart
    /// (`rolegate:client`).
    pub client: ClientKind,
}

impl Caller {
    pub fn context(&self, state: &AppState) -> RequestContext<'_> {
        RequestContext {
            identity: &self.identity,
            client: self.client,
            source_ip: self.ip,
            now: state.clock.now(),
        }
    }

    pub fn ip_string(&self) -> String {
        self.ip.map_or_else(|| "-".into(), |i| i.to_string())
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

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(ApiError::internal)?
                .clone();
            let token = bearer(&req).ok_or_else(ApiError::missing_token)?;
            let ip = client_ip(&req, &state.config.server.trusted_proxies);
            // Before verification, so a flood of junk tokens is throttled per client address.
            let limit = state.config.limits.requests_per_minute_per_ip;
            if let (Some(ip), true) = (ip, limit > 0) {
                state
                    .rate_limit("ratelimit:ip", &ip.to_string(), limit)
                    .await?;
            }
            if token.starts_with(crate::oauth::tokens::ACCESS_PREFIX) {
                return match crate::oauth::tokens::authenticate(&state, &token).await? {
                    Some(identity) => Ok(Caller {
                        identity,
                        ip,
                        client: ClientKind::Cli,
                    }),
                    None => {
                        state
                            .metrics
                            .verify_failures
                            .with_label_values(&["broker_token"])
                            .inc();
                        Err(ApiError::invalid_token(
                            "unknown, expired or revoked broker token; run `rolegate login`",
                        ))
                    }
                };
            }
            match state.idps.verify_bearer(&token, state.clock.as_ref()).await {
                Ok(identity) => Ok(Caller {
                    identity,
                    ip,
                    client: ClientKind::Api,
                }),
                Err(e) => {
                    state
                        .metrics
                        .verify_failures
                        .with_label_values(&[e.reason()])
                        .inc();
                    tracing::info!(reason = e.reason(), client_ip = ?ip, "bearer token rejected");
                    if e == crate::idp::VerifyError::KeysUnavailable {
                        return Err(ApiError::new(
                            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                            "idp_unavailable",
                            "the identity provider's keys are not loaded yet; try again shortly",
                        ));
                    }
                    Err(e.into())
                }
            }
        })
    }
}

/// An administrator: `Authorization: Bearer <[admin] token>`, compared in constant time.
/// Without a configured token the admin routes do not exist (404).
pub struct Admin;

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
                tracing::warn!(client_ip = ?client_ip(req, &state.config.server.trusted_proxies), "wrong admin token");
                Err(ApiError::invalid_token("not the admin token"))
            }
        })();
        std::future::ready(result)
    }
}
