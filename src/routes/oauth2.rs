//! The CLI's OAuth 2.0 surface (the protocol logic is in [`crate::oauth`]):
//!
//! - `POST /oauth2/device_authorization` — RFC 8628 §3.1–3.2;
//! - `GET /device`, `POST /device` — the page where a signed-in user types the user code, sees
//!   where and when the request came from (§5.4), and approves or denies; a code that came in
//!   a link is never pre-filled (§5.4 remote phishing: approval is typing, not one click);
//! - `GET /oauth2/authorize`, `POST /oauth2/authorize` — the loopback authorization request
//!   (RFC 6749 §4.1.1 + RFC 7636 S256 + RFC 8252 §7.3), confirmed with an explicit POST;
//! - `POST /oauth2/token` — device_code, authorization_code and refresh_token grants;
//! - `POST /oauth2/revoke` — RFC 7009.
//!
//! Token-endpoint errors are RFC 6749 §5.2 JSON (`error`, `error_description`); the pages answer
//! errors as pages. Nothing here ever redirects to a URI that failed validation.

use super::assets::{ASSETS, Assets};
use super::browser::sign_in_first;
use super::page::{self, Link, PageError};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::oauth::CliTokens;
use crate::oauth::{CLI_CLIENT_ID, code, device, tokens};
use crate::rate_limit::RateLimits;
use crate::routes::client::ClientIp;
use crate::session::{self, Sessions};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/oauth2/device_authorization",
        web::post().to(device_authorization),
    )
    .route("/oauth2/token", web::post().to(token))
    .route("/oauth2/revoke", web::post().to(revoke))
    .route("/oauth2/authorize", web::get().to(authorize))
    .route("/oauth2/authorize", web::post().to(authorize_decision))
    .route("/device", web::get().to(device_page))
    .route("/device", web::post().to(device_decision));
}

/// RFC 6749 §5.1: token responses are never cached.
fn no_store(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"));
    b
}

fn check_client(client_id: Option<&str>) -> Result<(), ApiError> {
    match client_id {
        Some(CLI_CLIENT_ID) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            format!("unknown client; the rolegate CLI is `{CLI_CLIENT_ID}`"),
        )),
    }
}

/// A form or query as OAuth reads it: each parameter at most once. RFC 6749 §3.1 and §3.2:
/// "Request and response parameters MUST NOT be included more than once." A map would keep the
/// last of two `code`s or `redirect_uri`s without a word, while a proxy, a log or a WAF in front
/// of the broker may have judged the first.
type Params = HashMap<String, String>;

/// A parameter that appears more than once: the request is refused with `invalid_request`.
#[derive(Debug)]
struct RepeatedParameter {
    /// Its name, when it is a plain parameter name (never arbitrary input, which is not echoed).
    name: Option<String>,
}

impl std::fmt::Display for RepeatedParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "`{name}` appears more than once (RFC 6749 §3.1)"),
            None => f.write_str("a parameter appears more than once (RFC 6749 §3.1)"),
        }
    }
}

impl std::error::Error for RepeatedParameter {}

fn single_valued(pairs: Vec<(String, String)>) -> Result<Params, RepeatedParameter> {
    let mut params = Params::with_capacity(pairs.len());
    for (name, value) in pairs {
        if params.contains_key(&name) {
            // Named only when it is a plain parameter name: never echo arbitrary input.
            let plain = !name.is_empty()
                && name.len() <= 32
                && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            return Err(RepeatedParameter {
                name: plain.then_some(name),
            });
        }
        params.insert(name, value);
    }
    Ok(params)
}

/// [`single_valued`] for the JSON endpoints.
fn params(pairs: Vec<(String, String)>) -> Result<Params, ApiError> {
    single_valued(pairs).map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))
}

