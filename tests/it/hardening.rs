//! Small holes from the security review, each closed with a test named after
//! the attack: what a browser or an unauthenticated caller could learn or steer.

use crate::common;

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

/// `GET /api/v1/explain` for a role the caller cannot use said which statements exist, the
/// admin groups an Allow wants and the address ranges of a Deny: a map for an attacker.
#[tokio::test]
async fn explain_reveals_nothing_about_a_role_the_caller_cannot_use() {
    let Some(p) = peers() else { return };
    let policy = r#"{"Version": "2012-10-17", "Statement": [
      {"Sid": "AdminsOnly", "Effect": "Allow", "Action": "rolegate:*",
       "Resource": "arn:aws:iam::123456789012:role/Admin",
       "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "platform-root-admins"}}},
      {"Sid": "AdminOnlyFromVpn", "Effect": "Deny", "Action": "rolegate:*",
       "Resource": "arn:aws:iam::123456789012:role/Admin",
       "Condition": {"NotIpAddress": {"aws:SourceIp": "10.99.0.0/16"}}},
      {"Sid": "ReadOnlyOffHours", "Effect": "Deny", "Action": "rolegate:Console",
       "Resource": "arn:aws:iam::123456789012:role/ReadOnly",
       "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}
    ]}"#;
    let toml = format!("{}\n[policy]\nfiles = [\"p.json\"]\n", base_config(p, ""));
    let app = TestApp::spawn_with_files(&toml, &[("p.json", policy)], None, true).await;
    // alice is in `eng`: prod-readonly via [[map]], not admin.
    let t = common::forge::rs256(&common::forge::claims(&p.idp.issuer));
    let explain = |role: &str, action: &str| {
        let mut u = url::Url::parse(&format!("{}/api/v1/explain", app.url)).unwrap();
        u.query_pairs_mut()
            .append_pair("role", role)
            .append_pair("action", action);
        app.http.get(u).bearer_auth(&t).send()
    };
    for role in [
        "admin",
        "arn:aws:iam::123456789012:role/Admin",
        "no-such-role",
    ] {
        let res = explain(role, "console").await.unwrap();
        assert_eq!(res.status(), 200, "{role}: unknown and denied look alike");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"decision": "denied", "role": role, "action": "console"})
        );
    }
    // A role the caller can use: only the statements aimed at it.
    let body: serde_json::Value = explain("prod-readonly", "console")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["decision"], "allow", "{body}");
    let text = body.to_string();
    for secret in [
        "platform-root-admins",
        "10.99.0.0",
        "AdminsOnly",
        "AdminOnlyFromVpn",
        "role/Admin",
    ] {
        assert!(!text.contains(secret), "leaks `{secret}`: {text}");
    }
    assert!(text.contains("ReadOnlyOffHours"), "{text}");
}

// --- outbound fetches of keys and metadata -------------------------------------------------

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the fake IdP's `/jwks` does.
#[derive(Clone)]
enum Jwks {
    /// A chunked body that never ends.
    Endless,
    /// `302` to this URL.
    RedirectTo(String),
}

#[derive(Default)]
struct Seen {
    jwks_requests: AtomicUsize,
    /// Most bytes of body written on one connection before the client hung up.
    most_written: AtomicUsize,
    hung_up: AtomicUsize,
}

/// A real HTTP/1.1 server on a free loopback port, speaking just enough OIDC discovery to send
/// the broker to `/jwks`. Returns its base URL.
async fn fake_idp(jwks: Jwks, seen: Arc<Seen>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let me = base.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let (jwks, seen, me) = (jwks.clone(), seen.clone(), me.clone());
            tokio::spawn(async move {
                let path = read_request_path(&mut s).await;
                if path.ends_with("/.well-known/openid-configuration") {
                    let doc = serde_json::json!({"issuer": me, "jwks_uri": format!("{me}/jwks"),
                        "authorization_endpoint": format!("{me}/authorize"), "token_endpoint": format!("{me}/token")})
                    .to_string();
                    let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{doc}", doc.len()).as_bytes()).await;
                    return;
                }
                seen.jwks_requests.fetch_add(1, Ordering::SeqCst);
                match jwks {
                    Jwks::RedirectTo(to) => {
                        let _ = s.write_all(format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await;
                    }
                    Jwks::Endless => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                        if s.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
                        let mut written = 0usize;
                        // Stop by ourselves at 1 GiB: a client that reads it all is a failure anyway.
                        while written < 1 << 30 {
                            if s.write_all(chunk.as_bytes()).await.is_err() {
                                break;
                            }
                            written += 0x10000;
                        }
                        seen.most_written.fetch_max(written, Ordering::SeqCst);
                        seen.hung_up.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    base
}

async fn read_request_path(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1).unwrap_or("/").to_string()
}

/// A broker whose only IdP is `issuer` (keys are fetched in the background; never ready here).
async fn broker_for(p: &common::app::Peers, issuer: &str) -> TestApp {
    let toml = format!(
        "{}\n[[idp]]\nid = \"fake\"\nkind = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"rolegate\"\n",
        common::app::server_and_aws(p)
    );
    TestApp::spawn_with(&toml, None, false).await
}

async fn wait_until(what: &str, within: std::time::Duration, ok: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn endless_jwks_body_is_cut_off_while_streaming() {
    let Some(p) = peers() else { return };
    let seen = Arc::new(Seen::default());
    let issuer = fake_idp(Jwks::Endless, seen.clone()).await;
    let _app = broker_for(p, &issuer).await;
    wait_until(
        "the broker never hung up on an endless JWKS",
        std::time::Duration::from_secs(20),
        || seen.hung_up.load(Ordering::SeqCst) > 0,
    )
    .await;
    let most = seen.most_written.load(Ordering::SeqCst);
    // The cap is 512 KiB; socket buffers may hold a few MiB more, never hundreds.
    assert!(most < 16 << 20, "read {most} bytes before giving up");
}

#[tokio::test]
async fn jwks_redirect_to_plain_http_is_not_followed() {
    let Some(p) = peers() else { return };
    // Where the redirect points: a server that would hand out the attacker's keys.
    let attacker = Arc::new(Seen::default());
    let attacker_url = fake_idp(Jwks::Endless, attacker.clone()).await;
    let seen = Arc::new(Seen::default());
    let issuer = fake_idp(
        Jwks::RedirectTo(format!("{attacker_url}/jwks")),
        seen.clone(),
    )
    .await;
    let app = broker_for(p, &issuer).await;
    wait_until(
        "the broker never asked for the JWKS",
        std::time::Duration::from_secs(20),
        || seen.jwks_requests.load(Ordering::SeqCst) >= 2,
    )
    .await;
    assert_eq!(
        attacker.jwks_requests.load(Ordering::SeqCst),
        0,
        "followed a redirect to http"
    );
    let ready: serde_json::Value = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["checks"]["idps"]["fake"], "keys_not_loaded",
        "{ready}"
    );
}
