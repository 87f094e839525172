//! The inline policy `rolegate-revocations` that ends revoked sessions on AWS's side: one Deny
//! statement per revocation instant, conditioned on `aws:TokenIssueTime` (and, for people,
//! `aws:SourceIdentity`), as IAM's own "Revoke active sessions" writes it but targeted.
//!
//! A role may already carry the policy from earlier revocations, so a new one is merged in:
//! entries sharing an instant become one statement listing their source identities; an entry
//! wholly covered by a later one (everyone, or the same people, at a later instant) is dropped;
//! an entry older than the role's maximum session duration is dropped, since no session it
//! could deny is still alive. An entry's instant is never moved later: that would end sessions
//! a person started after signing in again.
//!
//! The document is parsed strictly: a statement rolegate did not write is refused, never
//! silently dropped — it may be someone's Deny.

use crate::clock::rfc3339_of;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The inline policy's name on each role.
pub(crate) const POLICY_NAME: &str = "rolegate-revocations";
const SID_PREFIX: &str = "RolegateRevoked";

/// Whose sessions an entry ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Whom {
    /// Every session of the role.
    Everyone,
    /// The sessions carrying these source identities.
    Only(BTreeSet<String>),
}

/// The revocation entries of one role: sessions issued before the instant (unix seconds) end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DenyPolicy {
    entries: BTreeMap<i64, Whom>,
}

/// Why a role's existing `rolegate-revocations` cannot be merged with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the role's inline policy {POLICY_NAME} holds {0}, which rolegate did not write; rename \
     that statement into a policy of its own (rolegate never drops a statement it does not know)"
)]
pub(crate) struct ForeignStatement(String);

impl DenyPolicy {
    /// The entries of a document this module wrote.
    pub(crate) fn parse(document: &Value) -> Result<DenyPolicy, ForeignStatement> {
        let foreign = |what: &str| ForeignStatement(what.to_string());
        let statements = match document.get("Statement") {
            Some(Value::Array(s)) => s.as_slice(),
            Some(s @ Value::Object(_)) => std::slice::from_ref(s),
            _ => return Err(foreign("no Statement list")),
        };
        let mut policy = DenyPolicy::default();
        for s in statements {
            let sid = s.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)");
            let (instant, whom) =
                entry_of(s).ok_or_else(|| foreign(&format!("statement {sid}")))?;
            policy.add(instant, whom);
        }
        Ok(policy)
    }

    /// Adds an entry (merging one that shares its instant).
    pub(crate) fn add(&mut self, before: i64, whom: Whom) {
        let merged = match (self.entries.remove(&before), whom) {
            (Some(Whom::Everyone), _) | (_, Whom::Everyone) => Whom::Everyone,
            (Some(Whom::Only(mut a)), Whom::Only(b)) => {
                a.extend(b);
                Whom::Only(a)
            }
            (None, w) => w,
        };
        self.entries.insert(before, merged);
    }

    /// Drops entries no live session can fall under (older than `max_session` at `now`) and
    /// entries a later one wholly covers.
    pub(crate) fn prune(&mut self, now: i64, max_session: Duration) {
        let horizon = horizon(now, max_session);
        self.entries.retain(|before, _| *before > horizon);
        // From the latest back: what later entries already deny, an earlier one need not.
        let mut everyone_later = false;
        let mut named_later: BTreeSet<String> = BTreeSet::new();
        let mut covered = Vec::new();
        for (at, whom) in self.entries.iter_mut().rev() {
            match whom {
                Whom::Everyone if everyone_later => covered.push(*at),
                Whom::Everyone => everyone_later = true,
                Whom::Only(_) if everyone_later => covered.push(*at),
                Whom::Only(ids) => {
                    ids.retain(|id| !named_later.contains(id));
                    if ids.is_empty() {
                        covered.push(*at);
                    }
                    named_later.extend(ids.iter().cloned());
                }
            }
        }
        for at in covered {
            self.entries.remove(&at);
        }
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (i64, &Whom)> {
        self.entries.iter().map(|(at, w)| (*at, w))
    }

    /// The IAM policy document.
    pub(crate) fn document(&self) -> Value {
        let statements: Vec<Value> = self
            .entries
            .iter()
            .map(|(before, whom)| statement(*before, whom))
            .collect();
        json!({ "Version": "2012-10-17", "Statement": statements })
    }

    /// Whether AWS, evaluating this document with the policy engine's IAM grammar, denies a
    /// session issued at `issued` carrying `source_identity`.
    #[cfg(test)]
    pub(crate) fn denies(&self, issued: std::time::SystemTime, source_identity: &str) -> bool {
        crate::policy::aws_deny::denies(&self.document(), issued, source_identity)
    }
}

/// The instant before which no session of a role whose longest session is `max_session` can
/// still be alive at `now`: an entry at or before it denies nothing live.
pub(crate) fn horizon(now: i64, max_session: Duration) -> i64 {
    now.saturating_sub(crate::clock::secs(max_session))
}

