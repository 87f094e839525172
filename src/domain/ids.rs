//! Identifiers that are validated once, at the edge, and are then trusted by type.

use std::fmt;

/// Why a string is not a role ARN: the value and the rule it breaks (config errors show it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not an IAM role ARN: {why}")]
pub struct BadRoleArn {
    value: String,
    why: &'static str,
}

/// Why a string is not an IdP id (config errors and `policy explain` show it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid IdP id: use 1-32 of a-z, 0-9, - and _")]
pub struct BadIdpId(String);

/// `arn:<partition>:iam::<12-digit account>:role/<optional path/><name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleArn {
    arn: String,
    partition: String,
    account: String,
    name: String,
}

impl RoleArn {
    /// Parses and validates an IAM role ARN (the partitions rolegate knows, a 12-digit account).
    pub fn parse(s: &str) -> Result<Self, BadRoleArn> {
        let bad = |why: &'static str| {
            Err(BadRoleArn {
                value: s.to_string(),
                why,
            })
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return bad("expected arn:<partition>:iam::<account>:role/<name>");
        }
        let (partition, service, region, account, resource) =
            (parts[1], parts[2], parts[3], parts[4], parts[5]);
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return bad("partition must be aws, aws-cn or aws-us-gov");
        }
        if service != "iam" || !region.is_empty() {
            return bad("service must be iam with an empty region");
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return bad("account must be 12 digits");
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return bad("resource must start with role/");
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        // IAM role names: 1-64 of [\w+=,.@-] (IAM API reference, CreateRole RoleName).
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !name_ok {
            return bad("role name must be 1-64 characters of [A-Za-z0-9_+=,.@-]");
        }
        Ok(RoleArn {
            arn: s.to_string(),
            partition: partition.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        })
    }

    /// The ARN as written.
    pub fn as_str(&self) -> &str {
        &self.arn
    }
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // the broker's; the CLI build shares this type
    pub(crate) fn partition(&self) -> &str {
        &self.partition
    }
    /// The 12-digit account id.
    pub fn account(&self) -> &str {
        &self.account
    }
    /// The role name, without its path.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// The `id` of an `[[idp]]`: short, URL-safe, used in paths (`/login/{idp}`) and policy keys.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct IdpId(String);

impl From<IdpId> for String {
    fn from(i: IdpId) -> String {
        i.0
    }
}

impl TryFrom<String> for IdpId {
    type Error = BadIdpId;
    fn try_from(s: String) -> Result<Self, BadIdpId> {
        IdpId::parse(&s)
    }
}

impl IdpId {
    /// Validates an IdP id: it appears in URLs, store keys and policies.
    pub fn parse(s: &str) -> Result<Self, BadIdpId> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(IdpId(s.to_string()))
        } else {
            Err(BadIdpId(s.to_string()))
        }
    }
    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        let a = RoleArn::parse("arn:aws:iam::111122223333:role/team/ReadOnly").unwrap();
        assert_eq!(
            (a.partition(), a.account(), a.name()),
            ("aws", "111122223333", "ReadOnly")
        );
        assert!(RoleArn::parse("arn:aws-us-gov:iam::111122223333:role/x").is_ok());
        for bad in [
            "",
            "arn:aws:iam::11112222333:role/x",
            "arn:aws:iam::111122223333:user/x",
            "arn:aws:s3::111122223333:role/x",
            "arn:aws:iam:us-east-1:111122223333:role/x",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/a b",
            "arn:evil:iam::111122223333:role/x",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn idp_ids() {
        assert!(IdpId::parse("corp-okta").is_ok());
        assert!(IdpId::parse("Corp").is_err());
        assert!(IdpId::parse("a/b").is_err());
    }
}
