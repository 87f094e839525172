//! The README's first command, as a user runs it: the real binary with `serve --dev` against a
//! local STS emulator, driven by the exact curl steps its banner prints. Also: logs carry
//! request ids and an audit event, never a secret; SIGTERM shuts down cleanly.

mod common;

use common::app::caller_identity_arn;
use common::peers::Moto;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Broker {
    child: std::process::Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(moto: &Moto, listen: &str) -> Broker {
    start_with(moto, listen, &[])
}

fn start_with(moto: &Moto, listen: &str, env: &[(&str, String)]) -> Broker {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["serve", "--dev"])
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .env("ROLEGATE_SERVER__LISTEN", listen)
        .env("ROLEGATE_SERVER__LOG_FORMAT", "json")
        .env("ROLEGATE_AWS__PARTITIONS__AWS__STS_ENDPOINT", &moto.url)
        .env("RUST_LOG", "info")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut b = Broker {
        child,
        url: String::new(),
        dir,
    };
    // Port 0: the kernel picks a free port (no race with other tests); the banner says which.
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.url.is_empty() {
        let out = b.read("stdout");
        if let Some(rest) = out.split("listening on ").nth(1) {
            b.url = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        assert!(Instant::now() < deadline, "no banner\n{}", b.read("stderr"));
        std::thread::sleep(Duration::from_millis(20));
    }
    b
}

impl Broker {
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

async fn wait_ready(http: &reqwest::Client, b: &Broker) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{}/readyz", b.url)).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "dev broker not ready\nstdout:\n{}\nstderr:\n{}",
        b.read("stdout"),
        b.read("stderr")
    );
}

#[tokio::test]
async fn serve_dev_works_as_its_banner_says_and_never_logs_secrets() {
    let Some(moto) = Moto::start() else { return };
    let mut broker = start(&moto, "127.0.0.1:0");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    wait_ready(&http, &broker).await;
    let banner = broker.read("stdout");
    assert!(
        banner.contains(&format!("{}/dev-idp/token", broker.url)),
        "{banner}"
    );
    assert!(banner.contains("/api/v1/credentials"), "{banner}");

    // Step 1 of the banner: a token from the dev IdP (a password grant).
    let token: Value = http
        .post(format!("{}/dev-idp/token", broker.url))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = token["id_token"].as_str().unwrap().to_string();
    // Step 2: roles.
    let roles: Value = http
        .get(format!("{}/api/v1/roles", broker.url))
        .bearer_auth(&id_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(roles["roles"].as_array().unwrap().len(), 2, "{roles}");
    // Step 3: credentials, proven against the emulator.
    let res = http
        .post(format!("{}/api/v1/credentials", broker.url))
        .bearer_auth(&id_token)
        .json(&serde_json::json!({"role": "dev-readonly", "duration_seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let creds: Value = res.json().await.unwrap();
    assert_eq!(
        caller_identity_arn(&moto.url, &creds).await,
        "arn:aws:sts::123456789012:assumed-role/DevReadOnly/alice"
    );

    // The dev IdP refuses unknown users with a hint.
    let res = http
        .post(format!("{}/dev-idp/token", broker.url))
        .form(&[
            ("grant_type", "password"),
            ("username", "mallory"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("alice"));

    // SIGTERM: graceful shutdown, exit 0.
    let pid = broker.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = broker.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");

    let logs = broker.read("stderr");
    for secret in [
        creds["SecretAccessKey"].as_str().unwrap(),
        creds["SessionToken"].as_str().unwrap(),
        id_token.as_str(),
        id_token.split('.').nth(2).unwrap(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
    let audit: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "rolegate::audit")
        .collect();
    assert_eq!(audit.len(), 1, "one audit event per issued credential");
    let e = &audit[0]["fields"];
    assert_eq!(e["event"], "credentials_issued");
    assert_eq!(e["role"], "arn:aws:iam::123456789012:role/DevReadOnly");
    assert_eq!(e["session_name"], "alice");
    assert_eq!(e["duration_secs"], 3600);
    assert_eq!(e["client_ip"], "127.0.0.1");
    assert!(
        audit[0]["span"]["request_id"]
            .as_str()
            .is_some_and(|r| r.len() == 16),
        "{}",
        audit[0]
    );
}

#[tokio::test]
async fn serve_dev_refuses_a_non_loopback_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["serve", "--dev"])
        .env("ROLEGATE_SERVER__LISTEN", "0.0.0.0:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

#[tokio::test]
async fn sighup_reloads_the_policy() {
    let Some(moto) = Moto::start() else { return };
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("extra.json");
    std::fs::write(&policy, r#"{"Version":"2012-10-17","Statement":{"Sid":"NoAdmin","Effect":"Deny","Action":"rolegate:*","Resource":"arn:aws:iam::123456789012:role/DevAdmin"}}"#).unwrap();
    let files = format!("[\"{}\"]", policy.display());
    let mut broker = start_with(&moto, "127.0.0.1:0", &[("ROLEGATE_POLICY__FILES", files)]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    wait_ready(&http, &broker).await;
    let pid = broker.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = http
            .get(format!("{}/metrics", broker.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains(r#"rolegate_policy_reloads_total{result="ok",trigger="sighup"} 1"#) {
            break;
        }
        assert!(Instant::now() < deadline, "no SIGHUP reload:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        broker.child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop the broker"
    );
}
