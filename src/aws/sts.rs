//! STS through the AWS SDK: one client per partition (the partition comes from the role ARN),
//! bounded retries with jitter (the SDK's standard mode), and STS error codes mapped to the
//! stable `IssueError`s the HTTP layer knows.

use super::limits::SessionPlan;
use super::{Credentials, IssueError, Issuer};
use crate::clock::Clock;
use crate::config::{AwsConfig, AwsMode, IssuerConfig, RoleChaining};
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::token::SigningKey;
use async_trait::async_trait;
use aws_sdk_sts::Client;
use aws_sdk_sts::config::Region;
use aws_sdk_sts::config::StalledStreamProtectionConfig;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Web identity tokens the broker signs live at most this long: each is
/// used for exactly one STS call and never leaves the broker.
const WEB_IDENTITY_TOKEN_LIFETIME: i64 = 300;

/// The claim naming the one role a web identity token may be used for.
pub(crate) const ROLES_CLAIM: &str = "https://aws.amazon.com/roles";

enum Mode {
    AssumeRole {
        chained: bool,
    },
    WebIdentity {
        key: Arc<SigningKey>,
        issuer: String,
        audience: String,
    },
}

/// Why the STS issuer cannot be built; the broker refuses to start with this text. `pub` (in a
/// crate-private module) because `startup::StartError` carries it.
#[derive(Debug, thiserror::Error)]
pub enum StsSetupError {
    /// `web_identity` mode without `[issuer]` or without the broker's signing key.
    #[error("web_identity mode needs [issuer] and its signing key")]
    NoIssuerKey,
}

pub(crate) struct StsIssuer {
    clients: HashMap<String, Client>,
    mode: Mode,
    metrics: Arc<Metrics>,
    /// The injected clock: web identity tokens are stamped with the same "now" as every check.
    clock: Arc<dyn Clock>,
}

impl StsIssuer {
    /// `key` is the broker's issuer key, required in `web_identity` mode.
    pub(crate) async fn new(
        aws: &AwsConfig,
        issuer: Option<&IssuerConfig>,
        key: Option<Arc<SigningKey>>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StsSetupError> {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        // AssumeRoleWithWebIdentity is an unsigned call: in that mode the broker has no AWS keys.
        let loader = match (&aws.static_credentials, aws.mode) {
            (_, AwsMode::WebIdentity) => loader.no_credentials(),
            (Some(c), AwsMode::AssumeRole) => {
                loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
                    c.access_key_id.expose(),
                    c.secret_access_key.expose(),
                    None,
                    None,
                    "rolegate-config",
                ))
            }
            (None, AwsMode::AssumeRole) => loader,
        };
        let sdk = loader.region(Region::new("us-east-1")).load().await;
        let mut clients = HashMap::new();
        for (name, p) in &aws.partitions {
            let mut b = aws_sdk_sts::config::Builder::from(&sdk)
                .region(Region::new(p.region.clone()))
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                // STS answers are a few hundred bytes: the operation timeouts below already
                // bound a stalled call, so the per-request throughput monitor only costs CPU.
                .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(3))
                        .operation_attempt_timeout(Duration::from_secs(5))
                        .operation_timeout(Duration::from_secs(12))
                        .build(),
                );
            if let Some(e) = &p.sts_endpoint {
                b = b.endpoint_url(e.as_str().trim_end_matches('/'));
            }
            clients.insert(name.clone(), Client::from_conf(b.build()));
        }
        let mode = match aws.mode {
            AwsMode::AssumeRole => {
                let chained = match aws.role_chaining {
                    RoleChaining::Yes => true,
                    RoleChaining::No => false,
                    RoleChaining::Auto => detect_chaining(&clients["aws"]).await,
                };
                Mode::AssumeRole { chained }
            }
            AwsMode::WebIdentity => {
                let (Some(key), Some(i)) = (key, issuer) else {
                    return Err(StsSetupError::NoIssuerKey);
                };
                Mode::WebIdentity {
                    key,
                    issuer: i.url.as_str().trim_end_matches('/').to_string(),
                    audience: i.audience.clone(),
                }
            }
        };
        Ok(StsIssuer {
            clients,
            mode,
            metrics,
            clock,
        })
    }

    fn client(&self, plan: &SessionPlan) -> Result<&Client, IssueError> {
        self.clients
            .get(plan.grant().role().arn.partition())
            .ok_or(IssueError::Internal)
    }

    fn web_identity_token(
        &self,
        plan: &SessionPlan,
        key: &SigningKey,
        issuer: &str,
        audience: &str,
    ) -> Result<String, IssueError> {
        let grant = plan.grant();
        let claims = web_identity_claims(&WebIdentityClaims {
            issuer,
            audience,
            role_arn: grant.role().arn.as_str(),
            source_identity: plan.source_identity(),
            tags: grant.tags(),
            transitive_tag_keys: grant.transitive_tag_keys(),
            now: self.clock.unix(),
        });
        key.sign(&claims).map_err(|e| {
            tracing::error!(error = %e, "could not sign the web identity token");
            IssueError::Internal
        })
    }

    fn record<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        op: &str,
        started: Instant,
        e: SdkError<E, R>,
    ) -> IssueError {
        self.metrics
            .sts_duration
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        let code = e.code().unwrap_or("none").to_string();
        let issue = map_sdk_error(&e);
        self.metrics
            .sts_errors
            .with_label_values(&[if issue == IssueError::Upstream {
                "other"
            } else {
                code.as_str()
            }])
            .inc();
        tracing::warn!(operation = op, sts_code = %code, sts_message = e.message().unwrap_or(""), error = %aws_sdk_sts::error::DisplayErrorContext(&e), "STS call failed");
        issue
    }
}

