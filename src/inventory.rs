//! The inventory of issued AWS sessions: every set of credentials and every console sign-in the
//! broker hands out is recorded here in the same step ([`crate::issue::Issuance`] returns no
//! credentials whose record could not be written), so "who holds credentials for prod-admin
//! right now?" has an answer, and revocation knows which roles to write.
//!
//! Each record lives in the store until the session expires, with three sorted indexes (all,
//! per user, per role) scored by expiry: a listing reads an index and the records it names and
//! never scans the keyspace. All keys share the hash tag `{inventory}`, so on Redis Cluster
//! they sit in one slot and a record and its index entries are written by one script.

use crate::clock::Clock;
use crate::policy::loader::PolicyMapper;
use crate::policy::{AdminAction, Mapper, RequestContext};
use crate::store::{IndexEntry, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// One issued AWS session, as recorded and as `GET /api/v1/sessions` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct IssuedSession {
    /// `ses_` and 128 random bits in hex: what `sessions revoke --session` names.
    pub id: String,
    pub idp: String,
    pub subject: String,
    /// The person's name as the IdP sent it (else their subject).
    pub display_name: String,
    pub role_arn: String,
    pub role_alias: String,
    pub session_name: String,
    pub source_identity: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds: when the STS credentials expire.
    pub expires_at: i64,
    /// `browser`, `cli` or `api`.
    pub client: String,
    /// `credentials` or `console`.
    pub action: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// The policy statement that allowed it.
    pub matched: String,
    /// The reason or ticket the user gave, if any.
    pub reason: Option<String>,
    /// Unix seconds of its revocation, and by whom (`idp:subject`), once revoked.
    #[serde(default)]
    pub revoked_at: Option<i64>,
    #[serde(default)]
    pub revoked_by: Option<String>,
    /// The reason the revocation gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

impl IssuedSession {
    /// The public form: times in RFC 3339, as the README's contract says.
    pub(crate) fn view(&self) -> SessionView<'_> {
        let at = crate::clock::rfc3339_of;
        SessionView {
            id: &self.id,
            idp: &self.idp,
            subject: &self.subject,
            name: &self.display_name,
            role_arn: &self.role_arn,
            role: &self.role_alias,
            session_name: &self.session_name,
            source_identity: &self.source_identity,
            issued_at: at(self.issued_at),
            expires_at: at(self.expires_at),
            client: &self.client,
            action: &self.action,
            client_ip: self.client_ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            matched: &self.matched,
            reason: self.reason.as_deref(),
            revoked_at: self.revoked_at.map(at),
            revoked_by: self.revoked_by.as_deref(),
            revoked_reason: self.revoked_reason.as_deref(),
        }
    }
}

/// A session as `GET /api/v1/sessions` lists it (borrowed: a listing of thousands serialises
/// straight from the records, with no intermediate JSON tree).
#[derive(Debug, serde::Serialize)]
pub(crate) struct SessionView<'a> {
    pub id: &'a str,
    pub idp: &'a str,
    pub subject: &'a str,
    pub name: &'a str,
    pub role_arn: &'a str,
    pub role: &'a str,
    pub session_name: &'a str,
    pub source_identity: &'a str,
    pub issued_at: String,
    pub expires_at: String,
    pub client: &'a str,
    pub action: &'a str,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub matched: &'a str,
    pub reason: Option<&'a str>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<&'a str>,
    pub revoked_reason: Option<&'a str>,
}

/// Which sessions a listing is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// Every live session.
    All,
    /// One person's: (IdP, subject).
    User(&'a str, &'a str),
    /// One role's, by ARN.
    Role(&'a str),
}

/// The recorder and reader of [`IssuedSession`]s.
pub(crate) struct Inventory {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Who may see (and end) which sessions: `rolegate:ListSessions` and `RevokeSessions`.
    policy: Arc<PolicyMapper>,
}

