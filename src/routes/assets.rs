//! The pages' only stylesheet and script, compiled into the binary. Their URLs carry a hash of
//! their content, so browsers may cache them for a year and a new release is fetched at once.
//! Serving them from this origin is what lets the CSP forbid every inline script and style.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const CSS: &str = include_str!("../../assets/rolegate.css");
const JS: &str = include_str!("../../assets/rolegate.js");

/// The versioned URLs the templates link to.
pub struct Assets {
    pub css: String,
    pub js: String,
}

pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: format!("/assets/rolegate.css?v={}", version(CSS)),
    js: format!("/assets/rolegate.js?v={}", version(JS)),
});

fn version(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..6])
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{name}", web::get().to(asset));
}

async fn asset(name: web::Path<String>, req: HttpRequest) -> HttpResponse {
    let (body, mime) = match name.as_str() {
        "rolegate.css" => (CSS, "text/css; charset=utf-8"),
        "rolegate.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    // Only the current version is immutable; any other `v` (an old page) revalidates.
    let current = req
        .query_string()
        .strip_prefix("v=")
        .is_some_and(|v| v == version(body));
    let cache = if current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, mime))
        .insert_header((CACHE_CONTROL, cache))
        .body(body)
}
