//! Condition keys and the values a request gives them (the README's Role-mapping policy section lists them).
//! Key names are case-insensitive, as in IAM; values are exactly what the IdP said.

use crate::policy::RequestContext;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContextKey {
    Idp,
    Sub,
    /// Present only when the IdP verified it: an unverified address is attacker-chosen.
    Email,
    EmailVerified,
    Username,
    Groups,
    Claim(String),
    Aud,
    Azp,
    Mfa,
    AuthTime,
    Client,
    SourceIp,
    CurrentTime,
    EpochTime,
    /// `aws:TokenIssueTime` of an AWS session: only in the Deny documents revocation writes.
    TokenIssueTime,
    /// `aws:SourceIdentity` of an AWS session: only in the Deny documents revocation writes.
    SourceIdentity,
    /// Not a key: the `${*}`/`${?}`/`${$}` escapes of a template.
    Literal,
}

/// What a key holds in one request. Borrowed where the identity already holds the value, so
/// evaluating thousands of statements does not copy group lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values<'a> {
    Missing,
    One(Cow<'a, str>),
    /// A multivalued key; an empty set counts as missing.
    Many(Cow<'a, [String]>),
}

impl Values<'_> {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&str>, &[String]) = match self {
            Values::Missing => (None, &[]),
            Values::One(v) => (Some(v.as_ref()), &[]),
            Values::Many(v) => (None, v.as_ref()),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Values::Missing)
    }
}

pub(crate) const KNOWN_KEYS: &[&str] = &[
    "rolegate:idp",
    "rolegate:sub",
    "rolegate:email",
    "rolegate:email_verified",
    "rolegate:username",
    "rolegate:groups",
    "rolegate:claims/<name>",
    "rolegate:aud",
    "rolegate:azp",
    "rolegate:mfa",
    "rolegate:auth_time",
    "rolegate:client",
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:EpochTime",
];

/// A condition key (or a policy variable's key) that is not one rolegate knows.
#[derive(Debug, thiserror::Error)]
pub enum ContextKeyError {
    /// `rolegate:claims/` with nothing after it.
    #[error("`rolegate:claims/` needs a claim name")]
    NoClaimName,
    /// No such key; the message lists the known ones.
    #[error("unknown condition key `{name}`; known keys: {}", KNOWN_KEYS.join(", "))]
    Unknown {
        /// The key as written.
        name: String,
    },
}

impl ContextKey {
    pub fn parse(name: &str) -> Result<ContextKey, ContextKeyError> {
        let lower = name.to_ascii_lowercase();
        if let Some(claim) = lower.strip_prefix("rolegate:claims/") {
            if claim.is_empty() {
                return Err(ContextKeyError::NoClaimName);
            }
            // Claim names keep their case: JWT claim names are case-sensitive.
            return Ok(ContextKey::Claim(
                name["rolegate:claims/".len()..].to_string(),
            ));
        }
        Ok(match lower.as_str() {
            "rolegate:idp" => ContextKey::Idp,
            "rolegate:sub" => ContextKey::Sub,
            "rolegate:email" => ContextKey::Email,
            "rolegate:email_verified" => ContextKey::EmailVerified,
            "rolegate:username" => ContextKey::Username,
            "rolegate:groups" => ContextKey::Groups,
            "rolegate:aud" => ContextKey::Aud,
            "rolegate:azp" => ContextKey::Azp,
            "rolegate:mfa" => ContextKey::Mfa,
            "rolegate:auth_time" => ContextKey::AuthTime,
            "rolegate:client" => ContextKey::Client,
            "aws:sourceip" => ContextKey::SourceIp,
            "aws:currenttime" => ContextKey::CurrentTime,
            "aws:epochtime" => ContextKey::EpochTime,
            _ => {
                return Err(ContextKeyError::Unknown {
                    name: name.to_string(),
                });
            }
        })
    }

    /// The keys of an AWS session that a revocation's Deny tests ([`ContextKey::parse`] does
    /// not know them: the broker decides before a session exists, so in its policies they
    /// would always be missing).
    pub fn parse_aws_session(name: &str) -> Option<ContextKey> {
        match name.to_ascii_lowercase().as_str() {
            "aws:tokenissuetime" => Some(ContextKey::TokenIssueTime),
            "aws:sourceidentity" => Some(ContextKey::SourceIdentity),
            _ => None,
        }
    }

