//! [`Credentials`]: the one shape of issued credentials, from the broker's answer to the CLI's
//! cache and every format the user sees.

use super::Unpresentable;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// Temporary AWS credentials as the broker hands them out: the credential_process fields
/// (Version 1, AWS's names, `Expiration` in RFC 3339) plus which role and session they are
/// and the region they are meant for. `POST /api/v1/credentials` answers with exactly this
/// JSON; the CLI reads it back into this type.
///
/// Reading is forward compatible: fields a newer broker adds are ignored. The five
/// credential_process fields are required (serde names a missing one); the other three are
/// optional, so a credential_process document from elsewhere reads too.
///
/// `{:?}` shows the key id (an identifier CloudTrail logs) but neither the secret key nor the
/// session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Credentials {
    version: Version1,
    pub access_key_id: String,
    #[serde(with = "exposed")]
    pub secret_access_key: Secret<String>,
    #[serde(with = "exposed")]
    pub session_token: Secret<String>,
    #[serde(with = "rfc3339")]
    pub expiration: SystemTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// The role partition's `[aws.partitions.<p>] region`: `rolegate env` and `exec` export it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl Credentials {
    /// What STS returned for `plan`, for the role's `region`.
    #[cfg(feature = "server")]
    pub(crate) fn issued(
        keys: crate::aws::Credentials,
        plan: &crate::aws::limits::SessionPlan,
        region: &str,
    ) -> Self {
        Credentials {
            version: Version1,
            access_key_id: keys.access_key_id,
            secret_access_key: keys.secret_access_key,
            session_token: keys.session_token,
            expiration: keys.expiration,
            role_arn: Some(plan.grant().role().arn.as_str().to_string()),
            session_name: Some(plan.session_name().to_string()),
            region: Some(region.to_string()),
        }
    }

    /// `Expiration` in Unix seconds (negative before 1970, which only a broken clock sends).
    pub(crate) fn expires_at_unix(&self) -> i64 {
        let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        match self.expiration.duration_since(UNIX_EPOCH) {
            Ok(d) => secs(d),
            Err(e) => -secs(e.duration()),
        }
    }

    /// The credential_process output: the five fields the AWS CLI and SDKs read, in the order
    /// the AWS documentation shows them, on one line (what `rolegate credentials` prints).
    pub(crate) fn credential_process_json(&self) -> Result<String, Unpresentable> {
        serde_json::to_string(&self.credential_process()).map_err(json_failed)
    }

    /// The same, indented for a person (the browser's download).
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // the broker's; the CLI build shares this type
    pub(crate) fn credential_process_json_pretty(&self) -> Result<String, Unpresentable> {
        serde_json::to_string_pretty(&self.credential_process()).map_err(json_failed)
    }

    fn credential_process(&self) -> CredentialProcess<'_> {
        CredentialProcess {
            version: Version1,
            access_key_id: &self.access_key_id,
            secret_access_key: self.secret_access_key.expose(),
            session_token: self.session_token.expose(),
            expiration: crate::clock::rfc3339(self.expiration),
        }
    }

    /// The AWS SDKs' container-credentials answer (`AWS_CONTAINER_CREDENTIALS_FULL_URI`): the
    /// keys, `Token`, `Expiration` in RFC 3339 and, when known, `RoleArn`.
    pub(crate) fn container_json(&self) -> Result<String, Unpresentable> {
        serde_json::to_string(&ContainerCredentials {
            access_key_id: &self.access_key_id,
            secret_access_key: self.secret_access_key.expose(),
            token: self.session_token.expose(),
            expiration: crate::clock::rfc3339(self.expiration),
            role_arn: self.role_arn.as_deref(),
        })
        .map_err(json_failed)
    }

    #[cfg(test)]
    pub(crate) fn for_tests(id: &str, secret: &str, token: &str, region: Option<&str>) -> Self {
        Credentials {
            version: Version1,
            access_key_id: id.to_string(),
            secret_access_key: Secret::new(secret.to_string()),
            session_token: Secret::new(token.to_string()),
            expiration: UNIX_EPOCH + std::time::Duration::from_secs(4_102_444_800),
            role_arn: Some("arn:aws:iam::123456789012:role/ReadOnly".to_string()),
            session_name: Some("corp.alice@example.com".to_string()),
            region: region.map(str::to_string),
        }
    }
}

/// Serialising strings and a number cannot fail; should serde_json ever say otherwise, its
/// message is dropped (it could quote a value).
fn json_failed(_: serde_json::Error) -> Unpresentable {
    Unpresentable::new("as JSON", "credentials", "serde_json refused them")
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialProcess<'a> {
    version: Version1,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerCredentials<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
}

/// `"Version": 1`, the only credential_process version there is: a document with another
/// version is refused rather than read as if it were this one.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
struct Version1;

impl From<Version1> for u8 {
    fn from(_: Version1) -> u8 {
        1
    }
}

