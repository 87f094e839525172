//! `POST /api/v1/sessions/revoke`: who may end which sessions, and what ending them does on the
//! broker's side — the marker ([`super::Revocations`]), the inventory's sessions marked revoked,
//! the audit event — and the Deny each affected role needs on the AWS side
//! ([`deny_document`]), reported per role.
//!
//! Rights come from the policy: `rolegate:RevokeSessions` on the role for a role or one
//! session; on every role of the catalogue for a person, everything, or any freeze — whatever
//! sessions happen to be live, so a revocation's reach never depends on the inventory.

use super::deny::Whom;
use super::preview::{Preview, PreviewScope, RevokeRights};
use super::writer::{AwsSide, RoleRevocation};
use super::{Marker, Revocations, RevokeScope};
use crate::audit::{Audit, SessionsRevoked};
use crate::inventory::{Inventory, IssuedSession, Scope};
use crate::policy::RequestContext;
use crate::policy::loader::PolicyMapper;
use crate::store::StoreError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The request body: exactly one of `session_id`, `user`, `idp`, `role`, `all`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeRequest {
    pub session_id: Option<String>,
    /// `IDP:SUBJECT`.
    pub user: Option<String>,
    /// An IdP's id: everyone it vouched for (it need not be configured any more).
    pub idp: Option<String>,
    /// Alias or ARN.
    pub role: Option<String>,
    pub all: Option<bool>,
    /// Why: an incident or ticket (required; it is in the audit event and the inventory).
    pub reason: Option<String>,
    /// Nothing is issued in the scope for this long, even to a fresh sign-in.
    pub freeze_seconds: Option<u64>,
}

/// The longest freeze: a week. Longer is a policy change, not an incident response.
const MAX_FREEZE_SECS: u64 = 7 * 24 * 3600;

