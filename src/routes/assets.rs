//! The pages' only stylesheet, script and icon, compiled into the binary. Their URLs carry a hash of
//! their content, so browsers may cache them for a year and a new release is fetched at once.
//! Serving them from this origin is what lets the CSP forbid every inline script and style.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const CSS: &str = include_str!("../../assets/rolegate.css");
/// The admin page's styles, on top of `CSS`: only its pages load them (the picker's weight).
const ADMIN_CSS: &str = include_str!("../../assets/admin.css");
const JS: &str = include_str!("../../assets/rolegate.js");
const ICON: &str = include_str!("../../assets/rolegate.svg");

/// The versioned URLs the templates link to, and the versions themselves (hashed once).
pub(crate) struct Assets {
    pub css: String,
    pub admin_css: String,
    pub js: String,
    pub icon: String,
    css_version: String,
    admin_css_version: String,
    js_version: String,
    icon_version: String,
}

/// The script as served: its comment lines, blank lines and indentation dropped (the file
/// keeps them for its readers; 1.6 KB of 5.2 KB, which the picker's 100 KB budget needs).
/// Safe for this file because no line of it is inside a string: it has no template literals
/// and no line continuations (`compact_js_keeps_every_statement` checks both).
static JS_SERVED: LazyLock<String> = LazyLock::new(|| compact_js(JS));

fn compact_js(source: &str) -> String {
    source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let (css_version, js_version, icon_version) =
        (version(CSS), version(&JS_SERVED), version(ICON));
    Assets {
        css: format!("/assets/rolegate.css?v={css_version}"),
        admin_css: format!("/assets/admin.css?v={}", version(ADMIN_CSS)),
        js: format!("/assets/rolegate.js?v={js_version}"),
        icon: format!("/assets/rolegate.svg?v={icon_version}"),
        css_version,
        admin_css_version: version(ADMIN_CSS),
        js_version,
        icon_version,
    }
});

fn version(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..6])
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{name}", web::get().to(asset))
        .route("/favicon.ico", web::get().to(favicon));
}

/// Every page links the SVG icon; this answers the browsers and tools that ask for the
/// conventional path anyway (a JSON 404 there would only fill logs and consoles).
async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "image/svg+xml"))
        .insert_header((CACHE_CONTROL, "public, max-age=86400"))
        .body(ICON)
}

async fn asset(name: web::Path<String>, req: HttpRequest) -> HttpResponse {
    let (body, mime, version) = match name.as_str() {
        "rolegate.css" => (CSS, "text/css; charset=utf-8", &ASSETS.css_version),
        "admin.css" => (
            ADMIN_CSS,
            "text/css; charset=utf-8",
            &ASSETS.admin_css_version,
        ),
        "rolegate.js" => (
            JS_SERVED.as_str(),
            "text/javascript; charset=utf-8",
            &ASSETS.js_version,
        ),
        "rolegate.svg" => (ICON, "image/svg+xml", &ASSETS.icon_version),
        _ => return HttpResponse::NotFound().finish(),
    };
    // Only the current version is immutable; any other `v` (an old page) revalidates.
    let current = req.query_string().strip_prefix("v=") == Some(version.as_str());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_js_keeps_every_statement() {
        // The assumptions that make dropping whole lines safe.
        assert!(!JS.contains('`'), "a template literal can span lines");
        assert!(
            !JS.lines().any(|l| l.trim_end().ends_with('\\')),
            "a line continuation"
        );
        let served = compact_js(JS);
        let code = |s: &str| -> Vec<String> {
            s.lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty() && !l.starts_with("//"))
                .collect()
        };
        assert_eq!(code(&served), code(JS));
        assert!(
            served.len() + 1500 < JS.len(),
            "{} of {}",
            served.len(),
            JS.len()
        );
    }
}
