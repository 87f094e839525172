//! The operator commands' reads of AWS: who the broker is (STS GetCallerIdentity) and how IAM
//! describes a role (GetRole, ListRolePolicies, GetRolePolicy — read-only permissions), per
//! partition, with `[aws.partitions.<p>] sts_endpoint` / `iam_endpoint` honoured like the
//! broker's own STS client. Errors carry the AWS error code and message, never credentials.

use super::doctor::RoleFacts;
use crate::config::{AwsConfig, StaticCredentials};
use crate::domain::RoleArn;
use aws_config::SdkConfig;
use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::config::timeout::TimeoutConfig;
use aws_sdk_iam::config::{Region, StalledStreamProtectionConfig};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;

/// Why IAM or STS could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReadError {
    /// IAM says the role does not exist (a finding, not an outage).
    #[error("IAM has no role named {0}")]
    NoSuchRole(String),
    /// No answer, a refusal (AccessDenied) or anything else: the role could not be read.
    #[error("{0}")]
    Unreadable(String),
}

/// The SDK settings the operator commands share: the config's static credentials when it has
/// them (the broker's own, in `assume_role` mode), else the SDK's default chain — which is
/// where a read-only doctor profile comes from.
pub(crate) async fn sdk_config(aws: &AwsConfig) -> SdkConfig {
    sdk_config_with(aws.static_credentials.as_ref()).await
}

/// As [`sdk_config`], with these static credentials (None: the SDK's default chain).
pub(crate) async fn sdk_config_with(credentials: Option<&StaticCredentials>) -> SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let loader = match credentials {
        Some(c) => loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
            c.access_key_id.expose(),
            c.secret_access_key.expose(),
            None,
            None,
            "rolegate-config",
        )),
        None => loader,
    };
    loader.region(Region::new("us-east-1")).load().await
}

// One operator command waits at most this long per call: a doctor run must end, and an
// unreachable IAM is reported as such rather than waited out.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build()
}

/// IAM for `partition` (the SDK picks the partition's global endpoint from its region).
pub(crate) fn iam_client(sdk: &SdkConfig, aws: &AwsConfig, partition: &str) -> aws_sdk_iam::Client {
    let mut b = aws_sdk_iam::config::Builder::from(sdk)
        .region(Region::new(aws.region(partition).to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(timeouts());
    if let Some(e) = aws
        .partitions
        .get(partition)
        .and_then(|p| p.iam_endpoint.as_ref())
    {
        b = b.endpoint_url(e.as_str().trim_end_matches('/'));
    }
    aws_sdk_iam::Client::from_conf(b.build())
}

/// The ARN of whoever the credentials are, asked of `partition`'s STS.
pub(crate) async fn caller_arn(
    sdk: &SdkConfig,
    aws: &AwsConfig,
    partition: &str,
) -> Result<String, ReadError> {
    let mut b = aws_sdk_sts::config::Builder::from(sdk)
        .region(aws_sdk_sts::config::Region::new(
            aws.region(partition).to_string(),
        ))
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::standard().with_max_attempts(2))
        .timeout_config(timeouts());
    if let Some(e) = aws
        .partitions
        .get(partition)
        .and_then(|p| p.sts_endpoint.as_ref())
    {
        b = b.endpoint_url(e.as_str().trim_end_matches('/'));
    }
    let out = aws_sdk_sts::Client::from_conf(b.build())
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| unreadable("sts:GetCallerIdentity", &e))?;
    out.arn()
        .map(str::to_string)
        .ok_or_else(|| ReadError::Unreadable("sts:GetCallerIdentity returned no ARN".into()))
}

fn unreadable<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    op: &str,
    e: &SdkError<E, R>,
) -> ReadError {
    let why = match e {
        SdkError::TimeoutError(_) => "no answer in time".to_string(),
        SdkError::DispatchFailure(_) => "cannot connect".to_string(),
        _ => format!(
            "{}: {}",
            e.code().unwrap_or("error"),
            e.message().unwrap_or("no message")
        ),
    };
    ReadError::Unreadable(format!("{op}: {why}"))
}