/// The services the CLI's OAuth surface uses, and the client's address.
struct OAuth {
    state: web::Data<AppState>,
    cli: web::Data<CliTokens>,
    sessions: web::Data<Sessions>,
    limits: web::Data<RateLimits>,
    metrics: web::Data<Metrics>,
    client: ClientIp,
}

impl actix_web::FromRequest for OAuth {
    type Error = ApiError;
    type Future = std::future::Ready<Result<OAuth, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready((|| {
            Ok(OAuth {
                state: super::service(req)?,
                cli: super::service(req)?,
                sessions: super::service(req)?,
                limits: super::service(req)?,
                metrics: super::service(req)?,
                client: ClientIp::extract_sync(req, payload),
            })
        })())
    }
}

impl OAuth {
    fn count(&self, event: &str) {
        self.metrics.oauth_events.with_label_values(&[event]).inc();
    }
}

// --- device authorization (RFC 8628 §3.1–3.2) --------------------------------------------------

#[derive(Deserialize)]
struct DeviceAuthorizationForm {
    client_id: Option<String>,
    #[allow(dead_code)]
    scope: Option<String>,
}

async fn device_authorization(
    svc: OAuth,
    form: web::Form<DeviceAuthorizationForm>,
) -> Result<HttpResponse, ApiError> {
    check_client(form.client_id.as_deref())?;
    if !svc.cli.config.device_flow {
        return Err(ApiError::bad_request(
            "unauthorized_client",
            "the device flow is disabled on this broker ([cli] device_flow = false); run `rolegate login` without --device on a machine with a browser",
        ));
    }
    let ip = svc.client.0;
    // Each request stores a record: bound how many one address can make.
    let per_minute = svc.state.config.limits.logins_per_minute_per_ip;
    if let (Some(ip), true) = (ip, per_minute > 0) {
        svc.limits
            .check("ratelimit:device", &ip.to_string(), per_minute)
            .await?;
    }
    let (device_code, r) =
        device::start(&svc.cli, CLI_CLIENT_ID, ip.map(|i| i.to_string())).await?;
    svc.count("device_started");
    let body = device_authorization_body(&svc, device_code, &r)?;
    Ok(no_store(HttpResponse::Ok()).json(body))
}

/// RFC 8628 §3.2: the device authorization response.
fn device_authorization_body(
    svc: &OAuth,
    device_code: String,
    r: &device::DeviceRequest,
) -> Result<serde_json::Value, ApiError> {
    let user_code = device::display(&r.user_code);
    let verification_uri = svc
        .state
        .public_url
        .join("device")
        .map_err(|_| ApiError::internal())?;
    let mut body = serde_json::json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri.as_str(),
        "expires_in": device::EXPIRES_IN.as_secs(),
        "interval": r.interval,
    });
    // Opt-in ([cli] verification_uri_complete): a link with the code in it is what a phisher
    // forwards. Even then the page makes the person type the code (see `device_page`).
    if svc.cli.config.verification_uri_complete {
        let mut complete = verification_uri.clone();
        complete
            .query_pairs_mut()
            .append_pair("user_code", &user_code);
        body["verification_uri_complete"] = complete.as_str().into();
    }
    Ok(body)
}

// --- token endpoint ----------------------------------------------------------------------------

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn token(
    svc: OAuth,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    // Polls, refreshes and redemptions all count: guessing codes or tokens needs volume.
    let per_minute = svc.state.config.limits.token_requests_per_minute_per_ip;
    svc.limits
        .per_client("ratelimit:token", svc.client.0, per_minute)
        .await?;
    let form = params(form.into_inner())?;
    check_client(form.get("client_id").map(String::as_str))?;
    let issued = match required(&form, "grant_type")? {
        DEVICE_GRANT => device_code_grant(&svc, &form).await?,
        "authorization_code" => authorization_code_grant(&svc, &form).await?,
        "refresh_token" => {
            let ip = svc.client.0;
            let issued = tokens::refresh(&svc.cli, required(&form, "refresh_token")?, ip).await?;
            svc.count("token_refresh_token");
            issued
        }
        other => {
            return Err(ApiError::bad_request(
                "unsupported_grant_type",
                format!("`{other}`: use authorization_code, refresh_token or {DEVICE_GRANT}"),
            ));
        }
    };
    Ok(no_store(HttpResponse::Ok()).json(issued))
}

