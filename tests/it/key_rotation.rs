//! IdP key rotation: an unknown `kid` triggers one refetch of the IdP's keys, and no more
//! than one a minute, so made-up `kid`s cannot turn the broker into a JWKS request amplifier.
//! Uses `jwks_file` (offline keys) so the test controls exactly what a refetch finds.

use crate::common;

use common::app::{ROLES, TestApp, peers, server_and_aws};
use common::forge;
use rolegate::token::SigningKey;
use serde_json::{Value, json};

const ISSUER: &str = "https://offline.rolegate.test";

fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>()}).to_string()
}

fn token(key: &SigningKey) -> String {
    let mut c = forge::claims(ISSUER);
    c["aud"] = json!("rolegate");
    key.sign(&c).unwrap()
}

#[tokio::test]
async fn unknown_kid_refetches_once_a_minute_at_most() {
    let Some(p) = peers() else { return };
    let toml = format!(
        r#"{head}
[[idp]]
id = "offline"
kind = "oidc"
issuer = "{ISSUER}"
client_id = "rolegate"
jwks_file = "idp-jwks.json"
{ROLES}
[[map]]
idp = "offline"
groups = ["eng"]
roles = ["prod-readonly"]
"#,
        head = server_and_aws(p)
    );
    let (k1, k2, k3) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let app =
        TestApp::spawn_with_files(&toml, &[("idp-jwks.json", &jwks(&[&k1]))], None, true).await;
    let jwks_path = app.dir.path().join("idp-jwks.json");
    let ask = |t: String| {
        let app = &app;
        async move { app.credentials(&t, json!({"role": "prod-readonly"})).await }
    };

    assert_eq!(ask(token(&k1)).await.status(), 200);

    // The IdP rotates to k2: the first token signed by it triggers a refetch and is accepted.
    std::fs::write(&jwks_path, jwks(&[&k1, &k2])).unwrap();
    assert_eq!(
        ask(token(&k2)).await.status(),
        200,
        "refetched on unknown kid"
    );

    // Another rotation within the minute: no second refetch, so k3 is not known yet.
    std::fs::write(&jwks_path, jwks(&[&k1, &k2, &k3])).unwrap();
    let res = ask(token(&k3)).await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("does not publish"),
        "{body}"
    );
    // …while the keys already known keep working.
    assert_eq!(ask(token(&k2)).await.status(), 200);

    // A broken key file never replaces the last good keys.
    std::fs::write(&jwks_path, "{not json").unwrap();
    let results = app.state.idps.refresh_all().await;
    assert_eq!(results.len(), 1);
    assert!(results[0].1.is_err(), "the failure is reported");
    assert_eq!(ask(token(&k1)).await.status(), 200, "last good keys kept");
}
