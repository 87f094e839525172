//! `/api/v1`: the token-exchange surface for apps and scripts.

use super::caller::{Admin, Caller};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::favourites::Favourites;
use crate::inventory::{Inventory, IssuedSession, SessionView};
use crate::issue::Issuance;
use crate::policy::Mapper;
use crate::policy::explain::{IdentityFile, explain, explain_own};
use crate::policy::{Action, RequestContext};
use crate::present::Credentials;
use crate::revocation::request::{RevokeRequest, Revoker};
use crate::state::AppState;
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/roles", web::get().to(roles))
        .route("/credentials", web::post().to(credentials))
        .route("/console-url", web::post().to(console_url))
        .route("/sessions", web::get().to(sessions))
        .route("/sessions/revoke", web::post().to(revoke_sessions))
        .route("/me", web::get().to(me))
        .route("/explain", web::get().to(explain_self))
        .route("/explain", web::post().to(explain_admin));
}

/// A role as the CLI sees it: with the region `rolegate setup` writes into its profile.
#[derive(Serialize)]
struct RoleView<'a> {
    #[serde(flatten)]
    role: &'a crate::policy::RoleSummary,
    /// `[aws.partitions.<partition>] region`: the role's partition default unless configured.
    region: &'a str,
    /// Starred in the web picker: the CLI's picker lists these first.
    favourite: bool,
}

async fn roles(
    state: web::Data<AppState>,
    favourites: web::Data<Favourites>,
    caller: Caller,
) -> HttpResponse {
    let roles = state.policy.roles(&caller.context(&state));
    // Favourites only order a list: a store that cannot answer leaves them out, it does not
    // take the list away.
    let favourites = favourites.list(&caller.identity).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "favourites unavailable for the roles answer");
        Default::default()
    });
    let aws = &state.config.aws;
    let views: Vec<RoleView> = roles
        .iter()
        .map(|role| RoleView {
            region: aws.region(role.arn.split(':').nth(1).unwrap_or("aws")),
            favourite: favourites.contains(&role.alias),
            role,
        })
        .collect();
    let mut body = serde_json::json!({ "roles": views });
    if let Some(sts) = dev_sts_emulator(&state) {
        // So that `rolegate setup` against `serve --dev` writes profiles whose STS calls reach
        // the emulator that issued their credentials. The CLI honours it only when both the
        // broker and this address are loopback.
        body["dev"] = serde_json::json!({ "sts_endpoint": sts.as_str() });
    }
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(body)
}

/// The local STS emulator a `--dev` broker takes its credentials from, when it is on loopback.
pub(super) fn dev_sts_emulator(state: &AppState) -> Option<&url::Url> {
    if !state.config.dev {
        return None;
    }
    state.config.aws.partitions["aws"]
        .sts_endpoint
        .as_ref()
        .filter(|u| crate::config::is_loopback_url(u))
}

/// Who the caller is, as the broker sees them: `rolegate status` shows it, and it is what a
/// user sends an administrator who asks "which groups do you have?".
async fn me(state: web::Data<AppState>, caller: Caller) -> HttpResponse {
    let id = &caller.identity;
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "idp": id.idp.as_str(),
            "idp_name": state.config.idp_display_name(id.idp.as_str()),
            "subject": id.subject,
            "name": id.display_name(),
            "groups": id.groups,
        }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsRequest {
    role: String,
    duration_seconds: Option<u64>,
    /// Why (a ticket or change), recorded with the session in the inventory.
    reason: Option<String>,
}

/// credential_process JSON (Version 1) plus the role, the session and the region: the
/// Presenter's [`crate::present::Credentials`], which the CLI reads back.
async fn credentials(
    state: web::Data<AppState>,
    issuance: web::Data<Issuance>,
    caller: Caller,
    body: web::Json<CredentialsRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut asked = caller.asks(&body.role, body.duration_seconds, Action::Credentials);
    asked.reason = reason(body.reason.as_deref())?;
    let (keys, plan) = issuance.credentials(&asked).await?;
    let region = state.config.aws.region(plan.grant().role().arn.partition());
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(Credentials::issued(keys, &plan, region)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleRequest {
    role: String,
    duration_seconds: Option<u64>,
    destination: Option<String>,
    /// As [`CredentialsRequest::reason`].
    reason: Option<String>,
}

/// A reason as the inventory keeps it: 1 to 200 characters, none of them control characters
/// (it is shown in tables, pages and audit lines).
fn reason(r: Option<&str>) -> Result<Option<&str>, ApiError> {
    match r.map(str::trim) {
        None => Ok(None),
        Some(r)
            if !r.is_empty() && r.chars().count() <= 200 && !r.chars().any(char::is_control) =>
        {
            Ok(Some(r))
        }
        Some(_) => Err(ApiError::bad_request(
            "invalid_request",
            "reason: 1 to 200 characters without control characters (a ticket or change, \
             e.g. CHG-42)",
        )),
    }
}

/// `{"url", "expires_at"}`: a console sign-in URL (its token is valid 15 minutes).
async fn console_url(
    state: web::Data<AppState>,
    issuance: web::Data<Issuance>,
    caller: Caller,
    body: web::Json<ConsoleRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Some(federation) = super::browser::console_out_of_reach(&state, &body.role) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "console_unavailable",
            format!(
                "this broker runs with serve --dev: its credentials come from a local STS \
                 emulator, which AWS's console sign-in ({federation}) does not accept, so no \
                 console link can work here; credentials do (rolegate credentials, exec, env)"
            ),
        ));
    }
    let mut asked = caller.asks(&body.role, body.duration_seconds, Action::Console);
    asked.reason = reason(body.reason.as_deref())?;
    let link = issuance
        .console(&asked, body.destination.as_deref())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "url": link.url, "expires_at": rfc3339(link.expires_at) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainQuery {
    role: String,
    action: Action,
}

