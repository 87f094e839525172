//! Condition operators and their evaluation, as IAM defines them ("IAM JSON policy elements:
//! Condition operators" and "Single-valued vs. multivalued context keys"):
//! - values of one key OR together for positive operators, NOR for negated ones;
//! - `ForAnyValue:` needs one request value to satisfy the operator, `ForAllValues:` needs all
//!   (and is true for a missing or empty key); without a set operator a negated operator is
//!   true for a missing key and a positive one false;
//! - `…IfExists` is true when the key is missing; `Null` tests presence.

use super::context::{ContextKey, ContextKeyError, Values};
use super::pattern::{Template, TemplateError, Tok, compile, matches};
use crate::policy::RequestContext;
use ipnet::IpNet;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// A policy value, parsed once at load when it has no variables.
#[derive(Debug, Clone)]
pub enum Parsed {
    Text(String),
    Pattern(Vec<Tok>),
    Number(f64),
    Date(i64),
    Net(IpNet),
    Flag(bool),
    /// Holds variables: expanded and parsed per request.
    Dynamic,
}

#[derive(Debug, Clone)]
pub struct PolicyValue {
    pub template: Template,
    pub parsed: Parsed,
}

#[derive(Debug, Clone)]
pub struct Condition {
    /// The operator as written (`ForAnyValue:StringEquals`), for explanations and lint.
    pub operator: String,
    pub base: Base,
    pub negated: bool,
    pub set: SetOp,
    pub if_exists: bool,
    pub key: ContextKey,
    pub values: Vec<PolicyValue>,
}

const OPERATORS: &[(&str, Base, bool)] = &[
    ("StringEquals", Base::StringEquals, false),
    ("StringNotEquals", Base::StringEquals, true),
    (
        "StringEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        false,
    ),
    (
        "StringNotEqualsIgnoreCase",
        Base::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Base::StringLike, false),
    ("StringNotLike", Base::StringLike, true),
    ("NumericEquals", Base::NumericEquals, false),
    ("NumericNotEquals", Base::NumericEquals, true),
    ("NumericLessThan", Base::NumericLessThan, false),
    ("NumericLessThanEquals", Base::NumericLessThanEquals, false),
    ("NumericGreaterThan", Base::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Base::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Base::DateEquals, false),
    ("DateNotEquals", Base::DateEquals, true),
    ("DateLessThan", Base::DateLessThan, false),
    ("DateLessThanEquals", Base::DateLessThanEquals, false),
    ("DateGreaterThan", Base::DateGreaterThan, false),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals, false),
    ("Bool", Base::Bool, false),
    ("IpAddress", Base::IpAddress, false),
    ("NotIpAddress", Base::IpAddress, true),
    ("ArnEquals", Base::Arn, false),
    ("ArnLike", Base::Arn, false),
    ("ArnNotEquals", Base::Arn, true),
    ("ArnNotLike", Base::Arn, true),
    ("Null", Base::Null, false),
];

/// A condition that does not parse; each text names the operator (and key or value) as
/// written.
#[derive(Debug, thiserror::Error)]
pub enum ConditionError {
    /// No such operator.
    #[error("unknown condition operator `{operator}`")]
    UnknownOperator {
        /// As written.
        operator: String,
    },
    /// `Null` with `IfExists` or `ForAnyValue:`/`ForAllValues:`.
    #[error("`{operator}`: Null takes neither IfExists nor a set operator")]
    NullModified {
        /// As written.
        operator: String,
    },
    /// The key is unknown.
    #[error(transparent)]
    Key(#[from] ContextKeyError),
    /// A multivalued key without a set operator.
    #[error(
        "`{key}` can hold several values: use ForAnyValue:{name} or ForAllValues:{name} (IAM: multivalued keys need a set operator)"
    )]
    NeedsSetOperator {
        /// The key.
        key: ContextKey,
        /// The operator without its set and IfExists parts.
        name: String,
    },
    /// An empty value list.
    #[error("`{operator}` on `{key}` lists no values")]
    NoValues {
        /// As written.
        operator: String,
        /// The key.
        key: ContextKey,
    },
    /// A value that is not a valid template.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A policy variable in a Numeric, Date, IpAddress or Null operator.
    #[error(
        "`{operator}` takes no policy variables (IAM: variables only in String, Arn and Bool operators)"
    )]
    VariableInTypedOperator {
        /// As written.
        operator: String,
    },
    /// A value the operator cannot compare with.
    #[error("`{operator}` value `{raw}`: {problem}")]
    BadValue {
        /// As written.
        operator: String,
        /// The value as written.
        raw: String,
        /// What is wrong with it.
        problem: ValueError,
    },
}

