//! Small holes from the security review (issue 16, "Low"), each closed with a test named after
//! the attack: what a browser or an unauthenticated caller could learn or steer.

mod common;

use common::app::{TestApp, base_config, peers};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn return_to_with_hidden_chars_is_refused() {
    let Some(p) = peers() else { return };
    let app = TestApp::spawn(&base_config(p, "")).await;
    for bad in [
        "/%09/evil.example",
        "/%0a%0dSet-Cookie:x=1",
        "/%20/evil.example",
        "/%2509/evil.example",
        "/\u{2028}/evil.example",
        "/\u{a0}x",
    ] {
        let mut u = url::Url::parse(&format!("{}/login/web", app.url)).unwrap();
        u.query_pairs_mut().append_pair("return_to", bad);
        let r = no_redirects().get(u).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad:?}");
        assert!(r.text().await.unwrap().contains("bad_return_to"), "{bad:?}");
    }
    // An ordinary deep link still works.
    let mut u = url::Url::parse(&format!("{}/login/web", app.url)).unwrap();
    u.query_pairs_mut()
        .append_pair("return_to", "/?q=prod&destination=%2Fs3%2Fbuckets");
    assert_eq!(no_redirects().get(u).send().await.unwrap().status(), 302);
}

/// Readiness answers anyone who reaches the port: a broken policy file must not hand out its
/// path or the parser's message, only a stable reason code.
#[tokio::test]
async fn readyz_shows_no_internal_error_text() {
    let Some(p) = peers() else { return };
    let good = r#"{"Version": "2012-10-17", "Statement": [
      {"Sid": "Nothing", "Effect": "Deny", "Action": "rolegate:Console", "Resource": "arn:aws:iam::123456789012:role/Sales"}]}"#;
    let toml = format!(
        "{}\n[policy]\nfiles = [\"secret-name.json\"]\n",
        base_config(p, "")
    );
    let app = TestApp::spawn_with_files(&toml, &[("secret-name.json", good)], None, true).await;
    std::fs::write(
        app.dir.path().join("secret-name.json"),
        "{ \"Statement\": oops",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        let body: serde_json::Value = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["checks"]["policy"]["status"] == "stale" {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(body["checks"]["policy"]["error"], "reload_failed", "{body}");
    let text = body.to_string();
    for leak in ["secret-name", "oops", "line", "column", "expected", "/tmp"] {
        assert!(!text.contains(leak), "readyz leaks `{leak}`: {text}");
    }
}

async fn get_metrics(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String) {
    let mut r = app.http.get(format!("{}/metrics", app.url));
    for (n, v) in headers {
        r = r.header(*n, *v);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Without a token, /metrics answers only a direct loopback connection: a request a proxy
/// relayed from outside (a forwarding header, or a peer that is a trusted proxy) gets nothing.
#[tokio::test]
async fn metrics_relayed_by_a_proxy_without_a_token_are_refused() {
    let Some(p) = peers() else { return };
    let app = TestApp::spawn(&base_config(p, "")).await;
    let (status, body) = get_metrics(&app, &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("rolegate_"), "{body}");
    for h in [
        ("x-forwarded-for", "198.51.100.7"),
        ("forwarded", "for=198.51.100.7"),
        ("x-real-ip", "198.51.100.7"),
    ] {
        let (status, body) = get_metrics(&app, &[h]).await;
        assert_eq!(status, 404, "{h:?}");
        assert!(!body.contains("rolegate_"), "{h:?}: {body}");
    }
    let behind = base_config(p, "").replacen(
        "listen = \"127.0.0.1:0\"\n",
        "listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]\n",
        1,
    );
    let app = TestApp::spawn(&behind).await;
    assert_eq!(get_metrics(&app, &[]).await.0, 404, "the peer is a proxy");
}

#[tokio::test]
async fn metrics_without_the_bearer_token_are_refused() {
    let Some(p) = peers() else { return };
    let token = "m3tr1cs-0123456789abcdef0123456789abcdef";
    let toml = format!(
        "{}\n[metrics]\ntoken_file = \"metrics-token\"\n",
        base_config(p, "")
    );
    let app = TestApp::spawn_with_files(&toml, &[("metrics-token", token)], None, true).await;
    let wrong = format!("Bearer {token}x");
    let right = format!("Bearer {token}");
    for headers in [vec![], vec![("authorization", wrong.as_str())]] {
        let (status, body) = get_metrics(&app, &headers).await;
        assert_eq!(status, 401, "{headers:?}");
        assert!(!body.contains("rolegate_"), "{body}");
        assert!(!body.contains(token), "{body}");
    }
    let (status, body) = get_metrics(
        &app,
        &[
            ("authorization", right.as_str()),
            ("x-forwarded-for", "198.51.100.7"),
        ],
    )
    .await;
    assert_eq!(status, 200, "with the token, from anywhere");
    assert!(body.contains("rolegate_"), "{body}");
}
