//! Issuing credentials: the one path every surface (API, browser) takes from an identity to
//! STS, so the policy decision, the STS limits, the per-subject rate limit, the metric and the
//! audit event can never differ between them.

use crate::aws::Credentials;
use crate::aws::limits::{self, SessionPlan};
use crate::domain::{ClientKind, Identity};
use crate::error::ApiError;
use crate::policy::Mapper;
use crate::policy::{Action, RequestContext};
use crate::state::AppState;
use std::net::IpAddr;

pub struct Request<'a> {
    pub identity: &'a Identity,
    pub client: ClientKind,
    pub ip: Option<IpAddr>,
    pub role: &'a str,
    pub duration_seconds: Option<u64>,
    /// Credentials to hand out, or to sign in to the console with (the policy decides each).
    pub action: Action,
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
    let grant = match state.policy.authorize(&ctx, r.role, r.action) {
        Ok(g) => g,
        Err(denied) => {
            state.audit.denied(&crate::audit::Denied {
                idp: r.identity.idp.as_str(),
                subject: &r.identity.subject,
                role: r.role,
                action: action_name(r.action),
                client: client_name(r.client),
                client_ip: &ip_string(r.ip),
                reason: &denied.to_string(),
            });
            return Err(denied.into());
        }
    };
    let plan = limits::plan(
        grant,
        r.identity,
        r.duration_seconds,
        state.config.aws.default_duration,
        state.sts.chained(),
    )?;
    let subject = format!("{}:{}", r.identity.idp, r.identity.subject);
    state
        .rate_limit(
            "ratelimit:credentials",
            &subject,
            state.config.limits.credentials_per_minute,
        )
        .await?;
    let creds = state.sts.issue(&plan).await?;
    let role = plan.grant().role();
    state
        .metrics
        .credentials_issued
        .with_label_values(&[role.alias.as_str()])
        .inc();
    state.audit.issued(&crate::audit::Issued {
        idp: r.identity.idp.as_str(),
        subject: &r.identity.subject,
        role: role.arn.as_str(),
        session_name: plan.session_name(),
        source_identity: plan.source_identity(),
        duration_secs: plan.duration().as_secs(),
        client: client_name(r.client),
        client_ip: &ip_string(r.ip),
        matched: plan.grant().matched(),
        mode: state.sts.mode(),
        action: action_name(r.action),
    });
    Ok((creds, plan))
}

/// A console sign-in URL for `r.role` (`POST /console/{role}`,
/// `POST /api/v1/console-url`). The destination is validated before anything is issued, so a
/// bad one changes nothing.
pub async fn console(
    state: &AppState,
    r: &Request<'_>,
    destination: Option<&str>,
) -> Result<crate::aws::console::ConsoleLink, ApiError> {
    use crate::aws::console;
    let partition_of = |name: &str| {
        state
            .policy
            .engine()
            .role(name)
            .map(|role| role.arn.partition().to_string())
    };
    let partition = partition_of(r.role).and_then(|p| state.config.aws.partitions.get(&p).cloned());
    let target = match &partition {
        Some(p) => Some(console::destination(p, destination)?),
        None => None, // unknown role: `credentials` answers access_denied below
    };
    let (creds, plan) = credentials(
        state,
        &Request {
            action: Action::Console,
            ..*r
        },
    )
    .await?;
    let (Some(partition), Some(target)) = (partition, target) else {
        return Err(ApiError::internal());
    };
    let link = console::signin_url(
        &state.http,
        &console::SigninRequest {
            partition: &partition,
            credentials: &creds,
            session_duration: (!state.sts.chained()).then(|| plan.duration()),
            destination: target,
            issuer: state.public_url.as_str(),
            now: state.clock.now(),
        },
    )
    .await?;
    Ok(link)
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Console => "console",
        Action::Credentials => "credentials",
    }
}

fn client_name(c: ClientKind) -> &'static str {
    match c {
        ClientKind::Browser => "browser",
        ClientKind::Cli => "cli",
        ClientKind::Api => "api",
    }
}

fn ip_string(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "-".into(), |i| i.to_string())
}
