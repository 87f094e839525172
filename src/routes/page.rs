//! Server-rendered HTML for the browser surfaces (askama templates in `templates/`, escaping on
//! by default). Every page carries the same security headers: a CSP that allows script and
//! style only from this origin (`/assets/…`, never inline), no framing, no referrer. Errors
//! show a short reason class plus the request id; the detail is only in the log.

use super::assets::{ASSETS, Assets};
use crate::error::ApiError;
use crate::telemetry::current_request_id;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

/// A link or button on a page: `href` is built by the caller, escaped by the template.
pub(crate) struct Link {
    pub href: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    assets: &'a Assets,
    message: &'a str,
    code: Option<&'a str>,
    request_id: String,
    links: Vec<Link>,
}

/// Sends a rendered page with the security headers; `form_targets` are origins outside this
/// site that a form POST may redirect to (see [`csp`]).
pub(crate) fn send(
    status: StatusCode,
    page: &impl Template,
    form_targets: &[String],
) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header(("content-security-policy", csp(form_targets)))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "page template failed");
            HttpResponse::InternalServerError()
                .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
                .body(format!(
                    "internal error; request id {}",
                    current_request_id()
                ))
        }
    }
}

/// Script and style only from `/assets` on this origin, nothing inline, no other fetches;
/// forms only to this site — and to `form_targets`: a form whose POST answers with a redirect
/// elsewhere (the Console button → the AWS federation endpoint) needs that origin in
/// `form-action`, which browsers also apply to the redirect.
pub(crate) fn csp(form_targets: &[String]) -> String {
    let mut form_action = String::from("'self'");
    for t in form_targets {
        form_action.push(' ');
        form_action.push_str(t);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An instant a page shows (an expiry): the UTC form, readable without script, inside
/// `<time datetime="…Z" data-expiry>`; `/assets/rolegate.js` rewrites the text to the
/// browser's local time and the time left ("11:58, 59 min left"), which the server cannot
/// know (it does not know the browser's time zone).
pub(crate) struct Expiry {
    /// RFC 3339 in UTC, to the second: the `datetime` attribute.
    pub datetime: String,
    /// "2026-12-07 10:58 UTC".
    pub text: String,
}

pub(crate) fn expiry(t: std::time::SystemTime) -> Expiry {
    let datetime = crate::clock::rfc3339(t);
    // `2026-12-07T10:58:09Z` → `2026-12-07 10:58 UTC` (the seconds stay in the attribute).
    let text = match datetime.split_once('T') {
        Some((day, time)) => format!("{day} {} UTC", time.get(..5).unwrap_or(time)),
        None => datetime.clone(),
    };
    Expiry { datetime, text }
}

/// A page with one message and links onward.
pub(crate) fn message(
    status: StatusCode,
    title: &str,
    message: &str,
    links: Vec<Link>,
) -> HttpResponse {
    send(
        status,
        &MessagePage {
            title,
            assets: &ASSETS,
            message,
            code: None,
            request_id: String::new(),
            links,
        },
        &[],
    )
}

/// A failure page: the reason class (a stable code) and the request id to quote to support.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    error_with(
        status,
        code,
        message,
        vec![Link {
            href: "/".into(),
            label: "Start again".into(),
        }],
    )
}

/// [`error`] with its own ways onward (the admin page links back to the form to fix).
pub(crate) fn error_with(
    status: StatusCode,
    code: &str,
    message: &str,
    links: Vec<Link>,
) -> HttpResponse {
    send(
        status,
        &MessagePage {
            title: "Something went wrong",
            assets: &ASSETS,
            message,
            code: Some(code),
            request_id: current_request_id(),
            links,
        },
        &[],
    )
}

/// The person cancelled at their IdP (or the IdP refused): a choice, not an error (same page,
/// another title). `sign_in_again` is where the link goes (see `browser::sign_in_again_href`).
pub(crate) fn cancelled(message: &str, sign_in_again: String) -> HttpResponse {
    send(
        StatusCode::OK,
        &MessagePage {
            title: "Sign-in cancelled",
            assets: &ASSETS,
            message,
            code: None,
            request_id: current_request_id(),
            links: vec![Link {
                href: sign_in_again,
                label: "Sign in again".into(),
            }],
        },
        &[],
    )
}

/// An unknown path, for a person (the API's JSON 404 is for programs: see `routes::not_found`).
pub(crate) fn not_found() -> HttpResponse {
    message(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address. It may have moved, or the link may be incomplete.",
        vec![Link {
            href: "/".into(),
            label: "Go to your AWS roles".into(),
        }],
    )
}

/// What browser routes return instead of [`ApiError`]: the same status and reason code, as a
/// page a person can read (and quote the request id from), never the API's JSON.
#[derive(Debug)]
pub(crate) struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

/// Each layer's error reaches a page through [`crate::error`]'s one mapping.
macro_rules! page_error_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for PageError {
            fn from(e: $t) -> Self {
                PageError(e.into())
            }
        }
    )*};
}

page_error_from!(
    crate::store::StoreError,
    crate::rate_limit::RateLimited,
    crate::session::SessionError,
    crate::issue::NotIssued,
    crate::oauth::GrantError,
    crate::idp::saml::login::StartError,
    crate::idp::oidc::login::StartError,
    crate::idp::saml::login::AcsError,
    crate::idp::oidc::login::CallbackError,
);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.description)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        error(self.0.status, self.0.code, &self.0.description)
    }
}

/// The form's CSRF token did not match the session's.
pub(crate) fn csrf_failed() -> HttpResponse {
    error(
        StatusCode::FORBIDDEN,
        "csrf",
        "This form has expired or did not come from this site; reload the page and try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn an_expiry_reads_in_utc_without_script() {
        let e = expiry(UNIX_EPOCH + Duration::from_secs(1_796_641_089));
        assert_eq!(e.datetime, "2026-12-07T10:58:09Z");
        assert_eq!(e.text, "2026-12-07 10:58 UTC");
    }
}
