//! STS limits, enforced before the call so the caller gets a 400 that says which limit, instead
//! of an opaque STS error (and so limits hold even against an emulator that checks nothing).
//! Numbers from the AssumeRole API reference and "IAM and AWS STS quotas".

use super::session_name;
use crate::domain::Identity;
use crate::policy::Grant;
use regex::Regex;
use std::sync::LazyLock;
use std::time::Duration;

pub(crate) const MIN_DURATION: Duration = Duration::from_secs(900);
/// STS caps role-chained sessions at one hour.
pub(crate) const CHAINED_MAX: Duration = Duration::from_secs(3600);
pub(crate) const MAX_TAGS: usize = 50;
pub(crate) const MAX_TAG_KEY: usize = 128;
pub(crate) const MAX_TAG_VALUE: usize = 256;
pub(crate) const MAX_POLICY_ARNS: usize = 10;
/// Plaintext of inline + managed session policies together.
pub(crate) const MAX_POLICY_CHARS: usize = 2048;

/// Tag keys and values: `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (AssumeRole API reference, Tag).
static TAG_CHARS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").expect("static regex"));

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitError {
    #[error(
        "duration_seconds {requested} ({}) is above this role's maximum: at most {}",
        crate::clock::human(*requested),
        crate::clock::human(*max)
    )]
    DurationTooLong { requested: u64, max: u64 },
    #[error(
        "duration_seconds {requested} ({}) is below the STS minimum: at least 15m",
        crate::clock::human(*requested)
    )]
    DurationTooShort { requested: u64 },
    #[error("{count} session tags; STS allows at most 50")]
    TooManyTags { count: usize },
    #[error("session tag key `{key}`: {why}")]
    TagKey { key: String, why: &'static str },
    #[error("session tag `{key}` has a value that {why}")]
    TagValue { key: String, why: &'static str },
    #[error("session tag keys `{0}` appear twice (STS compares tag keys ignoring case)")]
    DuplicateTagKey(String),
    #[error("transitive tag key `{0}` is not one of the session tags")]
    TransitiveNotTag(String),
    #[error("{count} managed session policy ARNs; STS allows at most 10")]
    TooManyPolicyArns { count: usize },
    #[error("session policies total {chars} characters; STS allows at most 2048")]
    PolicyTooLarge { chars: usize },
}

impl LimitError {
    pub(crate) fn code(&self) -> &'static str {
        use LimitError::*;
        match self {
            DurationTooLong { .. } | DurationTooShort { .. } => "invalid_duration",
            TooManyTags { .. }
            | TagKey { .. }
            | TagValue { .. }
            | DuplicateTagKey(_)
            | TransitiveNotTag(_) => "invalid_session_tags",
            TooManyPolicyArns { .. } | PolicyTooLarge { .. } => "invalid_session_policy",
        }
    }
}

/// A grant plus everything the STS call needs, every limit already checked. Only
/// [`plan`] builds one, so the issuer cannot be handed an unchecked session.
#[derive(Debug, Clone)]
pub(crate) struct SessionPlan {
    grant: Grant,
    duration: Duration,
    session_name: String,
    source_identity: String,
}

impl SessionPlan {
    pub(crate) fn grant(&self) -> &Grant {
        &self.grant
    }
    pub(crate) fn duration(&self) -> Duration {
        self.duration
    }
    pub(crate) fn session_name(&self) -> &str {
        &self.session_name
    }
    pub(crate) fn source_identity(&self) -> &str {
        &self.source_identity
    }
}

/// The effective maximum: the grant's, and at most one hour for chained credentials.
pub(crate) fn max_duration(grant: &Grant, chained: bool) -> Duration {
    if chained {
        grant.max_duration().min(CHAINED_MAX)
    } else {
        grant.max_duration()
    }
}

/// Checks every limit. `requested` None means the default, capped at the maximum; a request
/// above the maximum is an error that names it (never silently shortened).
pub(crate) fn plan(
    grant: Grant,
    identity: &Identity,
    requested: Option<u64>,
    default: Duration,
    chained: bool,
) -> Result<SessionPlan, LimitError> {
    let max = max_duration(&grant, chained);
    let duration = match requested {
        Some(s) if s < MIN_DURATION.as_secs() => {
            return Err(LimitError::DurationTooShort { requested: s });
        }
        Some(s) if s > max.as_secs() => {
            return Err(LimitError::DurationTooLong {
                requested: s,
                max: max.as_secs(),
            });
        }
        Some(s) => Duration::from_secs(s),
        None => default.min(max).max(MIN_DURATION),
    };
    check_tags(grant.tags(), grant.transitive_tag_keys())?;
    check_policies(grant.policy_arns(), grant.inline_policy())?;
    Ok(SessionPlan {
        duration,
        session_name: session_name::session_name(identity),
        source_identity: session_name::source_identity(identity),
        grant,
    })
}

