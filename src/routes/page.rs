//! Minimal server-rendered HTML for the browser surfaces: every value is escaped, no inline
//! script, and errors show a short reason class plus the request id (the detail is only in
//! the log, DESIGN § HTTP).

use crate::telemetry::current_request_id;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `body` is trusted HTML built by the caller from escaped values.
pub fn render(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · rolegate</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}}
code,pre{{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}}pre{{padding:1rem;overflow-x:auto}}
button{{font:inherit;padding:.3rem .8rem}}.muted{{color:#57606a}}li{{margin:.4rem 0}}</style>
</head><body><h1>{title}</h1>
{body}
</body></html>"#,
        title = escape(title),
    );
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(html)
}

/// A failure page: the reason class (a stable code) and the request id to quote to support.
pub fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    render(
        status,
        "Sign-in failed",
        &format!(
            r#"<p>{}</p><p class="muted">Reason: <code>{}</code> · Request ID: <code>{}</code></p><p><a href="/">Start again</a></p>"#,
            escape(message),
            escape(code),
            escape(&current_request_id()),
        ),
    )
}