/// RFC 6749 §4.1.3 with RFC 7636: the loopback flow's code, its redirect URI and verifier.
async fn authorization_code_grant(svc: &OAuth, form: &Params) -> Result<tokens::Issued, ApiError> {
    let identity = code::redeem(
        &svc.cli,
        required(form, "code")?,
        CLI_CLIENT_ID,
        required(form, "redirect_uri")?,
        required(form, "code_verifier")?,
    )
    .await?;
    svc.count("token_authorization_code");
    Ok(tokens::sign_in(&svc.cli, identity).await?)
}

/// A parameter the request must carry, not empty.
fn required<'a>(form: &'a Params, name: &'static str) -> Result<&'a str, ApiError> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("invalid_request", format!("`{name}` is required")))
}

/// RFC 8628 §3.4–3.5: a poll with the device code; a sign-in once the user approved.
async fn device_code_grant(svc: &OAuth, form: &Params) -> Result<tokens::Issued, ApiError> {
    if !svc.cli.config.device_flow {
        return Err(ApiError::bad_request(
            "unauthorized_client",
            "the device flow is disabled on this broker",
        ));
    }
    let (code, description) = match device::poll(
        &svc.cli,
        required(form, "device_code")?,
        CLI_CLIENT_ID,
    )
    .await?
    {
        device::Poll::Approved(identity) => {
            svc.count("token_device_code");
            return Ok(tokens::sign_in(&svc.cli, *identity).await?);
        }
        device::Poll::Pending => (
            "authorization_pending",
            "waiting for the user to approve the code",
        ),
        device::Poll::SlowDown => (
            "slow_down",
            "polling faster than the interval; wait 5 seconds more between polls",
        ),
        device::Poll::Denied => ("access_denied", "the user denied the request"),
        device::Poll::Expired => (
            "expired_token",
            "the device code expired before it was approved; run `rolegate login --device` again",
        ),
        device::Poll::Unknown => ("invalid_grant", "unknown or already used device code"),
    };
    Err(ApiError::bad_request(code, description))
}

/// RFC 7009 §2.2: 200 whether or not the token was known (no oracle for token guessing).
async fn revoke(
    svc: OAuth,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let form = params(form.into_inner())?;
    check_client(form.get("client_id").map(String::as_str))?;
    let token = form
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("invalid_request", "`token` is required"))?;
    tokens::revoke(&svc.cli, token).await?;
    svc.count("revoked");
    Ok(no_store(HttpResponse::Ok()).finish())
}

// --- loopback authorization request -----------------------------------------------------------

#[derive(Template)]
#[template(path = "authorize.html")]
struct AuthorizePage<'a> {
    title: &'a str,
    assets: &'a Assets,
    who: &'a str,
    csrf: &'a str,
    lifetime: String,
    redirect_uri: &'a str,
    params: Vec<(&'static str, String)>,
}

/// A checked authorization request. Until `redirect_uri` is known to be a loopback address
/// and the client is ours, errors are pages, never redirects (RFC 6749 §4.1.2.1).
struct AuthorizeRequest {
    redirect_uri: url::Url,
    code_challenge: String,
    state: Option<String>,
}

