//! STS that hangs (the fault hook holds `sts-slow-*` roles for 20 s): the SDK's attempt and
//! operation timeouts end the wait, and the client gets a clear 503 `sts_unavailable` well
//! before the hook would have answered — no hung request, no 502, nothing issued.
//! (Throttling's bounded retries are in tests/it/token_exchange.rs.)

use crate::common;

use common::app::{TestApp, base_config, peers};
use common::forge;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_sts_is_a_bounded_wait_and_a_clear_503() {
    let Some(p) = peers() else { return };
    let toml = format!(
        "{}\n[[map]]\nidp = \"web\"\ngroups = [\"eng\"]\nroles = [\"slow\"]\n",
        base_config(p, "")
    );
    let app = TestApp::spawn(&toml).await;
    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!("sts-slow-test");
    let started = Instant::now();
    let r = app
        .credentials(&forge::rs256(&c), json!({"role": "slow"}))
        .await;
    let waited = started.elapsed();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "sts_unavailable", "{body}");
    assert!(
        waited < Duration::from_secs(16),
        "the operation timeout (12 s) bounds the wait: {waited:?}"
    );
    assert!(app.metrics().await.contains("rolegate_sts_errors_total"));
}

/// SIGTERM while a credentials request waits on STS (the hook answers `sts-lag-*` after 2 s):
/// the broker stops accepting, finishes that request with real credentials, then exits 0 —
/// what a rolling deploy or a node drain does to a replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_then_exits_cleanly() {
    use std::process::{Command, Stdio};
    let Some(p) = peers() else { return };
    let port = common::peers::free_port();
    let toml = format!(
        "{}\n[[map]]\nidp = \"web\"\ngroups = [\"eng\"]\nroles = [\"lag\"]\n",
        base_config(p, "")
    )
    .replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\"\nshutdown_timeout = \"10s\""),
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("rolegate.toml", toml.as_str()),
        ("aws-key-id", "testing"),
        ("aws-secret", "testing"),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let mut broker = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["serve", "--config"])
        .arg(dir.path().join("rolegate.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "broker not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!("shutdown-test");
    let token = forge::rs256(&c);
    let in_flight = {
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/api/v1/credentials"))
                .bearer_auth(token)
                .json(&json!({"role": "lag"}))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let term = Command::new("kill")
        .args(["-TERM", &broker.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());

    let r = in_flight
        .await
        .unwrap()
        .expect("the in-flight request got an answer");
    assert_eq!(r.status(), 200, "finished, not cut off");
    let creds: Value = r.json().await.unwrap();
    assert!(creds["SessionToken"].is_string());
    let deadline = Instant::now() + Duration::from_secs(12);
    let status = loop {
        if let Some(s) = broker.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "no longer accepting"
    );
}
