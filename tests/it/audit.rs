//! The audit stream as a file of JSON lines (`[audit] output = "file"`): one line per issuance
//! and one per policy refusal, each with the request id the client saw, never a secret; and
//! the config errors that keep a broker from starting with a half-configured audit.

use crate::common;

use common::app::{TestApp, broker_head, peers};
use common::saml_forge::{SamlForge, corp_idp};
use common::web::{self, hidden, saml_sign_in};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuances_and_refusals_are_json_lines_with_request_ids() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let toml = format!(
        r#"{head}
[audit]
output = "file"
file = "audit.jsonl"

{idp}
"#,
        head = broker_head(
            "127.0.0.1:0",
            "https://rolegate.example.test",
            &p.moto.url,
            None
        ),
        idp = corp_idp(common::app::ROLES, &["prod-readonly"]),
    );
    let (md_name, md) = forge.metadata_file();
    let app = TestApp::spawn_with_files(&toml, &[(md_name, &md)], None, true).await;
    let alice = saml_sign_in(&app.url, &forge, "alice", &["eng"]).await;
    let page = web::get(&app.url, "/", Some(&alice))
        .await
        .text()
        .await
        .unwrap();
    let issued = web::post(
        &app.url,
        "/credentials/prod-readonly",
        &alice,
        &[("csrf", &hidden(&page, "csrf"))],
    )
    .await;
    assert_eq!(issued.status(), 200);
    let issued_id = issued.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = issued.text().await.unwrap();
    let page = web::get(&app.url, "/", Some(&alice))
        .await
        .text()
        .await
        .unwrap();
    let refused = web::post(
        &app.url,
        "/credentials/admin",
        &alice,
        &[("csrf", &hidden(&page, "csrf"))],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let refused_id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();

    let text = std::fs::read_to_string(app.dir.path().join("audit.jsonl")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    // The sign-in itself is the first line: who, through which IdP, until when.
    assert_eq!(lines[0]["event"], "sign_in", "{text}");
    assert_eq!(lines[0]["protocol"], "saml");
    assert_eq!(lines[0]["idp"], "corp");
    assert!(
        lines[0]["session_ends"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let lines = &lines[1..];
    assert_eq!(lines[0]["event"], "credentials_issued");
    assert_eq!(lines[0]["request_id"], issued_id);
    assert_eq!(lines[0]["role"], "arn:aws:iam::123456789012:role/ReadOnly");
    assert_eq!(lines[0]["client"], "browser");
    assert_eq!(lines[0]["subject"], "alice@example.com");
    assert_eq!(lines[1]["event"], "access_denied");
    assert_eq!(lines[1]["request_id"], refused_id);
    assert_eq!(lines[1]["role"], "admin");
    // The credentials shown to the user appear nowhere in the audit trail.
    let secret = body
        .split("export AWS_SECRET_ACCESS_KEY=&#39;")
        .nth(1)
        .unwrap()
        .split("&#39;")
        .next()
        .unwrap();
    assert!(!text.contains(secret));
}

#[test]
fn a_half_configured_audit_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    for (audit, want) in [
        ("output = \"file\"", "audit.file"),
        ("output = \"syslog\"", "audit.output"),
        ("output = \"stdout\"\nfile = \"x\"", "audit.file"),
    ] {
        let path = dir.path().join("rolegate.toml");
        std::fs::write(&path, format!("[audit]\n{audit}\n")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rolegate"))
            .args(["config", "check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{audit}: {err}");
        assert!(err.contains(want), "{audit}: {err}");
    }
}

/// From the security review: A refused SAML Response left a log line and a metric but nothing in the
/// audit stream, so an attack on the ACS was invisible to whoever reads only the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_refusals_are_in_the_audit_stream() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let toml = format!(
        "{head}\n[audit]\noutput = \"file\"\nfile = \"audit.jsonl\"\n\n{idp}\n",
        head = broker_head(
            "127.0.0.1:0",
            "https://rolegate.example.test",
            &p.moto.url,
            None
        ),
        idp = corp_idp(common::app::ROLES, &["prod-readonly"]),
    );
    let (md_name, md) = forge.metadata_file();
    let app = TestApp::spawn_with_files(&toml, &[(md_name, &md)], None, true).await;
    let r = web::saml_post_acs(&app.url, "%%%", None, None).await;
    assert_eq!(r.status(), 403);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let text = std::fs::read_to_string(app.dir.path().join("audit.jsonl")).unwrap();
    let line: Value = serde_json::from_str(text.lines().next().expect("an audit line")).unwrap();
    assert_eq!(line["event"], "saml_refused", "{text}");
    assert_eq!(line["reason"], "malformed");
    assert_eq!(line["request_id"], id);
    assert!(!text.contains("%%%"), "never the Response itself");
}