/// Why a listing was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListError {
    /// Another person's or a role's sessions, without `rolegate:ListSessions` on the role.
    #[error(
        "listing other people's or a role's sessions needs rolegate:ListSessions on the role \
         (and it must be a role of the catalogue), which no statement grants you"
    )]
    NotPermitted,
    /// `user` is not `IDP:SUBJECT`.
    #[error("user is IDP:SUBJECT, e.g. corp:alice")]
    BadUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

const TAG: &str = "rolegate:{inventory}";

fn record_key(id: &str) -> String {
    format!("{TAG}:session:{id}")
}

/// The index key of a scope. User and role parts are hex-encoded: a subject or ARN with `:` or
/// `{` cannot reach another index or move the key out of the `{inventory}` slot.
fn index_key(scope: Scope<'_>) -> String {
    match scope {
        Scope::All => format!("{TAG}:all"),
        Scope::User(idp, subject) => format!(
            "{TAG}:user:{}:{}",
            hex::encode(idp.as_bytes()),
            hex::encode(subject.as_bytes())
        ),
        Scope::Role(arn) => format!("{TAG}:role:{}", hex::encode(arn.as_bytes())),
    }
}

/// Sessions marked revoked at once (store round trips in flight).
const MARK_CONCURRENCY: usize = 16;

impl Inventory {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policy: Arc<PolicyMapper>,
    ) -> Self {
        Inventory {
            store,
            clock,
            policy,
        }
    }

    /// A fresh session id.
    pub(crate) fn new_id() -> String {
        format!("ses_{}", hex::encode(rand::random::<[u8; 16]>()))
    }

    /// Records `s` until it expires, with its index entries, in one step.
    pub(crate) async fn record(&self, s: &IssuedSession) -> Result<(), StoreError> {
        let now = self.clock.unix();
        let ttl = Duration::from_secs(s.expires_at.saturating_sub(now).max(1).unsigned_abs());
        let value = serde_json::to_vec(s).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let indexes = [
            index_key(Scope::All),
            index_key(Scope::User(&s.idp, &s.subject)),
            index_key(Scope::Role(&s.role_arn)),
        ];
        let entry = IndexEntry {
            indexes: &indexes,
            member: &s.id,
            until: s.expires_at,
            now,
        };
        self.store
            .put_indexed(&record_key(&s.id), &value, ttl, &entry)
            .await
    }

    /// The live session `id`, if any.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<IssuedSession>, StoreError> {
        let now = self.clock.unix();
        Ok(self
            .store
            .get(&record_key(id))
            .await?
            .and_then(|v| serde_json::from_slice::<IssuedSession>(&v).ok())
            .filter(|s| s.expires_at > now))
    }

    /// Marks `sessions` revoked at `at` by `by` (a session already revoked keeps its first
    /// revocation); they stay listed, as revoked, until they expire.
    pub(crate) async fn mark_revoked(
        &self,
        sessions: &[IssuedSession],
        at: i64,
        by: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        use futures_util::{StreamExt, TryStreamExt};
        let now = self.clock.unix();
        // A kill switch marks thousands: a few compare-and-sets in flight at once, not one by
        // one (each is a round trip to Redis).
        futures_util::stream::iter(sessions)
            .map(|s| async move {
                let ttl =
                    Duration::from_secs(s.expires_at.saturating_sub(now).max(1).unsigned_abs());
                self.store
                    .update(&record_key(&s.id), ttl, &|old| {
                        let mut rec: IssuedSession = serde_json::from_slice(old?).ok()?;
                        if rec.revoked_at.is_none() {
                            rec.revoked_at = Some(at);
                            rec.revoked_by = Some(by.to_string());
                            rec.revoked_reason = Some(reason.to_string());
                        }
                        serde_json::to_vec(&rec).ok()
                    })
                    .await
                    .map(|_| ())
            })
            .buffer_unordered(MARK_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    /// The live sessions of `scope`, the soonest to expire first.
    pub(crate) async fn list(&self, scope: Scope<'_>) -> Result<Vec<IssuedSession>, StoreError> {
        let now = self.clock.unix();
        let ids = self.store.index_members(&index_key(scope), now).await?;
        let keys: Vec<String> = ids.iter().map(|id| record_key(id)).collect();
        let values = self.store.get_many(&keys).await?;
        Ok(values
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_slice::<IssuedSession>(&v).ok())
            .filter(|s| s.expires_at > now)
            .collect())
    }
}