/// The error is (reason code, message) for the page.
fn check_authorize(q: &Params) -> Result<AuthorizeRequest, (&'static str, &'static str)> {
    let bad = |code, m| Err((code, m));
    if q.get("client_id").map(String::as_str) != Some(CLI_CLIENT_ID) {
        return bad(
            "invalid_client",
            "This sign-in link is not from the rolegate CLI.",
        );
    }
    let redirect_uri = match q.get("redirect_uri").map(|u| code::loopback_redirect(u)) {
        Some(Ok(u)) => u,
        Some(Err(m)) => return bad("invalid_redirect_uri", m),
        None => return bad("invalid_redirect_uri", "redirect_uri is required"),
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return bad("unsupported_response_type", "response_type must be `code`");
    }
    // PKCE is mandatory and only S256: `plain` would hand the verifier to anyone who sees the
    // authorization request.
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return bad("invalid_request", "code_challenge_method must be S256");
    }
    let code_challenge = match q.get("code_challenge") {
        Some(c) if code::valid_challenge(c) => c.clone(),
        _ => {
            return bad(
                "invalid_request",
                "code_challenge must be 43 base64url characters",
            );
        }
    };
    Ok(AuthorizeRequest {
        redirect_uri,
        code_challenge,
        state: q.get("state").filter(|s| s.len() <= 512).cloned(),
    })
}

fn human(d: Duration) -> String {
    let h = d.as_secs() / 3600;
    if h >= 48 && h.is_multiple_of(24) {
        format!("{} days", h / 24)
    } else if h >= 1 {
        format!("{h} h")
    } else {
        format!("{} min", d.as_secs() / 60)
    }
}

async fn authorize(
    svc: OAuth,
    req: HttpRequest,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let query = match single_valued(query.into_inner()) {
        Ok(q) => q,
        Err(e) => {
            return Ok(page::error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &e.to_string(),
            ));
        }
    };
    let r = match check_authorize(&query) {
        Ok(r) => r,
        Err((code, m)) => return Ok(page::error(StatusCode::BAD_REQUEST, code, m)),
    };
    let Some(s) = svc.sessions.current(&req).await? else {
        // Sign in first, then come back here with the same request.
        let here = format!("/oauth2/authorize?{}", req.query_string());
        return Ok(sign_in_first(&svc.state, &here));
    };
    Ok(authorize_page(&svc, &s, r))
}

/// "Sign in the rolegate CLI?": Allow or Cancel, carrying the checked request.
fn authorize_page(svc: &OAuth, s: &session::Session, r: AuthorizeRequest) -> HttpResponse {
    let mut params = vec![
        ("client_id", CLI_CLIENT_ID.to_string()),
        ("redirect_uri", r.redirect_uri.to_string()),
        ("code_challenge", r.code_challenge),
        ("code_challenge_method", "S256".to_string()),
        ("response_type", "code".to_string()),
    ];
    if let Some(st) = r.state {
        params.push(("state", st));
    }
    let who = s.identity.display_name();
    let page = AuthorizePage {
        title: "Sign in the rolegate CLI?",
        assets: &ASSETS,
        who,
        csrf: &s.csrf,
        lifetime: human(svc.cli.config.session_lifetime),
        redirect_uri: r.redirect_uri.as_str(),
        params,
    };
    // Allow and Cancel post here and are answered with a redirect to the CLI's loopback
    // listener; browsers apply `form-action` to that redirect too (Chromium does), so the
    // page names exactly that origin — already checked to be loopback, http, with a port.
    let callback = r.redirect_uri.origin().ascii_serialization();
    page::send(StatusCode::OK, &page, &[callback])
}

