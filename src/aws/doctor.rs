//! `rolegate doctor`'s checks of one role as IAM describes it, against what the broker needs
//! (`needs`) and whom the role must trust (`trust::Trustee`). Pure: `iam` reads the facts.
//!
//! The checks are the mistakes that break federation in practice: a trust policy that names
//! someone else (or everyone), a web identity trust that pins the audience but not `sub`
//! (every token of the issuer then opens every trusting role), `SetSourceIdentity` or
//! `TagSession` missing, a `MaxSessionDuration` below the longest grant, and no room left
//! under IAM's aggregate inline-policy limit. Deny statements in a trust policy are not read:
//! they can only refuse more, which STS reports when a session is asked for.

use super::needs::RoleNeeds;
use super::trust::Trustee;
use crate::domain::RoleArn;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// IAM's limit on the aggregate size of a role's inline policies, whitespace excluded (IAM
/// and STS quotas: "Role policy size").
pub(crate) const INLINE_POLICY_LIMIT: usize = 10_240;
/// Room a role should keep under that limit for the broker's own inline policy (the
/// `rolegate-revocations` deny list the IAM revocation writer maintains): below this, a
/// revocation could fail for want of space.
pub(crate) const INLINE_POLICY_RESERVE: usize = 2_048;

/// One role as IAM describes it.
#[derive(Debug, Clone)]
pub(crate) struct RoleFacts {
    /// The ARN IAM reports (its path may differ from the catalogue's).
    pub(crate) arn: String,
    /// The trust policy, decoded JSON.
    pub(crate) trust_policy: Value,
    /// `MaxSessionDuration`.
    pub(crate) max_session: Duration,
    /// Inline policy documents (decoded text), by name.
    pub(crate) inline_policies: Vec<(String, String)>,
}

/// One thing wrong, with the one-line fix.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Finding {
    /// A stable name: `trust_principal`, `oidc_provider`, `sub_aud_pinned`,
    /// `roles_claim_required`, `set_source_identity`, `tag_session`, `max_session_duration`,
    /// `inline_policy_size`, `role_arn`, `role_exists`, `issuer_discovery`, `issuer_jwks`.
    pub(crate) check: &'static str,
    /// What is wrong, for a person.
    pub(crate) message: String,
    /// What to do about it, in one line.
    pub(crate) fix: String,
}

/// Whitespace-free characters of a role's inline policies, as IAM counts them.
pub(crate) fn inline_policy_chars(facts: &RoleFacts) -> usize {
    facts
        .inline_policies
        .iter()
        .map(|(_, doc)| doc.chars().filter(|c| !c.is_whitespace()).count())
        .sum()
}

