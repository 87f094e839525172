//! SAML service-provider endpoints: SP metadata and the ACS. The flow itself (pending
//! request, verification, replay cache) is [`crate::idp::saml::login`]; SP-initiated sign-in
//! starts at `/login/{idp}` ([`super::login`]).

use super::page::{self, PageError};
use crate::audit::Audit;
use crate::error::ApiError;
use crate::idp::saml::login::SamlLogin;
use crate::idp::saml::login::{Accepted, AcsError, PENDING_TTL, Started};
use crate::idp::saml::{SamlError, sp_metadata};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;
use crate::routes::client::ClientIp;
use crate::session::{self, Sessions};
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

/// The ACS body: 100,000 characters of XML in base64 (133 KB), form-encoded (`+` and `/`
/// become three characters each), with room to spare; `decode_post` enforces the real cap.
const ACS_BODY_LIMIT: usize = 512 * 1024;
/// The pending-login cookie. `__Host-` (RFC 6265bis 4.1.3.2: Secure, Path=/, no Domain) so a
/// sibling subdomain cannot plant or shadow it; plain-http loopback (`serve --dev`) cannot
/// carry the prefix and drops it, as the session cookie does (src/session.rs).
const PENDING_COOKIE: &str = "__Host-rolegate_saml_pending";
const DEV_PENDING_COOKIE: &str = "rolegate_saml_pending";

fn pending_cookie_name(state: &AppState) -> &'static str {
    if state.public_url.scheme() == "http" {
        DEV_PENDING_COOKIE
    } else {
        PENDING_COOKIE
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/saml/metadata", web::get().to(metadata))
        .service(
            web::resource("/saml/acs")
                .app_data(
                    web::FormConfig::default()
                        .limit(ACS_BODY_LIMIT)
                        .error_handler(|e, _| {
                            let r = page::error(
                                StatusCode::BAD_REQUEST,
                                "malformed",
                                "The sign-in response could not be read.",
                            );
                            actix_web::error::InternalError::from_response(e, r).into()
                        }),
                )
                .route(web::post().to(acs)),
        );
}

async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let xml = sp_metadata::render(&sp_metadata::SpMetadata {
        entity_id: &state.saml.entity_id,
        acs_url: &state.saml.acs_url,
        cert_der: state.saml.sp_cert_der.as_deref(),
    });
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/samlmetadata+xml"))
        .body(xml)
}

fn pending_cookie(state: &AppState, value: String, max_age: i64) -> Cookie<'static> {
    let plain = state.public_url.scheme() == "http";
    Cookie::build(pending_cookie_name(state), value)
        .path("/")
        .http_only(true)
        .secure(!plain)
        // The IdP posts cross-site: only SameSite=None (which needs Secure) reaches the ACS.
        // Plain-http loopback (--dev) cannot use None; Lax works there because loopback
        // ports are one site.
        .same_site(if plain { SameSite::Lax } else { SameSite::None })
        .max_age(actix_web::cookie::time::Duration::seconds(max_age))
        .finish()
}

