//! deploy/aws as CloudFormation: every template passes cfn-lint, and the stacks deploy into
//! moto's CloudFormation and come out right by `rolegate doctor` — with the trust policies
//! exactly what `rolegate aws trust-policy` writes. moto's CloudFormation has no
//! `AWS::IAM::OIDCProvider` (its IAM API has the provider): the web_identity test creates it
//! through IAM, deploys the rest, and serves the issuer's documents over https itself.

use crate::common::peers::{Moto, free_port, repo_root, require_peer};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const ACCOUNT: &str = "123456789012";

fn templates() -> Vec<PathBuf> {
    let mut t: Vec<PathBuf> = std::fs::read_dir(repo_root().join("deploy/aws"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    t.sort();
    t
}

/// `.venv/bin/<tool>` when the venv has moto's CloudFormation (and so cfn-lint).
fn venv_tool(tool: &str) -> Option<PathBuf> {
    let py = repo_root().join(".venv/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import cfnlint, moto.cloudformation.parsing"])
        .output()
        .is_ok_and(|o| o.status.success());
    require_peer(
        "moto[cloudformation] and cfn-lint (.venv, scripts/install-test-deps)",
        ok,
    )
    .then(|| repo_root().join(".venv/bin").join(tool))
}

#[test]
fn every_cloudformation_template_passes_cfn_lint() {
    let Some(lint) = venv_tool("cfn-lint") else {
        return;
    };
    let t = templates();
    assert!(t.len() >= 3, "{t:?}");
    let out = Command::new(lint).args(&t).output().unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deploys `template` into moto as stack `stack`; its outputs.
fn deploy(moto: &str, stack: &str, template: &str, params: &[(&str, &str)]) -> Value {
    let py = venv_tool("python").expect("checked by the caller");
    let mut c = Command::new(py);
    c.arg(repo_root().join("tests/support/cfn_deploy.py"))
        .args(["--endpoint", moto, "--stack", stack, "--template"])
        .arg(repo_root().join("deploy/aws").join(template))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    for (k, v) in params {
        c.args(["--param", &format!("{k}={v}")]);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "deploy {template}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The deployed trust policy of `name`, as JSON.
async fn trust_of(iam: &aws_sdk_iam::Client, name: &str) -> Value {
    let r = iam.get_role().role_name(name).send().await.unwrap();
    crate::common::iam::decoded(r.role().unwrap().assume_role_policy_document().unwrap())
}

/// The catalogue of config/example.toml's Neptune roles, at the ARNs the stack made.
fn config(moto: &str, mode_block: &str, reader: &str, writer: &str) -> String {
    format!(
        r#"
[aws]
role_chaining = "false"
{mode_block}
[aws.partitions.aws]
sts_endpoint = "{moto}"
iam_endpoint = "{moto}"

[[idp]]
id = "okta"
kind = "oidc"
issuer = "https://example.okta.com"
client_id = "rolegate"

[[role]]
arn = "{reader}"
alias = "graph-reader"
max_duration = "1h"

[[role]]
arn = "{writer}"
alias = "graph-writer"
max_duration = "1h"

[[map]]
idp = "okta"
groups = ["graph-readers", "graph-writers"]
roles = ["graph-reader"]

[[map]]
idp = "okta"
groups = ["graph-writers"]
roles = ["graph-writer"]
"#
    )
}

/// `rolegate <args>` with these credentials only.
fn rolegate(home: &Path, creds: &[(&str, &str)], args: &[&str]) -> (i32, Value, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rolegate"));
    crate::common::cli::isolate(&mut c, home);
    c.env("AWS_EC2_METADATA_DISABLED", "true").args(args);
    for (k, v) in creds {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("exit {code}, not JSON ({e}):\n{stdout}\n{stderr}"));
    (code, json, stderr)
}

/// assume_role: broker.yaml's role, roles.yaml trusting it; the doctor, run with the broker
/// role's own session (as on ECS), finds every role right, and the deployed trust policies are
/// byte for byte (as JSON) what `rolegate aws trust-policy` prints.
#[tokio::test]
async fn assume_role_stacks_deployed_into_moto_pass_the_doctor() {
    let Some(moto) = Moto::start() else { return };
    if venv_tool("python").is_none() {
        return;
    }
    let broker = deploy(
        &moto.url,
        "rolegate-broker",
        "broker.yaml",
        &[("BrokeredAccountIds", ACCOUNT)],
    );
    let broker_arn = broker["BrokerRoleArn"].as_str().unwrap();
    assert_eq!(
        broker_arn,
        format!("arn:aws:iam::{ACCOUNT}:role/rolegate-broker")
    );
    let roles = deploy(
        &moto.url,
        "rolegate-roles",
        "roles.yaml",
        &[("Mode", "assume_role"), ("BrokerPrincipalArn", broker_arn)],
    );
    let (reader, writer) = (
        roles["NeptuneReaderArn"].as_str().unwrap(),
        roles["NeptuneWriterArn"].as_str().unwrap(),
    );
    assert!(reader.ends_with(":role/rolegate/NeptuneReader"), "{roles}");

    // The broker's credentials: a session of its role, out of moto's STS.
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::new()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .endpoint_url(&moto.url)
            .build(),
    );
    let session = sts
        .assume_role()
        .role_arn(broker_arn)
        .role_session_name("ecs-task")
        .send()
        .await
        .unwrap();
    let c = session.credentials().unwrap();
    let creds = [
        ("AWS_ACCESS_KEY_ID", c.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key()),
        ("AWS_SESSION_TOKEN", c.session_token()),
    ];

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rolegate.toml");
    std::fs::write(&cfg, config(&moto.url, "", reader, writer)).unwrap();
    let cfg = cfg.display().to_string();
    let (code, report, err) = rolegate(dir.path(), &creds, &["doctor", "--config", &cfg, "--json"]);
    assert_eq!(code, 0, "{report:#}\n{err}");
    for r in report["roles"].as_array().unwrap() {
        assert_eq!(r["ok"], true, "{r}");
        // Permissions are managed policies: the inline budget is the revocation writer's.
        assert_eq!(r["inline_policy_chars_left"], 10_240, "{r}");
    }
    let iam = crate::common::iam::client(&moto.url);
    for (alias, name) in [
        ("graph-reader", "NeptuneReader"),
        ("graph-writer", "NeptuneWriter"),
    ] {
        let (code, written, err) = rolegate(
            dir.path(),
            &creds,
            &["aws", "trust-policy", "--config", &cfg, "--role", alias],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(trust_of(&iam, name).await, written, "{name}");
        let role = iam.get_role().role_name(name).send().await.unwrap();
        assert!(
            role.role().unwrap().permissions_boundary().is_some(),
            "{name} carries the boundary"
        );
    }
}

/// The broker's issuer documents served over https (tests/support/https_issuer.py) with a
/// self-signed certificate for 127.0.0.1, which the doctor trusts through `SSL_CERT_FILE`.
struct HttpsIssuer {
    url: String,
    cert: PathBuf,
    child: std::process::Child,
}

impl HttpsIssuer {
    fn start(dir: &Path, key: &rolegate::token::SigningKey) -> Option<HttpsIssuer> {
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-subj", "/CN=127.0.0.1", "-days", "1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(dir.join("tls.key"))
            .arg("-out")
            .arg(dir.join("tls.crt"))
            .output()
            .is_ok_and(|o| o.status.success());
        if !require_peer("openssl (a test certificate for the issuer)", ok) {
            return None;
        }
        std::fs::write(dir.join("jwks.json"), key.jwks().to_string()).unwrap();
        let mut child = Command::new(repo_root().join(".venv/bin/python"))
            .arg(repo_root().join("tests/support/https_issuer.py"))
            .args(["--port", &free_port().to_string(), "--path", "/rg"])
            .arg("--cert")
            .arg(dir.join("tls.crt"))
            .arg("--key")
            .arg(dir.join("tls.key"))
            .arg("--jwks")
            .arg(dir.join("jwks.json"))
            .arg("--exit-with-stdin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let url = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("https_issuer.py said {line:?}"))
            .trim()
            .to_string();
        Some(HttpsIssuer {
            url,
            cert: dir.join("tls.crt"),
            child,
        })
    }
}

impl Drop for HttpsIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// web_identity: the OIDC provider through IAM (moto's CloudFormation lacks the resource type),
/// roles.yaml in web_identity mode, the issuer's documents served over https; the doctor finds
/// every role, the provider and the issuer right, and each trust policy is what rolegate writes.
#[tokio::test]
async fn web_identity_stack_deployed_into_moto_passes_the_doctor() {
    let Some(moto) = Moto::start() else { return };
    if venv_tool("python").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = rolegate::token::SigningKey::generate().unwrap();
    std::fs::write(dir.path().join("issuer.pem"), key.to_pem()).unwrap();
    let Some(served) = HttpsIssuer::start(dir.path(), &key) else {
        return;
    };
    let issuer = served.url.clone();
    let iam = crate::common::iam::client(&moto.url);
    iam.create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("rolegate-prod")
        .send()
        .await
        .unwrap();
    let roles = deploy(
        &moto.url,
        "rolegate-roles",
        "roles.yaml",
        &[
            ("Mode", "web_identity"),
            ("IssuerUrl", &issuer),
            ("Audience", "rolegate-prod"),
        ],
    );
    let cfg = dir.path().join("rolegate.toml");
    let toml = config(
        &moto.url,
        "mode = \"web_identity\"",
        roles["NeptuneReaderArn"].as_str().unwrap(),
        roles["NeptuneWriterArn"].as_str().unwrap(),
    ) + &format!(
        "\n[issuer]\nurl = \"{issuer}\"\nsigning_key_file = \"issuer.pem\"\naudience = \"rolegate-prod\"\n"
    );
    std::fs::write(&cfg, toml).unwrap();
    let cfg = cfg.display().to_string();
    let cert = served.cert.display().to_string();
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("SSL_CERT_FILE", cert.as_str()),
    ];
    let (code, report, err) = rolegate(dir.path(), &creds, &["doctor", "--config", &cfg, "--json"]);
    assert_eq!(code, 0, "{report:#}\n{err}");
    for r in report["roles"].as_array().unwrap() {
        assert_eq!(r["ok"], true, "{r}");
    }
    assert_eq!(
        report["issuer"],
        json!({"url": issuer, "ok": true, "findings": []})
    );
    for (alias, name) in [
        ("graph-reader", "NeptuneReader"),
        ("graph-writer", "NeptuneWriter"),
    ] {
        let (code, written, err) = rolegate(
            dir.path(),
            &creds,
            &["aws", "trust-policy", "--config", &cfg, "--role", alias],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(trust_of(&iam, name).await, written, "{name}");
    }
    // The provider the roles trust is the one rolegate says to register.
    let (_, provider, _) = rolegate(
        dir.path(),
        &creds,
        &["aws", "oidc-provider", "--config", &cfg],
    );
    assert_eq!(provider["Url"], issuer);
    assert_eq!(provider["ClientIDList"], json!(["rolegate-prod"]));
}
