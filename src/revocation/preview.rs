//! Who may end which sessions, and what a revocation would end before it is made: the rights
//! [`super::request::Revoker`] checks (`rolegate:RevokeSessions` on the role for one session or a
//! role; on every role of the catalogue for a person, an IdP, everything or any freeze), and
//! the preview the admin page's confirmation shows — computed by the very code that revokes.

use crate::inventory::IssuedSession;
use crate::policy::loader::PolicyMapper;
use crate::policy::{AdminAction, Mapper, RequestContext};
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
    /// An IdP's id.
    Idp(String),
    All,
}
