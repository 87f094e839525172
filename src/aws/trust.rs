//! The trust policy each catalogue role needs for the configured mode, and the IAM OIDC
//! provider registration for `web_identity` mode. Pure functions: the caller finds the broker's
//! principal (STS GetCallerIdentity) and the role's needs (`needs`).
//!
//! Both modes pin the role to this broker alone: `assume_role` names the broker's own principal
//! (never its account), `web_identity` pins `<issuer>:aud` to the deployment's audience,
//! `<issuer>:sub` to the role's own ARN, and requires the `https://aws.amazon.com/roles` claim
//! (`sts:RoleAuthorizedByIdp`), so a token minted for one role opens no other.

use super::needs::{RoleNeeds, TagValues};
use crate::config::{AwsMode, IssuerConfig};
use crate::domain::RoleArn;
use serde_json::{Map, Value, json};

/// Why a trust policy cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TrustError {
    /// The caller identity is no principal a trust policy can name.
    #[error(
        "`{0}` cannot be named in a trust policy: run the broker as an IAM user or role (or pass --broker-principal)"
    )]
    UnsupportedPrincipal(String),
    /// A principal of one partition can never assume a role of another.
    #[error(
        "partition mismatch: role {role} is in `{role_partition}` but the broker's principal {principal} is in `{principal_partition}`; a role can only trust principals of its own partition"
    )]
    PartitionMismatch {
        role: String,
        role_partition: String,
        principal: String,
        principal_partition: String,
    },
    /// AWS fetches discovery and keys from the issuer over https only.
    #[error("issuer url `{0}` is not https://: IAM OIDC providers are https only")]
    IssuerNotHttps(String),
    /// `web_identity` mode without `[issuer]` (the config loader refuses it; kept total here).
    #[error("web_identity mode needs an [issuer] section")]
    NoIssuer,
}

/// Who the role must trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trustee {
    /// `assume_role`: the broker's own IAM principal.
    Broker {
        /// An IAM user or role ARN.
        principal: String,
    },
    /// `web_identity`: the IAM OIDC provider for the broker's issuer.
    Issuer(OidcProvider),
}

/// The IAM OIDC provider AWS needs for the broker's issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OidcProvider {
    /// The issuer URL, as AWS registers it (no trailing slash).
    pub(crate) url: String,
    /// Host and path of the issuer: the prefix of its condition keys (`<this>:aud`).
    pub(crate) host_path: String,
    /// The `aud` of every token the broker signs: the provider's client ID.
    pub(crate) audience: String,
}

impl OidcProvider {
    /// The provider for `[issuer]`, refusing anything but https.
    pub(crate) fn from_issuer(issuer: &IssuerConfig) -> Result<OidcProvider, TrustError> {
        let url = issuer.url.as_str().trim_end_matches('/').to_string();
        let Some(host_path) = url.strip_prefix("https://") else {
            return Err(TrustError::IssuerNotHttps(url));
        };
        Ok(OidcProvider {
            host_path: host_path.to_string(),
            url: url.clone(),
            audience: issuer.audience.clone(),
        })
    }

    /// The provider's ARN in the account and partition of `role`.
    pub(crate) fn arn_for(&self, role: &RoleArn) -> String {
        format!(
            "arn:{}:iam::{}:oidc-provider/{}",
            role.partition(),
            role.account(),
            self.host_path
        )
    }

    /// `rolegate aws oidc-provider`: what to register, with the command that does it.
    pub(crate) fn registration(&self) -> Value {
        json!({
            "Url": self.url,
            "ClientIDList": [self.audience],
            "ConditionKeyPrefix": self.host_path,
            "Command": format!(
                "aws iam create-open-id-connect-provider --url {} --client-id-list {}",
                self.url, self.audience
            ),
        })
    }
}

/// The trustee for the configured mode: `caller` is the broker's GetCallerIdentity ARN
/// (`assume_role`), unused in `web_identity`.
pub(crate) fn trustee(
    mode: AwsMode,
    issuer: Option<&IssuerConfig>,
    caller: Option<&str>,
) -> Result<Trustee, TrustError> {
    match mode {
        AwsMode::AssumeRole => Ok(Trustee::Broker {
            principal: principal_from_caller(caller.unwrap_or_default())?,
        }),
        AwsMode::WebIdentity => Ok(Trustee::Issuer(OidcProvider::from_issuer(
            issuer.ok_or(TrustError::NoIssuer)?,
        )?)),
    }
}

