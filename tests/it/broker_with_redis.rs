//! The broker on a real redis-server: Redis stopped mid-test → 503 `store_unavailable` (JSON
//! for the API, a page for browsers) and not ready (fail closed, no check skipped); Redis back →
//! the broker recovers by itself.

use crate::common;

use common::app::{TestApp, base_config, caller_identity_arn, peers};
use common::forge;
use common::peers::Redis;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn redis_config(p: &common::app::Peers, redis_url: &str) -> String {
    base_config(p, "").replacen(
        "[aws]",
        &format!("[store]\nbackend = \"redis\"\nredis_url = \"{redis_url}\"\n\n[aws]"),
        1,
    )
}

#[tokio::test]
async fn redis_stopped_mid_test_fails_closed_then_recovers() {
    let Some(p) = peers() else { return };
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let app = TestApp::spawn(&redis_config(p, &redis.url)).await;
    let token = forge::rs256(&forge::claims(&p.idp.issuer));

    let ok = app
        .credentials(&token, json!({"role": "prod-readonly"}))
        .await;
    assert_eq!(ok.status(), 200);
    let ready: Value = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["store"]["backend"], "redis");

    redis.stop();
    let started = Instant::now();
    let res = app
        .credentials(&token, json!({"role": "prod-readonly"}))
        .await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "store_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "fails fast, took {:?}",
        started.elapsed()
    );
    let readyz = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let readyz: Value = readyz.json().await.unwrap();
    assert_eq!(readyz["checks"]["store"]["status"], "unavailable");
    // A browser with a session cookie gets a page saying so (with the request id), not JSON,
    // and is not treated as signed out: its session may well be fine once Redis is back.
    let session = "ab".repeat(32);
    let page = app
        .http
        .get(format!("{}/", app.url))
        .header(
            "cookie",
            format!("rolegate_session={session}; __Host-rolegate_session={session}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.text().await.unwrap();
    assert!(
        page.contains("store_unavailable") && page.contains("Request ID"),
        "{page}"
    );
    // Liveness is not readiness: the process is fine, only its store is not.
    assert_eq!(
        app.http
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    redis.restart();
    app.wait_ready(Duration::from_secs(10)).await;
    let res = app
        .credentials(&token, json!({"role": "prod-readonly"}))
        .await;
    assert_eq!(res.status(), 200, "recovered without a broker restart");
    let creds: Value = res.json().await.unwrap();
    assert!(
        caller_identity_arn(&p.moto.url, &creds)
            .await
            .contains("assumed-role/ReadOnly/")
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains("rolegate_store_errors_total{backend=\"redis\"}"));
    // Every store operation is timed, by operation.
    assert!(
        metrics.contains("rolegate_store_duration_seconds_count{backend=\"redis\",op=\"incr\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn broker_starts_unready_while_redis_is_down() {
    let Some(p) = peers() else { return };
    let port = common::peers::free_port();
    let app = TestApp::spawn_with(
        &redis_config(p, &format!("redis://127.0.0.1:{port}/0")),
        None,
        false,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let readyz = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(readyz.status(), 503);
        let body: Value = readyz.json().await.unwrap();
        if body["checks"]["idps"]["web"] == "ok" {
            assert_eq!(body["checks"]["store"]["status"], "unavailable");
            break;
        }
        assert!(Instant::now() < deadline, "IdP keys never loaded: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = forge::rs256(&forge::claims(&p.idp.issuer));
    let res = app
        .credentials(&token, json!({"role": "prod-readonly"}))
        .await;
    assert_eq!(
        res.status(),
        503,
        "no credentials without the store's checks"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "store_unavailable");
}

/// An evicting Redis may drop a replay-cache key before it expires, and the same assertion
/// then signs in twice: the broker refuses to start on one, saying how to fix it.
#[tokio::test]
async fn redis_that_evicts_replay_keys_is_refused_at_start() {
    let Some(p) = peers() else { return };
    let args: Vec<String> = [
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ]
    .iter()
    .map(std::string::ToString::to_string)
    .collect();
    let Some(redis) = Redis::start_with(&args) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("aws-key-id"), "testing").unwrap();
    std::fs::write(dir.path().join("aws-secret"), "testing").unwrap();
    let path = dir.path().join("rolegate.toml");
    std::fs::write(&path, redis_config(p, &redis.url)).unwrap();
    let config =
        rolegate::config::Config::load_with_env(Some(&path), false, std::iter::empty()).unwrap();
    let Err(err) = rolegate::startup::Application::build(config).await else {
        panic!("started on a Redis that evicts keys")
    };
    let err = err.to_string();
    assert!(err.contains("`allkeys-lru`"), "{err}");
    assert!(
        err.contains("maxmemory-policy noeviction"),
        "says how to fix it: {err}"
    );
    assert!(
        !err.contains(&redis.url),
        "no URL (it may hold a password): {err}"
    );
}

/// Switched to an eviction policy while the broker runs: not ready (a stable reason code).
#[tokio::test]
async fn redis_switched_to_eviction_at_run_time_makes_the_broker_not_ready() {
    let Some(p) = peers() else { return };
    let Some(redis) = Redis::start() else {
        return;
    };
    let app = TestApp::spawn(&redis_config(p, &redis.url)).await;
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("volatile-lru")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let readyz = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let body: Value = readyz.json().await.unwrap();
    assert_eq!(
        body["checks"]["store"]["status"], "unsafe_setting",
        "{body}"
    );
}
