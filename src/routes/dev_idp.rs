//! HTTP face of the dev IdP (`serve --dev` only, loopback callers only): discovery, JWKS and
//! a password-grant token endpoint so a curl line can get an ID token.

use crate::error::ApiError;
use crate::idp::dev::{CLIENT_ID, PATH};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PATH)
            .route(
                "/.well-known/openid-configuration",
                web::get().to(discovery),
            )
            .route("/jwks.json", web::get().to(jwks))
            .route("/token", web::post().to(token)),
    );
}

fn loopback_only(req: &HttpRequest) -> Result<(), ApiError> {
    match req.peer_addr() {
        Some(a) if a.ip().is_loopback() => Ok(()),
        _ => Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "access_denied",
            "the dev IdP answers loopback clients only",
        )),
    }
}

fn dev(state: &AppState) -> Result<&crate::idp::dev::DevIdp, ApiError> {
    state.idps.dev.as_deref().ok_or_else(ApiError::not_found)
}

async fn discovery(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    loopback_only(&req)?;
    Ok(HttpResponse::Ok().json(dev(&state)?.discovery()))
}

async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    loopback_only(&req)?;
    Ok(HttpResponse::Ok().json(dev(&state)?.jwks()))
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    username: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    /// Any password is accepted; it is read so the request looks like a real password grant.
    #[serde(default)]
    #[allow(dead_code)]
    password: Option<String>,
}

/// RFC 6749 §4.3 resource-owner password grant, answered with an OIDC ID token.
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    loopback_only(&req)?;
    let idp = dev(&state)?;
    if form.grant_type != "password" {
        return Err(ApiError::bad_request(
            "unsupported_grant_type",
            "the dev IdP supports grant_type=password",
        ));
    }
    let aud = form.client_id.as_deref().unwrap_or(CLIENT_ID);
    let token = idp
        .id_token(
            &form.username,
            aud,
            form.nonce.as_deref(),
            state.clock.unix(),
        )
        .ok_or_else(|| {
            let known: Vec<&str> = idp.usernames().collect();
            ApiError::bad_request(
                "invalid_grant",
                format!("unknown dev user; try one of {}", known.join(", ")),
            )
        })?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({ "id_token": token, "token_type": "Bearer", "expires_in": 3600 })))
}
