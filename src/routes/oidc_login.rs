//! Browser sign-in with an OIDC IdP: authorization code + PKCE S256 + nonce + single-use state
//! (OIDC Core §3.1, RFC 7636), a redirect URI per IdP and RFC 9207 `iss` against mix-up
//! ([`crate::idp::oidc::mixup`]). The ID token from the token endpoint goes through the same
//! verifier as bearer tokens, with the nonce this login chose.

use super::page::{self, PageError};
use super::saml::safe_return_to;
use crate::error::ApiError;
use crate::idp::oidc::verify::parse_header;
use crate::idp::oidc::{OidcIdp, mixup};
use crate::session;
use crate::state::AppState;
use crate::store::key;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

const PENDING_TTL: Duration = Duration::from_secs(600);
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

/// The redirect URI to register at IdP `idp` (`config check` prints it).
pub fn redirect_uri(public_url: &url::Url, idp: &str) -> String {
    format!(
        "{}/oidc/callback/{idp}",
        public_url.as_str().trim_end_matches('/')
    )
}

#[derive(Serialize, Deserialize)]
struct Pending {
    idp: String,
    nonce: String,
    verifier: String,
    return_to: String,
}

fn random() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
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

/// `GET /login/{idp}` for an OIDC IdP (the SAML route dispatches here).
pub async fn start(
    state: &AppState,
    idp: &Arc<OidcIdp>,
    return_to: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let return_to = match safe_return_to(return_to) {
        Ok(r) => r,
        Err(m) => return Ok(page::error(StatusCode::BAD_REQUEST, "bad_return_to", m)),
    };
    let Some(endpoints) = idp.endpoints() else {
        return Ok(page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "idp_unavailable",
            "This identity provider's sign-in endpoints are not known yet (discovery); try again shortly.",
        ));
    };
    let (state_value, nonce, verifier) = (random(), random(), random());
    // RFC 7636 §4.2: S256, always.
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = endpoints.authorization;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &idp.cfg.client_id)
        .append_pair(
            "redirect_uri",
            &redirect_uri(&state.public_url, idp.id.as_str()),
        )
        .append_pair("scope", "openid email profile groups")
        .append_pair("state", &state_value)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        // OIDC Core §3.1.2.1: an IdP session older than a broker session may live makes the
        // IdP authenticate again, so the session anchored at `auth_time` is not born dead.
        .append_pair(
            "max_age",
            &state.config.session.lifetime.as_secs().to_string(),
        );
    let pending = Pending {
        idp: idp.id.to_string(),
        nonce,
        verifier,
        return_to,
    };
    let value = serde_json::to_vec(&pending).map_err(|_| ApiError::internal())?;
    state
        .store
        .put(&key("oidc_pending", &state_value), &value, PENDING_TTL)
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((LOCATION, url.to_string()))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(pending_cookie(
            state,
            state_value,
            PENDING_TTL.as_secs() as i64,
        ))
        .finish())
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// RFC 9207: the issuer of this authorization response.
    iss: Option<String>,
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
    let Some(state_value) = q.state.as_deref().filter(|s| s.len() <= 64) else {
        return Ok(refuse(
            &state,
            &req,
            "",
            "invalid_state",
            "The sign-in response has no valid state.",
        ));
    };
    // Login CSRF: the state must come back to the browser that started the login. Checked
    // before the pending login is taken, so a leaked state cannot burn a victim's sign-in.
    if req
        .cookie(pending_cookie_name(&state))
        .is_none_or(|c| c.value() != state_value)
    {
        return Ok(refuse(
            &state,
            &req,
            "",
            "invalid_state",
            "This sign-in was started in another browser; start again.",
        ));
    }
    // Single use: taken before anything else, so a replayed callback finds nothing.
    let Some(bytes) = state.store.take(&key("oidc_pending", state_value)).await? else {
        return Ok(refuse(
            &state,
            &req,
            "",
            "invalid_state",
            "This sign-in has expired or was already used; start again.",
        ));
    };
    let Ok(pending) = serde_json::from_slice::<Pending>(&bytes) else {
        return Err(ApiError::internal().into());
    };
    let Some(idp) = state
        .idps
        .oidc()
        .iter()
        .find(|i| i.id.as_str() == pending.idp)
        .cloned()
    else {
        return Ok(refuse(
            &state,
            &req,
            &pending.idp,
            "unknown_idp",
            "The identity provider is no longer configured.",
        ));
    };
    let Some(endpoints) = idp.endpoints() else {
        return Ok(refuse(
            &state,
            &req,
            &pending.idp,
            "idp_unavailable",
            "The identity provider is unavailable.",
        ));
    };
    // Mix-up (RFC 9700 §4.4): the response must come back at this IdP's own redirect URI and,
    // when it names its issuer (RFC 9207), name this IdP's. Checked before the error branch
    // too: an error from another IdP says nothing about this login.
    if let Err(m) = mixup::check_authorization_response(
        path.as_str(),
        &pending.idp,
        &idp.cfg.issuer,
        endpoints.iss_parameter_supported,
        q.iss.as_deref(),
    ) {
        return Ok(refuse(
            &state,
            &req,
            &pending.idp,
            m.reason(),
            "This sign-in response did not come from the identity provider it was started with; start again.",
        ));
    }
    if q.error.as_deref() == Some("access_denied") {
        // OIDC Core §3.1.2.6: the user (or the IdP's policy) declined; nothing was signed in.
        audit_refusal(&state, &req, &pending.idp, "cancelled");
        let mut resp = page::cancelled(
            "The sign-in was cancelled at the identity provider; nothing was signed in.",
            super::browser::sign_in_again_href(&state),
        );
        resp.add_cookie(&super::browser::signed_out_cookie(&state, true))
            .map_err(|_| ApiError::internal())?;
        return Ok(resp);
    }
    if let Some(e) = &q.error {
        tracing::warn!(idp = %pending.idp, error = %e.chars().take(64).collect::<String>(), "IdP returned an error");
        return Ok(refuse(
            &state,
            &req,
            &pending.idp,
            "idp_error",
            "The identity provider did not sign you in.",
        ));
    }
    let Some(code) = q.code.as_deref() else {
        return Ok(refuse(
            &state,
            &req,
            &pending.idp,
            "invalid_request",
            "The sign-in response has no code.",
        ));
    };
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        (
            "redirect_uri",
            redirect_uri(&state.public_url, idp.id.as_str()),
        ),
        ("code_verifier", pending.verifier.clone()),
    ];
    let mut request = state
        .http
        .post(endpoints.token)
        .timeout(Duration::from_secs(10));
    match &idp.cfg.client_secret {
        // client_secret_basic (OIDC Core §9).
        Some(secret) => request = request.basic_auth(&idp.cfg.client_id, Some(secret.expose())),
        None => form.push(("client_id", idp.cfg.client_id.clone())),
    }
    let response = request.form(&form).send().await.map_err(|e| {
        tracing::error!(idp = %idp.id, error = %e.without_url(), "token endpoint unreachable");
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "the identity provider is unavailable",
        )
    })?;
    if !response.status().is_success() {
        tracing::warn!(idp = %idp.id, status = %response.status(), "token endpoint refused the code");
        return Ok(refuse(
            &state,
            &req,
            &pending.idp,
            "idp_error",
            "The identity provider refused to complete the sign-in.",
        ));
    }
    #[derive(Deserialize)]
    struct Tokens {
        id_token: String,
    }
    let Ok(tokens) = response.json::<Tokens>().await else {
        return Ok(refuse(
            &state,
            &req,
            &pending.idp,
            "idp_error",
            "The identity provider sent no ID token.",
        ));
    };
    let verified = match parse_header(&tokens.id_token) {
        Ok(h) => {
            idp.verify(
                &tokens.id_token,
                &h,
                state.clock.as_ref(),
                Some(&pending.nonce),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let identity = match verified {
        Ok(i) => i,
        Err(e) => {
            state
                .metrics
                .verify_failures
                .with_label_values(&[e.reason()])
                .inc();
            tracing::warn!(idp = %idp.id, reason = e.reason(), "ID token from the code flow rejected");
            return Ok(refuse(
                &state,
                &req,
                &pending.idp,
                e.reason(),
                "The identity provider's ID token was not accepted.",
            ));
        }
    };
    let cookie = match session::create(&state, &req, "oidc", identity).await {
        Ok(c) => c,
        Err(session::Refused::StaleAuthentication) => {
            return Ok(refuse(
                &state,
                &req,
                &pending.idp,
                "stale_authentication",
                session::STALE_AUTHENTICATION,
            ));
        }
        Err(session::Refused::Store(e)) => return Err(e.into()),
    };
    let mut gone = pending_cookie(&state, String::new(), 0);
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, pending.return_to))
        .insert_header((CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .cookie(gone)
        .finish())
}
