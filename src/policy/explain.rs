//! "Why can't I see role X?": the decision for one identity, role and action, with every
//! statement considered and, for each that did not match, the first thing that failed.

use super::document::{Effect, Statement};
use super::engine::{Decision, Engine};
use super::{Action, RequestContext};
use crate::clock::FixedClock;
use crate::config::RoleConfig;
use crate::domain::{ClientKind, Identity, IdpId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `rolegate policy explain`: the decision, and each statement's part in it.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// What the engine decided.
    pub decision: Decision,
    /// The role asked about (its alias).
    pub role: String,
    /// The action asked about.
    pub action: Action,
    /// Every statement, in load order.
    pub statements: Vec<StatementResult>,
}

/// One statement's part in an explanation.
#[derive(Debug, Serialize)]
pub struct StatementResult {
    /// Its label (`file#Sid` or `file#Statement[i]`).
    pub source: String,
    /// The file (or `[[map]]`) it came from.
    pub file: String,
    /// Its index in that file.
    pub index: usize,
    /// Its `Sid`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// Whether it applied to this request.
    pub matched: bool,
    /// For a statement that did not match: the first failing part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Evaluates `role` and `action` for `ctx`, statement by statement, without granting anything.
pub fn explain(
    engine: &Engine,
    ctx: &RequestContext<'_>,
    role: &RoleConfig,
    action: Action,
) -> Explanation {
    let decision = engine.evaluate(ctx, role, action).decision;
    let statements = engine
        .statements()
        .iter()
        .map(|st| {
            let failed = first_failure(engine, st, ctx, role, action);
            StatementResult {
                source: st.origin.label(),
                file: st.origin.file.clone(),
                index: st.origin.index,
                sid: st.origin.sid.clone(),
                effect: st.effect,
                matched: failed.is_none(),
                failed,
            }
        })
        .collect();
    Explanation {
        decision,
        role: role.arn.to_string(),
        action,
        statements,
    }
}

/// What a caller may learn about their own request (`GET /api/v1/explain`). For a role they
/// cannot use — unknown, implicitly or explicitly denied — only "denied", with the name as they
/// wrote it: not which statements exist, not their conditions (admin group names, the address
/// ranges of a Deny), not even whether a Deny or a missing Allow decided, nor the role's ARN.
/// For a role they can use, the statements that target it.
pub(crate) fn explain_own(
    engine: &Engine,
    ctx: &RequestContext<'_>,
    requested: &str,
    action: Action,
) -> serde_json::Value {
    let allowed = engine
        .role(requested)
        .filter(|role| engine.evaluate(ctx, role, action).decision == Decision::Allow);
    let Some(role) = allowed else {
        return serde_json::json!({
            "decision": "denied",
            "role": requested.chars().take(128).collect::<String>(),
            "action": action,
        });
    };
    let mut e = explain(engine, ctx, role, action);
    // `explain` lists every statement in the engine's order; keep those aimed at this role.
    e.statements = std::mem::take(&mut e.statements)
        .into_iter()
        .zip(engine.statements())
        .filter(|(_, st)| engine.targets(st, role, action, ctx) == (true, true))
        .map(|(r, _)| r)
        .collect();
    serde_json::to_value(e).unwrap_or_default()
}

fn first_failure(
    engine: &Engine,
    st: &Statement,
    ctx: &RequestContext<'_>,
    role: &RoleConfig,
    action: Action,
) -> Option<String> {
    let (action_ok, resource_ok) = engine.targets(st, role, action, ctx);
    let action_name = match action {
        Action::Console => "rolegate:Console",
        Action::Credentials => "rolegate:Credentials",
    };
    if !action_ok {
        return Some(format!(
            "action {action_name} is not covered by this statement"
        ));
    }
    if !resource_ok {
        return Some(format!(
            "resource {} is not covered by this statement",
            role.arn
        ));
    }
    let c = st.conditions.iter().find(|c| !c.holds(ctx))?;
    let wanted: Vec<&str> = c.values.iter().map(|v| v.template.raw.as_str()).collect();
    let has: Vec<String> = c.request_values(ctx).iter().map(str::to_string).collect();
    let has = if has.is_empty() {
        "no value".to_string()
    } else {
        format!("{has:?}")
    };
    Some(format!(
        "condition {} on {} failed: the request has {has}, the policy wants {wanted:?}",
        c.operator, c.key
    ))
}

/// An identity to explain (`policy explain --identity`, admin `POST /api/v1/explain`): the Identity's fields plus the request's context.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityFile {
    pub idp: String,
    pub subject: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub claims: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub mfa: bool,
    #[serde(default)]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub aud: Vec<String>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub source_ip: Option<IpAddr>,
    #[serde(default)]
    pub client: Option<ClientKind>,
    /// RFC 3339; default: now.
    #[serde(default)]
    pub now: Option<String>,
}

/// Why an identity file cannot stand in for a sign-in; the text is shown as it is.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IdentityFileError {
    /// Its `idp` is not an IdP id.
    #[error(transparent)]
    Idp(#[from] crate::domain::BadIdpId),
    /// Its `now` is not a timestamp.
    #[error(transparent)]
    Now(#[from] crate::clock::BadTimestamp),
}

impl IdentityFile {
    pub(crate) fn identity(&self) -> Result<Identity, IdentityFileError> {
        Ok(Identity {
            idp: IdpId::parse(&self.idp)?,
            subject: self.subject.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified,
            username: self.username.clone(),
            groups: self.groups.clone(),
            claims: self.claims.clone(),
            mfa: self.mfa,
            auth_time: self.auth_time,
            idp_session_end: None,
            aud: self.aud.clone(),
            azp: self.azp.clone(),
        })
    }

    pub(crate) fn now(&self) -> Result<std::time::SystemTime, IdentityFileError> {
        match &self.now {
            Some(t) => Ok(FixedClock::parse_rfc3339(t)?.0),
            None => Ok(std::time::SystemTime::now()),
        }
    }
}
