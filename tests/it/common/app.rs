//! Runs the broker in-process on port 0 against real peers, the zero2prod way.

use super::peers::{Moto, OidcIdp};
use rolegate::clock::Clock;
use rolegate::config::Config;
use rolegate::startup::Application;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Peers shared by every test in the `it` binary (they die with the process).
pub(crate) struct Peers {
    pub moto: Moto,
    pub idp: OidcIdp,
}

pub(crate) fn peers() -> Option<&'static Peers> {
    static PEERS: OnceLock<Option<Peers>> = OnceLock::new();
    PEERS
        .get_or_init(|| {
            let moto = Moto::start()?;
            let idp = OidcIdp::start()?;
            Some(Peers { moto, idp })
        })
        .as_ref()
}

pub(crate) const ROLES: &str = r#"
[[role]]
arn = "arn:aws:iam::123456789012:role/ReadOnly"
alias = "prod-readonly"
account_name = "prod"
max_duration = "4h"

[[role]]
arn = "arn:aws:iam::123456789012:role/Admin"
alias = "admin"
account_name = "prod"
max_duration = "1h"

[[role]]
arn = "arn:aws:iam::123456789012:role/Sales"
alias = "sales"

[[role]]
arn = "arn:aws:iam::123456789012:role/sts-denied-role"
alias = "denied"

[[role]]
arn = "arn:aws:iam::123456789012:role/sts-throttled-role"
alias = "throttled"

[[role]]
arn = "arn:aws:iam::123456789012:role/sts-slow-role"
alias = "slow"

[[role]]
arn = "arn:aws:iam::123456789012:role/sts-lag-role"
alias = "lag"

[[role]]
arn = "arn:aws:iam::123456789012:role/sts-toolong-role"
alias = "toolong"
max_duration = "12h"
"#;

/// Port 0, moto as STS with the static keys `spawn` writes; IdPs, roles and rules follow.
pub(crate) fn server_and_aws(p: &Peers) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[aws]
role_chaining = "false"
access_key_id_file = "aws-key-id"
secret_access_key_file = "aws-secret"

[aws.partitions.aws]
sts_endpoint = "{moto}"
iam_endpoint = "{moto}"
"#,
        moto = p.moto.url
    )
}

