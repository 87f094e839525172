//! IAM on a moto server, as the tests set it up and read it back.

use serde_json::Value;

/// An IAM client for the moto server at `url` (moto takes any keys).
pub(crate) fn client(url: &str) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::config::Builder::new()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(url)
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

/// A policy document as IAM hands it back (URL-encoded; moto sometimes not), as JSON.
pub(crate) fn decoded(raw: &str) -> Value {
    let text = if raw.trim_start().starts_with('{') {
        raw.to_string()
    } else {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .expect("UTF-8 policy")
            .into_owned()
    };
    serde_json::from_str(&text).expect("a JSON policy")
}

/// The inline policy `name` of `role`, or None when the role has none such.
pub(crate) async fn inline_policy(
    iam: &aws_sdk_iam::Client,
    role: &str,
    name: &str,
) -> Option<Value> {
    let got = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .ok()?;
    Some(decoded(got.policy_document()))
}
