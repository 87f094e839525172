//! HTTP surfaces, one file each. Handlers extract, call the domain, and present; they hold no
//! protocol logic of their own.

pub(crate) mod admin_sessions;
pub(crate) mod admin_view;
pub(crate) mod api;
pub(crate) mod assets;
pub(crate) mod browser;
pub(crate) mod caller;
pub(crate) mod client;
pub(crate) mod dev_idp;
pub(crate) mod health;
pub(crate) mod login;
pub(crate) mod oauth2;
pub(crate) mod oidc_login;
pub(crate) mod page;
pub mod picker;
pub(crate) mod saml;
pub(crate) mod wellknown;

use crate::error::ApiError;
use actix_web::web;

/// A service the app registered at start (every one is: a missing one is a bug, answered 500).
pub(crate) fn service<T: 'static>(req: &actix_web::HttpRequest) -> Result<web::Data<T>, ApiError> {
    req.app_data::<web::Data<T>>()
        .cloned()
        .ok_or_else(ApiError::internal)
}

/// Request bodies larger than this are refused before parsing.
pub const MAX_JSON_BODY: usize = 16 * 1024;

/// Every route, with the body limits and the API's CORS.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, cors_origins: &[String], dev_idp: bool) {
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
    .app_data(web::QueryConfig::default().error_handler(|e, _| {
        ApiError::bad_request("invalid_request", format!("query: {e}")).into()
    }))
    .configure(health::configure)
    .configure(assets::configure)
    .configure(wellknown::configure)
    .configure(login::configure)
    .configure(saml::configure)
    .configure(oidc_login::configure)
    .configure(browser::configure)
    .configure(admin_sessions::configure)
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

/// Unknown paths: an HTML page for a person, the API's JSON error for a program — under the
/// machine prefixes (`/api/`, `/oauth2/`, `/.well-known/`) always, elsewhere unless the
/// `Accept` header names `text/html` (or `text/*`, as browsers' navigations do) at least as
/// high as `application/json`. A program that sends `*/*` or no `Accept` keeps today's JSON.
pub async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if wants_json(req.path(), accept) {
        ApiError::not_found().error_response()
    } else {
        page::not_found()
    }
}

const MACHINE_PREFIXES: [&str; 3] = ["/api", "/oauth2", "/.well-known"];

/// Whether an unknown path answers JSON: see [`not_found`].
fn wants_json(path: &str, accept: &str) -> bool {
    let machine = MACHINE_PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    let html = accept_q(accept, "text", "html", false);
    machine || html == 0 || accept_q(accept, "application", "json", true) > html
}

/// The quality `accept` gives `kind/sub` (RFC 9110 §12.5.1: the most specific matching range
/// decides; no header means `*/*`), counting `*/*` only when `any` is set. Malformed parts
/// are skipped; q is read to 3 decimals.
fn accept_q(accept: &str, kind: &str, sub: &str, any: bool) -> u16 {
    if accept.trim().is_empty() {
        return if any { 1000 } else { 0 };
    }
    let mut best: Option<(u8, u16)> = None; // (specificity, q)
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let Some((t, s)) = media.split_once('/') else {
            continue;
        };
        let specificity = match (t, s) {
            _ if t == kind && s == sub => 2,
            (_, "*") if t == kind => 1,
            ("*", "*") if any => 0,
            _ => continue,
        };
        let mut q = 1000;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v.trim().parse::<f32>().map_or(0, thousandths);
            }
        }
        if best.is_none_or(|(sp, _)| specificity > sp) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0, |(_, q)| q)
}

/// A q-value as thousandths (RFC 9110 §12.4.2: at most three decimals).
// No `TryFrom<f32>` exists; the value is clamped to 0..=1000 before the cast, which therefore
// neither truncates nor loses a sign.
#[allow(
    clippy::as_conversions,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn thousandths(q: f32) -> u16 {
    (q.clamp(0.0, 1.0) * 1000.0).round() as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::App;
    use actix_web::test::{self as atest, TestRequest};

    const CHROMIUM: &str =
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";

    #[test]
    fn unknown_paths_are_json_for_programs_and_html_for_people() {
        assert!(!wants_json("/nope", CHROMIUM));
        assert!(!wants_json("/nope", "text/*"));
        // Programs: curl and most HTTP clients send `*/*` or nothing.
        assert!(wants_json("/nope", ""));
        assert!(wants_json("/nope", "*/*"));
        assert!(wants_json("/nope", "text/html;q=0, */*"));
        assert!(wants_json("/nope", "application/json"));
        assert!(wants_json("/nope", "application/json, text/html;q=0.9"));
        assert!(wants_json("/nope", "application/json, */*;q=0.1"));
        assert!(!wants_json("/nope", "text/html, application/json"));
        assert!(!wants_json("/nope", "application/json;q=0.5, text/*"));
        // Nothing acceptable: the API's answer, as before.
        assert!(wants_json("/nope", "application/json;q=0"));
        assert!(!wants_json(
            "/nope",
            "application/json;q=junk, text/html;q=0.1"
        ));
        for machine in ["/api", "/api/v2/nope", "/oauth2/nope", "/.well-known/nope"] {
            assert!(wants_json(machine, CHROMIUM), "{machine}");
        }
        // A prefix of a word is not the prefix.
        assert!(!wants_json("/apiary", CHROMIUM));
        assert!(!wants_json("/oauth2x/y", CHROMIUM));
    }

    #[actix_web::test]
    async fn the_404_page_is_html_for_a_browser_and_json_when_asked() {
        let app = atest::init_service(App::new().default_service(web::to(not_found))).await;
        let r = atest::call_service(
            &app,
            TestRequest::get()
                .uri("/no/such/page")
                .insert_header(("accept", CHROMIUM))
                .to_request(),
        )
        .await;
        assert_eq!(r.status(), 404);
        assert!(
            r.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = r
            .headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let body = String::from_utf8(atest::read_body(r).await.to_vec()).unwrap();
        assert!(body.contains("<h1>Page not found</h1>"), "{body}");
        assert!(body.contains(r#"href="/""#), "a link home: {body}");

        for (uri, accept) in [
            ("/no/such/page", "application/json"),
            ("/no/such/page", "*/*"),
            ("/api/v1/nope", CHROMIUM),
            ("/oauth2/nope", CHROMIUM),
            ("/.well-known/nope", CHROMIUM),
        ] {
            let r = atest::call_service(
                &app,
                TestRequest::get()
                    .uri(uri)
                    .insert_header(("accept", accept))
                    .to_request(),
            )
            .await;
            assert_eq!(r.status(), 404, "{uri}");
            assert_eq!(
                r.headers().get("content-type").unwrap(),
                "application/json",
                "{uri}"
            );
            let body: serde_json::Value = atest::read_body_json(r).await;
            assert_eq!(body["error"], "not_found", "{uri}");
        }
    }
}