fn unknown_role(role: &str) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "unknown_role",
        format!(
            "`{}` is not a role in the catalogue",
            role.chars().take(128).collect::<String>()
        ),
    )
}

/// "Why can't I use role X?" for the caller's own identity.
async fn explain_self(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ExplainQuery>,
) -> Result<HttpResponse, ApiError> {
    let engine = state.policy.engine();
    // An unknown role is "denied" too: the catalogue is no business of a caller it excludes.
    let own = explain_own(&engine, &caller.context(&state), &q.role, q.action);
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(own))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainRequest {
    identity: IdentityFile,
    role: String,
    action: Action,
}

/// The same for any identity, for administrators (`[admin] token_file`).
async fn explain_admin(
    state: web::Data<AppState>,
    _admin: Admin,
    body: web::Json<ExplainRequest>,
) -> Result<HttpResponse, ApiError> {
    let identity = body
        .identity
        .identity()
        .map_err(|e| ApiError::bad_request("invalid_request", format!("identity: {e}")))?;
    let now = body
        .identity
        .now()
        .map_err(|e| ApiError::bad_request("invalid_request", format!("identity.now: {e}")))?;
    let engine = state.policy.engine();
    let role = engine
        .role(&body.role)
        .ok_or_else(|| unknown_role(&body.role))?;
    let ctx = RequestContext {
        aws_session: None,
        identity: &identity,
        client: body
            .identity
            .client
            .unwrap_or(crate::domain::ClientKind::Api),
        source_ip: body.identity.source_ip,
        now,
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(explain(&engine, &ctx, role, body.action)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionsQuery {
    /// `IDP:SUBJECT`: another person's sessions (needs `rolegate:ListSessions`).
    user: Option<String>,
    /// A role's alias or ARN: its sessions (needs `rolegate:ListSessions` on it).
    role: Option<String>,
    /// `revoked`: list revoked sessions too (they stay in the inventory until they expire).
    include: Option<String>,
    /// `true`: every session on the roles where the caller has `rolegate:ListSessions`.
    all: Option<String>,
}

/// `{"sessions": [...]}`, the soonest to expire first: the caller's own live AWS sessions, or
/// those `?user=` and `?role=` name that the policy lets them list
/// ([`Inventory::visible`]), or with `?all=true` every one they may list; revoked ones only
/// with `?include=revoked`.
async fn sessions(
    state: web::Data<AppState>,
    inventory: web::Data<Inventory>,
    caller: Caller,
    q: web::Query<SessionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let with_revoked = match q.include.as_deref() {
        None => false,
        Some("revoked") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("include: `{other}`; the one value is `revoked`"),
            ));
        }
    };
    let ctx = caller.context(&state);
    let all = match q.all.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("all: `{other}`; use true or false"),
            ));
        }
    };
    let listed = match all {
        true if q.user.is_none() && q.role.is_none() => inventory.visible_all(&ctx).await?,
        true => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "all: alone; user and role already narrow the listing",
            ));
        }
        false => {
            inventory
                .visible(&ctx, q.user.as_deref(), q.role.as_deref())
                .await?
        }
    };
    let views: Vec<SessionView<'_>> = listed
        .iter()
        .filter(|s| with_revoked || s.revoked_at.is_none())
        .map(IssuedSession::view)
        .collect();
    #[derive(serde::Serialize)]
    struct Listing<'a> {
        sessions: Vec<SessionView<'a>>,
    }
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(Listing { sessions: views }))
}

/// `{"revoked", "revoked_at", "frozen_until"?, "roles": [{"arn", "written", "error"?,
/// "policy"}]}`: ends sessions in one scope ([`Revoker::revoke`] says who may).
async fn revoke_sessions(
    state: web::Data<AppState>,
    revoker: web::Data<Revoker>,
    caller: Caller,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    let outcome = revoker.revoke(&caller.context(&state), &body).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(outcome))
}