/// What a web identity token says; `web_identity_claims` writes it.
pub(crate) struct WebIdentityClaims<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) role_arn: &'a str,
    pub(crate) source_identity: &'a str,
    pub(crate) tags: &'a [(String, String)],
    pub(crate) transitive_tag_keys: &'a [String],
    pub(crate) now: i64,
}

/// The claims of a web identity token (a fresh `jti` each time). The trust policy pins
/// `<issuer>:sub` to the role's own ARN and `:aud` to the deployment's audience, so this token
/// opens this one role and nothing else. The `roles` claim says the same to STS itself: it
/// refuses the token for any other role before it reads a trust policy, and
/// `sts:RoleAuthorizedByIdp` in the trust policy refuses tokens without it
/// (deploy/aws/README.md: how that was established, and how to check it).
pub(crate) fn web_identity_claims(c: &WebIdentityClaims<'_>) -> serde_json::Value {
    let principal_tags: serde_json::Map<String, serde_json::Value> = c
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    json!({
        "iss": c.issuer,
        "sub": c.role_arn,
        ROLES_CLAIM: c.role_arn,
        "aud": c.audience,
        "iat": c.now,
        "nbf": c.now,
        "exp": c.now + WEB_IDENTITY_TOKEN_LIFETIME,
        "jti": hex::encode(rand::random::<[u8; 16]>()),
        "https://aws.amazon.com/tags": {
            "principal_tags": principal_tags,
            "transitive_tag_keys": c.transitive_tag_keys,
        },
        "https://aws.amazon.com/source_identity": c.source_identity,
    })
}

fn map_sdk_error<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> IssueError {
    // Timeouts and connection failures (after the retries the SDK already made) are an outage
    // the client may retry, not a bad answer.
    if matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)) {
        return IssueError::Unavailable;
    }
    match e.code() {
        Some("AccessDenied") => IssueError::AccessDenied,
        Some("PackedPolicyTooLarge") => IssueError::PackedPolicyTooLarge,
        Some("ValidationError")
        | Some("MalformedPolicyDocument")
        | Some("RegionDisabledException") => IssueError::Validation(
            e.message()
                .unwrap_or("invalid request")
                .chars()
                .take(300)
                .collect(),
        ),
        Some("Throttling") | Some("ThrottlingException") | Some("RequestLimitExceeded") => {
            IssueError::Throttled
        }
        _ => IssueError::Upstream,
    }
}

