//! HTTP face of the dev IdP (`serve --dev` only, loopback callers only): discovery, JWKS, a
//! sign-in page for the authorization-code flow (how the broker's own browser login reaches it)
//! and a token endpoint that redeems those codes or answers a password grant so a curl line
//! can get an ID token.

use super::assets::{ASSETS, Assets};
use super::page::{self, PageError};
use crate::error::ApiError;
use crate::idp::dev::{CLIENT_ID, CODE_LIFETIME, CodeGrant, DevIdp, PATH};
use crate::idp::oidc::login::redirect_uri;
use crate::oauth::code::{pkce_s256_matches, valid_challenge};
use crate::oauth::{random_token, token_hash};
use crate::state::AppState;
use crate::store::key;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PATH)
            .route(
                "/.well-known/openid-configuration",
                web::get().to(discovery),
            )
            .route("/jwks.json", web::get().to(jwks))
            .route("/authorize", web::get().to(authorize_page))
            .route("/authorize", web::post().to(authorize_decision))
            .route("/token", web::post().to(token)),
    );
}

fn loopback_only(req: &HttpRequest) -> Result<(), ApiError> {
    match req.peer_addr() {
        Some(a) if a.ip().is_loopback() => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the dev IdP answers loopback clients only",
        )),
    }
}

fn dev(state: &AppState) -> Result<&DevIdp, ApiError> {
    state.idps.dev.as_deref().ok_or_else(ApiError::not_found)
}

async fn discovery(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    loopback_only(&req)?;
    Ok(HttpResponse::Ok().json(dev(&state)?.discovery()))
}

async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    loopback_only(&req)?;
    Ok(HttpResponse::Ok().json(dev(&state)?.jwks()))
}

/// An authorization request (OIDC Core §3.1.2.1), as the query of the GET and again as the
/// hidden fields of the sign-in form. Every field defaults, so a missing one is answered by
/// [`AuthorizeRequest::check`] with a page that names it, not by a bare extractor error.
#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthorizeRequest {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
    code_challenge: String,
    code_challenge_method: String,
    scope: Option<String>,
    /// The form only: the button pressed.
    username: Option<String>,
    decision: Option<String>,
}

impl AuthorizeRequest {
    /// Refusals are pages, never redirects: a request that fails these checks must not send the
    /// browser anywhere it names (RFC 6749 §4.1.2.1).
    fn check(&self, state: &AppState) -> Result<(), &'static str> {
        if self.client_id != CLIENT_ID {
            return Err("unknown client_id: the dev IdP has one client, rolegate-dev");
        }
        let idp = dev(state).map_err(|_| "the dev IdP is not configured")?;
        if self.redirect_uri != redirect_uri(&state.public_url, idp.id.as_str()) {
            return Err("redirect_uri must be this broker's /oidc/callback/{idp} for the dev IdP");
        }
        if self.response_type != "code" {
            return Err("response_type must be code");
        }
        if self.code_challenge_method != "S256" || !valid_challenge(&self.code_challenge) {
            return Err("PKCE with code_challenge_method=S256 is required");
        }
        if self.state.is_empty() || self.state.len() > 256 {
            return Err("state is required (at most 256 characters)");
        }
        if self.nonce.as_ref().is_some_and(|n| n.len() > 256) {
            return Err("nonce is longer than 256 characters");
        }
        Ok(())
    }

    /// The fields the form carries back to the POST.
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("response_type", self.response_type.clone()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("state", self.state.clone()),
            ("code_challenge", self.code_challenge.clone()),
            ("code_challenge_method", self.code_challenge_method.clone()),
        ];
        if let Some(n) = &self.nonce {
            p.push(("nonce", n.clone()));
        }
        if let Some(s) = &self.scope {
            p.push(("scope", s.clone()));
        }
        p
    }

    /// Back to the client with `pairs` and the request's state (OIDC Core §3.1.2.5/§3.1.2.6).
    fn redirect(&self, issuer: &str, pairs: &[(&str, &str)]) -> HttpResponse {
        // check() compared it with our own callback URL, so it parses.
        let mut url = url::Url::parse(&self.redirect_uri).expect("checked redirect_uri");
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            q.append_pair("state", &self.state);
            // RFC 9207 §2: the response names its issuer, as the discovery document promises.
            q.append_pair("iss", issuer);
        }
        HttpResponse::SeeOther()
            .insert_header((LOCATION, url.to_string()))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish()
    }
}

struct UserRow {
    username: String,
    name: String,
    groups: String,
    mfa: bool,
}

#[derive(Template)]
#[template(path = "dev_login.html")]
struct DevLoginPage<'a> {
    title: &'a str,
    assets: &'a Assets,
    action: String,
    params: Vec<(&'static str, String)>,
    users: Vec<UserRow>,
}