pub(crate) fn check_tags(
    tags: &[(String, String)],
    transitive: &[String],
) -> Result<(), LimitError> {
    if tags.len() > MAX_TAGS {
        return Err(LimitError::TooManyTags { count: tags.len() });
    }
    let mut seen: Vec<String> = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        let key = || k.chars().take(MAX_TAG_KEY).collect::<String>();
        let klen = k.chars().count();
        if klen == 0 || klen > MAX_TAG_KEY {
            return Err(LimitError::TagKey {
                key: key(),
                why: "must be 1-128 characters",
            });
        }
        if !TAG_CHARS.is_match(k) {
            return Err(LimitError::TagKey {
                key: key(),
                why: "may use only letters, digits, spaces and _.:/=+-@",
            });
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(LimitError::TagKey {
                key: key(),
                why: "must not start with the reserved prefix aws:",
            });
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(LimitError::TagValue {
                key: key(),
                why: "is longer than 256 characters",
            });
        }
        if !TAG_CHARS.is_match(v) {
            return Err(LimitError::TagValue {
                key: key(),
                why: "uses characters other than letters, digits, spaces and _.:/=+-@",
            });
        }
        let lower = k.to_lowercase();
        if seen.contains(&lower) {
            return Err(LimitError::DuplicateTagKey(key()));
        }
        seen.push(lower);
    }
    for t in transitive {
        if !tags.iter().any(|(k, _)| k == t) {
            return Err(LimitError::TransitiveNotTag(
                t.chars().take(MAX_TAG_KEY).collect(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_policies(arns: &[String], inline: Option<&str>) -> Result<(), LimitError> {
    if arns.len() > MAX_POLICY_ARNS {
        return Err(LimitError::TooManyPolicyArns { count: arns.len() });
    }
    let chars = inline.map_or(0, |p| p.chars().count())
        + arns.iter().map(|a| a.chars().count()).sum::<usize>();
    if chars > MAX_POLICY_CHARS {
        return Err(LimitError::PolicyTooLarge { chars });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoleConfig;
    use crate::domain::{IdpId, RoleArn};

    fn tags(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), "v".to_string())).collect()
    }

    fn grant(max_secs: u64, tags: Vec<(String, String)>) -> Grant {
        let role = RoleConfig {
            arn: RoleArn::parse("arn:aws:iam::111122223333:role/R").unwrap(),
            alias: "r".into(),
            account_name: None,
            max_duration: Duration::from_secs(max_secs),
        };
        Grant::for_tests(role, tags)
    }

    fn who() -> Identity {
        Identity {
            username: Some("alice".into()),
            ..Identity::new(IdpId::parse("corp").unwrap(), "s")
        }
    }

    #[test]
    fn durations() {
        let d = Duration::from_secs(3600);
        assert_eq!(
            plan(grant(7200, vec![]), &who(), None, d, false)
                .unwrap()
                .duration(),
            d
        );
        assert_eq!(
            plan(grant(1800, vec![]), &who(), None, d, false)
                .unwrap()
                .duration()
                .as_secs(),
            1800
        );
        assert_eq!(
            plan(grant(7200, vec![]), &who(), Some(7200), d, false)
                .unwrap()
                .duration()
                .as_secs(),
            7200
        );
        assert_eq!(
            plan(grant(7200, vec![]), &who(), Some(7201), d, false).unwrap_err(),
            LimitError::DurationTooLong {
                requested: 7201,
                max: 7200
            }
        );
        assert_eq!(
            plan(grant(7200, vec![]), &who(), Some(7200), d, true).unwrap_err(),
            LimitError::DurationTooLong {
                requested: 7200,
                max: 3600
            }
        );
        assert!(matches!(
            plan(grant(7200, vec![]), &who(), Some(899), d, false),
            Err(LimitError::DurationTooShort { .. })
        ));
    }

    #[test]
    fn tag_limits() {
        assert!(check_tags(&tags(50), &[]).is_ok());
        assert_eq!(
            check_tags(&tags(51), &[]).unwrap_err(),
            LimitError::TooManyTags { count: 51 }
        );
        let one = |k: &str, v: &str| check_tags(&[(k.to_string(), v.to_string())], &[]);
        assert!(one(&"k".repeat(128), "v").is_ok());
        assert!(one(&"k".repeat(129), "v").is_err());
        assert!(one("", "v").is_err());
        assert!(one("k", &"v".repeat(256)).is_ok());
        assert!(one("k", &"v".repeat(257)).is_err());
        assert!(one("AWS:x", "v").is_err());
        assert!(one("k", "a;b").is_err());
        assert!(one("k!", "v").is_err());
        assert!(
            one("dépt ü", "Zürich 1").is_ok(),
            "unicode letters are allowed"
        );
        let dup = vec![
            ("Team".to_string(), "a".to_string()),
            ("team".to_string(), "b".to_string()),
        ];
        assert!(matches!(
            check_tags(&dup, &[]),
            Err(LimitError::DuplicateTagKey(_))
        ));
        assert!(matches!(
            check_tags(&tags(1), &["nope".into()]),
            Err(LimitError::TransitiveNotTag(_))
        ));
    }

    #[test]
    fn policy_limits() {
        let arns: Vec<String> = (0..11)
            .map(|i| format!("arn:aws:iam::aws:policy/P{i}"))
            .collect();
        assert!(check_policies(&arns[..10], None).is_ok());
        assert!(check_policies(&arns, None).is_err());
        assert!(check_policies(&[], Some(&"x".repeat(2048))).is_ok());
        assert!(check_policies(&arns[..1], Some(&"x".repeat(2048))).is_err());
    }
}