/// IAM hands policy documents back URL-encoded (RFC 3986); emulators sometimes do not.
fn policy_text(raw: &str) -> Result<String, ReadError> {
    if raw.trim_start().starts_with('{') {
        return Ok(raw.to_string());
    }
    Ok(percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ReadError::Unreadable("a policy document is not UTF-8".into()))?
        .into_owned())
}

fn policy_json(raw: &str) -> Result<serde_json::Value, ReadError> {
    serde_json::from_str(&policy_text(raw)?)
        .map_err(|e| ReadError::Unreadable(format!("a policy document is not JSON: {e}")))
}

/// GetRole, ListRolePolicies (every page) and GetRolePolicy for each inline policy.
pub(crate) async fn read_role(
    iam: &aws_sdk_iam::Client,
    role: &RoleArn,
) -> Result<RoleFacts, ReadError> {
    let got = iam
        .get_role()
        .role_name(role.name())
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error().is_some_and(
                aws_sdk_iam::operation::get_role::GetRoleError::is_no_such_entity_exception,
            ) {
                ReadError::NoSuchRole(role.name().to_string())
            } else {
                unreadable("iam:GetRole", &e)
            }
        })?;
    let r = got
        .role()
        .ok_or_else(|| ReadError::Unreadable("iam:GetRole returned no role".into()))?;
    let trust_policy = policy_json(r.assume_role_policy_document().unwrap_or("{}"))?;
    // IAM's default when none was set is one hour.
    let max_session =
        Duration::from_secs(u64::try_from(r.max_session_duration().unwrap_or(3600)).unwrap_or(0));
    let mut names = Vec::new();
    let mut pages = iam
        .list_role_policies()
        .role_name(role.name())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| unreadable("iam:ListRolePolicies", &e))?;
        names.extend(page.policy_names().iter().cloned());
    }
    let mut inline_policies = Vec::new();
    for name in names {
        let p = iam
            .get_role_policy()
            .role_name(role.name())
            .policy_name(&name)
            .send()
            .await
            .map_err(|e| unreadable("iam:GetRolePolicy", &e))?;
        // Sized as IAM counts it: the decoded document, as written.
        inline_policies.push((name, policy_text(p.policy_document())?));
    }
    Ok(RoleFacts {
        arn: r.arn().to_string(),
        trust_policy,
        max_session,
        inline_policies,
    })
}

/// The client IDs (audiences) of the IAM OIDC provider `arn`, or None when IAM has none such
/// (GetOpenIDConnectProvider, read-only).
pub(crate) async fn oidc_provider_audiences(
    iam: &aws_sdk_iam::Client,
    arn: &str,
) -> Result<Option<Vec<String>>, ReadError> {
    match iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
    {
        Ok(p) => Ok(Some(p.client_id_list().to_vec())),
        Err(e)
            if e.as_service_error().is_some_and(
                aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIDConnectProviderError::is_no_such_entity_exception,
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(unreadable("iam:GetOpenIDConnectProvider", &e)),
    }
}

/// Writes (creates or replaces) the inline policy `name` of `role` (iam:PutRolePolicy).
pub(crate) async fn put_role_policy(
    iam: &aws_sdk_iam::Client,
    role: &RoleArn,
    name: &str,
    document: &str,
) -> Result<(), ReadError> {
    iam.put_role_policy()
        .role_name(role.name())
        .policy_name(name)
        .policy_document(document)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            if e.as_service_error().is_some_and(
                aws_sdk_iam::operation::put_role_policy::PutRolePolicyError::is_no_such_entity_exception,
            ) {
                ReadError::NoSuchRole(role.name().to_string())
            } else {
                unreadable("iam:PutRolePolicy", &e)
            }
        })
}
