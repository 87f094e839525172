//! Issuing credentials: the one path every surface (API, browser) takes from an identity to
//! STS, so the policy decision, the STS limits, the per-subject rate limit, the metric and the
//! audit event can never differ between them.

use crate::audit::Audit;
use crate::aws::console::{ConsoleError, ConsoleLink};
use crate::aws::limits::{self, LimitError, SessionPlan};
use crate::aws::{Credentials, IssueError, Issuer};
use crate::clock::Clock;
use crate::config::Partition;
use crate::domain::{ClientKind, Identity};
use crate::inventory::{Inventory, IssuedSession};
use crate::metrics::Metrics;
use crate::policy::loader::PolicyMapper;
use crate::policy::{Action, Denied, Mapper, RequestContext};
use crate::rate_limit::{RateLimited, RateLimits};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Issuance: policy, STS limits, per-subject rate limit, STS, metric and audit event, in that
/// order, for every surface.
pub(crate) struct Issuance {
    /// The role-mapping policy (reloads behind this handle).
    pub policy: Arc<PolicyMapper>,
    /// What calls STS.
    pub sts: Arc<dyn Issuer>,
    pub(crate) limits: Arc<RateLimits>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) audit: Arc<Audit>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The console federation endpoint is called through it.
    pub(crate) http: reqwest::Client,
    /// Named as the console sign-in's `Issuer` (where the console's sign-out returns).
    pub(crate) public_url: url::Url,
    /// `[aws] default_duration`: a request that names no duration gets it (capped by the grant).
    pub(crate) default_duration: Duration,
    /// `[aws.partitions]`: each partition's console and federation endpoints.
    pub(crate) partitions: BTreeMap<String, Partition>,
    /// `[limits] credentials_per_minute`, per (IdP, subject).
    pub(crate) per_subject_per_minute: u32,
    /// Where every issued session is recorded before it is returned.
    pub(crate) inventory: Arc<Inventory>,
    /// False only in `serve --dev` with `ROLEGATE_BENCH_NO_INVENTORY=1`: the baseline of the
    /// inventory benchmark (`scripts/bench/inventory.sh`). Never off in a real deployment.
    pub(crate) record_sessions: bool,
    /// Scopes an administrator ended: refused until the person signs in again.
    pub(crate) revocations: Arc<crate::revocation::Revocations>,
}