/// A credential_process document of another version (serde shows the text in its error).
#[derive(Debug, thiserror::Error)]
#[error("Version {0} is not 1, the credential_process version rolegate reads")]
struct OtherVersion(u8);

impl TryFrom<u8> for Version1 {
    type Error = OtherVersion;
    fn try_from(v: u8) -> Result<Self, OtherVersion> {
        match v {
            1 => Ok(Version1),
            other => Err(OtherVersion(other)),
        }
    }
}

/// A [`Secret`] on the wire: written as the plain string, read into a `Secret` at once. Only
/// this type's fields use it, so a secret reaches JSON only through [`Credentials`].
mod exposed {
    use crate::secret::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(s: &Secret<String>, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret<String>, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// `Expiration` as AWS writes it: RFC 3339, second precision, `Z`.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::SystemTime;

    pub(super) fn serialize<S: Serializer>(t: &SystemTime, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&crate::clock::rfc3339(*t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&s)
            .map_err(|e| D::Error::custom(format!("Expiration is not an RFC 3339 time: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::Credentials;
    use serde_json::json;

    fn answer() -> serde_json::Value {
        json!({
            "Version": 1,
            "AccessKeyId": "ASIAEXAMPLE",
            "SecretAccessKey": "secret/key+1",
            "SessionToken": "token==",
            "Expiration": "2100-01-01T00:00:00Z",
            "RoleArn": "arn:aws:iam::123456789012:role/ReadOnly",
            "SessionName": "corp.alice@example.com",
            "Region": "eu-west-1",
        })
    }

    #[test]
    fn the_api_answer_keeps_its_field_names_order_and_values() {
        let c: Credentials = serde_json::from_value(answer()).unwrap();
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret/key+1","SessionToken":"token==","Expiration":"2100-01-01T00:00:00Z","RoleArn":"arn:aws:iam::123456789012:role/ReadOnly","SessionName":"corp.alice@example.com","Region":"eu-west-1"}"#
        );
        assert_eq!(c.expires_at_unix(), 4_102_444_800);
    }

    #[test]
    fn credential_process_output_is_the_five_fields_of_version_1() {
        let c: Credentials = serde_json::from_value(answer()).unwrap();
        assert_eq!(
            c.credential_process_json().unwrap(),
            r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret/key+1","SessionToken":"token==","Expiration":"2100-01-01T00:00:00Z"}"#
        );
        let pretty: serde_json::Value =
            serde_json::from_str(&c.credential_process_json_pretty().unwrap()).unwrap();
        assert_eq!(pretty.as_object().unwrap().len(), 5);
        assert!(
            c.credential_process_json_pretty()
                .unwrap()
                .contains("\n  \"Version\": 1,\n")
        );
    }

    #[test]
    fn a_newer_brokers_extra_fields_are_ignored_and_a_bare_credential_process_document_reads() {
        let mut v = answer();
        v["SourceIdentity"] = json!("alice");
        v["Nested"] = json!({"future": [1, 2]});
        assert!(serde_json::from_value::<Credentials>(v).is_ok());
        let mut bare = answer();
        for k in ["RoleArn", "SessionName", "Region"] {
            bare.as_object_mut().unwrap().remove(k);
        }
        let c: Credentials = serde_json::from_value(bare).unwrap();
        assert!(c.role_arn.is_none() && c.region.is_none());
        assert!(!serde_json::to_string(&c).unwrap().contains("Region"));
    }

    #[test]
    fn a_missing_required_field_is_named() {
        for k in [
            "Version",
            "AccessKeyId",
            "SecretAccessKey",
            "SessionToken",
            "Expiration",
        ] {
            let mut v = answer();
            v.as_object_mut().unwrap().remove(k);
            let e = serde_json::from_value::<Credentials>(v).unwrap_err();
            assert_eq!(e.to_string(), format!("missing field `{k}`"));
        }
    }

    #[test]
    fn another_version_or_a_bad_expiration_is_refused() {
        let mut v = answer();
        v["Version"] = json!(2);
        let e = serde_json::from_value::<Credentials>(v).unwrap_err();
        assert!(e.to_string().contains("Version 2 is not 1"), "{e}");
        let mut v = answer();
        v["Expiration"] = json!("tomorrow");
        let e = serde_json::from_value::<Credentials>(v).unwrap_err();
        assert!(
            e.to_string().contains("Expiration is not an RFC 3339"),
            "{e}"
        );
    }

    #[test]
    fn debug_shows_neither_the_secret_key_nor_the_session_token() {
        let c: Credentials = serde_json::from_value(answer()).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("ASIAEXAMPLE"), "{shown}");
        assert!(
            !shown.contains("secret/key+1") && !shown.contains("token=="),
            "{shown}"
        );
        assert!(shown.contains("Secret(<redacted>)"));
    }
}
