//! `GET /login/{idp}`: starts a browser sign-in at a SAML or OIDC IdP. The protocols' own
//! steps are [`crate::idp::saml::login`] and [`crate::idp::oidc::login`]; the pending-login
//! cookies are set by `saml::started` and `oidc_login::started`.

use super::page::{self, PageError};
use crate::error::ApiError;
use crate::idp::{oidc, saml};
use crate::rate_limit::RateLimits;
use crate::routes::client::ClientIp;
use crate::state::AppState;
use crate::untrusted::safe_return_to;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HOST, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/{idp}", web::get().to(login));
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
    /// `1`: ask for a fresh authentication (SAML ForceAuthn, core 3.4.1) — set by the ACS when
    /// the IdP vouched with an authentication older than a session may live.
    reauth: Option<String>,
}

/// Starting a sign-in by hand clears the signed-out marker, so `/` goes straight to a single
/// IdP again once signed in and out of the session's life (see `browser::SIGNED_OUT_COOKIE`).
async fn login(
    state: web::Data<AppState>,
    limits: web::Data<RateLimits>,
    saml_login: web::Data<saml::login::SamlLogin>,
    oidc_login: web::Data<oidc::login::OidcLogin>,
    (req, client): (HttpRequest, ClientIp),
    path: web::Path<String>,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let mut resp = match dev_public_address(&state, &req)? {
        Some(there) => there,
        None => {
            // Each start writes a pending request to the store: bounded per client address.
            let per_minute = state.config.limits.logins_per_minute_per_ip;
            limits
                .per_client("ratelimit:login", client.0, per_minute)
                .await?;
            start(&state, (&saml_login, &oidc_login), &path, &q).await?
        }
    };
    if req.cookie(super::browser::SIGNED_OUT_COOKIE).is_some() {
        resp.add_cookie(&super::browser::signed_out_cookie(&state, false))
            .map_err(|_| ApiError::internal())?;
    }
    Ok(resp)
}

async fn start(
    state: &AppState,
    (saml_login, oidc_login): (&saml::login::SamlLogin, &oidc::login::OidcLogin),
    idp: &str,
    q: &LoginQuery,
) -> Result<HttpResponse, PageError> {
    let saml_idp = state.saml.idp(idp);
    let oidc_idp = state.idps.oidc_by_id(idp);
    if saml_idp.is_none() && oidc_idp.is_none() {
        return Ok(page::error(
            StatusCode::NOT_FOUND,
            "unknown_idp",
            "There is no identity provider with this name.",
        ));
    }
    let return_to = match safe_return_to(q.return_to.as_deref()) {
        Ok(r) => r,
        Err(m) => return Ok(page::error(StatusCode::BAD_REQUEST, "bad_return_to", m)),
    };
    if let Some(idp) = saml_idp {
        let reauth = q.reauth.as_deref() == Some("1");
        let started = saml_login.start(idp, return_to, reauth).await?;
        return Ok(super::saml::started(state, started));
    }
    let idp = oidc_idp.expect("one of the two kinds, checked above");
    let started = oidc_login.start(idp, return_to).await?;
    Ok(super::oidc_login::started(state, started))
}

/// `serve --dev` opened as http://localhost:… while it lives at http://127.0.0.1:…: the
/// pending-login cookie would be set on one host and the IdP would come back to the other,
/// ending in "started in another browser". Start the sign-in at the public address instead.
/// Dev only: behind a proxy that rewrites Host this would redirect forever.
fn dev_public_address(
    state: &AppState,
    req: &HttpRequest,
) -> Result<Option<HttpResponse>, ApiError> {
    let Some(host) = req.headers().get(HOST).and_then(|h| h.to_str().ok()) else {
        return Ok(None);
    };
    if !state.config.dev || host == public_authority(&state.public_url) {
        return Ok(None);
    }
    let mut there = state
        .public_url
        .join(req.path())
        .map_err(|_| ApiError::internal())?;
    there.set_query(Some(req.query_string()).filter(|q| !q.is_empty()));
    Ok(Some(
        HttpResponse::SeeOther()
            .insert_header((LOCATION, there.to_string()))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
    ))
}

/// `host[:port]` of the public URL, as a browser sends it in `Host`.
fn public_authority(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}
