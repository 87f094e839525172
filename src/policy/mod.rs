//! The mapper: who may use which role, for which action, with which session limits.
//!
//! Policies are written in IAM's own grammar ([`document`]) and evaluated with IAM's logic
//! ([`engine`], [`condition`]); the `[[map]]` shorthand compiles into the same statements
//! ([`shorthand`]). [`loader::PolicyMapper`] holds the live policy and swaps in a new one only
//! when every listed file loads. A [`Grant`] can only be built inside this module, and the
//! issuer takes only a `Grant`: no code path reaches STS without the policy's say-so.

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Console,
    Credentials,
}

/// Everything a decision may depend on.
pub struct RequestContext<'a> {
    pub identity: &'a Identity,
    pub client: ClientKind,
    pub source_ip: Option<IpAddr>,
    pub now: SystemTime,
}

/// A role the caller may use, for `GET /api/v1/roles` and the picker.
#[derive(Clone, Debug, Serialize)]
pub struct RoleSummary {
    pub alias: String,
    pub arn: String,
    pub account: String,
    pub account_name: Option<String>,
    pub actions: Vec<Action>,
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
    pub fn role(&self) -> &RoleConfig {
        &self.role
    }
    pub fn action(&self) -> Action {
        self.action
    }
    /// The smallest of the role's and every matching rule's maximum.
    pub fn max_duration(&self) -> Duration {
        self.max_duration
    }
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }
    pub fn transitive_tag_keys(&self) -> &[String] {
        &self.transitive_tag_keys
    }
    pub fn policy_arns(&self) -> &[String] {
        &self.policy_arns
    }
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
    UnresolvedVariable {
        role: String,
        tag: String,
        variable: String,
    },
    #[error("rules granting role `{role}` set conflicting values for session tag `{tag}`")]
    ConflictingTags { role: String, tag: String },
    #[error(
        "role `{role}` is granted by two statements that both set session policies ({first}, {second}); merging them could widen access"
    )]
    ConflictingSessionPolicies {
        role: String,
        first: String,
        second: String,
    },
}

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
}
