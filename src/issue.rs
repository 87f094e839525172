//! Issuing credentials: the one path every surface (API, browser) takes from an identity to
//! STS, so the policy decision, the STS limits, the per-subject rate limit, the metric and the
//! audit event can never differ between them.

use crate::aws::Credentials;
use crate::aws::limits::{self, SessionPlan};
use crate::domain::{ClientKind, Identity};
use crate::error::ApiError;
use crate::policy::{Action, RequestContext};
use crate::state::AppState;
use crate::telemetry::{IssuedEvent, audit_issued};
use std::net::IpAddr;

pub struct Request<'a> {
    pub identity: &'a Identity,
    pub client: ClientKind,
    pub ip: Option<IpAddr>,
    pub role: &'a str,
    pub duration_seconds: Option<u64>,
}

pub async fn credentials(
    state: &AppState,
    r: &Request<'_>,
) -> Result<(Credentials, SessionPlan), ApiError> {
    let ctx = RequestContext {
        identity: r.identity,
        client: r.client,
        source_ip: r.ip,
        now: state.clock.now(),
    };
    let grant = state.mapper.authorize(&ctx, r.role, Action::Credentials)?;
    let plan = limits::plan(
        grant,
        r.identity,
        r.duration_seconds,
        state.config.aws.default_duration,
        state.issuer.chained(),
    )?;
    let subject = format!("{}:{}", r.identity.idp, r.identity.subject);
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
        idp: r.identity.idp.as_str(),
        subject: &r.identity.subject,
        role: role.arn.as_str(),
        session_name: plan.session_name(),
        source_identity: plan.source_identity(),
        duration_secs: plan.duration().as_secs(),
        client_ip: &r.ip.map_or_else(|| "-".into(), |i| i.to_string()),
        matched: plan.grant().matched(),
        mode: state.issuer.mode(),
    });
    Ok((creds, plan))
}