/// The Deny statement of one entry.
fn statement(before: i64, whom: &Whom) -> Value {
    let mut condition = json!({ "DateLessThan": { "aws:TokenIssueTime": rfc3339_of(before) } });
    if let Whom::Only(ids) = whom {
        condition["StringEquals"] = json!({ "aws:SourceIdentity": ids });
    }
    json!({
        "Sid": format!("{SID_PREFIX}{before}"),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": condition,
    })
}

/// The entry a statement encodes, if it is exactly one rolegate writes.
fn entry_of(s: &Value) -> Option<(i64, Whom)> {
    let before: i64 = s
        .get("Sid")?
        .as_str()?
        .strip_prefix(SID_PREFIX)?
        .parse()
        .ok()?;
    let mut whom = Whom::Everyone;
    if let Some(ids) = s.pointer("/Condition/StringEquals/aws:SourceIdentity") {
        let ids: Option<BTreeSet<String>> = match ids {
            Value::String(one) => Some(BTreeSet::from([one.clone()])),
            Value::Array(many) => many
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => None,
        };
        whom = Whom::Only(ids.filter(|i| !i.is_empty())?);
    }
    // Rebuilt from its parts, it must be the very statement: nothing else may ride along.
    (statement(before, &whom) == *s).then_some((before, whom))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(ids: &[&str]) -> Whom {
        Whom::Only(ids.iter().map(ToString::to_string).collect())
    }

    use crate::clock::instant_of as at;

    const T: i64 = 1_790_000_000;

    #[test]
    fn a_persons_deny_ends_their_earlier_sessions_only() {
        let mut p = DenyPolicy::default();
        p.add(T, only(&["corp.bob"]));
        assert!(p.denies(at(T - 1), "corp.bob"), "issued before: denied");
        assert!(
            !p.denies(at(T), "corp.bob"),
            "issued at the instant: a new sign-in"
        );
        assert!(
            !p.denies(at(T - 1), "corp.alice"),
            "someone else: untouched"
        );
        assert!(!p.denies(at(T - 1), "corp.bob2"), "no prefix match");
    }

    #[test]
    fn a_role_wide_deny_ends_everyones_earlier_sessions() {
        let mut p = DenyPolicy::default();
        p.add(T, Whom::Everyone);
        assert!(p.denies(at(T - 3600), "anyone"));
        assert!(!p.denies(at(T + 1), "anyone"));
    }

    #[test]
    fn entries_of_one_instant_merge_and_a_later_one_absorbs_the_earlier() {
        let mut p = DenyPolicy::default();
        p.add(T, only(&["a"]));
        p.add(T, only(&["b"]));
        assert_eq!(p.entries().count(), 1);
        p.add(T + 60, only(&["a"]));
        p.prune(T + 60, Duration::from_secs(3600));
        let e: Vec<_> = p.entries().collect();
        assert_eq!(e, vec![(T, &only(&["b"])), (T + 60, &only(&["a"]))]);
        // Nothing a merge drops changes what is denied.
        assert!(p.denies(at(T + 30), "a") && p.denies(at(T - 1), "b"));
        assert!(
            !p.denies(at(T + 30), "b"),
            "b's own instant is never moved later"
        );
        p.add(T + 120, Whom::Everyone);
        p.prune(T + 120, Duration::from_secs(3600));
        assert_eq!(p.entries().count(), 1, "everyone later covers all");
    }

    #[test]
    fn entries_older_than_the_roles_longest_session_are_pruned() {
        let mut p = DenyPolicy::default();
        p.add(T, only(&["a"]));
        p.prune(T + 3600, Duration::from_secs(3600));
        assert_eq!(p.entries().count(), 0);
        p.add(T, only(&["a"]));
        p.prune(T + 3599, Duration::from_secs(3600));
        assert_eq!(p.entries().count(), 1, "a session could still be alive");
    }

    #[test]
    fn a_document_round_trips_and_a_foreign_statement_is_refused_not_dropped() {
        let mut p = DenyPolicy::default();
        p.add(T, only(&["a", "b"]));
        p.add(T + 5, Whom::Everyone);
        let doc = p.document();
        assert_eq!(DenyPolicy::parse(&doc).unwrap(), p);
        for tamper in [
            json!({"Sid": "Mine", "Effect": "Deny", "Action": "*", "Resource": "*"}),
            // Ours in name, but widened: an Allow, another action, an extra condition.
            {
                let mut s = statement(T, &Whom::Everyone);
                s["Effect"] = json!("Allow");
                s
            },
            {
                let mut s = statement(T, &Whom::Everyone);
                s["Action"] = json!("s3:*");
                s
            },
            {
                let mut s = statement(T, &only(&["a"]));
                s["Condition"]["Bool"] = json!({"aws:MultiFactorAuthPresent": "true"});
                s
            },
            {
                let mut s = statement(T, &Whom::Everyone);
                s["Sid"] = json!(format!("{SID_PREFIX}{}", T + 1));
                s
            },
        ] {
            let mut d = doc.clone();
            d["Statement"].as_array_mut().unwrap().push(tamper.clone());
            assert!(DenyPolicy::parse(&d).is_err(), "{tamper}");
        }
    }
}
