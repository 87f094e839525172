//! The OIDC callback, `GET /oidc/callback/{idp}`: one redirect URI per IdP. The flow itself
//! (state, cookie binding, mix-up, code exchange, ID token) is [`crate::idp::oidc::login`];
//! sign-in starts at `/login/{idp}` ([`super::login`]).

use super::page::{self, PageError};
use crate::error::ApiError;
use crate::idp::oidc::login::{Callback, CallbackError, Finished, PENDING_TTL, Started};
use crate::session;
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};

/// The pending-login cookie: `__Host-` (Secure, Path=/, no Domain) so a sibling subdomain
/// cannot plant or shadow it; plain-http loopback (`serve --dev`) cannot carry the prefix and
/// drops it, as the session cookie does (src/session.rs).
const PENDING_COOKIE: &str = "__Host-rolegate_oidc_pending";
const DEV_PENDING_COOKIE: &str = "rolegate_oidc_pending";

fn pending_cookie_name(state: &AppState) -> &'static str {
    if state.public_url.scheme() == "http" {
        DEV_PENDING_COOKIE
    } else {
        PENDING_COOKIE
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // One redirect URI per IdP (RFC 9700 §4.4.2.2). There is deliberately no shared
    // `/oidc/callback`: keeping one would keep the mix-up attack open.
    cfg.route("/oidc/callback/{idp}", web::get().to(callback));
}

fn pending_cookie(state: &AppState, value: String, max_age: i64) -> Cookie<'static> {
    // The IdP redirects back with a top-level GET, which SameSite=Lax cookies accompany.
    Cookie::build(pending_cookie_name(state), value)
        .path("/")
        .http_only(true)
        .secure(state.public_url.scheme() != "http")
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age))
        .finish()
}

/// The redirect to the IdP's authorization endpoint, with the pending-login cookie that binds
/// the callback to this browser.
pub(super) fn started(state: &AppState, started: Started) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((LOCATION, started.authorization_url))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(pending_cookie(
            state,
            started.state,
            i64::try_from(PENDING_TTL.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<Callback>,
) -> Result<HttpResponse, PageError> {
    // Each callback may cost a call to the IdP's token endpoint: bounded per client address.
    let per_minute = state.config.limits.oidc_callbacks_per_minute_per_ip;
    state
        .limit_per_ip(&req, "ratelimit:oidc_callback", per_minute)
        .await?;
    let bound = req.cookie(pending_cookie_name(&state));
    let finished = state
        .oidc_login
        .finish(&path, &q, bound.as_ref().map(Cookie::value))
        .await;
    match finished {
        Ok(finished) => signed_in(&state, &req, finished).await,
        Err(CallbackError::Refused {
            idp,
            reason,
            message,
        }) => Ok(refuse(&state, &req, &idp, reason, message)),
        Err(CallbackError::Cancelled { idp }) => {
            audit_refusal(&state, &req, &idp, "cancelled");
            let mut resp = page::cancelled(
                "The sign-in was cancelled at the identity provider; nothing was signed in.",
                super::browser::sign_in_again_href(&state),
            );
            resp.add_cookie(&super::browser::signed_out_cookie(&state, true))
                .map_err(|_| ApiError::internal())?;
            Ok(resp)
        }
        Err(CallbackError::Unreachable) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "the identity provider is unavailable",
        )
        .into()),
        Err(CallbackError::Corrupt) => Err(ApiError::internal().into()),
        Err(CallbackError::Store(e)) => Err(ApiError::from(e).into()),
    }
}

/// A verified ID token opens a browser session and goes back where the sign-in started.
async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    finished: Finished,
) -> Result<HttpResponse, PageError> {
    let cookie = match session::create(state, req, "oidc", finished.identity).await {
        Ok(c) => c,
        Err(session::Refused::StaleAuthentication) => {
            return Ok(refuse(
                state,
                req,
                &finished.idp,
                "stale_authentication",
                session::STALE_AUTHENTICATION,
            ));
        }
        Err(session::Refused::Store(e)) => return Err(e.into()),
    };
    let mut gone = pending_cookie(state, String::new(), 0);
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, finished.return_to))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .cookie(gone)
        .finish())
}

/// A refusal page, and its line in the audit stream (reason code only).
fn refuse(
    state: &AppState,
    req: &HttpRequest,
    idp: &str,
    code: &str,
    message: &str,
) -> HttpResponse {
    audit_refusal(state, req, idp, code);
    let mut resp = page::error(StatusCode::FORBIDDEN, code, message);
    // `/` must not go straight back to a single IdP that would refuse again.
    let _ = resp.add_cookie(&super::browser::signed_out_cookie(state, true));
    resp
}

/// The audit line of a refused sign-in (reason code only).
fn audit_refusal(state: &AppState, req: &HttpRequest, idp: &str, reason: &str) {
    state.audit.oidc_refused(&crate::audit::OidcRefused {
        idp,
        reason,
        client_ip: &state.client_label(req),
    });
}
