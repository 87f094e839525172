//! What the broker will ask of one catalogue role on the AWS side, read from the catalogue and
//! the loaded policy: the session tags it may set (so the trust policy must allow
//! `sts:TagSession`, and may pin their values) and the longest session it may request (so the
//! role's `MaxSessionDuration` must be at least that). `rolegate aws trust-policy` writes
//! from this and `rolegate doctor` checks against it.

use crate::config::RoleConfig;
use crate::domain::{ClientKind, Identity, IdpId};
use crate::policy::document::Effect;
use crate::policy::engine::Engine;
use crate::policy::{Action, RequestContext};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A session tag some grant of the role sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagValues {
    /// Only these literal values (a trust policy can pin them).
    Fixed(BTreeSet<String>),
    /// At least one grant fills it from the identity (`${rolegate:…}`): any value.
    FromIdentity,
}

/// The AWS-side needs of one role.
#[derive(Debug, Clone)]
pub(crate) struct RoleNeeds {
    /// Tag keys any grant of the role may set, with their values.
    pub(crate) tags: BTreeMap<String, TagValues>,
    /// Tag keys any grant marks transitive.
    pub(crate) transitive_tag_keys: BTreeSet<String>,
    /// The longest session any grant of the role may ask STS for.
    pub(crate) longest_session: Duration,
}

/// What the policy asks of `role`. An Allow whose Resource holds variables may name any role,
/// so it counts for every role: over-asking here costs a wider trust policy by one action,
/// under-asking a refused session.
pub(crate) fn needs(engine: &Engine, role: &RoleConfig) -> RoleNeeds {
    // Resource patterns without variables do not depend on the identity: any one will do.
    let nobody = Identity::new(IdpId::parse("doctor").expect("static id"), "");
    let ctx = RequestContext {
        aws_session: None,
        identity: &nobody,
        client: ClientKind::Api,
        source_ip: None,
        now: std::time::UNIX_EPOCH,
    };
    let mut out = RoleNeeds {
        tags: BTreeMap::new(),
        transitive_tag_keys: BTreeSet::new(),
        longest_session: Duration::ZERO,
    };
    let mut granted = false;
    for st in engine.statements() {
        if st.effect != Effect::Allow {
            continue;
        }
        let dynamic = st.resources.iter().any(|r| r.as_text().is_none());
        let covers = dynamic
            || [Action::Console, Action::Credentials]
                .iter()
                .any(|a| engine.targets(st, role, *a, &ctx) == (true, true));
        if !covers {
            continue;
        }
        granted = true;
        let session = st.session.clone().unwrap_or_default();
        let cap = session
            .max_duration
            .map_or(role.max_duration, |d| d.min(role.max_duration));
        out.longest_session = out.longest_session.max(cap);
        for (key, value) in &session.tags {
            let entry = out
                .tags
                .entry(key.clone())
                .or_insert_with(|| TagValues::Fixed(BTreeSet::new()));
            match (value.as_text(), &mut *entry) {
                (Some(v), TagValues::Fixed(set)) => {
                    set.insert(v.to_string());
                }
                (None, _) => *entry = TagValues::FromIdentity,
                (Some(_), TagValues::FromIdentity) => {}
            }
        }
        out.transitive_tag_keys
            .extend(session.transitive_tag_keys.iter().cloned());
    }
    if !granted {
        // No grant names it today; a policy reload may add one without a restart.
        out.longest_session = role.max_duration;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::parse_document;

    fn role(arn: &str, alias: &str, hours: u64) -> RoleConfig {
        RoleConfig {
            arn: crate::domain::RoleArn::parse(arn).unwrap(),
            alias: alias.into(),
            account_name: None,
            max_duration: Duration::from_secs(hours * 3600),
        }
    }

    #[test]
    fn tags_and_the_longest_grant_come_from_the_statements_naming_the_role() {
        let ro = role("arn:aws:iam::111122223333:role/ReadOnly", "ro", 4);
        let other = role("arn:aws:iam::111122223333:role/Other", "other", 2);
        let doc = r#"{"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Action": "rolegate:Credentials",
           "Resource": "arn:aws:iam::111122223333:role/ReadOnly",
           "Session": {"MaxDuration": "1h", "Tags": {"team": "platform", "user": "${rolegate:username}"},
                       "TransitiveTagKeys": ["team"]}},
          {"Effect": "Allow", "Action": "rolegate:Console",
           "Resource": "arn:aws:iam::111122223333:role/ReadOnly",
           "Session": {"MaxDuration": "2h", "Tags": {"team": "sre"}}},
          {"Effect": "Deny", "Action": "rolegate:Console",
           "Resource": "arn:aws:iam::111122223333:role/Other"}
        ]}"#;
        let engine = Engine::new(
            parse_document("p.json", doc).unwrap(),
            vec![ro.clone(), other.clone()],
        );
        let n = needs(&engine, &ro);
        assert_eq!(n.longest_session, Duration::from_secs(2 * 3600));
        assert_eq!(
            n.tags["team"],
            TagValues::Fixed(["platform".to_string(), "sre".to_string()].into())
        );
        assert_eq!(n.tags["user"], TagValues::FromIdentity);
        assert!(n.transitive_tag_keys.contains("team"));
        // A Deny grants nothing: no tags, and the catalogue's cap stands.
        let n = needs(&engine, &other);
        assert!(n.tags.is_empty());
        assert_eq!(n.longest_session, Duration::from_secs(2 * 3600));
    }
}
