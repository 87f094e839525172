//! `web_identity` mode: the broker holds no AWS keys. It signs one short-lived JWT per call
//! with its own ES256 key (published at /.well-known/jwks.json) and calls
//! AssumeRoleWithWebIdentity. moto accepts any token, so this test checks the token itself —
//! as AWS would, against the broker's published keys — via the fault hook's record of it.

use crate::common;

use common::app::{TestApp, base_config, caller_identity_arn, peers};
use common::forge;
use rolegate::clock::FixedClock;
use rolegate::config::OidcIdpConfig;
use rolegate::domain::IdpId;
use rolegate::idp::oidc::keys::KeySet;
use rolegate::idp::oidc::verify;
use rolegate::token::SigningKey;
use serde_json::{Value, json};
use std::time::Duration;

const ISSUER: &str = "https://issuer.rolegate.test/broker";

fn config(p: &common::app::Peers) -> String {
    let tags = "\n[[map]]\nidp = \"web\"\ngroups = [\"eng\"]\nroles = [\"prod-readonly\"]\ntags = { team = \"platform\", user = \"${rolegate:email}\" }\ntransitive_tag_keys = [\"team\"]\n";
    format!("{}{tags}", base_config(p, ""))
        .replacen("[aws]\n", "[aws]\nmode = \"web_identity\"\n", 1)
        .replacen(
            "[aws.partitions.aws]",
            &format!("[issuer]\nurl = \"{ISSUER}\"\nsigning_key_file = \"issuer.pem\"\naudience = \"rolegate-test\"\n\n[aws.partitions.aws]"),
            1,
        )
}

#[tokio::test]
async fn sts_gets_a_fresh_narrow_token_signed_by_the_published_key() {
    let Some(p) = peers() else { return };
    let key = SigningKey::generate().unwrap();
    let app =
        TestApp::spawn_with_files(&config(p), &[("issuer.pem", &key.to_pem())], None, true).await;

    let discovery: Value = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], ISSUER);
    assert_eq!(
        discovery["jwks_uri"],
        format!("{ISSUER}/.well-known/jwks.json")
    );
    let jwks = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!jwks.contains("\"d\""), "never the private key");

    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!("web-identity-test");
    c["sub"] = json!("web-identity-test");
    let res = app
        .credentials(
            &forge::rs256(&c),
            json!({"role": "prod-readonly", "duration_seconds": 7200}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let creds: Value = res.json().await.unwrap();
    let arn = caller_identity_arn(&p.moto.url, &creds).await;
    assert_eq!(
        arn,
        "arn:aws:sts::123456789012:assumed-role/ReadOnly/web.web-identity-test"
    );

    let sent = p.moto.last_web_identity("web.web-identity-test").await;
    assert_eq!(
        sent["params"]["RoleArn"],
        "arn:aws:iam::123456789012:role/ReadOnly"
    );
    assert_eq!(sent["params"]["RoleSessionName"], "web.web-identity-test");
    assert_eq!(sent["params"]["DurationSeconds"], "7200");
    let token = sent["token"].as_str().unwrap();
    assert!(
        !creds.to_string().contains(token),
        "the broker's token never goes to the client"
    );

    // Verify the token as AWS would: the published JWKS, exact issuer and audience.
    let keys = KeySet::from_jwks_json(jwks.as_bytes()).unwrap();
    let header = verify::parse_header(token).unwrap();
    let cfg = OidcIdpConfig {
        clock_skew: Duration::from_secs(0),
        ..OidcIdpConfig::new(ISSUER, "rolegate-test")
    };
    let idp = IdpId::parse("aws").unwrap();
    let x = verify::Expectations {
        idp: &idp,
        cfg: &cfg,
        nonce: None,
    };
    let id = verify::verify(
        token,
        &header,
        &keys,
        &FixedClock::at_unix(forge::now()),
        &x,
    )
    .expect("AWS would accept it");
    // The trust policy pins sub to the role's own ARN: this token opens this role only.
    assert_eq!(id.subject, "arn:aws:iam::123456789012:role/ReadOnly");
    let claims = &id.claims;
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(lifetime <= 300, "lifetime {lifetime}s");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
    assert_eq!(
        claims["https://aws.amazon.com/tags"],
        json!({"principal_tags": {"team": ["platform"], "user": ["alice@example.com"]}, "transitive_tag_keys": ["team"]})
    );
    // SourceIdentity is keyed by (idp, subject), never by an email anyone could claim.
    assert_eq!(
        claims["https://aws.amazon.com/source_identity"],
        "web.web-identity-test"
    );
    // The roles claim pins the token to this one role at STS itself, before any trust policy.
    assert_eq!(
        claims["https://aws.amazon.com/roles"],
        "arn:aws:iam::123456789012:role/ReadOnly"
    );
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], "rolegate-test");
    assert_eq!(claims["nbf"], claims["iat"]);
    // Every claim is one of these: nothing about the caller leaks to AWS beyond what is pinned.
    let mut names: Vec<&str> = claims.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "aud",
            "exp",
            "https://aws.amazon.com/roles",
            "https://aws.amazon.com/source_identity",
            "https://aws.amazon.com/tags",
            "iat",
            "iss",
            "jti",
            "nbf",
            "sub"
        ]
    );

    // A second call signs a new token (new jti): tokens are never reused.
    app.credentials(&forge::rs256(&c), json!({"role": "prod-readonly"}))
        .await;
    let again = p.moto.last_web_identity("web.web-identity-test").await;
    assert_ne!(again["token"], sent["token"]);
}