/// The redirect to the IdP that starts a sign-in, with the pending-login cookie that binds
/// its Response to this browser.
pub(super) fn started(state: &AppState, started: Started) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((LOCATION, started.redirect_url))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(pending_cookie(
            state,
            started.relay,
            i64::try_from(PENDING_TTL.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish()
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// What the ACS's pages and audit lines need besides the flow itself.
struct Acs<'a> {
    state: &'a AppState,
    audit: &'a Audit,
    metrics: &'a Metrics,
    client: ClientIp,
}

#[allow(clippy::too_many_arguments)] // an extractor each: the services this route uses
async fn acs(
    state: web::Data<AppState>,
    saml_login: web::Data<SamlLogin>,
    sessions: web::Data<Sessions>,
    limits: web::Data<RateLimits>,
    audit: web::Data<Audit>,
    metrics: web::Data<Metrics>,
    (req, client): (HttpRequest, ClientIp),
    form: web::Form<AcsForm>,
) -> Result<HttpResponse, PageError> {
    // Before the Response is decoded: each post costs a signature check, maybe a decryption.
    let per_minute = state.config.limits.saml_acs_per_minute_per_ip;
    limits
        .per_client("ratelimit:acs", client.0, per_minute)
        .await?;
    let bound = req.cookie(pending_cookie_name(&state));
    let finished = saml_login
        .finish(
            &form.saml_response,
            form.relay_state.as_deref(),
            bound.as_ref().map(Cookie::value),
        )
        .await;
    let here = Acs {
        state: &state,
        audit: &audit,
        metrics: &metrics,
        client,
    };
    match finished {
        Ok(accepted) => signed_in(&here, &sessions, accepted).await,
        Err(AcsError::Refused(e)) => refused(&here, &e),
        // Busy, lost, store down: fail closed with the one error mapping (503, 500).
        Err(e) => Err(e.into()),
    }
}
/// An accepted Response opens a browser session and goes back where the sign-in started.
async fn signed_in(
    here: &Acs<'_>,
    sessions: &Sessions,
    accepted: Accepted,
) -> Result<HttpResponse, PageError> {
    let state = here.state;
    let Accepted {
        identity,
        return_to,
        idp,
        reauth,
    } = accepted;
    let cookie = match sessions.create(here.client.0, "saml", identity).await {
        Ok(c) => c,
        // IdPs with long SSO sessions (Entra ID's "stay signed in", Okta's persistent
        // sessions) vouch with an old AuthnInstant: ask once for a fresh authentication
        // instead of sending the user to sign out at the IdP.
        Err(session::Refused::StaleAuthentication) if !reauth => {
            return Ok(authenticate_again(&idp, &return_to));
        }
        Err(session::Refused::StaleAuthentication) => {
            return Ok(refuse(
                here,
                "stale_authentication",
                session::STALE_AUTHENTICATION,
            ));
        }
        Err(session::Refused::Failed(e)) => return Err(e.into()),
    };
    let mut gone = pending_cookie(state, String::new(), 0);
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, return_to))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .cookie(gone)
        .finish())
}

/// The sign-in again with ForceAuthn (`reauth=1`), back to the same place afterwards.
fn authenticate_again(idp: &crate::domain::IdpId, return_to: &str) -> HttpResponse {
    let mut again = url::Url::parse("http://x/").expect("static URL");
    again
        .query_pairs_mut()
        .append_pair("reauth", "1")
        .append_pair("return_to", return_to);
    let location = format!("/login/{idp}?{}", again.query().unwrap_or_default());
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish()
}

/// A refused Response: counted, logged with its detail, and a page with its public code.
fn refused(here: &Acs<'_>, e: &SamlError) -> Result<HttpResponse, PageError> {
    let state = here.state;
    here.metrics
        .saml_rejections
        .with_label_values(&[e.code()])
        .inc();
    tracing::warn!(reason = e.code(), detail = %e, "SAML Response rejected");
    if let SamlError::Status(status) = e {
        // A Cancel at the IdP, or its refusal: the user's choice or the IdP's policy, not a
        // fault here. Still a refused sign-in in the audit stream.
        audit_refusal(here, e.code());
        let mut resp = page::cancelled(
            &format!(
                "Sign-in cancelled or refused at your identity provider (status {status}). \
                 Nothing was signed in."
            ),
            super::browser::sign_in_again_href(state),
        );
        resp.add_cookie(&super::browser::signed_out_cookie(state, true))
            .map_err(|_| ApiError::internal())?;
        return Ok(resp);
    }
    Ok(refuse(
        here,
        e.code(),
        "The sign-in response from your identity provider was not accepted.",
    ))
}

/// A refusal page, and its line in the audit stream (reason code only).
/// The page does not send the browser back to the IdP by itself: the signed-out marker keeps
/// `/` from going straight to a single IdP that would refuse again.
fn refuse(here: &Acs<'_>, code: &str, message: &str) -> HttpResponse {
    let state = here.state;
    audit_refusal(here, code);
    let mut resp = page::error(StatusCode::FORBIDDEN, code, message);
    let _ = resp.add_cookie(&super::browser::signed_out_cookie(state, true));
    resp
}

/// The audit line of a refused sign-in (reason code only).
fn audit_refusal(here: &Acs<'_>, code: &str) {
    here.audit.saml_refused(&crate::audit::SamlRefused {
        reason: code,
        client_ip: &here.client.label(),
    });
}
