//! The browser surface after sign-in: the role list, credentials for a role, logout.
//! Deliberately plain (server-rendered, no JavaScript); the picker proper is issue 6's work.

use super::page::{self, escape};
use crate::clock::rfc3339;
use crate::domain::ClientKind;
use crate::error::ApiError;
use crate::issue;
use crate::policy::{Action, RequestContext};
use crate::session;
use crate::state::{AppState, client_ip};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/credentials/{role}", web::post().to(credentials))
        .route("/console/{role}", web::post().to(console))
        .route("/logout", web::post().to(logout));
}

async fn home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let Some(s) = session::current(&state, &req).await? else {
        let saml = state
            .saml
            .idps
            .iter()
            .map(|i| (i.id.as_str(), i.display_name.as_str()));
        let oidc = state
            .idps
            .oidc()
            .iter()
            .filter(|i| i.endpoints().is_some())
            .map(|i| (i.id.as_str(), i.id.as_str()));
        let idps: String = saml
            .chain(oidc)
            .map(|(id, name)| {
                format!(
                    r#"<li><a href="/login/{}">{}</a></li>"#,
                    escape(id),
                    escape(name)
                )
            })
            .collect();
        let body = if idps.is_empty() {
            "<p>No browser sign-in is configured.</p>".to_string()
        } else {
            format!("<p>Sign in with:</p><ul>{idps}</ul>")
        };
        return Ok(page::render(StatusCode::OK, "Sign in", &body));
    };
    let ctx = RequestContext {
        identity: &s.identity,
        client: ClientKind::Browser,
        source_ip: client_ip(&req, &state.config.server.trusted_proxies),
        now: state.clock.now(),
    };
    let roles = state.mapper.roles(&ctx);
    let button = |action: &str, label: &str, alias: &str| {
        format!(
            r#"<form method="post" action="/{action}/{alias}" style="display:inline"><input type="hidden" name="csrf" value="{csrf}"><button type="submit">{label}</button></form>"#,
            alias = escape(alias),
            csrf = escape(&s.csrf),
        )
    };
    let items: String = roles
        .iter()
        .map(|r| {
            let mut buttons = String::new();
            if r.actions.contains(&Action::Console) {
                buttons.push_str(&button("console", "Console", &r.alias));
            }
            if r.actions.contains(&Action::Credentials) {
                buttons.push_str(&button("credentials", "Credentials", &r.alias));
            }
            format!(
                r#"<li><b>{alias}</b> <span class="muted">{arn}</span> {buttons}</li>"#,
                alias = escape(&r.alias),
                arn = escape(&r.arn),
            )
        })
        .collect();
    let body = format!(
        r#"<p>Signed in as <b>{who}</b> via {idp}.</p><ul>{items}</ul>{none}<form method="post" action="/logout"><input type="hidden" name="csrf" value="{csrf}"><button type="submit">Sign out</button></form>"#,
        who = escape(&s.identity.subject),
        idp = escape(s.identity.idp.as_str()),
        none = if items.is_empty() {
            "<p>No role is granted to you.</p>"
        } else {
            ""
        },
        csrf = escape(&s.csrf),
    );
    Ok(page::render(StatusCode::OK, "Your AWS roles", &body))
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
    duration_seconds: Option<u64>,
    /// Console only: a path or URL on the partition's console host.
    destination: Option<String>,
}

async fn console(
    state: web::Data<AppState>,
    req: HttpRequest,
    role: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let Some(s) = session::current(&state, &req).await? else {
        return Ok(HttpResponse::SeeOther()
            .insert_header((LOCATION, "/"))
            .finish());
    };
    if !session::csrf_ok(&s, &form.csrf) {
        return Ok(page::error(
            StatusCode::FORBIDDEN,
            "csrf",
            "This form has expired; reload the page and try again.",
        ));
    }
    let link = issue::console(
        &state,
        &issue::Request {
            identity: &s.identity,
            client: ClientKind::Browser,
            ip: client_ip(&req, &state.config.server.trusted_proxies),
            role: &role,
            duration_seconds: form.duration_seconds,
            action: Action::Console,
        },
        form.destination.as_deref(),
    )
    .await?;
    // The sign-in URL carries a 15-minute token: never cached, never logged.
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, link.url))
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

async fn credentials(
    state: web::Data<AppState>,
    req: HttpRequest,
    role: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    let Some(s) = session::current(&state, &req).await? else {
        return Ok(HttpResponse::SeeOther()
            .insert_header((LOCATION, "/"))
            .finish());
    };
    if !session::csrf_ok(&s, &form.csrf) {
        return Ok(page::error(
            StatusCode::FORBIDDEN,
            "csrf",
            "This form has expired; reload the page and try again.",
        ));
    }
    let (creds, plan) = issue::credentials(
        &state,
        &issue::Request {
            identity: &s.identity,
            client: ClientKind::Browser,
            ip: client_ip(&req, &state.config.server.trusted_proxies),
            role: &role,
            duration_seconds: form.duration_seconds,
            action: Action::Credentials,
        },
    )
    .await?;
    let exports = format!(
        "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_SESSION_TOKEN={}",
        creds.access_key_id,
        creds.secret_access_key.expose(),
        creds.session_token.expose()
    );
    let body = format!(
        r#"<p>Role <b>{role}</b> as session <code>{session}</code>, valid until {exp}.</p><pre id="exports">{exports}</pre><p><a href="/">Back to your roles</a></p>"#,
        role = escape(plan.grant().role().arn.as_str()),
        session = escape(plan.session_name()),
        exp = escape(&rfc3339(creds.expiration)),
        exports = escape(&exports),
    );
    let mut resp = page::render(StatusCode::OK, "Temporary AWS credentials", &body);
    resp.headers_mut().insert(
        CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ApiError> {
    if let Some(s) = session::current(&state, &req).await?
        && !session::csrf_ok(&s, &form.csrf)
    {
        return Ok(page::error(
            StatusCode::FORBIDDEN,
            "csrf",
            "This form has expired; reload the page and try again.",
        ));
    }
    let gone = session::end(&state, &req).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .cookie(gone)
        .finish())
}