async fn authorize_decision(
    svc: OAuth,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let form = page_params(form)?;
    let r = match check_authorize(&form) {
        Ok(r) => r,
        Err((code, m)) => return Ok(page::error(StatusCode::BAD_REQUEST, code, m)),
    };
    let s = match signed_in(&svc, &req, &form, "/").await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    let allowed = form.get("decision").map(String::as_str) == Some("allow");
    let back = back_to_cli(&svc, &s, &r, allowed).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, back.as_str()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

/// The CLI's loopback redirect URI with the code (allowed) or `access_denied`, and the state.
async fn back_to_cli(
    svc: &OAuth,
    s: &session::Session,
    r: &AuthorizeRequest,
    allowed: bool,
) -> Result<url::Url, PageError> {
    let mut back = r.redirect_uri.clone();
    {
        let mut q = back.query_pairs_mut();
        if allowed {
            let code = code::issue(
                &svc.cli,
                &code::Grant {
                    identity: s.identity.clone(),
                    client_id: CLI_CLIENT_ID.into(),
                    redirect_uri: r.redirect_uri.to_string(),
                    code_challenge: r.code_challenge.clone(),
                },
            )
            .await?;
            q.append_pair("code", &code);
        } else {
            q.append_pair("error", "access_denied");
        }
        if let Some(st) = &r.state {
            q.append_pair("state", st);
        }
    }
    Ok(back)
}

/// A page's form with one value per field, or the error page.
fn page_params(form: web::Form<Vec<(String, String)>>) -> Result<Params, PageError> {
    single_valued(form.into_inner())
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()).into())
}

/// The session of a decision form, whose CSRF token it must carry; otherwise the response to
/// send instead (a signed-out POST goes to `signed_out`).
async fn signed_in(
    svc: &OAuth,
    req: &HttpRequest,
    form: &Params,
    signed_out: &'static str,
) -> Result<Result<session::Session, HttpResponse>, PageError> {
    let Some(s) = svc.sessions.current(req).await? else {
        return Ok(Err(HttpResponse::SeeOther()
            .insert_header((LOCATION, signed_out))
            .finish()));
    };
    let csrf = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !session::csrf_ok(&s, csrf) {
        return Ok(Err(page::csrf_failed()));
    }
    Ok(Ok(s))
}

// --- /device: the user's side of the device flow ----------------------------------------------

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage<'a> {
    title: &'a str,
    assets: &'a Assets,
    who: &'a str,
    csrf: &'a str,
    request: Option<Shown>,
    problem: Option<&'a str>,
}

/// A pending request as the page shows it. `code` is Some only when the person typed it on
/// this site (a CSRF-checked form); a code that arrived in a link is never shown or carried in
/// the form: the person must type what their terminal shows before Approve means anything.
struct Shown {
    code: Option<String>,
    ip: String,
    at: String,
    ago: String,
}

/// The `/device` pages when `[cli] device_flow = false`.
fn device_flow_off(svc: &OAuth) -> Option<HttpResponse> {
    (!svc.cli.config.device_flow).then(|| {
        page::error(
            StatusCode::NOT_FOUND,
            "device_flow_disabled",
            "Device sign-in is disabled on this broker.",
        )
    })
}

#[derive(Deserialize)]
struct DeviceQuery {
    user_code: Option<String>,
}

/// Looks up a typed user code, counting misses against the user's guess budget.
async fn lookup(
    svc: &OAuth,
    s: &session::Session,
    typed: &str,
) -> Result<Result<(String, device::DeviceRequest), &'static str>, ApiError> {
    let budget = svc.cli.config.user_code_attempts_per_minute;
    let who = format!("{}:{}", s.identity.idp.as_str(), s.identity.subject);
    let found = match device::normalize(typed) {
        Some(code) => device::find(&svc.cli, &code).await?,
        None => None,
    };
    match found {
        Some(f) => Ok(Ok(f)),
        None => {
            // Only misses count: a guesser burns the budget, a user with the right code never.
            if budget > 0 {
                svc.limits
                    .check("ratelimit:user_code", &who, budget)
                    .await?;
            }
            Ok(Err(
                "That code is not valid or has expired. Check it against your terminal, or run `rolegate login --device` again.",
            ))
        }
    }
}

fn shown(svc: &OAuth, r: device::DeviceRequest, typed_here: bool) -> Shown {
    let now = svc.cli.clock.unix();
    Shown {
        code: typed_here.then(|| device::display(&r.user_code)),
        ip: r.ip.unwrap_or_else(|| "unknown".into()),
        at: crate::clock::rfc3339_of(r.created),
        ago: match now - r.created {
            s if s < 60 => format!("{s} seconds ago"),
            s => format!("{} minutes ago", s / 60),
        },
    }
}

