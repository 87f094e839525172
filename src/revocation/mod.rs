//! Ending sessions on the broker's side: a revocation is a marker in the store for a scope (a
//! person, a role, a person on one role, or everything), with its instant and an optional
//! freeze. From then on no credentials are issued in that scope to an authentication older than
//! the instant — the person must sign in at their IdP again (`auth_time`, else the ID token's
//! `iat`; SAML `AuthnInstant`) — and none at all while a freeze lasts. Browser sessions and CLI
//! sign-ins carry their authentication instant, so they are refused too (and, for a person or
//! everything, ended when next used).
//!
//! The AWS side (a Deny on each role for sessions issued before the instant) is written by
//! the IAM writer; the inventory marks the sessions revoked.
//!
//! A marker lives as long as an authentication from before it could still be presented: the
//! longest of the browser session lifetime, the CLI sign-in lifetime and 12 hours, or its
//! freeze if longer. All markers share the hash tag `{revocations}`: one read checks them all,
//! on Redis Cluster too.

pub(crate) mod deny;
pub(crate) mod preview;
pub(crate) mod request;
pub(crate) mod writer;

use crate::clock::Clock;
use crate::domain::Identity;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// What a revocation covers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RevokeScope {
    /// One person (IdP, subject), on every role.
    User { idp: String, subject: String },
    /// Every person, on one role (by ARN).
    Role { arn: String },
    /// One person on one role (what revoking one session ends).
    UserOnRole {
        idp: String,
        subject: String,
        arn: String,
    },
    /// Everyone one IdP vouched for, on every role (a compromised IdP).
    Idp { idp: String },
    /// Everyone, everywhere: the kill switch.
    All,
}

/// A revocation as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Marker {
    /// Unix seconds of the revocation: authentications before it are refused.
    pub at: i64,
    /// Unix seconds until which nothing is issued in the scope at all (0: no freeze).
    #[serde(default)]
    pub frozen_until: i64,
    /// Who revoked (`idp:subject`).
    pub by: String,
    /// Why (an incident or ticket), as they gave it.
    pub reason: String,
}

/// Why issuance is refused in a revoked scope; the message is the user's to read.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub(crate) enum Revoked {
    /// Revoked after the caller's authentication: sign in at the IdP again.
    #[error(
        "your AWS sessions{on} were ended by an administrator ({reason}); sign in at your \
         identity provider again, then retry"
    )]
    SignInAgain { on: String, reason: String },
    /// A freeze is in force.
    #[error(
        "issuing AWS sessions{on} is frozen by an administrator until {until} ({reason}); \
         nothing can be issued before then"
    )]
    Frozen {
        on: String,
        until: String,
        reason: String,
    },
}

const TAG: &str = "rolegate:{revocations}";

fn hex(s: &str) -> String {
    hex::encode(s.as_bytes())
}

fn key(scope: &RevokeScope) -> String {
    match scope {
        RevokeScope::User { idp, subject } => format!("{TAG}:user:{}:{}", hex(idp), hex(subject)),
        RevokeScope::Role { arn } => format!("{TAG}:role:{}", hex(arn)),
        RevokeScope::UserOnRole { idp, subject, arn } => {
            format!("{TAG}:user-role:{}:{}:{}", hex(idp), hex(subject), hex(arn))
        }
        RevokeScope::Idp { idp } => format!("{TAG}:idp:{}", hex(idp)),
        RevokeScope::All => format!("{TAG}:all"),
    }
}

/// When the IdP authenticated `identity`: `auth_time` (browser sessions and CLI sign-ins keep
/// theirs there), else the ID token's `iat`. None when neither is known: treated as before any
/// revocation, so it fails closed.
pub(crate) fn authenticated_at(identity: &Identity) -> Option<i64> {
    identity.auth_time.or_else(|| {
        identity
            .claims
            .get("iat")
            .and_then(serde_json::Value::as_i64)
    })
}

/// The markers and the checks against them.
pub(crate) struct Revocations {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// How long a marker must outlive its instant (see the module's docs).
    keep: Duration,
    /// The IdPs of the configuration: a sign-in vouched for by any other — one removed since,
    /// perhaps because it was compromised — is over.
    idps: BTreeSet<String>,
}

