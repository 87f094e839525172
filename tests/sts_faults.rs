//! STS that hangs (the fault hook holds `sts-slow-*` roles for 20 s): the SDK's attempt and
//! operation timeouts end the wait, and the client gets a clear 503 `sts_unavailable` well
//! before the hook would have answered — no hung request, no 502, nothing issued.
//! (Throttling's bounded retries are in tests/token_exchange.rs.)

mod common;

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