/// `[server]` and `[aws]` for a broker at `public_url` listening on `listen`, with moto as STS
/// and, when given, the console federation double; IdPs, roles and rules follow.
pub(crate) fn broker_head(
    listen: &str,
    public_url: &str,
    moto: &str,
    federation: Option<&str>,
) -> String {
    let federation = federation
        .map(|f| format!("federation_url = \"{f}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[server]
listen = "{listen}"
public_url = "{public_url}"

[aws]
role_chaining = "false"
access_key_id_file = "aws-key-id"
secret_access_key_file = "aws-secret"

[aws.partitions.aws]
sts_endpoint = "{moto}"
iam_endpoint = "{moto}"
{federation}"#
    )
}

/// Roles in three accounts (two named), for the picker's grouping.
pub(crate) const ACCOUNT_ROLES: &str = r#"
[[role]]
arn = "arn:aws:iam::111122223333:role/ReadOnly"
alias = "prod-readonly"
account_name = "prod"
max_duration = "4h"

[[role]]
arn = "arn:aws:iam::111122223333:role/Admin"
alias = "prod-admin"
account_name = "prod"
max_duration = "1h"

[[role]]
arn = "arn:aws:iam::444455556666:role/DevReadOnly"
alias = "dev-readonly"
account_name = "dev"
max_duration = "90m"

[[role]]
arn = "arn:aws:iam::444455556666:role/DevAdmin"
alias = "dev-admin"
account_name = "dev"
max_duration = "2h"

[[role]]
arn = "arn:aws:iam::777788889999:role/PowerUser"
alias = "sandbox-poweruser"

[[role]]
arn = "arn:aws:iam::111122223333:role/Finance"
alias = "finance-readonly"
account_name = "prod"
"#;

/// The standard test config: the oidc-provider IdP as `web`, moto as STS.
pub(crate) fn base_config(p: &Peers, idp_extra: &str) -> String {
    format!(
        r#"{head}
[[idp]]
id = "web"
kind = "oidc"
issuer = "{issuer}"
client_id = "rolegate"
audiences = ["mobile-app", "rolegate-es"]
{idp_extra}

{ROLES}

[[map]]
idp = "web"
groups = ["eng"]
roles = ["prod-readonly", "denied", "throttled", "toolong"]

[[map]]
idp = "web"
groups = ["sre"]
roles = ["admin"]
"#,
        head = server_and_aws(p),
        issuer = p.idp.issuer,
    )
}

/// The standard test config ([`base_config`]) plus one IAM policy document (`[policy] files`).
pub(crate) async fn spawn_with_policy(p: &Peers, document: &str) -> TestApp {
    spawn_with_policy_and(p, document, "").await
}

/// As [`spawn_with_policy`], with more TOML at the end (`[revocation]`, more roles).
pub(crate) async fn spawn_with_policy_and(p: &Peers, document: &str, extra: &str) -> TestApp {
    let config = format!(
        "{}\n{extra}\n[policy]\nfiles = [\"policy.json\"]\n",
        base_config(p, "")
    );
    TestApp::spawn_with_files(&config, &[("policy.json", document)], None, true).await
}

pub(crate) struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    pub state: actix_web::web::Data<rolegate::state::AppState>,
    pub metrics: std::sync::Arc<rolegate::metrics::Metrics>,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    pub(crate) async fn spawn(toml: &str) -> TestApp {
        Self::spawn_with(toml, None, true).await
    }

    /// `clock`: inject one (old fixtures); `wait_ready`: false when readiness is expected to fail.
    pub(crate) async fn spawn_with(
        toml: &str,
        clock: Option<Arc<dyn Clock>>,
        wait_ready: bool,
    ) -> TestApp {
        Self::spawn_with_files(toml, &[], clock, wait_ready).await
    }

    /// `files` are written next to the config first (keys, JWKS files named by the config).
    pub(crate) async fn spawn_with_files(
        toml: &str,
        files: &[(&str, &str)],
        clock: Option<Arc<dyn Clock>>,
        wait_ready: bool,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        std::fs::write(dir.path().join("aws-key-id"), "testing").unwrap();
        std::fs::write(dir.path().join("aws-secret"), "testing").unwrap();
        let path = dir.path().join("rolegate.toml");
        std::fs::write(&path, toml).unwrap();
        let config = Config::load_with_env(Some(&path), false, std::iter::empty())
            .unwrap_or_else(|e| panic!("test config invalid: {e}\n{toml}"));
        let app = match clock {
            Some(c) => Application::build_with_clock(config, c).await,
            None => Application::build(config).await,
        }
        .expect("broker starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let state = app.state();
        let metrics = app.metrics();
        tokio::spawn(app.run_until_stopped());
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let t = TestApp {
            url,
            http,
            handle,
            state,
            metrics,
            dir,
        };
        if wait_ready {
            t.wait_ready(Duration::from_secs(15)).await;
        }
        t
    }

    pub(crate) async fn wait_ready(&self, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.url)).send().await
                && r.status() == 200
            {
                return;
            }
            if std::time::Instant::now() > deadline {
                let body = match self.http.get(format!("{}/readyz", self.url)).send().await {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(e) => e.to_string(),
                };
                panic!("broker not ready within {within:?}: {body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn credentials(
        &self,
        token: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/credentials", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("POST /api/v1/credentials")
    }

    pub(crate) async fn roles(&self, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/api/v1/roles", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET roles")
    }

    pub(crate) async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let h = self.handle.clone();
        // Stop without waiting: the runtime may be shutting down with the test.
        drop(h.stop(false));
    }
}

/// Proves credentials came out of STS: GetCallerIdentity with them, against moto.
pub(crate) async fn caller_identity_arn(sts_url: &str, creds: &serde_json::Value) -> String {
    let c = aws_sdk_sts::config::Credentials::new(
        creds["AccessKeyId"].as_str().unwrap(),
        creds["SecretAccessKey"].as_str().unwrap(),
        Some(creds["SessionToken"].as_str().unwrap().to_string()),
        None,
        "test",
    );
    let conf = aws_sdk_sts::config::Builder::new()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .credentials_provider(c)
        .endpoint_url(sts_url)
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    out.arn().unwrap_or_default().to_string()
}