fn bad_request(message: &str) -> HttpResponse {
    page::error(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// `GET /dev-idp/authorize`: the sign-in page, a button per dev user.
async fn authorize_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuthorizeRequest>,
) -> Result<HttpResponse, PageError> {
    loopback_only(&req)?;
    let idp = dev(&state)?;
    if let Err(m) = q.check(&state) {
        return Ok(bad_request(m));
    }
    let users = idp
        .users()
        .iter()
        .map(|u| UserRow {
            username: u.username.clone(),
            name: u.name.clone().unwrap_or_else(|| u.username.clone()),
            groups: match u.groups.join(", ") {
                g if g.is_empty() => "none".into(),
                g => g,
            },
            mfa: u.mfa,
        })
        .collect();
    let page = DevLoginPage {
        title: "Development IdP",
        assets: &ASSETS,
        action: format!("{PATH}/authorize"),
        params: q.params(),
        users,
    };
    Ok(page::send(StatusCode::OK, &page, &[]))
}

/// `POST /dev-idp/authorize`: the chosen user gets a single-use code bound to the redirect URI,
/// nonce and PKCE challenge of the request; Cancel answers `access_denied`.
async fn authorize_decision(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AuthorizeRequest>,
) -> Result<HttpResponse, PageError> {
    loopback_only(&req)?;
    let idp = dev(&state)?;
    if let Err(m) = form.check(&state) {
        return Ok(bad_request(m));
    }
    if form.decision.as_deref() == Some("deny") {
        return Ok(form.redirect(&idp.issuer, &[("error", "access_denied")]));
    }
    let Some(username) = form
        .username
        .as_deref()
        .filter(|u| idp.usernames().any(|known| known == *u))
    else {
        return Ok(bad_request("Pick one of the listed users."));
    };
    let code = random_token("rgdc_");
    let grant = CodeGrant {
        username: username.to_string(),
        redirect_uri: form.redirect_uri.clone(),
        nonce: form.nonce.clone(),
        challenge: form.code_challenge.clone(),
    };
    let value = serde_json::to_vec(&grant).map_err(|_| ApiError::internal())?;
    state
        .store
        .put(&key("dev_code", &token_hash(&code)), &value, CODE_LIFETIME)
        .await?;
    Ok(form.redirect(&idp.issuer, &[("code", &code)]))
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    #[serde(default)]
    client_id: Option<String>,
    // grant_type=password
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    /// Any password is accepted; it is read so the request looks like a real password grant.
    #[serde(default)]
    #[allow(dead_code)]
    password: Option<String>,
    // grant_type=authorization_code
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    code_verifier: Option<String>,
}

fn invalid_grant(why: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_grant", why)
}

/// RFC 6749 §4.1.3 (authorization code, with RFC 7636 PKCE) and §4.3 (resource-owner password),
/// both answered with an OIDC ID token.
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    loopback_only(&req)?;
    let idp = dev(&state)?;
    let now = state.clock.unix();
    let token = match form.grant_type.as_str() {
        "password" => {
            let aud = form.client_id.as_deref().unwrap_or(CLIENT_ID);
            let username = form.username.as_deref().unwrap_or_default();
            idp.id_token(username, aud, form.nonce.as_deref(), now)
                .ok_or_else(|| {
                    let known: Vec<&str> = idp.usernames().collect();
                    invalid_grant(format!("unknown dev user; try one of {}", known.join(", ")))
                })?
        }
        "authorization_code" => redeem(&state, idp, &form, now).await?,
        _ => {
            return Err(ApiError::bad_request(
                "unsupported_grant_type",
                "the dev IdP supports grant_type=authorization_code and grant_type=password",
            ));
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({ "id_token": token, "token_type": "Bearer", "expires_in": 3600 })))
}

/// The authorization code grant, with the checks a real IdP makes (client, redirect URI, PKCE).
async fn redeem(
    state: &AppState,
    idp: &DevIdp,
    form: &TokenForm,
    now: i64,
) -> Result<String, ApiError> {
    let code = form.code.as_deref().unwrap_or_default();
    // Single use: taken before any check, so a wrong verifier burns the code too.
    let Some(bytes) = state
        .store
        .take(&key("dev_code", &token_hash(code)))
        .await?
    else {
        return Err(invalid_grant(
            "unknown, expired or already used authorization code",
        ));
    };
    let grant: CodeGrant = serde_json::from_slice(&bytes).map_err(|_| ApiError::internal())?;
    if form.client_id.as_deref() != Some(CLIENT_ID) {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if form.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let verifier = form.code_verifier.as_deref().unwrap_or_default();
    if !pkce_s256_matches(verifier, &grant.challenge) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge (PKCE)",
        ));
    }
    idp.id_token(&grant.username, CLIENT_ID, grant.nonce.as_deref(), now)
        .ok_or_else(|| invalid_grant("the user is no longer configured"))
}