impl Inventory {
    /// Every live session on the roles where `ctx`'s caller has `rolegate:ListSessions`, and
    /// their own; refused when they may list no role at all.
    pub(crate) async fn visible_all(
        &self,
        ctx: &RequestContext<'_>,
    ) -> Result<Vec<IssuedSession>, ListError> {
        let engine = self.policy.engine();
        let listable: std::collections::BTreeSet<&str> = engine
            .roles()
            .iter()
            .map(|r| r.arn.as_str())
            .filter(|arn| self.policy.permits(ctx, arn, AdminAction::ListSessions))
            .collect();
        if listable.is_empty() {
            return Err(ListError::NotPermitted);
        }
        let me = (ctx.identity.idp.as_str(), ctx.identity.subject.as_str());
        Ok(self
            .list(Scope::All)
            .await?
            .into_iter()
            .filter(|s| {
                listable.contains(s.role_arn.as_str()) || (s.idp.as_str(), s.subject.as_str()) == me
            })
            .collect())
    }

    /// The sessions `ctx`'s caller asked for and may see: their own (no filter); a role's
    /// (`role`, with `rolegate:ListSessions` on it); a person's (`user` = `IDP:SUBJECT`) on the
    /// roles where the caller has it, or on `role` only when both are given. Someone who may
    /// list no role at all is refused rather than shown an empty list.
    pub(crate) async fn visible(
        &self,
        ctx: &RequestContext<'_>,
        user: Option<&str>,
        role: Option<&str>,
    ) -> Result<Vec<IssuedSession>, ListError> {
        let may_list = |r: &str| self.policy.permits(ctx, r, AdminAction::ListSessions);
        let engine = self.policy.engine();
        let role_arn = match role {
            Some(r) if may_list(r) => engine.role(r).map(|c| c.arn.as_str().to_string()),
            Some(_) => return Err(ListError::NotPermitted),
            None => None,
        };
        let me = (ctx.identity.idp.as_str(), ctx.identity.subject.as_str());
        let Some(user) = user else {
            return Ok(match &role_arn {
                Some(arn) => self.list(Scope::Role(arn)).await?,
                None => self.list(Scope::User(me.0, me.1)).await?,
            });
        };
        let (idp, subject) = user.split_once(':').ok_or(ListError::BadUser)?;
        let own = (idp, subject) == me;
        if !own && role_arn.is_none() && !engine.roles().iter().any(|r| may_list(r.arn.as_str())) {
            return Err(ListError::NotPermitted);
        }
        Ok(self
            .list(Scope::User(idp, subject))
            .await?
            .into_iter()
            .filter(|s| role_arn.as_ref().is_none_or(|arn| &s.role_arn == arn))
            .filter(|s| (own && role_arn.is_none()) || may_list(&s.role_arn))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_cannot_be_steered_into_another_index_or_slot() {
        let a = index_key(Scope::User("corp", "alice:role:x"));
        let b = index_key(Scope::User("corp:alice", "role:x"));
        assert_ne!(a, b, "separators in a subject do not merge two users");
        for k in [a, b, index_key(Scope::Role("arn:aws:iam::1:role/{x}"))] {
            assert!(k.starts_with("rolegate:{inventory}:"), "{k}");
            assert_eq!(k.matches('{').count(), 1, "one hash tag: {k}");
        }
        assert!(Inventory::new_id().starts_with("ses_"));
        assert_eq!(Inventory::new_id().len(), 4 + 32);
    }
}