async fn detect_chaining(client: &Client) -> bool {
    match tokio::time::timeout(Duration::from_secs(10), client.get_caller_identity().send()).await {
        Ok(Ok(out)) => {
            let arn = out.arn().unwrap_or_default();
            let chained = arn.contains(":assumed-role/");
            tracing::info!(caller = arn, chained, "broker's AWS identity");
            chained
        }
        _ => {
            tracing::warn!(
                "could not ask STS who the broker is; assuming role-chained credentials (sessions capped at 1 h). Set aws.role_chaining to decide explicitly."
            );
            true
        }
    }
}

fn credentials(c: Option<&aws_sdk_sts::types::Credentials>) -> Result<Credentials, IssueError> {
    let c = c.ok_or(IssueError::Upstream)?;
    Ok(Credentials {
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: Secret::new(c.secret_access_key().to_string()),
        session_token: Secret::new(c.session_token().to_string()),
        expiration: SystemTime::try_from(*c.expiration()).map_err(|_| IssueError::Upstream)?,
    })
}

#[async_trait]
impl Issuer for StsIssuer {
    async fn issue(&self, plan: &SessionPlan) -> Result<Credentials, IssueError> {
        let client = self.client(plan)?;
        let grant = plan.grant();
        let duration = i32::try_from(plan.duration().as_secs()).unwrap_or(i32::MAX);
        let policy_arns: Vec<PolicyDescriptorType> = grant
            .policy_arns()
            .iter()
            .map(|a| PolicyDescriptorType::builder().arn(a).build())
            .collect();
        let started = Instant::now();
        let out = match &self.mode {
            Mode::AssumeRole { .. } => {
                let mut tags = Vec::new();
                for (k, v) in grant.tags() {
                    tags.push(
                        Tag::builder()
                            .key(k)
                            .value(v)
                            .build()
                            .map_err(|_| IssueError::Internal)?,
                    );
                }
                let r = client
                    .assume_role()
                    .role_arn(grant.role().arn.as_str())
                    .role_session_name(plan.session_name())
                    .source_identity(plan.source_identity())
                    .duration_seconds(duration)
                    .set_tags((!tags.is_empty()).then_some(tags))
                    .set_transitive_tag_keys(
                        (!grant.transitive_tag_keys().is_empty())
                            .then(|| grant.transitive_tag_keys().to_vec()),
                    )
                    .set_policy(grant.inline_policy().map(str::to_string))
                    .set_policy_arns((!policy_arns.is_empty()).then_some(policy_arns))
                    .send()
                    .await
                    .map_err(|e| self.record("AssumeRole", started, e))?;
                credentials(r.credentials())?
            }
            Mode::WebIdentity {
                key,
                issuer,
                audience,
            } => {
                let token = self.web_identity_token(plan, key, issuer, audience)?;
                let r = client
                    .assume_role_with_web_identity()
                    .role_arn(grant.role().arn.as_str())
                    .role_session_name(plan.session_name())
                    .web_identity_token(token)
                    .duration_seconds(duration)
                    .set_policy(grant.inline_policy().map(str::to_string))
                    .set_policy_arns((!policy_arns.is_empty()).then_some(policy_arns))
                    .send()
                    .await
                    .map_err(|e| self.record("AssumeRoleWithWebIdentity", started, e))?;
                credentials(r.credentials())?
            }
        };
        let op = if matches!(self.mode, Mode::AssumeRole { .. }) {
            "AssumeRole"
        } else {
            "AssumeRoleWithWebIdentity"
        };
        self.metrics
            .sts_duration
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        Ok(out)
    }

    fn mode(&self) -> &'static str {
        match self.mode {
            Mode::AssumeRole { .. } => "assume_role",
            Mode::WebIdentity { .. } => "web_identity",
        }
    }

    fn chained(&self) -> bool {
        matches!(self.mode, Mode::AssumeRole { chained: true })
    }
}