/// A literal value of the wrong type for its operator.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// Not a number (Numeric operators).
    #[error("not a number")]
    Number,
    /// Not a date (Date operators).
    #[error("not a date (ISO 8601 / RFC 3339, or epoch seconds)")]
    Date,
    /// Not `true` or `false` (Bool and Null).
    #[error("not true or false")]
    Flag,
    /// Not an address or CIDR block (IpAddress and NotIpAddress).
    #[error("not an IP address or CIDR block")]
    Net,
}

impl Condition {
    /// `operator` as written in the policy; `key` and `values` from its block.
    pub fn parse(
        operator: &str,
        key: &str,
        raw_values: &[String],
    ) -> Result<Condition, ConditionError> {
        Self::parse_keyed(operator, ContextKey::parse(key)?, raw_values)
    }

    /// As [`Condition::parse`], with the key already resolved (the revocation proof's AWS
    /// session keys come this way).
    pub fn parse_keyed(
        operator: &str,
        key: ContextKey,
        raw_values: &[String],
    ) -> Result<Condition, ConditionError> {
        let (set, rest) = if let Some(r) = strip_ci(operator, "ForAnyValue:") {
            (SetOp::ForAnyValue, r)
        } else if let Some(r) = strip_ci(operator, "ForAllValues:") {
            (SetOp::ForAllValues, r)
        } else {
            (SetOp::Single, operator)
        };
        let (name, if_exists) = match rest.len().checked_sub("IfExists".len()) {
            Some(i) if rest.is_char_boundary(i) && rest[i..].eq_ignore_ascii_case("IfExists") => {
                (&rest[..i], true)
            }
            _ => (rest, false),
        };
        let &(_, base, negated) = OPERATORS
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| ConditionError::UnknownOperator {
                operator: operator.to_string(),
            })?;
        if base == Base::Null && (if_exists || set != SetOp::Single) {
            return Err(ConditionError::NullModified {
                operator: operator.to_string(),
            });
        }
        if key.is_multivalued() && set == SetOp::Single && base != Base::Null {
            return Err(ConditionError::NeedsSetOperator {
                key,
                name: name.to_string(),
            });
        }
        if raw_values.is_empty() {
            return Err(ConditionError::NoValues {
                operator: operator.to_string(),
                key,
            });
        }
        let mut values = Vec::with_capacity(raw_values.len());
        for raw in raw_values {
            let template = Template::parse(raw)?;
            // IAM: "You can not use a policy variable with the Numeric, Date, IpAddress or Null
            // condition operator" (Bool likewise has nothing to substitute into).
            let typed = !matches!(
                base,
                Base::StringEquals
                    | Base::StringEqualsIgnoreCase
                    | Base::StringLike
                    | Base::Arn
                    | Base::Bool
            );
            if typed && template.has_vars() {
                return Err(ConditionError::VariableInTypedOperator {
                    operator: operator.to_string(),
                });
            }
            let parsed = match template.as_text() {
                Some(text) => {
                    parse_value(base, text).map_err(|problem| ConditionError::BadValue {
                        operator: operator.to_string(),
                        raw: raw.clone(),
                        problem,
                    })?
                }
                None => Parsed::Dynamic, // variables or escapes: expanded per request
            };
            values.push(PolicyValue { template, parsed });
        }
        Ok(Condition {
            operator: operator.to_string(),
            base,
            negated,
            set,
            if_exists,
            key,
            values,
        })
    }

    /// Whether the condition holds for this request.
    pub fn holds(&self, ctx: &RequestContext<'_>) -> bool {
        let request = self.key.values(ctx);
        if self.base == Base::Null {
            // Null: "true" means the key must be absent, "false" present. Values OR together.
            let absent = request.is_missing();
            return self
                .values
                .iter()
                .any(|v| matches!(v.parsed, Parsed::Flag(f) if f == absent));
        }
        if request.is_missing() {
            if self.if_exists {
                return true;
            }
            return match self.set {
                SetOp::ForAllValues => true,
                SetOp::ForAnyValue => false,
                SetOp::Single => self.negated,
            };
        }
        // Policy values with unresolvable variables drop out; with none left the comparison
        // cannot be made and the condition is false, for negated operators too (IAM).
        let resolved: Vec<Parsed> = self.resolved_values(ctx);
        if resolved.is_empty() {
            return false;
        }
        let m = |v: &str| resolved.iter().any(|p| compare(self.base, v, p));
        let mut values = request.iter();
        match (self.set, self.negated) {
            (SetOp::Single, false) | (SetOp::ForAnyValue, false) => values.any(m),
            (SetOp::Single, true) => !values.any(m),
            (SetOp::ForAnyValue, true) => values.any(|v| !m(v)),
            (SetOp::ForAllValues, false) => values.all(m),
            (SetOp::ForAllValues, true) => values.all(|v| !m(v)),
        }
    }

    fn resolved_values(&self, ctx: &RequestContext<'_>) -> Vec<Parsed> {
        self.values
            .iter()
            .filter_map(|v| match &v.parsed {
                Parsed::Dynamic => match self.base {
                    Base::StringLike | Base::Arn => v.template.pattern(ctx).map(Parsed::Pattern),
                    _ => v
                        .template
                        .expand(ctx)
                        .and_then(|t| parse_value(self.base, &t).ok()),
                },
                p => Some(p.clone()),
            })
            .collect()
    }

    /// The request's value(s) of the key, for explanations.
    pub fn request_values(&self, ctx: &RequestContext<'_>) -> Values<'static> {
        match self.key.values(ctx) {
            Values::Missing => Values::Missing,
            Values::One(v) => Values::One(v.into_owned().into()),
            Values::Many(v) => Values::Many(v.into_owned().into()),
        }
    }
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

fn parse_value(base: Base, text: &str) -> Result<Parsed, ValueError> {
    Ok(match base {
        Base::StringEquals => Parsed::Text(text.to_string()),
        Base::StringEqualsIgnoreCase => Parsed::Text(text.to_lowercase()),
        Base::StringLike | Base::Arn => Parsed::Pattern(compile(text)),
        Base::NumericEquals
        | Base::NumericLessThan
        | Base::NumericLessThanEquals
        | Base::NumericGreaterThan
        | Base::NumericGreaterThanEquals => Parsed::Number(number(text).ok_or(ValueError::Number)?),
        Base::DateEquals
        | Base::DateLessThan
        | Base::DateLessThanEquals
        | Base::DateGreaterThan
        | Base::DateGreaterThanEquals => Parsed::Date(date(text).ok_or(ValueError::Date)?),
        Base::Bool | Base::Null => Parsed::Flag(flag(text).ok_or(ValueError::Flag)?),
        Base::IpAddress => Parsed::Net(net(text).ok_or(ValueError::Net)?),
    })
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Epoch seconds, or one of the W3C profiles of ISO 8601 that IAM accepts (Date condition
/// operators): `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mmTZD`,
/// `YYYY-MM-DDThh:mm:ssTZD`, `YYYY-MM-DDThh:mm:ss.sTZD`, where TZD is `Z` or `±hh:mm`. A bare
/// integer is epoch seconds.
fn date(s: &str) -> Option<i64> {
    static W3C: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$")
            .expect("static regex")
    });
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let c = W3C.captures(s)?;
    let num = |i: usize, default: i64| {
        c.get(i)
            .map_or(Some(default), |m| m.as_str().parse::<i64>().ok())
    };
    let (y, mo, d) = (num(1, 0)?, num(2, 1)?, num(3, 1)?);
    let (h, mi, sec) = (num(4, 0)?, num(5, 0)?, num(6, 0)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let offset = match c.get(7).map(|m| m.as_str()) {
        None | Some("Z") => 0,
        Some(z) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let (oh, om) = (z[1..3].parse::<i64>().ok()?, z[4..6].parse::<i64>().ok()?);
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn flag(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn net(s: &str) -> Option<IpNet> {
    s.trim()
        .parse::<IpNet>()
        .ok()
        .or_else(|| s.trim().parse::<IpAddr>().ok().map(IpNet::from))
}

/// ARNs compare component by component: six `:`-separated parts (the last may hold `:`),
/// each with its own wildcards, so `*` never spans a partition or account boundary.
fn arn_matches(pattern: &[Tok], value: &str) -> bool {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    if parts.len() != 6 {
        return false;
    }
    let mut segs: Vec<&[Tok]> = Vec::with_capacity(6);
    let mut start = 0;
    for (i, t) in pattern.iter().enumerate() {
        if *t == Tok::Lit(':') && segs.len() < 5 {
            segs.push(&pattern[start..i]);
            start = i + 1;
        }
    }
    segs.push(&pattern[start..]);
    segs.len() == 6 && segs.iter().zip(parts).all(|(p, v)| matches(p, v, false))
}

fn compare(base: Base, request: &str, policy: &Parsed) -> bool {
    match (base, policy) {
        (Base::StringEquals, Parsed::Text(p)) => request == p,
        (Base::StringEqualsIgnoreCase, Parsed::Text(p)) => request.to_lowercase() == *p,
        (Base::StringEqualsIgnoreCase, Parsed::Pattern(_)) => false,
        (Base::StringLike, Parsed::Pattern(p)) => matches(p, request, false),
        (Base::Arn, Parsed::Pattern(p)) => arn_matches(p, request),
        (Base::Bool, Parsed::Flag(p)) => flag(request) == Some(*p),
        (Base::IpAddress, Parsed::Net(n)) => {
            request.parse::<IpAddr>().is_ok_and(|ip| n.contains(&ip))
        }
        (b, Parsed::Number(p)) => number(request).is_some_and(|r| match b {
            Base::NumericEquals => r == *p,
            Base::NumericLessThan => r < *p,
            Base::NumericLessThanEquals => r <= *p,
            Base::NumericGreaterThan => r > *p,
            Base::NumericGreaterThanEquals => r >= *p,
            _ => false,
        }),
        (b, Parsed::Date(p)) => date(request).is_some_and(|r| match b {
            Base::DateEquals => r == *p,
            Base::DateLessThan => r < *p,
            Base::DateLessThanEquals => r <= *p,
            Base::DateGreaterThan => r > *p,
            Base::DateGreaterThanEquals => r >= *p,
            _ => false,
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn w3c_dates() {
        assert_eq!(date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(date("2026-11-22T12:00:00Z"), Some(1_795_348_800));
        assert_eq!(date("2026-11-22T14:00:00+02:00"), Some(1_795_348_800));
        assert_eq!(date("2026-11-22T12:00Z"), Some(1_795_348_800));
        assert_eq!(date("2026-11-22T12:00:00.123Z"), Some(1_795_348_800));
        assert_eq!(date("2026-11-22"), Some(1_795_305_600));
        assert_eq!(date("2026-11"), date("2026-11-01"));
        // A bare number is epoch time, even with four digits (the YYYY profile loses to it).
        assert_eq!(date("2026"), Some(2026));
        assert_eq!(date("1795348800"), Some(1_795_348_800));
        for bad in [
            "2026-13-01",
            "2026-11-22T12:00:00",
            "yesterday",
            "2026-11-22 12:00:00Z",
            "2026-11-22T25:00Z",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }
}
