//! The OIDC callback, `GET /oidc/callback/{idp}`: one redirect URI per IdP. The flow itself
//! (state, cookie binding, mix-up, code exchange, ID token) is [`crate::idp::oidc::login`];
//! sign-in starts at `/login/{idp}` ([`super::login`]).

use super::page::{self, PageError};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::idp::oidc::login::OidcLogin;
use crate::idp::oidc::login::{Callback, CallbackError, Finished, PENDING_TTL, Started};
use crate::rate_limit::RateLimits;
use crate::routes::client::ClientIp;
use crate::session::{self, Sessions};
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

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
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

/// What the callback's pages and audit lines need besides the flow itself.
struct Here<'a> {
    state: &'a AppState,
    audit: &'a Audit,
    client: ClientIp,
}

#[allow(clippy::too_many_arguments)] // an extractor each: the services this route uses
async fn callback(
    state: web::Data<AppState>,
    oidc_login: web::Data<OidcLogin>,
    sessions: web::Data<Sessions>,
    limits: web::Data<RateLimits>,
    audit: web::Data<Audit>,
    (req, client): (HttpRequest, ClientIp),
    path: web::Path<String>,
    q: web::Query<Callback>,
) -> Result<HttpResponse, PageError> {
    // Each callback may cost a call to the IdP's token endpoint: bounded per client address.
    let per_minute = state.config.limits.oidc_callbacks_per_minute_per_ip;
    limits
        .per_client("ratelimit:oidc_callback", client.0, per_minute)
        .await?;
    let bound = req.cookie(pending_cookie_name(&state));
    let finished = oidc_login
        .finish(&path, &q, bound.as_ref().map(Cookie::value))
        .await;
    let here = Here {
        state: &state,
        audit: &audit,
        client,
    };
    match finished {
        Ok(finished) => signed_in(&here, &sessions, finished).await,
        Err(CallbackError::Refused {
            idp,
            reason,
            message,
        }) => Ok(refuse(&here, &idp, reason, message)),
        Err(CallbackError::Cancelled { idp }) => cancelled(&here, &idp),
        // IdP unreachable, pending login unreadable, store down: the one error mapping.
        Err(e) => Err(e.into()),
    }
}

/// The user cancelled at the IdP: their choice, not a fault; still a refusal in the audit
/// stream.
fn cancelled(here: &Here<'_>, idp: &str) -> Result<HttpResponse, PageError> {
    audit_refusal(here, idp, "cancelled");
    let mut resp = page::cancelled(
        "The sign-in was cancelled at the identity provider; nothing was signed in.",
        super::browser::sign_in_again_href(here.state),
    );
    resp.add_cookie(&super::browser::signed_out_cookie(here.state, true))
        .map_err(|_| ApiError::internal())?;
    Ok(resp)
}

/// A verified ID token opens a browser session and goes back where the sign-in started.
async fn signed_in(
    here: &Here<'_>,
    sessions: &Sessions,
    finished: Finished,
) -> Result<HttpResponse, PageError> {
    let cookie = match sessions
        .create(here.client.0, "oidc", finished.identity)
        .await
    {
        Ok(c) => c,
        Err(session::Refused::StaleAuthentication) => {
            return Ok(refuse(
                here,
                &finished.idp,
                "stale_authentication",
                session::STALE_AUTHENTICATION,
            ));
        }
        Err(session::Refused::Failed(e)) => return Err(e.into()),
    };
    let mut gone = pending_cookie(here.state, String::new(), 0);
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, finished.return_to))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .cookie(gone)
        .finish())
}

/// A refusal page, and its line in the audit stream (reason code only).
fn refuse(here: &Here<'_>, idp: &str, code: &str, message: &str) -> HttpResponse {
    audit_refusal(here, idp, code);
    let mut resp = page::error(StatusCode::FORBIDDEN, code, message);
    // `/` must not go straight back to a single IdP that would refuse again.
    let _ = resp.add_cookie(&super::browser::signed_out_cookie(here.state, true));
    resp
}

/// The audit line of a refused sign-in (reason code only).
fn audit_refusal(here: &Here<'_>, idp: &str, reason: &str) {
    here.audit.oidc_refused(&crate::audit::OidcRefused {
        idp,
        reason,
        client_ip: &here.client.label(),
    });
}
