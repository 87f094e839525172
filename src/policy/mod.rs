//! The mapper: who may use which role, for which action, with which session limits.
//!
//! Policies are written in IAM's own grammar ([`document`]) and evaluated with IAM's logic
//! ([`engine`], [`condition`]); the `[[map]]` shorthand compiles into the same statements
//! ([`shorthand`]). [`loader::PolicyMapper`] holds the live policy and swaps in a new one only
//! when every listed file loads. A [`Grant`] can only be built inside this module, and the
//! issuer takes only a `Grant`: no code path reaches STS without the policy's say-so.

pub mod aws_deny;
pub(crate) mod condition;
pub(crate) mod context;
pub mod document;
pub mod engine;
pub mod explain;
pub mod lint;
pub mod loader;
pub(crate) mod pattern;
pub(crate) mod shorthand;
pub(crate) mod watch;

use crate::config::RoleConfig;
use crate::domain::{ClientKind, Identity};
use serde::Serialize;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// What a grant allows with a role: `rolegate:console` or `rolegate:credentials` in a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A console sign-in URL.
    Console,
    /// STS credentials (API, CLI, the browser's credentials page).
    Credentials,
}

/// What an administrator may do about the sessions issued for a role. A policy grants these
/// only by naming them in full in an Allow's `Action` (`rolegate:ListSessions`): never through
/// `rolegate:*`, another wildcard or `NotAction`, which policies use to hand out access to roles
/// — a user's sandbox statement must not make them an administrator of its sessions. A Deny's
/// wildcard or `NotAction` does cover them (denying more is safe).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    /// See who holds sessions for the role (`GET /api/v1/sessions?role=`).
    ListSessions,
    /// End the role's sessions (`POST /api/v1/sessions/revoke`).
    RevokeSessions,
}

/// Everything a decision may depend on.
pub struct RequestContext<'a> {
    /// Who asks (the verified identity, never a claim the client chose).
    pub identity: &'a Identity,
    /// Which surface the request came through (`rolegate:client`).
    pub client: ClientKind,
    /// The client's address as the trusted proxies report it (`aws:SourceIp`); None when unknown.
    pub source_ip: Option<IpAddr>,
    /// The time conditions compare against (`aws:CurrentTime`), from the injected clock.
    pub now: SystemTime,
    /// An AWS session's own keys, present only when the broker proves a revocation's Deny
    /// (`aws:TokenIssueTime`, `aws:SourceIdentity`); rolegate's policies cannot name them.
    pub aws_session: Option<AwsSessionKeys<'a>>,
}

/// What AWS knows about a session that a Deny on the role can test: when its token was issued
/// and the SourceIdentity it carries.
#[derive(Clone, Copy, Debug)]
pub struct AwsSessionKeys<'a> {
    /// `aws:TokenIssueTime`.
    pub token_issue_time: SystemTime,
    /// `aws:SourceIdentity`.
    pub source_identity: &'a str,
}

/// A role the caller may use, for `GET /api/v1/roles` and the picker.
#[derive(Clone, Debug, Serialize)]
pub struct RoleSummary {
    /// The role's alias in the catalogue.
    pub alias: String,
    /// The role's ARN.
    pub arn: String,
    /// The 12-digit account id, from the ARN.
    pub account: String,
    /// The account's configured human name, if any.
    pub account_name: Option<String>,
    /// What the caller may do with it.
    pub actions: Vec<Action>,
    /// The longest session the caller may ask for, in seconds.
    pub max_duration_seconds: u64,
}

/// Permission to use one role for one action, with the session limits that apply.
#[derive(Clone, Debug)]
pub struct Grant {
    role: RoleConfig,
    action: Action,
    max_duration: Duration,
    tags: Vec<(String, String)>,
    transitive_tag_keys: Vec<String>,
    policy_arns: Vec<String>,
    inline_policy: Option<String>,
    matched: String,
}

impl Grant {
    /// The role granted.
    pub fn role(&self) -> &RoleConfig {
        &self.role
    }
    /// The action granted.
    pub fn action(&self) -> Action {
        self.action
    }
    /// The smallest of the role's and every matching rule's maximum.
    pub fn max_duration(&self) -> Duration {
        self.max_duration
    }
    /// Session tags, resolved against the identity.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }
    /// The tag keys that carry over to chained sessions.
    pub fn transitive_tag_keys(&self) -> &[String] {
        &self.transitive_tag_keys
    }
    /// Managed session policies (ARNs) that narrow the session.
    pub fn policy_arns(&self) -> &[String] {
        &self.policy_arns
    }
    /// An inline session policy that narrows the session.
    pub fn inline_policy(&self) -> Option<&str> {
        self.inline_policy.as_deref()
    }
    /// Which rule(s) granted it, for the audit log.
    pub fn matched(&self) -> &str {
        &self.matched
    }

    #[cfg(test)]
    pub(crate) fn for_tests(role: RoleConfig, tags: Vec<(String, String)>) -> Grant {
        Grant {
            max_duration: role.max_duration,
            role,
            action: Action::Credentials,
            tags,
            transitive_tag_keys: vec![],
            policy_arns: vec![],
            inline_policy: None,
            matched: "test".into(),
        }
    }
}

/// Why a role was refused; the texts are the API's `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Unknown and not-granted roles answer alike, so the catalogue cannot be enumerated.
    #[error(
        "you may not use role `{0}` (unknown or not granted to you); GET /api/v1/roles lists the roles you may use"
    )]
    NotGranted(String),
    #[error(
        "role `{role}` is granted, but its session tag `{tag}` needs `{variable}`, which your identity does not have"
    )]
    /// A session tag's `${…}` variable names an attribute the identity lacks: refused, never sent empty.
    UnresolvedVariable {
        /// The role asked for.
        role: String,
        /// The session tag.
        tag: String,
        /// The variable it needs.
        variable: String,
    },
    /// Two granting rules set one tag to different values: neither wins silently.
    #[error("rules granting role `{role}` set conflicting values for session tag `{tag}`")]
    ConflictingTags {
        /// The role asked for.
        role: String,
        /// The session tag.
        tag: String,
    },
    #[error(
        "role `{role}` is granted by two statements that both set session policies ({first}, {second}); merging them could widen access"
    )]
    /// Two granting statements both set session policies, which cannot be merged without widening access.
    ConflictingSessionPolicies {
        /// The role asked for.
        role: String,
        /// One statement's label.
        first: String,
        /// The other statement's label.
        second: String,
    },
}

/// The policy as the issuer sees it: a trait so tests and benches can stand in a fixed one.
pub trait Mapper: Send + Sync {
    /// Every role the caller may use, with its actions and maximum duration.
    fn roles(&self, ctx: &RequestContext<'_>) -> Vec<RoleSummary>;
    /// A grant for `role` (alias or ARN) and `action`, or why not.
    fn authorize(
        &self,
        ctx: &RequestContext<'_>,
        role: &str,
        action: Action,
    ) -> Result<Grant, Denied>;
    /// Whether the policy allows `action` on `role` (alias or ARN) for `ctx`; false for a role
    /// not in the catalogue.
    fn permits(&self, ctx: &RequestContext<'_>, role: &str, action: AdminAction) -> bool;
}