/// Every finding for one role; empty when it is right. `fix_trust` is the one-line fix for a
/// trust policy problem (the command that prints the right one).
pub(crate) fn check(
    role: &RoleArn,
    facts: &RoleFacts,
    needs: &RoleNeeds,
    trustee: &Trustee,
    fix_trust: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut finding = |check, message: String, fix: String| {
        out.push(Finding {
            check,
            message,
            fix,
        });
    };
    if facts.arn != role.as_str() {
        finding(
            "role_arn",
            format!(
                "IAM names this role {}, the catalogue {}: STS would be asked for a role that does not exist",
                facts.arn, role
            ),
            format!("set the [[role]] arn to {}", facts.arn),
        );
    }
    let statements = allow_statements(&facts.trust_policy);
    let (expected, main_action) = match trustee {
        Trustee::Broker { principal } => (Principal::Aws(principal.clone()), "sts:AssumeRole"),
        Trustee::Issuer(p) => (
            Principal::Federated(p.arn_for(role)),
            "sts:AssumeRoleWithWebIdentity",
        ),
    };
    let main: Vec<&Value> = statements
        .iter()
        .copied()
        .filter(|s| allows(s, main_action))
        .collect();
    let ours: Vec<&Value> = main
        .iter()
        .copied()
        .filter(|s| names(s, &expected))
        .collect();
    if main.iter().any(|s| trusts_everyone(s)) {
        finding(
            "trust_principal",
            format!("the trust policy allows {main_action} to every principal"),
            fix_trust.to_string(),
        );
    } else if ours.is_empty() {
        finding(
            "trust_principal",
            format!(
                "the trust policy does not allow {main_action} to {}",
                expected.arn()
            ),
            fix_trust.to_string(),
        );
    }
    if let Trustee::Issuer(p) = trustee {
        // Statements are OR'ed: one unpinned statement is enough to open the role.
        let sub_key = format!("{}:sub", p.host_path);
        let aud_key = format!("{}:aud", p.host_path);
        let unpinned = ours.iter().any(|s| {
            condition_values(s, "StringEquals", &sub_key) != Some(vec![role.to_string()])
                || !condition_values(s, "StringEquals", &aud_key)
                    .is_some_and(|v| v.contains(&p.audience))
        });
        if unpinned {
            finding(
                "sub_aud_pinned",
                format!(
                    "a statement trusting the issuer does not pin StringEquals {aud_key} = {} and {sub_key} = this role's ARN: any token of the issuer could open this role",
                    p.audience
                ),
                fix_trust.to_string(),
            );
        }
        let unbound = ours.iter().any(|s| {
            condition_values(s, "Bool", "sts:RoleAuthorizedByIdp") != Some(vec!["true".into()])
        });
        if unbound {
            finding(
                "roles_claim_required",
                "a statement trusting the issuer does not require Bool sts:RoleAuthorizedByIdp = true (tokens without the https://aws.amazon.com/roles claim)".into(),
                fix_trust.to_string(),
            );
        }
    }
    if !statements
        .iter()
        .any(|s| names(s, &expected) && allows(s, "sts:SetSourceIdentity"))
    {
        finding(
            "set_source_identity",
            format!(
                "sts:SetSourceIdentity is not allowed to {}: the broker always sets one, so every session is refused",
                expected.arn()
            ),
            fix_trust.to_string(),
        );
    }
    if !needs.tags.is_empty()
        && !statements
            .iter()
            .any(|s| names(s, &expected) && allows(s, "sts:TagSession"))
    {
        finding(
            "tag_session",
            format!(
                "the policy sets session tags ({}) but sts:TagSession is not allowed to {}",
                needs.tags.keys().cloned().collect::<Vec<_>>().join(", "),
                expected.arn()
            ),
            fix_trust.to_string(),
        );
    }
    if facts.max_session < needs.longest_session {
        finding(
            "max_session_duration",
            format!(
                "MaxSessionDuration is {} s, below the longest grant ({} s): STS refuses longer sessions",
                facts.max_session.as_secs(),
                needs.longest_session.as_secs()
            ),
            format!(
                "aws iam update-role --role-name {} --max-session-duration {}",
                role.name(),
                needs.longest_session.as_secs().max(3600)
            ),
        );
    }
    let used = inline_policy_chars(facts);
    let left = INLINE_POLICY_LIMIT.saturating_sub(used);
    if left < INLINE_POLICY_RESERVE {
        finding(
            "inline_policy_size",
            format!(
                "{left} of IAM's {INLINE_POLICY_LIMIT} inline-policy characters left (the broker keeps {INLINE_POLICY_RESERVE} for its revocation policy)"
            ),
            format!(
                "move inline policies of {} into managed policies (aws iam put-role-policy / attach-role-policy)",
                role.name()
            ),
        );
    }
    out
}

/// The IAM OIDC provider a `web_identity` role trusts must exist in its account and list the
/// broker's audience as a client ID: else STS refuses every token before any trust policy.
/// `audiences` is None when IAM has no such provider.
pub(crate) fn provider_findings(
    provider_arn: &str,
    audiences: Option<&[String]>,
    audience: &str,
    fix: &str,
) -> Vec<Finding> {
    let message = match audiences {
        None => format!("IAM has no OIDC provider {provider_arn}: STS refuses every token"),
        Some(a) if !a.iter().any(|c| c == audience) => format!(
            "the OIDC provider {provider_arn} does not list the audience {audience} as a client ID: STS refuses every token"
        ),
        Some(_) => return Vec::new(),
    };
    vec![Finding {
        check: "oidc_provider",
        message,
        fix: fix.to_string(),
    }]
}

/// The `Allow` statements of a policy document (a single statement object counts as one).
fn allow_statements(doc: &Value) -> Vec<&Value> {
    let all: Vec<&Value> = match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        o @ Value::Object(_) => vec![o],
        _ => Vec::new(),
    };
    all.into_iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .collect()
}

/// A string or an array of strings, as IAM writes both.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the statement's Action (IAM wildcards, case-insensitive) covers `action`.
fn allows(statement: &Value, action: &str) -> bool {
    strings(&statement["Action"])
        .iter()
        .any(|pattern| glob(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase()))
}

/// IAM's `*` and `?` wildcards.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

enum Principal {
    Aws(String),
    Federated(String),
}

impl Principal {
    fn arn(&self) -> &str {
        match self {
            Principal::Aws(a) | Principal::Federated(a) => a,
        }
    }
}

fn names(statement: &Value, expected: &Principal) -> bool {
    let p = &statement["Principal"];
    let (kind, arn) = match expected {
        Principal::Aws(a) => ("AWS", a),
        Principal::Federated(a) => ("Federated", a),
    };
    strings(&p[kind]).iter().any(|v| v == arn)
}

fn trusts_everyone(statement: &Value) -> bool {
    let p = &statement["Principal"];
    p.as_str() == Some("*") || strings(&p["AWS"]).iter().any(|v| v == "*")
}