impl Revocations {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keep: Duration,
        idps: impl IntoIterator<Item = String>,
    ) -> Self {
        Revocations {
            store,
            clock,
            keep,
            idps: idps.into_iter().collect(),
        }
    }

    /// Records a revocation of `scope` now (and a freeze of `freeze`, if any); the marker an
    /// earlier revocation left is replaced only by a later instant and a longer freeze.
    pub(crate) async fn revoke(
        &self,
        scope: &RevokeScope,
        by: &str,
        reason: &str,
        freeze: Option<Duration>,
    ) -> Result<Marker, StoreError> {
        let now = self.clock.unix();
        let frozen_until = freeze.map_or(0, |f| now.saturating_add(crate::clock::secs(f)));
        let marker = Marker {
            at: now,
            frozen_until,
            by: by.to_string(),
            reason: reason.to_string(),
        };
        let ttl = self.keep.max(freeze.unwrap_or_default()) + Duration::from_secs(60);
        let fresh = serde_json::to_vec(&marker).unwrap_or_default();
        let written = self
            .store
            .update(&key(scope), ttl, &|old| {
                let old: Option<Marker> = old.and_then(|o| serde_json::from_slice(o).ok());
                let merged = match old {
                    Some(o) => Marker {
                        at: o.at.max(marker.at),
                        frozen_until: o.frozen_until.max(marker.frozen_until),
                        ..marker.clone()
                    },
                    None => marker.clone(),
                };
                Some(serde_json::to_vec(&merged).unwrap_or_else(|_| fresh.clone()))
            })
            .await?;
        Ok(written
            .and_then(|w| serde_json::from_slice(&w).ok())
            .unwrap_or(marker))
    }

    /// Refuses issuance to `identity` on `role_arn` when a revocation covers it: frozen, or
    /// made after the identity's authentication. One store read for the four scopes.
    pub(crate) async fn check(
        &self,
        identity: &Identity,
        role_arn: &str,
    ) -> Result<Result<(), Revoked>, StoreError> {
        let (idp, subject) = (identity.idp.as_str().to_string(), identity.subject.clone());
        let scopes = [
            RevokeScope::All,
            RevokeScope::Idp { idp: idp.clone() },
            RevokeScope::User {
                idp: idp.clone(),
                subject: subject.clone(),
            },
            RevokeScope::Role {
                arn: role_arn.to_string(),
            },
            RevokeScope::UserOnRole {
                idp,
                subject,
                arn: role_arn.to_string(),
            },
        ];
        let keys: Vec<String> = scopes.iter().map(key).collect();
        let found = self.store.get_many(&keys).await?;
        let now = self.clock.unix();
        let authenticated = authenticated_at(identity).unwrap_or(i64::MIN);
        for (scope, marker) in scopes.iter().zip(found) {
            let Some(m) = marker.and_then(|m| serde_json::from_slice::<Marker>(&m).ok()) else {
                continue;
            };
            let on = match scope {
                RevokeScope::Role { .. } | RevokeScope::UserOnRole { .. } => {
                    format!(" for {role_arn}")
                }
                RevokeScope::User { .. } | RevokeScope::Idp { .. } | RevokeScope::All => {
                    String::new()
                }
            };
            if m.frozen_until > now {
                return Ok(Err(Revoked::Frozen {
                    on,
                    until: crate::clock::rfc3339_of(m.frozen_until),
                    reason: m.reason,
                }));
            }
            // The same second counts as before: a token minted just ahead of the revocation
            // must not slip through on rounding.
            if authenticated <= m.at {
                return Ok(Err(Revoked::SignInAgain {
                    on,
                    reason: m.reason,
                }));
            }
        }
        Ok(Ok(()))
    }

    /// Why a sign-in from `authenticated` (a browser session, a CLI sign-in) is over, if it
    /// is: its IdP is no longer configured, or a person-wide revocation (theirs, their IdP's or
    /// everyone's) came after it. The message is the user's to read.
    pub(crate) async fn ends_sign_in(
        &self,
        identity: &Identity,
        authenticated: i64,
    ) -> Result<Option<String>, StoreError> {
        let idp = identity.idp.as_str();
        if !self.idps.contains(idp) {
            return Ok(Some(format!(
                "the identity provider `{idp}` that signed you in is no longer configured on \
                 this broker"
            )));
        }
        let keys = [
            key(&RevokeScope::All),
            key(&RevokeScope::Idp {
                idp: idp.to_string(),
            }),
            key(&RevokeScope::User {
                idp: idp.to_string(),
                subject: identity.subject.clone(),
            }),
        ];
        let found = self.store.get_many(&keys).await?;
        Ok(found
            .into_iter()
            .flatten()
            .filter_map(|m| serde_json::from_slice::<Marker>(&m).ok())
            .find(|m| m.at >= authenticated)
            .map(|m| {
                format!(
                    "your sign-in was ended by an administrator ({}); sign in at your identity \
                     provider again",
                    m.reason
                )
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_slot_and_cannot_be_steered_into_another_scope() {
        let a = key(&RevokeScope::User {
            idp: "corp".into(),
            subject: "alice:role".into(),
        });
        let b = key(&RevokeScope::User {
            idp: "corp:alice".into(),
            subject: "role".into(),
        });
        assert_ne!(a, b);
        for k in [
            a,
            b,
            key(&RevokeScope::All),
            key(&RevokeScope::Role { arn: "{x}".into() }),
        ] {
            assert!(k.starts_with("rolegate:{revocations}:"), "{k}");
            assert_eq!(k.matches('{').count(), 1, "{k}");
        }
    }
}
