//! Every JWT attack fixture (tests/fixtures/jwt/) through the whole HTTP stack, with the clock
//! injected at the fixtures' instant: the server must answer as `rolegate verify jwt` does —
//! the same code — and count each refusal under the reason the fixture expects.

use crate::common;

use common::app::{ROLES, TestApp, peers, server_and_aws};
use rolegate::clock::FixedClock;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

#[tokio::test]
async fn every_fixture_gets_the_same_verdict_over_http() {
    let Some(p) = peers() else { return };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let toml = format!(
        r#"{head}
[[idp]]
id = "fixtures"
kind = "oidc"
issuer = "{issuer}"
client_id = "{aud}"
audiences = ["mobile-app"]
jwks_file = "{jwks}"
{ROLES}
[[map]]
idp = "fixtures"
groups = ["eng"]
roles = ["prod-readonly"]
"#,
        head = server_and_aws(p),
        issuer = expected["issuer"].as_str().unwrap(),
        aud = expected["audience"].as_str().unwrap(),
        jwks = dir.join("jwks.json").display(),
    );
    let clock = Arc::new(FixedClock::at_unix(expected["now_unix"].as_i64().unwrap()));
    let app = TestApp::spawn_with(&toml, Some(clock), true).await;

    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    for (name, f) in expected["fixtures"].as_object().unwrap() {
        let token = std::fs::read_to_string(dir.join(format!("{name}.jwt"))).unwrap();
        let res = app
            .credentials(token.trim(), json!({"role": "prod-readonly"}))
            .await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        match f["expect"].as_str().unwrap() {
            "ok" => assert_eq!(status, 200, "{name}: {body}"),
            reason => {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (401, Some("invalid_token")),
                    "{name}: {body}"
                );
                *refusals.entry(reason.to_string()).or_default() += 1;
            }
        }
    }
    let metrics = app.metrics().await;
    for (reason, n) in refusals {
        let line = format!("rolegate_token_verify_failures_total{{reason=\"{reason}\"}} {n}");
        assert!(metrics.contains(&line), "expected `{line}` in\n{metrics}");
    }
}
