//! What the admin page (`/admin/sessions`) may offer a caller, read-only: where they hold
//! `rolegate:RevokeSessions` (which rows get a "Revoke…" link) and, for the confirmation step,
//! which live sessions a revocation would end.
//!
//! These mirror the rules of `Revoker::resolve` (`src/revocation/request.rs`): one session or a
//! role needs `RevokeSessions` on the role; a person, everything or any freeze needs it on every
//! role of the catalogue. They only decide what a page shows: the revocation itself is checked
//! again, and alone decided, by `Revoker::revoke` when the form is posted.

use crate::inventory::{Inventory, IssuedSession, Scope};
use crate::policy::loader::PolicyMapper;
use crate::policy::{AdminAction, Mapper, RequestContext};
use crate::revocation::request::RevokeError;
use std::collections::BTreeSet;

/// Where a caller may end sessions, evaluated once per request.
pub(crate) struct RevokeRights {
    /// The catalogue roles (by ARN) with `rolegate:RevokeSessions`.
    on: BTreeSet<String>,
    /// On every role of the catalogue: a person, everything, a freeze.
    everywhere: bool,
}

impl RevokeRights {
    pub(crate) fn of(policy: &PolicyMapper, ctx: &RequestContext<'_>) -> Self {
        let engine = policy.engine();
        let on: BTreeSet<String> = engine
            .roles()
            .iter()
            .map(|r| r.arn.as_str())
            .filter(|arn| policy.permits(ctx, arn, AdminAction::RevokeSessions))
            .map(str::to_string)
            .collect();
        let everywhere = on.len() == engine.roles().len();
        RevokeRights { on, everywhere }
    }

    /// Rights as given, for the views' tests.
    #[cfg(test)]
    pub(crate) fn for_tests(on: &[&str], everywhere: bool) -> Self {
        RevokeRights {
            on: on.iter().map(|s| (*s).to_string()).collect(),
            everywhere,
        }
    }

    /// One session on `arn`, or every session of the role.
    pub(crate) fn on_role(&self, arn: &str) -> bool {
        self.on.contains(arn)
    }

    /// A person's sessions, every session, or any freeze.
    pub(crate) fn everywhere(&self) -> bool {
        self.everywhere
    }
}

/// What a revocation names: exactly one of these.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Session(String),
    /// (IdP, subject).
    User(String, String),
    /// Alias or ARN.
    Role(String),
    All,
}

impl Target {
    /// The target of a request's `session_id`, `user`, `role` and `all`, exactly one of them
    /// (the same messages as the API's).
    pub(crate) fn parse(
        session_id: Option<&str>,
        user: Option<&str>,
        role: Option<&str>,
        all: Option<&str>,
    ) -> Result<Target, RevokeError> {
        let named = [session_id, user, role, all];
        if named.iter().filter(|n| n.is_some()).count() != 1 {
            return Err(RevokeError::Invalid(
                "name exactly one of session_id, user, role, all".into(),
            ));
        }
        if let Some(id) = session_id {
            return Ok(Target::Session(id.to_string()));
        }
        if let Some(u) = user {
            let (idp, subject) = u
                .split_once(':')
                .filter(|(i, s)| !i.is_empty() && !s.is_empty())
                .ok_or_else(|| RevokeError::Invalid("user: IDP:SUBJECT, e.g. corp:alice".into()))?;
            return Ok(Target::User(idp.to_string(), subject.to_string()));
        }
        if let Some(r) = role {
            return Ok(Target::Role(r.to_string()));
        }
        match all {
            Some("true") => Ok(Target::All),
            _ => Err(RevokeError::Invalid("all: must be true".into())),
        }
    }
}

/// What a revocation of a target would end, as the confirmation page says it.
pub(crate) struct Preview {
    /// The target with a role resolved to its ARN, and a session to its person on its role
    /// (what revoking one session ends).
    pub scope: PreviewScope,
    /// The live sessions it would mark revoked (some may be revoked already).
    pub sessions: Vec<IssuedSession>,
    /// Whether the caller may add a freeze (`RevokeSessions` on every role).
    pub may_freeze: bool,
}

/// A revocation's reach.
pub(crate) enum PreviewScope {
    /// One person on one role: (the session named, which gives the person and the role).
    UserOnRole(Box<IssuedSession>),
    /// (IdP, subject).
    User(String, String),
    /// ARN.
    Role(String),
    All,
}

/// The sessions `target` would end, refused as `Revoker::revoke` would refuse it.
pub(crate) async fn preview(
    inventory: &Inventory,
    policy: &PolicyMapper,
    ctx: &RequestContext<'_>,
    target: &Target,
) -> Result<Preview, RevokeError> {
    let rights = RevokeRights::of(policy, ctx);
    let needs_all = |what: &str| {
        RevokeError::NotPermitted(format!(
            "revoking {what} needs rolegate:RevokeSessions on every role of the catalogue"
        ))
    };
    match target {
        Target::Session(id) => {
            let Some(s) = inventory.get(id).await? else {
                return Err(RevokeError::UnknownSession(id.clone()));
            };
            if !rights.on_role(&s.role_arn) {
                return Err(RevokeError::NotPermitted(format!(
                    "revoking a session of {} needs rolegate:RevokeSessions on it",
                    s.role_arn
                )));
            }
            let sessions = inventory
                .list(Scope::User(&s.idp, &s.subject))
                .await?
                .into_iter()
                .filter(|x| x.role_arn == s.role_arn)
                .collect();
            Ok(Preview {
                scope: PreviewScope::UserOnRole(Box::new(s)),
                sessions,
                may_freeze: rights.everywhere(),
            })
        }
        Target::User(idp, subject) => {
            if !rights.everywhere() {
                return Err(needs_all("a person's sessions"));
            }
            Ok(Preview {
                sessions: inventory.list(Scope::User(idp, subject)).await?,
                scope: PreviewScope::User(idp.clone(), subject.clone()),
                may_freeze: rights.everywhere(),
            })
        }
        Target::Role(name) => {
            let arn = policy
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
            Ok(Preview {
                sessions: inventory.list(Scope::Role(&arn)).await?,
                scope: PreviewScope::Role(arn),
                may_freeze: rights.everywhere(),
            })
        }
        Target::All => {
            if !rights.everywhere() {
                return Err(needs_all("every session"));
            }
            Ok(Preview {
                sessions: inventory.list(Scope::All).await?,
                scope: PreviewScope::All,
                may_freeze: rights.everywhere(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_exactly_one_of_the_four() {
        assert_eq!(
            Target::parse(Some("ses_1"), None, None, None).unwrap(),
            Target::Session("ses_1".into())
        );
        assert_eq!(
            Target::parse(None, Some("web:a:b"), None, None).unwrap(),
            Target::User("web".into(), "a:b".into())
        );
        assert_eq!(
            Target::parse(None, None, None, Some("true")).unwrap(),
            Target::All
        );
        for (s, u, r, a) in [
            (None, None, None, None),
            (Some("ses_1"), Some("web:a"), None, None),
            (None, Some("alice"), None, None),
            (None, Some(":alice"), None, None),
            (None, None, None, Some("yes")),
        ] {
            assert!(
                matches!(Target::parse(s, u, r, a), Err(RevokeError::Invalid(_))),
                "{s:?} {u:?} {r:?} {a:?}"
            );
        }
    }
}
