//! `/api/v1`: the token-exchange surface for apps and scripts.

use super::caller::Caller;
use crate::aws::limits;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::policy::Action;
use crate::state::AppState;
use crate::telemetry::{IssuedEvent, audit_issued};
use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/roles", web::get().to(roles))
        .route("/credentials", web::post().to(credentials));
}

async fn roles(state: web::Data<AppState>, caller: Caller) -> HttpResponse {
    let roles = state.mapper.roles(&caller.context(&state));
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "roles": roles }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsRequest {
    role: String,
    duration_seconds: Option<u64>,
}

/// credential_process output (Version 1) plus which role and session it is.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsResponse<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
    role_arn: &'a str,
    session_name: &'a str,
}

async fn credentials(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CredentialsRequest>,
) -> Result<HttpResponse, ApiError> {
    let grant = state
        .mapper
        .authorize(&caller.context(&state), &body.role, Action::Credentials)?;
    let plan = limits::plan(
        grant,
        &caller.identity,
        body.duration_seconds,
        state.config.aws.default_duration,
        state.issuer.chained(),
    )?;
    let subject = format!("{}:{}", caller.identity.idp, caller.identity.subject);
    state
        .rate_limit(
            "ratelimit:credentials",
            &subject,
            state.config.limits.credentials_per_minute,
        )
        .await?;
    let creds = state.issuer.issue(&plan).await?;
    let role = plan.grant().role();
    state
        .metrics
        .credentials_issued
        .with_label_values(&[role.alias.as_str()])
        .inc();
    audit_issued(&IssuedEvent {
        idp: caller.identity.idp.as_str(),
        subject: &caller.identity.subject,
        role: role.arn.as_str(),
        session_name: plan.session_name(),
        source_identity: plan.source_identity(),
        duration_secs: plan.duration().as_secs(),
        client_ip: &caller.ip_string(),
        matched: plan.grant().matched(),
        mode: state.issuer.mode(),
    });
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(CredentialsResponse {
            version: 1,
            access_key_id: &creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose(),
            session_token: creds.session_token.expose(),
            expiration: rfc3339(creds.expiration),
            role_arn: role.arn.as_str(),
            session_name: plan.session_name(),
        }))
}