/// The values of condition `operator` / `key` (keys compare case-insensitively, as in IAM).
fn condition_values(statement: &Value, operator: &str, key: &str) -> Option<Vec<String>> {
    let block = statement["Condition"]
        .as_object()?
        .get(operator)?
        .as_object()?;
    block
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| strings(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::needs::TagValues;
    use crate::aws::trust::{OidcProvider, trust_policy};
    use serde_json::json;
    use std::collections::{BTreeMap, BTreeSet};

    const ROLE: &str = "arn:aws:iam::123456789012:role/ReadOnly";

    fn needs(tags: bool) -> RoleNeeds {
        let mut t = BTreeMap::new();
        if tags {
            t.insert("team".to_string(), TagValues::FromIdentity);
        }
        RoleNeeds {
            tags: t,
            transitive_tag_keys: BTreeSet::new(),
            longest_session: Duration::from_secs(4 * 3600),
        }
    }

    fn web() -> Trustee {
        Trustee::Issuer(OidcProvider {
            url: "https://idp.example.com/rg".into(),
            host_path: "idp.example.com/rg".into(),
            audience: "rolegate-prod".into(),
        })
    }

    fn facts(trust: Value) -> RoleFacts {
        RoleFacts {
            arn: ROLE.into(),
            trust_policy: trust,
            max_session: Duration::from_secs(4 * 3600),
            inline_policies: Vec::new(),
        }
    }

    fn checks(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.check).collect()
    }

    #[test]
    fn the_generated_trust_policy_passes_every_check_in_both_modes() {
        let role = RoleArn::parse(ROLE).unwrap();
        let broker = Trustee::Broker {
            principal: "arn:aws:iam::111122223333:user/rolegate".into(),
        };
        for t in [broker, web()] {
            let n = needs(true);
            let p = trust_policy(&role, &n, &t).unwrap();
            assert_eq!(check(&role, &facts(p), &n, &t, "fix"), [], "{t:?}");
        }
    }

    #[test]
    fn audience_only_pinning_lets_every_token_of_the_issuer_open_the_role() {
        let role = RoleArn::parse(ROLE).unwrap();
        let p = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/idp.example.com/rg"},
            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:SetSourceIdentity"],
            "Condition": {"StringEquals": {"idp.example.com/rg:aud": "rolegate-prod"}}}]});
        let f = check(&role, &facts(p), &needs(false), &web(), "fix");
        assert_eq!(checks(&f), ["sub_aud_pinned", "roles_claim_required"]);
    }

    #[test]
    fn a_trust_policy_open_to_every_principal_is_a_finding() {
        let role = RoleArn::parse(ROLE).unwrap();
        let t = Trustee::Broker {
            principal: "arn:aws:iam::111122223333:user/rolegate".into(),
        };
        let p =
            json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:*"}});
        let f = check(&role, &facts(p), &needs(false), &t, "fix");
        assert_eq!(checks(&f), ["trust_principal", "set_source_identity"]);
    }

    #[test]
    fn missing_tag_session_short_max_session_and_full_inline_policies_are_findings() {
        let role = RoleArn::parse(ROLE).unwrap();
        let t = Trustee::Broker {
            principal: "arn:aws:iam::111122223333:user/rolegate".into(),
        };
        let p = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::111122223333:user/rolegate"]},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}]});
        let mut fa = facts(p);
        fa.max_session = Duration::from_secs(3600);
        fa.inline_policies = vec![("big".into(), format!("{{\"x\": \"{}\"}}", "a".repeat(9000)))];
        let f = check(&role, &fa, &needs(true), &t, "fix");
        assert_eq!(
            checks(&f),
            ["tag_session", "max_session_duration", "inline_policy_size"]
        );
        assert!(f[1].fix.contains("--max-session-duration 14400"), "{f:?}");
    }

    #[test]
    fn a_missing_provider_or_one_without_the_audience_refuses_every_token() {
        let arn = "arn:aws:iam::123456789012:oidc-provider/idp.example.com/rg";
        let aud = ["rolegate-prod".to_string()];
        let other = ["someone-else".to_string()];
        assert!(provider_findings(arn, Some(&aud), "rolegate-prod", "fix").is_empty());
        for f in [
            provider_findings(arn, None, "rolegate-prod", "fix"),
            provider_findings(arn, Some(&other), "rolegate-prod", "fix"),
        ] {
            assert_eq!(checks(&f), ["oidc_provider"]);
        }
    }

    #[test]
    fn iam_wildcards_in_actions() {
        assert!(glob("sts:*", "sts:assumerole"));
        assert!(glob("sts:assumerole*", "sts:assumerolewithwebidentity"));
        assert!(glob("*", "sts:tagsession"));
        assert!(!glob("sts:assumerole", "sts:assumerolewithwebidentity"));
        assert!(glob("sts:tag?ession", "sts:tagsession"));
    }
}