    /// Keys that can hold several values need ForAnyValue:/ForAllValues:.
    pub fn is_multivalued(&self) -> bool {
        matches!(self, ContextKey::Groups | ContextKey::Aud)
    }

    /// Keys every identity has: a negated operator on any other key is true when it is absent.
    pub fn always_present(&self) -> bool {
        matches!(
            self,
            ContextKey::Idp
                | ContextKey::Sub
                | ContextKey::EmailVerified
                | ContextKey::Mfa
                | ContextKey::Client
                | ContextKey::CurrentTime
                | ContextKey::EpochTime
        )
    }

    pub fn values<'a>(&self, ctx: &'a RequestContext<'_>) -> Values<'a> {
        let id = ctx.identity;
        let borrowed =
            |v: Option<&'a str>| v.map_or(Values::Missing, |s| Values::One(Cow::Borrowed(s)));
        let owned = |v: String| Values::One(Cow::Owned(v));
        let flag = |b: bool| Values::One(Cow::Borrowed(if b { "true" } else { "false" }));
        let many = |v: &'a [String]| {
            if v.is_empty() {
                Values::Missing
            } else {
                Values::Many(Cow::Borrowed(v))
            }
        };
        match self {
            ContextKey::Idp => borrowed(Some(id.idp.as_str())),
            ContextKey::Sub => borrowed(Some(&id.subject)),
            ContextKey::Email => borrowed(id.verified_email()),
            ContextKey::EmailVerified => flag(id.email_verified),
            ContextKey::Username => borrowed(id.username.as_deref()),
            ContextKey::Groups => many(&id.groups),
            ContextKey::Aud => many(&id.aud),
            ContextKey::Azp => borrowed(id.azp.as_deref()),
            ContextKey::Mfa => flag(id.mfa),
            ContextKey::AuthTime => id
                .auth_time
                .map_or(Values::Missing, |t| owned(t.to_string())),
            ContextKey::Client => Values::One(Cow::Borrowed(match ctx.client {
                crate::domain::ClientKind::Browser => "browser",
                crate::domain::ClientKind::Cli => "cli",
                crate::domain::ClientKind::Api => "api",
            })),
            ContextKey::SourceIp => ctx
                .source_ip
                .map_or(Values::Missing, |ip| owned(ip.to_string())),
            ContextKey::CurrentTime => owned(crate::clock::rfc3339(ctx.now)),
            ContextKey::EpochTime => owned(
                ctx.now
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    .to_string(),
            ),
            ContextKey::Claim(name) => match id.claims.get(name) {
                None | Some(serde_json::Value::Null) => Values::Missing,
                Some(serde_json::Value::String(s)) => borrowed(Some(s)),
                Some(serde_json::Value::Array(a)) => {
                    let v: Vec<String> = a.iter().filter_map(scalar).collect();
                    if v.is_empty() {
                        Values::Missing
                    } else {
                        Values::Many(Cow::Owned(v))
                    }
                }
                Some(v) => scalar(v).map_or(Values::Missing, owned),
            },
            ContextKey::TokenIssueTime => ctx.aws_session.map_or(Values::Missing, |s| {
                owned(crate::clock::rfc3339(s.token_issue_time))
            }),
            ContextKey::SourceIdentity => ctx
                .aws_session
                .map_or(Values::Missing, |s| borrowed(Some(s.source_identity))),
            ContextKey::Literal => Values::Missing,
        }
    }
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl fmt::Display for ContextKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ContextKey::Idp => "rolegate:idp",
            ContextKey::Sub => "rolegate:sub",
            ContextKey::Email => "rolegate:email",
            ContextKey::EmailVerified => "rolegate:email_verified",
            ContextKey::Username => "rolegate:username",
            ContextKey::Groups => "rolegate:groups",
            ContextKey::Claim(c) => return write!(f, "rolegate:claims/{c}"),
            ContextKey::Aud => "rolegate:aud",
            ContextKey::Azp => "rolegate:azp",
            ContextKey::Mfa => "rolegate:mfa",
            ContextKey::AuthTime => "rolegate:auth_time",
            ContextKey::Client => "rolegate:client",
            ContextKey::SourceIp => "aws:SourceIp",
            ContextKey::CurrentTime => "aws:CurrentTime",
            ContextKey::EpochTime => "aws:EpochTime",
            ContextKey::TokenIssueTime => "aws:TokenIssueTime",
            ContextKey::SourceIdentity => "aws:SourceIdentity",
            ContextKey::Literal => "(literal)",
        };
        f.write_str(s)
    }
}