/// Why a revocation was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RevokeError {
    /// A malformed request; the text names the field.
    #[error("{0}")]
    Invalid(String),
    /// The caller lacks `rolegate:RevokeSessions` where this revocation reaches.
    #[error("{0}")]
    NotPermitted(String),
    /// No live session has that id.
    #[error("no live session has the id {0}")]
    UnknownSession(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a revocation did, as the API answers it.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Outcome {
    /// Live sessions this revocation marked revoked (not those revoked before).
    pub revoked: usize,
    pub revoked_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frozen_until: Option<String>,
    /// Per role with revoked sessions: whether its Deny was written to IAM, and if not, why
    /// and the document to apply as its inline policy `rolegate-revocations`.
    pub roles: Vec<RoleOutcome>,
}

/// One role's AWS side.
#[derive(Debug, serde::Serialize)]
pub(crate) struct RoleOutcome {
    pub arn: String,
    pub written: bool,
    /// When IAM accepted it: IAM takes a few minutes to apply a change everywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The inline policy written, or, when not written, this revocation's Deny to apply.
    pub policy: serde_json::Value,
}

/// The orchestration of a revocation.
pub(crate) struct Revoker {
    pub(crate) revocations: Arc<Revocations>,
    pub(crate) inventory: Arc<Inventory>,
    pub(crate) policy: Arc<PolicyMapper>,
    pub(crate) audit: Arc<Audit>,
    /// IAM, or the reason the Deny is only returned.
    pub(crate) aws_side: AwsSide,
}

/// The request's one target, checked.
enum Target {
    Session(String),
    User(String, String),
    Idp(String),
    Role(String),
    All,
}

impl RevokeRequest {
    fn target(&self) -> Result<Target, RevokeError> {
        let named = [
            self.session_id.is_some(),
            self.user.is_some(),
            self.idp.is_some(),
            self.role.is_some(),
            self.all.is_some(),
        ];
        if named.iter().filter(|n| **n).count() != 1 {
            return Err(RevokeError::Invalid(
                "name exactly one of session_id, user, idp, role, all".into(),
            ));
        }
        if let Some(id) = &self.session_id {
            return Ok(Target::Session(id.clone()));
        }
        if let Some(u) = &self.user {
            let (idp, subject) = u
                .split_once(':')
                .filter(|(i, s)| !i.is_empty() && !s.is_empty())
                .ok_or_else(|| RevokeError::Invalid("user: IDP:SUBJECT, e.g. corp:alice".into()))?;
            return Ok(Target::User(idp.to_string(), subject.to_string()));
        }
        if let Some(i) = &self.idp {
            crate::domain::IdpId::parse(i)
                .map_err(|e| RevokeError::Invalid(format!("idp: {e}")))?;
            return Ok(Target::Idp(i.clone()));
        }
        if let Some(r) = &self.role {
            return Ok(Target::Role(r.clone()));
        }
        match self.all {
            Some(true) => Ok(Target::All),
            _ => Err(RevokeError::Invalid("all: must be true".into())),
        }
    }

    fn reason(&self) -> Result<&str, RevokeError> {
        let r = self.reason.as_deref().map(str::trim).unwrap_or_default();
        if r.is_empty() || r.chars().count() > 200 || r.chars().any(char::is_control) {
            return Err(RevokeError::Invalid(
                "reason: required, 1 to 200 characters without control characters (an incident \
                 or ticket, e.g. INC-42)"
                    .into(),
            ));
        }
        Ok(r)
    }

    fn freeze(&self) -> Result<Option<Duration>, RevokeError> {
        match self.freeze_seconds {
            None => Ok(None),
            Some(s) if (1..=MAX_FREEZE_SECS).contains(&s) => Ok(Some(Duration::from_secs(s))),
            Some(_) => Err(RevokeError::Invalid(format!(
                "freeze_seconds: 1 to {MAX_FREEZE_SECS} (a week)"
            ))),
        }
    }
}

impl Revoker {
    /// Checks the caller's rights, records the revocation, marks the sessions and reports.
    pub(crate) async fn revoke(
        &self,
        ctx: &RequestContext<'_>,
        req: &RevokeRequest,
    ) -> Result<Outcome, RevokeError> {
        let target = req.target()?;
        let reason = req.reason()?;
        let freeze = req.freeze()?;
        let by = format!("{}:{}", ctx.identity.idp, ctx.identity.subject);
        let rights = RevokeRights::of(&self.policy, ctx);
        let Resolved {
            scope,
            sessions,
            described,
            ..
        } = self.resolve(&rights, &target, freeze.is_some()).await?;
        // Sessions revoked before stay in the scope (their roles' Deny is written again, which
        // retries a write that failed), but are not counted again.
        let newly = sessions.iter().filter(|s| s.revoked_at.is_none()).count();
        let marker = self.revocations.revoke(&scope, &by, reason, freeze).await?;
        self.inventory
            .mark_revoked(&sessions, marker.at, &by, reason)
            .await?;
        let shares = per_role(&sessions, &marker, &scope);
        let arns: Vec<String> = shares.iter().map(|r| r.arn.clone()).collect();
        let writes = self.aws_side.revoke(&shares).await;
        let roles = shares
            .into_iter()
            .zip(writes)
            .map(|(share, w)| RoleOutcome {
                arn: share.arn,
                written: w.written_at.is_some(),
                written_at: w.written_at,
                error: w.error,
                policy: w.policy,
            })
            .collect();
        let at = crate::clock::rfc3339_of(marker.at);
        let frozen =
            (marker.frozen_until > 0).then(|| crate::clock::rfc3339_of(marker.frozen_until));
        self.audit.sessions_revoked(&SessionsRevoked {
            by: &by,
            scope: described.0,
            target: &described.1,
            reason,
            revoked_at: &at,
            frozen_until: frozen.as_deref(),
            sessions: newly,
            roles: &arns,
        });
        Ok(Outcome {
            revoked: newly,
            revoked_at: at,
            frozen_until: frozen,
            roles,
        })
    }

    /// What `req` would end, as the admin page's confirmation shows it: refused exactly as
    /// [`Revoker::revoke`] would refuse it, and computed by the same code.
    pub(crate) async fn preview(
        &self,
        ctx: &RequestContext<'_>,
        req: &RevokeRequest,
    ) -> Result<Preview, RevokeError> {
        let target = req.target()?;
        let freezing = req.freeze()?.is_some();
        let rights = RevokeRights::of(&self.policy, ctx);
        let r = self.resolve(&rights, &target, freezing).await?;
        let scope = match (r.scope, r.named) {
            (_, Some(named)) => PreviewScope::UserOnRole(Box::new(named)),
            (RevokeScope::User { idp, subject }, None) => PreviewScope::User(idp, subject),
            (RevokeScope::Role { arn }, None) => PreviewScope::Role(arn),
            (RevokeScope::Idp { idp }, None) => PreviewScope::Idp(idp),
            (RevokeScope::All | RevokeScope::UserOnRole { .. }, None) => PreviewScope::All,
        };
        Ok(Preview {
            scope,
            sessions: r.sessions,
            may_freeze: rights.everywhere(),
        })
    }

    /// The scope, its live sessions, and its description for the audit event; refused unless
    /// the caller holds `rolegate:RevokeSessions` wherever it reaches.
    async fn resolve(
        &self,
        rights: &RevokeRights,
        target: &Target,
        freezing: bool,
    ) -> Result<Resolved, RevokeError> {
        let needs_all = |what: &str| {
            RevokeError::NotPermitted(format!(
                "revoking {what} needs rolegate:RevokeSessions on every role of the catalogue"
            ))
        };
        if freezing && !rights.everywhere() {
            return Err(needs_all("with a freeze"));
        }
        let resolved = |scope, sessions, what: &'static str, target: String| Resolved {
            scope,
            sessions,
            named: None,
            described: (what, target),
        };
        match target {
            Target::Session(id) => {
                let Some(s) = self.inventory.get(id).await? else {
                    return Err(RevokeError::UnknownSession(id.clone()));
                };
                if !rights.on_role(&s.role_arn) {
                    return Err(RevokeError::NotPermitted(format!(
                        "revoking a session of {} needs rolegate:RevokeSessions on it",
                        s.role_arn
                    )));
                }
                let scope = RevokeScope::UserOnRole {
                    idp: s.idp.clone(),
                    subject: s.subject.clone(),
                    arn: s.role_arn.clone(),
                };
                let theirs = self.inventory.list(Scope::User(&s.idp, &s.subject)).await?;
                let on_role: Vec<IssuedSession> = theirs
                    .into_iter()
                    .filter(|x| x.role_arn == s.role_arn)
                    .collect();
                Ok(Resolved {
                    named: Some(s),
                    ..resolved(scope, on_role, "session", id.clone())
                })
            }
            Target::User(idp, subject) => {
                if !rights.everywhere() {
                    return Err(needs_all("a person's sessions"));
                }
                let sessions = self.inventory.list(Scope::User(idp, subject)).await?;
                let scope = RevokeScope::User {
                    idp: idp.clone(),
                    subject: subject.clone(),
                };
                Ok(resolved(
                    scope,
                    sessions,
                    "user",
                    format!("{idp}:{subject}"),
                ))
            }
            Target::Idp(idp) => {
                if !rights.everywhere() {
                    return Err(needs_all("everyone an IdP vouched for"));
                }
                let sessions = self
                    .inventory
                    .list(Scope::All)
                    .await?
                    .into_iter()
                    .filter(|s| &s.idp == idp)
                    .collect();
                let scope = RevokeScope::Idp { idp: idp.clone() };
                Ok(resolved(scope, sessions, "idp", idp.clone()))
            }
            Target::Role(name) => {
                let arn = self
                    .policy
                    .engine()
                    .role(name)
                    .map(|r| r.arn.as_str().to_string())
                    .filter(|arn| rights.on_role(arn))
                    .ok_or_else(|| {
                        RevokeError::NotPermitted(format!(
                            "revoking the sessions of {name} needs rolegate:RevokeSessions on it \
                             (and it must be a role of the catalogue)"
                        ))
                    })?;
                let sessions = self.inventory.list(Scope::Role(&arn)).await?;
                Ok(resolved(
                    RevokeScope::Role { arn: arn.clone() },
                    sessions,
                    "role",
                    arn,
                ))
            }
            Target::All => {
                if !rights.everywhere() {
                    return Err(needs_all("every session"));
                }
                let sessions = self.inventory.list(Scope::All).await?;
                Ok(resolved(RevokeScope::All, sessions, "all", "*".into()))
            }
        }
    }
}

