//! SAML service-provider endpoints: SP metadata, SP-initiated login, and the ACS.

use super::page::{self, PageError};
use crate::error::ApiError;
use crate::idp::saml::authn_request::{self, AuthnParams};
use crate::idp::saml::pool::{Expected, PoolError};
use crate::idp::saml::preparse::claimed_issuer;
use crate::idp::saml::{SamlError, attributes, decode_post, sp_metadata};
use crate::session;
use crate::state::AppState;
use crate::store::key;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a sign-in may take at the IdP (the pending request's lifetime).
const PENDING_TTL: Duration = Duration::from_secs(600);
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/saml/metadata", web::get().to(metadata))
        .route("/login/{idp}", web::get().to(login))
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

/// What the ACS needs to finish a sign-in it started.
#[derive(Serialize, Deserialize)]
struct Pending {
    request_id: String,
    idp: String,
    return_to: String,
    /// Sent with ForceAuthn because an earlier Response's authentication was too old to open
    /// a session: if this one is too, the sign-in is refused rather than retried forever.
    #[serde(default)]
    reauth: bool,
}

/// A Response that passed every check, and what the ACS does with it.
struct Accepted {
    identity: crate::domain::Identity,
    return_to: String,
    idp: String,
    reauth: bool,
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
    /// `1`: ask for a fresh authentication (ForceAuthn, SAML core 3.4.1) — set by the ACS when
    /// the IdP vouched with an authentication older than a session may live.
    reauth: Option<String>,
}

/// `return_to` must stay on this site: a path, never `//host`, `/\\host`, a scheme, or
/// control characters (DESIGN § Security checklist).
pub fn safe_return_to(r: Option<&str>) -> Result<String, &'static str> {
    let r = r.unwrap_or("/");
    // Encoded slashes matter only in the path (a server that decodes `/%2F%2Fevil` may answer
    // `//evil`); the query may carry URLs of its own (the CLI's loopback `redirect_uri`).
    let path = r
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ok = r.starts_with('/')
        && !r.starts_with("//")
        && !r.starts_with("/\\")
        && !r.contains(['\\', '\r', '\n', '\t'])
        && !r.chars().any(char::is_control)
        && !crate::untrusted::has_hidden_chars(r)
        && !path.contains("%2f%2f")
        && !path.contains("%5c")
        && !path.starts_with("/%2f")
        && r.len() <= 2048;
    if ok {
        Ok(r.to_string())
    } else {
        Err("return_to must be a path on this site")
    }
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

/// `host[:port]` of the public URL, as a browser sends it in `Host`.
fn public_authority(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// `GET /login/{idp}`, for SAML and OIDC IdPs alike. Starting a sign-in by hand clears the
/// signed-out marker, so `/` goes straight to a single IdP again once signed in and out of
/// the session's life (see `browser::SIGNED_OUT_COOKIE`).
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let mut resp = start_login(&state, &req, &path, &q).await?;
    if req.cookie(super::browser::SIGNED_OUT_COOKIE).is_some() {
        resp.add_cookie(&super::browser::signed_out_cookie(&state, false))
            .map_err(|_| ApiError::internal())?;
    }
    Ok(resp)
}

async fn start_login(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    path: &str,
    q: &LoginQuery,
) -> Result<HttpResponse, PageError> {
    // `serve --dev` opened as http://localhost:… while it lives at http://127.0.0.1:…: the
    // pending-login cookie would be set on one host and the IdP would come back to the other,
    // ending in "started in another browser". Start the sign-in at the public address instead.
    // Dev only: behind a proxy that rewrites Host this would redirect forever.
    if state.config.dev
        && let Some(host) = req.headers().get(HOST).and_then(|h| h.to_str().ok())
        && host != public_authority(&state.public_url)
    {
        let mut there = state
            .public_url
            .join(req.path())
            .map_err(|_| ApiError::internal())?;
        there.set_query(Some(req.query_string()).filter(|q| !q.is_empty()));
        return Ok(HttpResponse::SeeOther()
            .insert_header((LOCATION, there.to_string()))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish());
    }
    // Each start writes a pending request to the store: bounded per client IP.
    let per_minute = state.config.limits.logins_per_minute_per_ip;
    if per_minute > 0 {
        let ip = state.client_label(req);
        state.rate_limit("ratelimit:login", &ip, per_minute).await?;
    }
    let Some(idp) = state.saml.idp(path) else {
        if let Some(oidc) = state.idps.oidc().iter().find(|i| i.id.as_str() == path) {
            return super::oidc_login::start(state, oidc, q.return_to.as_deref()).await;
        }
        return Ok(page::error(
            StatusCode::NOT_FOUND,
            "unknown_idp",
            "There is no identity provider with this name.",
        ));
    };
    let return_to = match safe_return_to(q.return_to.as_deref()) {
        Ok(r) => r,
        Err(m) => return Ok(page::error(StatusCode::BAD_REQUEST, "bad_return_to", m)),
    };
    let reauth = q.reauth.as_deref() == Some("1");
    let md = idp.metadata();
    let Some(sso_url) = md.sso_redirect_url.as_deref() else {
        return Ok(page::error(
            StatusCode::BAD_GATEWAY,
            "no_sso_endpoint",
            "The identity provider's metadata has no HTTP-Redirect sign-in endpoint.",
        ));
    };
    // RelayState carries only an opaque key to the pending request (never a URL).
    let relay = hex::encode(rand::random::<[u8; 16]>());
    let redirect = authn_request::redirect(
        &AuthnParams {
            sso_url,
            sp_entity_id: &state.saml.entity_id,
            acs_url: &state.saml.acs_url,
            relay_state: &relay,
            force_authn: idp.cfg.force_authn || reauth,
            signing_key: state.saml.sp_key.as_ref(),
        },
        state.clock.now(),
    )
    .map_err(|e| {
        tracing::error!(idp = %idp.id, error = %e, "cannot build the AuthnRequest");
        ApiError::internal()
    })?;
    let pending = Pending {
        request_id: redirect.request_id,
        idp: idp.id.to_string(),
        return_to,
        reauth,
    };
    let value = serde_json::to_vec(&pending).map_err(|_| ApiError::internal())?;
    state
        .store
        .put(&key("saml_pending", &relay), &value, PENDING_TTL)
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((LOCATION, redirect.url))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(pending_cookie(state, relay, PENDING_TTL.as_secs() as i64))
        .finish())
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

async fn acs(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AcsForm>,
) -> Result<HttpResponse, PageError> {
    // Before the Response is decoded: each post costs a signature check, maybe a decryption.
    let per_minute = state.config.limits.saml_acs_per_minute_per_ip;
    state
        .limit_per_ip(&req, "ratelimit:acs", per_minute)
        .await?;
    match verify_post(&state, &req, &form).await {
        Ok(Accepted {
            identity,
            return_to,
            idp,
            reauth,
        }) => {
            let cookie = match session::create(&state, &req, "saml", identity).await {
                Ok(c) => c,
                // IdPs with long SSO sessions (Entra ID's "stay signed in", Okta's persistent
                // sessions) vouch with an old AuthnInstant: ask once for a fresh
                // authentication instead of sending the user to sign out at the IdP.
                Err(session::Refused::StaleAuthentication) if !reauth => {
                    let mut again = url::Url::parse("http://x/").expect("static URL");
                    again
                        .query_pairs_mut()
                        .append_pair("reauth", "1")
                        .append_pair("return_to", &return_to);
                    let location = format!("/login/{idp}?{}", again.query().unwrap_or_default());
                    return Ok(HttpResponse::SeeOther()
                        .insert_header((LOCATION, location))
                        .insert_header((CACHE_CONTROL, "no-store"))
                        .finish());
                }
                Err(session::Refused::StaleAuthentication) => {
                    return Ok(refuse(
                        &state,
                        &req,
                        "stale_authentication",
                        session::STALE_AUTHENTICATION,
                    ));
                }
                Err(session::Refused::Store(e)) => return Err(e.into()),
            };
            let mut gone = pending_cookie(&state, String::new(), 0);
            gone.make_removal();
            Ok(HttpResponse::SeeOther()
                .insert_header((LOCATION, return_to))
                .insert_header((CACHE_CONTROL, "no-store"))
                .cookie(cookie)
                .cookie(gone)
                .finish())
        }
        Err(AcsError::Saml(e)) => {
            state
                .metrics
                .saml_rejections
                .with_label_values(&[e.code()])
                .inc();
            tracing::warn!(reason = e.code(), detail = %e, "SAML Response rejected");
            if let SamlError::Status(status) = e {
                // A Cancel at the IdP, or its refusal: the user's choice or the IdP's policy,
                // not a fault here. Still a refused sign-in in the audit stream.
                audit_refusal(&state, &req, e.code());
                let mut resp = page::cancelled(
                    &format!(
                        "Sign-in cancelled or refused at your identity provider (status {status}). \
                         Nothing was signed in."
                    ),
                    super::browser::sign_in_again_href(&state),
                );
                resp.add_cookie(&super::browser::signed_out_cookie(&state, true))
                    .map_err(|_| ApiError::internal())?;
                return Ok(resp);
            }
            Ok(refuse(
                &state,
                &req,
                e.code(),
                "The sign-in response from your identity provider was not accepted.",
            ))
        }
        // Store down and the like: fail closed with the API error mapping (503).
        Err(AcsError::Api(e)) => Err(e.into()),
    }
}

/// A refusal page, and its line in the audit stream (reason code only).
/// The page does not send the browser back to the IdP by itself: the signed-out marker keeps
/// `/` from going straight to a single IdP that would refuse again.
fn refuse(state: &AppState, req: &HttpRequest, code: &str, message: &str) -> HttpResponse {
    audit_refusal(state, req, code);
    let mut resp = page::error(StatusCode::FORBIDDEN, code, message);
    let _ = resp.add_cookie(&super::browser::signed_out_cookie(state, true));
    resp
}

/// The audit line of a refused sign-in (reason code only).
fn audit_refusal(state: &AppState, req: &HttpRequest, code: &str) {
    state.audit.saml_refused(&crate::audit::SamlRefused {
        reason: code,
        client_ip: &state.client_label(req),
    });
}

enum AcsError {
    Saml(SamlError),
    Api(ApiError),
}

impl From<SamlError> for AcsError {
    fn from(e: SamlError) -> Self {
        AcsError::Saml(e)
    }
}

impl From<ApiError> for AcsError {
    fn from(e: ApiError) -> Self {
        AcsError::Api(e)
    }
}

async fn verify_post(
    state: &AppState,
    req: &HttpRequest,
    form: &AcsForm,
) -> Result<Accepted, AcsError> {
    let xml = decode_post(&form.saml_response)?;
    // The pending request is taken (single use) before verification: a replayed POST finds
    // nothing, and a forged one burns only the attacker's own login. The pending-login cookie
    // is compared first (it binds the Response to the browser that started the sign-in): a
    // post without it never reaches the store, so a leaked RelayState cannot burn a victim's
    // login (issue 16, item 9), and it goes on as unsolicited — refused when it answers a
    // request (login CSRF: an attacker's Response pushed into a victim's browser).
    let relay = form
        .relay_state
        .as_deref()
        .filter(|r| r.len() == 32 && r.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter(|r| {
            req.cookie(pending_cookie_name(state))
                .is_some_and(|c| c.value() == *r)
        });
    let pending: Option<Pending> = match relay {
        Some(relay) => state
            .store
            .take(&key("saml_pending", relay))
            .await
            .map_err(ApiError::from)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
        None => None,
    };
    let (idp, expected, return_to) = match &pending {
        Some(p) => {
            let idp = state
                .saml
                .idp(&p.idp)
                .ok_or(SamlError::InResponseTo)?
                .clone();
            (
                idp,
                Expected::Request(p.request_id.clone()),
                p.return_to.clone(),
            )
        }
        None => {
            // IdP-initiated (or a stale/replayed login): find the IdP by the Issuer the
            // Response claims, then verify strictly against that IdP's own certificates.
            let issuer = claimed_issuer(&xml)?.ok_or(SamlError::WrongIssuer)?;
            let idp = state
                .saml
                .idp_by_entity_id(&issuer)
                .ok_or(SamlError::WrongIssuer)?
                .clone();
            let allowed = idp.cfg.allow_idp_initiated;
            // RelayState is never a redirect target for unsolicited Responses.
            (idp, Expected::Unsolicited { allowed }, "/".to_string())
        }
    };
    let job = state.saml.job(&idp, xml, expected, state.clock.clone());
    // Off the async workers, a bounded number at once (src/idp/saml/pool.rs).
    let verified = match state.saml.verifiers.run(move || job.run()).await {
        Ok(result) => result?,
        Err(PoolError::Busy) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the broker is busy verifying sign-ins; try again in a few seconds",
            )
            .into());
        }
        Err(PoolError::Lost) => return Err(ApiError::internal().into()),
    };
    // A store that lost its memory (Redis restarted without persistence; a new process on the
    // memory store) no longer knows what it consumed before: an assertion issued before its
    // memory began may already have been used, so it is refused (DESIGN § State: a restart
    // never reopens a replay window). One second of slack for second-precision timestamps.
    let epoch = state.store.epoch().await.map_err(ApiError::from)?;
    let epoch = epoch
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if verified.assertion.issue_instant.timestamp() < epoch - 1 {
        return Err(SamlError::BeforeStoreEpoch.into());
    }
    // Replay cache (SAML profiles 4.1.4.5): written only after full verification, so junk
    // cannot burn IDs; kept until the assertion could no longer be accepted anyway.
    let ttl = (verified.replay_until - state.clock.unix()).max(1) as u64;
    let fresh = state
        .store
        .insert_once(
            &key(
                "saml_replay",
                &format!("{}:{}", idp.id, verified.assertion.id),
            ),
            Duration::from_secs(ttl),
        )
        .await
        .map_err(ApiError::from)?;
    if !fresh {
        return Err(SamlError::Replay.into());
    }
    Ok(Accepted {
        identity: attributes::to_identity(&idp.id, &verified.assertion, &idp.cfg),
        return_to,
        idp: idp.id.to_string(),
        reauth: pending.as_ref().is_some_and(|p| p.reauth),
    })
}