#[tokio::test]
async fn access_denied_in_web_identity_mode_names_the_trust_policy() {
    let Some(p) = peers() else { return };
    let key = SigningKey::generate().unwrap();
    let app =
        TestApp::spawn_with_files(&config(p), &[("issuer.pem", &key.to_pem())], None, true).await;
    let res = app
        .credentials(
            &forge::rs256(&forge::claims(&p.idp.issuer)),
            json!({"role": "denied"}),
        )
        .await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "sts_access_denied");
}

#[tokio::test]
async fn assume_role_mode_publishes_no_issuer_keys() {
    let Some(p) = peers() else { return };
    let app = TestApp::spawn(&base_config(p, "")).await;
    let res = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// Key rotation with overlap: the new key signs, the rotated-out one stays in the JWKS (listed
/// second) so tokens it signed — and relying parties' cached copies — keep verifying until
/// the operator removes it; a key file that does not exist stops the start with its key path.
#[tokio::test]
async fn a_rotated_out_key_stays_published_while_the_new_one_signs() {
    let Some(p) = peers() else { return };
    let (old, new) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let toml = config(p).replacen(
        "signing_key_file = \"issuer.pem\"",
        "signing_key_file = \"issuer.pem\"\nprevious_signing_key_files = [\"issuer-old.pem\"]",
        1,
    );
    let app = TestApp::spawn_with_files(
        &toml,
        &[
            ("issuer.pem", &new.to_pem()),
            ("issuer-old.pem", &old.to_pem()),
        ],
        None,
        true,
    )
    .await;
    let jwks: Value = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new.kid(), old.kid()]);
    assert!(!jwks.to_string().contains("\"d\""), "never a private key");

    // A token the old key signed still verifies against what is published.
    let keys = KeySet::from_jwks_json(jwks.to_string().as_bytes()).unwrap();
    let old_token = old
        .sign(&json!({"sub": "x", "exp": 4_000_000_000u64}))
        .unwrap();
    let header = verify::parse_header(&old_token).unwrap();
    assert!(keys.find(header.kid.as_deref(), header.alg).is_some());

    // New STS calls are signed by the new key only.
    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!("rotation-test");
    c["sub"] = json!("rotation-test");
    let res = app
        .credentials(&forge::rs256(&c), json!({"role": "prod-readonly"}))
        .await;
    assert_eq!(res.status(), 200);
    let sent = p.moto.last_web_identity("web.rotation-test").await;
    let header = verify::parse_header(sent["token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new.kid()));

    // A previous-key file that is gone is a config error naming the key.
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("issuer.pem", new.to_pem()),
        ("aws-key-id", "testing".into()),
        ("aws-secret", "testing".into()),
        ("rolegate.toml", toml.clone()),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let err = rolegate::config::Config::load_with_env(
        Some(&dir.path().join("rolegate.toml")),
        false,
        std::iter::empty(),
    )
    .unwrap_err();
    assert_eq!(err.path, "issuer.previous_signing_key_files[0]");
}

/// The token the broker signs for STS takes "now" from the injected clock, like every check:
/// with the system clock in it, a broker whose clock is set (tests, `--now` replays) would
/// stamp tokens with another time than the one it verified the caller's token at.
#[tokio::test]
async fn web_identity_token_is_stamped_by_the_injected_clock() {
    let Some(p) = peers() else { return };
    let key = SigningKey::generate().unwrap();
    let at = forge::now() - 3 * 86_400;
    let clock = std::sync::Arc::new(FixedClock::at_unix(at));
    let app = TestApp::spawn_with_files(
        &config(p),
        &[("issuer.pem", &key.to_pem())],
        Some(clock),
        true,
    )
    .await;
    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!("clock-test");
    c["sub"] = json!("clock-test");
    c["iat"] = json!(at - 10);
    c["exp"] = json!(at + 600);
    let res = app
        .credentials(&forge::rs256(&c), json!({"role": "prod-readonly"}))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let sent = p.moto.last_web_identity("web.clock-test").await;
    let token = sent["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iat"], json!(at), "{claims}");
    assert_eq!(claims["exp"], json!(at + 300), "{claims}");
}

#[tokio::test]
async fn revoking_in_web_identity_mode_without_revocation_keys_returns_the_deny_to_apply() {
    let Some(p) = peers() else { return };
    let key = SigningKey::generate().unwrap();
    let admins = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "SreRevoke", "Effect": "Allow",
      "Action": ["rolegate:ListSessions", "rolegate:RevokeSessions"], "Resource": "*",
      "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "sre"}}}]}"#;
    let toml = format!("{}\n[policy]\nfiles = [\"policy.json\"]\n", config(p));
    let app = TestApp::spawn_with_files(
        &toml,
        &[("issuer.pem", &key.to_pem()), ("policy.json", admins)],
        None,
        true,
    )
    .await;
    let alice = p.idp.id_token("rolegate", "alice");
    let res = app.credentials(&alice, json!({"role": "admin"})).await;
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .post(format!("{}/api/v1/sessions/revoke", app.url))
        .bearer_auth(&alice)
        .json(&json!({"user": "web:alice", "reason": "INC-50"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    let role = &out["roles"][0];
    assert_eq!(role["written"], false);
    let why = role["error"].as_str().unwrap();
    assert!(
        why.contains("web_identity mode the broker holds no AWS keys")
            && why.contains("[revocation]"),
        "{why}"
    );
    assert_eq!(role["policy"]["Statement"][0]["Effect"], "Deny");
}