/// The IAM principal behind a GetCallerIdentity ARN. An assumed-role session is named by its
/// role (`arn:…:sts::A:assumed-role/R/session` → `arn:…:iam::A:role/R`): a session ARN in a
/// trust policy would stop matching at the next session. IAM users stay as they are.
pub(crate) fn principal_from_caller(arn: &str) -> Result<String, TrustError> {
    let bad = || TrustError::UnsupportedPrincipal(arn.to_string());
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, service, _, account, resource] = parts[..] else {
        return Err(bad());
    };
    match service {
        "iam" if resource.starts_with("user/") || resource.starts_with("role/") => {
            Ok(arn.to_string())
        }
        "sts" => {
            let role = resource
                .strip_prefix("assumed-role/")
                .and_then(|r| r.split('/').next())
                .filter(|r| !r.is_empty())
                .ok_or_else(bad)?;
            Ok(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        _ => Err(bad()),
    }
}

fn partition_of(arn: &str) -> &str {
    arn.split(':').nth(1).unwrap_or_default()
}

/// The trust policy `role` needs so the broker can issue its sessions, and nothing more.
pub(crate) fn trust_policy(
    role: &RoleArn,
    needs: &RoleNeeds,
    trustee: &Trustee,
) -> Result<Value, TrustError> {
    let (principal, main_action, mut base) = match trustee {
        Trustee::Broker { principal } => {
            if partition_of(principal) != role.partition() {
                return Err(TrustError::PartitionMismatch {
                    role: role.to_string(),
                    role_partition: role.partition().to_string(),
                    principal: principal.clone(),
                    principal_partition: partition_of(principal).to_string(),
                });
            }
            (json!({"AWS": principal}), "sts:AssumeRole", Map::new())
        }
        Trustee::Issuer(p) => {
            let mut base = Map::new();
            base.insert(
                "StringEquals".into(),
                json!({
                    format!("{}:aud", p.host_path): p.audience,
                    format!("{}:sub", p.host_path): role.as_str(),
                }),
            );
            (
                json!({"Federated": p.arn_for(role)}),
                "sts:AssumeRoleWithWebIdentity",
                base,
            )
        }
    };
    let tag_conditions = tag_conditions(needs, &base);
    if matches!(trustee, Trustee::Issuer(_)) {
        // STS refuses a token without the roles claim, or naming another role, for this role.
        base.insert("Bool".into(), json!({"sts:RoleAuthorizedByIdp": "true"}));
    }
    // The broker always sets `<idp>.<subject>` (a token carries it as a claim).
    let mut main_conditions = base;
    main_conditions.insert("StringLike".into(), json!({"sts:SourceIdentity": "*.*"}));
    let mut statements = vec![json!({
        "Sid": "RolegateOnlyWithSourceIdentity",
        "Effect": "Allow",
        "Principal": principal,
        "Action": [main_action, "sts:SetSourceIdentity"],
        "Condition": main_conditions,
    })];
    if let Some(conditions) = tag_conditions {
        statements.push(json!({
            "Sid": "RolegateSessionTags",
            "Effect": "Allow",
            "Principal": principal,
            "Action": "sts:TagSession",
            "Condition": conditions,
        }));
    }
    Ok(json!({"Version": "2012-10-17", "Statement": statements}))
}

/// `sts:TagSession`'s conditions, when the policy sets tags: only the keys it sets, only the
/// transitive keys it marks, and the literal values where every grant uses literals. A
/// separate statement, so AssumeRole requests without tags are not held to them.
fn tag_conditions(needs: &RoleNeeds, base: &Map<String, Value>) -> Option<Map<String, Value>> {
    if needs.tags.is_empty() {
        return None;
    }
    let mut c = base.clone();
    let keys: Vec<&String> = needs.tags.keys().collect();
    let mut for_all = json!({"aws:TagKeys": keys});
    if !needs.transitive_tag_keys.is_empty() {
        for_all["sts:TransitiveTagKeys"] = json!(needs.transitive_tag_keys);
    }
    c.insert("ForAllValues:StringEquals".into(), for_all);
    let fixed: Map<String, Value> = needs
        .tags
        .iter()
        .filter_map(|(k, v)| match v {
            TagValues::Fixed(values) => Some((format!("aws:RequestTag/{k}"), json!(values))),
            TagValues::FromIdentity => None,
        })
        .collect();
    if !fixed.is_empty() {
        // IfExists: a grant that sets only some of the keys still passes.
        c.insert("StringEqualsIfExists".into(), Value::Object(fixed));
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    fn arn(s: &str) -> RoleArn {
        RoleArn::parse(s).unwrap()
    }

    fn plain() -> RoleNeeds {
        RoleNeeds {
            tags: BTreeMap::new(),
            transitive_tag_keys: BTreeSet::new(),
            longest_session: Duration::from_secs(3600),
        }
    }

    #[test]
    fn an_assumed_role_session_is_trusted_by_its_role_never_by_the_session() {
        assert_eq!(
            principal_from_caller("arn:aws:sts::111122223333:assumed-role/rolegate-broker/i-0abc")
                .unwrap(),
            "arn:aws:iam::111122223333:role/rolegate-broker"
        );
        assert_eq!(
            principal_from_caller("arn:aws:iam::111122223333:user/rolegate").unwrap(),
            "arn:aws:iam::111122223333:user/rolegate"
        );
        for bad in [
            "arn:aws:iam::111122223333:root",
            "arn:aws:sts::111122223333:federated-user/bob",
            "arn:aws:sts::111122223333:assumed-role/",
            "not an arn",
        ] {
            assert!(principal_from_caller(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn assume_role_trusts_the_broker_with_source_identity_and_no_tag_session_without_tags() {
        let t = Trustee::Broker {
            principal: "arn:aws:iam::111122223333:role/rolegate-broker".into(),
        };
        let p = trust_policy(
            &arn("arn:aws:iam::444455556666:role/ReadOnly"),
            &plain(),
            &t,
        )
        .unwrap();
        assert_eq!(
            p,
            json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "RolegateOnlyWithSourceIdentity", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:role/rolegate-broker"},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                "Condition": {"StringLike": {"sts:SourceIdentity": "*.*"}}}]})
        );
    }

    #[test]
    fn a_partition_mismatch_is_refused_for_aws_cn_and_aws_us_gov() {
        let t = Trustee::Broker {
            principal: "arn:aws:iam::111122223333:role/rolegate-broker".into(),
        };
        for role in [
            "arn:aws-cn:iam::111122223333:role/ReadOnly",
            "arn:aws-us-gov:iam::111122223333:role/ReadOnly",
        ] {
            let e = trust_policy(&arn(role), &plain(), &t).unwrap_err();
            assert!(matches!(e, TrustError::PartitionMismatch { .. }), "{e}");
            assert!(e.to_string().contains("partition mismatch"), "{e}");
        }
    }

    #[test]
    fn web_identity_pins_aud_sub_and_the_roles_claim_and_tags_only_what_the_policy_sets() {
        let provider = OidcProvider {
            url: "https://idp.example.com/rolegate".into(),
            host_path: "idp.example.com/rolegate".into(),
            audience: "rolegate-prod".into(),
        };
        let mut needs = plain();
        needs.tags.insert(
            "team".into(),
            TagValues::Fixed(["platform".to_string()].into()),
        );
        needs.tags.insert("user".into(), TagValues::FromIdentity);
        needs.transitive_tag_keys.insert("team".into());
        let role = arn("arn:aws-us-gov:iam::111122223333:role/ReadOnly");
        let p = trust_policy(&role, &needs, &Trustee::Issuer(provider)).unwrap();
        let pinned = json!({
            "idp.example.com/rolegate:aud": "rolegate-prod",
            "idp.example.com/rolegate:sub": "arn:aws-us-gov:iam::111122223333:role/ReadOnly"});
        let principal = json!({"Federated": "arn:aws-us-gov:iam::111122223333:oidc-provider/idp.example.com/rolegate"});
        assert_eq!(
            p["Statement"][0],
            json!({"Sid": "RolegateOnlyWithSourceIdentity", "Effect": "Allow", "Principal": principal,
                   "Action": ["sts:AssumeRoleWithWebIdentity", "sts:SetSourceIdentity"],
                   "Condition": {"StringEquals": pinned,
                                 "Bool": {"sts:RoleAuthorizedByIdp": "true"},
                                 "StringLike": {"sts:SourceIdentity": "*.*"}}})
        );
        assert_eq!(
            p["Statement"][1],
            json!({"Sid": "RolegateSessionTags", "Effect": "Allow", "Principal": principal,
                   "Action": "sts:TagSession",
                   "Condition": {"StringEquals": pinned,
                                 "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "user"],
                                                               "sts:TransitiveTagKeys": ["team"]},
                                 "StringEqualsIfExists": {"aws:RequestTag/team": ["platform"]}}})
        );
    }
}