/// Why no credentials (or console sign-in) were issued.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotIssued {
    /// The policy refused: the reason is the user's to read.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The grant cannot become an STS session (duration, tags, session name…).
    #[error(transparent)]
    Limits(#[from] LimitError),
    /// The subject's per-minute budget is spent (or the counter's store is down).
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// STS refused or failed.
    #[error(transparent)]
    Sts(#[from] IssueError),
    /// The console destination or the federation endpoint failed.
    #[error(transparent)]
    Console(#[from] ConsoleError),
    /// The session could not be recorded in the inventory: its credentials are not returned,
    /// so no session exists that the inventory (and revocation) does not know.
    #[error("the session inventory is unavailable: {0}")]
    Unrecorded(crate::store::StoreError),
    /// An administrator ended this person's or this role's sessions (see [`crate::revocation`]).
    #[error(transparent)]
    Revoked(#[from] crate::revocation::Revoked),
    /// The revocation list could not be read: nothing is issued without checking it.
    #[error("the revocation list is unavailable: {0}")]
    Unchecked(crate::store::StoreError),
}

/// What is asked for, by whom and from where.
pub(crate) struct Request<'a> {
    /// The verified identity asking.
    pub identity: &'a Identity,
    /// Which surface asks (a policy condition key).
    pub client: ClientKind,
    /// The client's address (`aws:SourceIp`).
    pub ip: Option<IpAddr>,
    /// The role's alias or ARN.
    pub role: &'a str,
    /// The duration asked for; the default when absent.
    pub duration_seconds: Option<u64>,
    /// Credentials to hand out, or to sign in to the console with (the policy decides each).
    pub action: Action,
    /// The client's `User-Agent`, recorded with the session.
    pub user_agent: Option<&'a str>,
    /// Why the caller asks (a ticket or change), when they say: recorded with the session.
    pub reason: Option<&'a str>,
}

impl Issuance {
    /// Credentials for `r.role`, with the plan they were issued under.
    pub(crate) async fn credentials(
        &self,
        r: &Request<'_>,
    ) -> Result<(Credentials, SessionPlan), NotIssued> {
        let ctx = RequestContext {
            aws_session: None,
            identity: r.identity,
            client: r.client,
            source_ip: r.ip,
            now: self.clock.now(),
        };
        let grant = match self.policy.authorize(&ctx, r.role, r.action) {
            Ok(g) => g,
            Err(denied) => {
                self.audit.denied(&crate::audit::Denied {
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
            self.default_duration,
            self.sts.chained(),
        )?;
        self.revocations
            .check(r.identity, plan.grant().role().arn.as_str())
            .await
            .map_err(NotIssued::Unchecked)??;
        let subject = format!("{}:{}", r.identity.idp, r.identity.subject);
        self.limits
            .check(
                "ratelimit:credentials",
                &subject,
                self.per_subject_per_minute,
            )
            .await?;
        let creds = self.sts.issue(&plan).await?;
        self.record(r, &plan, &creds).await?;
        let role = plan.grant().role();
        self.metrics
            .credentials_issued
            .with_label_values(&[role.alias.as_str()])
            .inc();
        self.audit.issued(&crate::audit::Issued {
            idp: r.identity.idp.as_str(),
            subject: &r.identity.subject,
            role: role.arn.as_str(),
            session_name: plan.session_name(),
            source_identity: plan.source_identity(),
            duration_secs: plan.duration().as_secs(),
            client: client_name(r.client),
            client_ip: &ip_string(r.ip),
            matched: plan.grant().matched(),
            mode: self.sts.mode(),
            action: action_name(r.action),
        });
        Ok((creds, plan))
    }

    /// Records the session in the inventory; on failure the credentials are dropped unseen.
    async fn record(
        &self,
        r: &Request<'_>,
        plan: &SessionPlan,
        creds: &Credentials,
    ) -> Result<(), NotIssued> {
        if !self.record_sessions {
            return Ok(());
        }
        let role = plan.grant().role();
        let session = IssuedSession {
            id: Inventory::new_id(),
            idp: r.identity.idp.as_str().to_string(),
            subject: r.identity.subject.clone(),
            display_name: r.identity.display_name().to_string(),
            role_arn: role.arn.as_str().to_string(),
            role_alias: role.alias.clone(),
            session_name: plan.session_name().to_string(),
            source_identity: plan.source_identity().to_string(),
            issued_at: self.clock.unix(),
            expires_at: crate::clock::unix_of(creds.expiration),
            client: client_name(r.client).to_string(),
            action: action_name(r.action).to_string(),
            client_ip: r.ip.map(|i| i.to_string()),
            user_agent: r.user_agent.map(|u| u.chars().take(256).collect()),
            request_id: Some(crate::telemetry::current_request_id()),
            matched: plan.grant().matched().to_string(),
            reason: r.reason.map(str::to_string),
            revoked_at: None,
            revoked_by: None,
            revoked_reason: None,
        };
        self.inventory.record(&session).await.map_err(|e| {
            tracing::error!(error = %e, role = %session.role_arn, "session not recorded: credentials withheld");
            NotIssued::Unrecorded(e)
        })
    }

    /// A console sign-in URL for `r.role` (`POST /console/{role}`,
    /// `POST /api/v1/console-url`). The destination is validated before anything is issued, so a
    /// bad one changes nothing.
    pub(crate) async fn console(
        &self,
        r: &Request<'_>,
        destination: Option<&str>,
    ) -> Result<ConsoleLink, NotIssued> {
        use crate::aws::console;
        let partition_of = |name: &str| {
            self.policy
                .engine()
                .role(name)
                .map(|role| role.arn.partition().to_string())
        };
        let partition = partition_of(r.role).and_then(|p| self.partitions.get(&p).cloned());
        let target = match &partition {
            Some(p) => Some(console::destination(p, destination)?),
            None => None, // unknown role: `credentials` answers access_denied below
        };
        let (creds, plan) = self
            .credentials(&Request {
                action: Action::Console,
                ..*r
            })
            .await?;
        let (Some(partition), Some(target)) = (partition, target) else {
            // `credentials` refuses a role the engine does not know, so this is unreachable;
            // refused all the same rather than assumed.
            return Err(IssueError::Internal.into());
        };
        let link = console::signin_url(
            &self.http,
            &console::SigninRequest {
                partition: &partition,
                credentials: &creds,
                session_duration: (!self.sts.chained()).then(|| plan.duration()),
                destination: target,
                issuer: self.public_url.as_str(),
                now: self.clock.now(),
            },
        )
        .await?;
        Ok(link)
    }
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