/// The `/device` page: the request to decide, or the form to type a code (with a problem).
fn device_view(
    s: &session::Session,
    request: Option<Shown>,
    problem: Option<&str>,
) -> HttpResponse {
    let page = DevicePage {
        title: "Sign in a rolegate command line",
        assets: &ASSETS,
        who: s.identity.display_name(),
        csrf: &s.csrf,
        request,
        problem,
    };
    let status = if problem.is_some() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    page::send(status, &page, &[])
}

/// GET: the form to type a code, or — for a link that carries one (`verification_uri_complete`
/// or a phisher's) — the request's origin with an empty field for the code: never a pre-filled
/// approval.
async fn device_page(
    svc: OAuth,
    req: HttpRequest,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, PageError> {
    if let Some(off) = device_flow_off(&svc) {
        return Ok(off);
    }
    let Some(s) = svc.sessions.current(&req).await? else {
        let here = match req.query_string() {
            "" => "/device".to_string(),
            q => format!("/device?{q}"),
        };
        return Ok(sign_in_first(&svc.state, &here));
    };
    let Some(linked) = query.user_code.as_deref().filter(|c| !c.trim().is_empty()) else {
        return Ok(device_view(&s, None, None));
    };
    Ok(match lookup(&svc, &s, linked).await? {
        Ok((_, r)) => device_view(&s, Some(shown(&svc, r, false)), None),
        Err(m) => device_view(&s, None, Some(m)),
    })
}

async fn device_decision(
    svc: OAuth,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    if let Some(off) = device_flow_off(&svc) {
        return Ok(off);
    }
    let form = page_params(form)?;
    let s = match signed_in(&svc, &req, &form, "/device").await? {
        Ok(s) => s,
        Err(resp) => return Ok(resp),
    };
    let typed = form
        .get("user_code")
        .map(String::as_str)
        .unwrap_or_default();
    let Some(decision) = form.get("decision") else {
        // The code typed into this site's own form: show the request to decide.
        return Ok(match lookup(&svc, &s, typed).await? {
            Ok((_, r)) => device_view(&s, Some(shown(&svc, r, true)), None),
            Err(m) => device_view(&s, None, Some(m)),
        });
    };
    decide(&svc, &s, typed, decision == "approve").await
}

/// Approves or denies the request behind a typed code.
async fn decide(
    svc: &OAuth,
    s: &session::Session,
    typed: &str,
    approve: bool,
) -> Result<HttpResponse, PageError> {
    let (hash, _) = match lookup(svc, s, typed).await? {
        Ok(found) => found,
        Err(m) => return Ok(page::error(StatusCode::NOT_FOUND, "unknown_user_code", m)),
    };
    let decided = device::decide(&svc.cli, &hash, approve.then(|| s.identity.clone())).await?;
    if !decided {
        return Ok(page::error(
            StatusCode::CONFLICT,
            "already_decided",
            "This request was already approved or denied, or it expired.",
        ));
    }
    svc.count(if approve {
        "device_approved"
    } else {
        "device_denied"
    });
    tracing::info!(
        idp = s.identity.idp.as_str(),
        subject = %s.identity.subject,
        approved = approve,
        "device sign-in decided"
    );
    Ok(decided_page(approve))
}

/// What the person who decided sees.
fn decided_page(approved: bool) -> HttpResponse {
    let (title, message) = if approved {
        (
            "Command line signed in",
            "Done: return to your terminal. You can close this page.",
        )
    } else {
        (
            "Request denied",
            "The command line was not signed in. If you did not start this request, tell your security team.",
        )
    };
    page::message(
        StatusCode::OK,
        title,
        message,
        vec![Link {
            href: "/".into(),
            label: "Your AWS roles".into(),
        }],
    )
}
