//! HTTP surfaces, one file each. Handlers extract, call the domain, and present; they hold no
//! protocol logic of their own.

pub mod api;
pub mod assets;
pub mod browser;
pub mod caller;
pub mod dev_idp;
pub mod health;
pub mod oauth2;
pub mod oidc_login;
pub mod page;
pub mod picker;
pub mod saml;
pub mod wellknown;

use crate::error::ApiError;
use actix_web::web;

/// Request bodies larger than this are refused before parsing.
pub const MAX_JSON_BODY: usize = 16 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig, cors_origins: &[String], dev_idp: bool) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BODY)
            .error_handler(|e, _| {
                ApiError::bad_request("invalid_request", format!("request body: {e}")).into()
            }),
    )
    .app_data(
        web::FormConfig::default()
            .limit(MAX_JSON_BODY)
            .error_handler(|e, _| {
                ApiError::bad_request("invalid_request", format!("request body: {e}")).into()
            }),
    )
    .configure(health::configure)
    .configure(assets::configure)
    .configure(wellknown::configure)
    .configure(saml::configure)
    .configure(oidc_login::configure)
    .configure(browser::configure)
    .configure(oauth2::configure)
    .service(
        web::scope("/api/v1")
            .wrap(cors(cors_origins))
            .configure(api::configure),
    );
    if dev_idp {
        cfg.configure(dev_idp::configure);
    }
}

/// Headers every response gets unless its handler set its own (pages set a CSP that allows
/// their `/assets`; everything else — JSON, redirects, metrics — gets one that allows nothing).
pub fn security_headers(https: bool) -> actix_web::middleware::DefaultHeaders {
    let h = actix_web::middleware::DefaultHeaders::new()
        .add((
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("x-frame-options", "DENY"))
        .add(("referrer-policy", "no-referrer"))
        .add(("x-content-type-options", "nosniff"));
    if https {
        h.add(("strict-transport-security", "max-age=31536000"))
    } else {
        h
    }
}

/// CORS only for the configured browser-app origins; none by default.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut c = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers(["authorization", "content-type"])
        .expose_headers(["x-request-id", "www-authenticate"])
        .max_age(600);
    for o in origins {
        c = c.allowed_origin(o.trim_end_matches('/'));
    }
    c
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found())
}
