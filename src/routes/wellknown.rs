//! The broker as an OIDC issuer toward AWS (web_identity mode): discovery and JWKS. AWS's IAM
//! OIDC provider fetches these; they can also be exported and hosted statically.

use crate::state::AppState;
use actix_web::{HttpResponse, ResponseError, web};
use serde_json::json;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery),
    )
    .route("/.well-known/jwks.json", web::get().to(jwks));
}

fn issuer_url(state: &AppState) -> String {
    let url = state
        .config
        .issuer
        .as_ref()
        .map_or(&state.public_url, |i| &i.url);
    url.as_str().trim_end_matches('/').to_string()
}

async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    if state.broker_key.is_none() {
        return crate::error::ApiError::not_found().error_response();
    }
    let iss = issuer_url(&state);
    HttpResponse::Ok().insert_header(("cache-control", "public, max-age=300")).json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "https://aws.amazon.com/tags"],
    }))
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    match &state.broker_key {
        Some(k) => HttpResponse::Ok()
            .insert_header(("cache-control", "public, max-age=300"))
            .json(k.jwks()),
        None => crate::error::ApiError::not_found().error_response(),
    }
}