/// A target resolved: its scope, its live sessions, the session named (for one session), and
/// its description for the audit event.
struct Resolved {
    scope: RevokeScope,
    sessions: Vec<IssuedSession>,
    named: Option<IssuedSession>,
    described: (&'static str, String),
}

/// Each role with revoked sessions, its share of the revocation. The Deny's instant is the
/// second after the revocation's: the broker refuses every authentication up to and including
/// its second, so a session issued within it can only be one that raced the revocation.
fn per_role(
    sessions: &[IssuedSession],
    marker: &Marker,
    scope: &RevokeScope,
) -> Vec<RoleRevocation> {
    let mut by_role: BTreeMap<&str, Vec<&IssuedSession>> = BTreeMap::new();
    for s in sessions {
        by_role.entry(s.role_arn.as_str()).or_default().push(s);
    }
    by_role
        .into_iter()
        .map(|(arn, revoked)| {
            let whom = match scope {
                RevokeScope::Role { .. } | RevokeScope::All => Whom::Everyone,
                RevokeScope::User { .. }
                | RevokeScope::UserOnRole { .. }
                | RevokeScope::Idp { .. } => {
                    Whom::Only(revoked.iter().map(|s| s.source_identity.clone()).collect())
                }
            };
            RoleRevocation {
                arn: arn.to_string(),
                before: marker.at + 1,
                whom,
                sessions: revoked
                    .iter()
                    .map(|s| (s.issued_at, s.source_identity.clone()))
                    .collect(),
            }
        })
        .collect()
}
