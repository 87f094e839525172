//! The client address behind proxies, end to end: a policy that allows a role only from an
//! office range (`aws:SourceIp`) must not be opened by a hop the client wrote itself, and the
//! per-IP rate limits count the same address — including the limits on the unauthenticated
//! endpoints that cost the broker work (`/saml/acs`, the OIDC callback, `/oauth2/token`).

use crate::common;

use common::app::{ROLES, TestApp, peers, server_and_aws};
use common::forge;
use serde_json::json;

/// Only from the office range, whatever the groups.
const OFFICE_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "OfficeOnly", "Effect": "Allow", "Action": "rolegate:*",
   "Resource": "arn:aws:iam::123456789012:role/ReadOnly",
   "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}
]}"#;

/// The broker behind a proxy on loopback (the test client plays the proxy).
fn config(p: &common::app::Peers, server_extra: &str, limits: &str) -> String {
    let head = server_and_aws(p).replace(
        "listen = \"127.0.0.1:0\"\n",
        &format!("listen = \"127.0.0.1:0\"\n{server_extra}\n"),
    );
    format!(
        "{head}\n[[idp]]\nid = \"web\"\nkind = \"oidc\"\nissuer = \"{iss}\"\nclient_id = \"rolegate\"\n{ROLES}\n[policy]\nfiles = [\"office.json\"]\n\n[limits]\n{limits}\n",
        iss = p.idp.issuer
    )
}

async fn spawn(p: &common::app::Peers, server_extra: &str, limits: &str) -> TestApp {
    TestApp::spawn_with_files(
        &config(p, server_extra, limits),
        &[("office.json", OFFICE_ONLY)],
        None,
        true,
    )
    .await
}

async fn credentials(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> u16 {
    let mut req = app
        .http
        .post(format!("{}/api/v1/credentials", app.url))
        .bearer_auth(token)
        .json(&json!({"role": "prod-readonly"}));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn forged_xff_hop_cannot_satisfy_aws_source_ip() {
    let Some(p) = peers() else { return };
    let app = spawn(p, "trusted_proxies = [\"127.0.0.1\"]", "").await;
    let t = forge::rs256(&forge::claims(&p.idp.issuer));
    let xff = |v: &'static str| [("x-forwarded-for", v)];
    // The proxy saw the client in the office: allowed, and STS really issued.
    assert_eq!(credentials(&app, &t, &xff("203.0.113.5")).await, 200);
    // Written by the proxy as ip:port (Azure Application Gateway), the client outside.
    assert_eq!(
        credentials(&app, &t, &xff("203.0.113.5, 198.51.100.9:4000")).await,
        403,
        "a forged office hop left of an ip:port hop must not count"
    );
    assert_eq!(
        credentials(&app, &t, &xff("203.0.113.5, [2001:db8::9]:443")).await,
        403
    );
    // An unparsable hop: the client is the proxy itself, never the hop left of it.
    assert_eq!(
        credentials(&app, &t, &xff("203.0.113.5, unknown")).await,
        403
    );
    assert_eq!(
        credentials(&app, &t, &xff("203.0.113.5, 198.51.100.9")).await,
        403
    );
    // A header the broker is not told to read is no way around it.
    let other = [
        ("x-forwarded-for", "198.51.100.9"),
        ("forwarded", "for=203.0.113.5"),
        ("cf-connecting-ip", "203.0.113.5"),
        ("x-real-ip", "203.0.113.5"),
    ];
    assert_eq!(credentials(&app, &t, &other).await, 403);
}

#[tokio::test]
async fn forged_forwarded_hop_cannot_satisfy_aws_source_ip() {
    let Some(p) = peers() else { return };
    let app = spawn(
        p,
        "trusted_proxies = [\"127.0.0.1\"]\nforwarded_header = \"forwarded\"",
        "",
    )
    .await;
    let t = forge::rs256(&forge::claims(&p.idp.issuer));
    let fwd = |v: &'static str| [("forwarded", v)];
    assert_eq!(
        credentials(&app, &t, &fwd("for=\"203.0.113.5:1234\";proto=https")).await,
        200
    );
    assert_eq!(
        credentials(&app, &t, &fwd("for=203.0.113.5, for=_hidden")).await,
        403
    );
    assert_eq!(
        credentials(
            &app,
            &t,
            &[
                ("forwarded", "for=198.51.100.9"),
                ("x-forwarded-for", "203.0.113.5")
            ]
        )
        .await,
        403,
        "with forwarded_header = \"forwarded\", X-Forwarded-For is not read"
    );
}

#[tokio::test]
async fn forwarding_header_from_an_untrusted_peer_is_ignored() {
    let Some(p) = peers() else { return };
    let app = spawn(p, "", "").await;
    let t = forge::rs256(&forge::claims(&p.idp.issuer));
    assert_eq!(
        credentials(&app, &t, &[("x-forwarded-for", "203.0.113.5")]).await,
        403
    );
}

#[tokio::test]
async fn forged_xff_hops_do_not_evade_the_per_ip_rate_limit() {
    let Some(p) = peers() else { return };
    let app = spawn(
        p,
        "trusted_proxies = [\"127.0.0.1\"]",
        "requests_per_minute_per_ip = 3",
    )
    .await;
    let t = forge::rs256(&forge::claims(&p.idp.issuer));
    let mut statuses = Vec::new();
    for i in 0..4 {
        // A fresh forged hop each time; the proxy-written hop stays the same client.
        let xff = format!("203.0.113.{i}, 198.51.100.9:4000");
        let res = app
            .http
            .get(format!("{}/api/v1/roles", app.url))
            .bearer_auth(&t)
            .header("x-forwarded-for", xff)
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

// --- per-IP limits on the unauthenticated endpoints that cost the broker work ---------------

/// A broker with each of the three limits at 2 a minute.
async fn limited(p: &common::app::Peers) -> TestApp {
    spawn(
        p,
        "",
        "saml_acs_per_minute_per_ip = 2\noidc_callbacks_per_minute_per_ip = 2\ntoken_requests_per_minute_per_ip = 2",
    )
    .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The third of three requests in a minute: the first two are not limited, the third is a
/// 429 that says so.
fn third_is_limited(statuses: Vec<(u16, String)>, page: bool) {
    assert_ne!(statuses[0].0, 429, "{statuses:?}");
    assert_ne!(statuses[1].0, 429, "{statuses:?}");
    let (status, body) = &statuses[2];
    assert_eq!(*status, 429, "{statuses:?}");
    assert!(body.contains("rate_limited"), "{body}");
    assert!(body.contains("more than 2 requests a minute"), "{body}");
    if page {
        assert!(
            body.contains("<html") || body.contains("<!DOCTYPE"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn saml_acs_flood_from_one_address_gets_429() {
    let Some(p) = peers() else { return };
    let app = limited(p).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = no_redirects()
            .post(format!("{}/saml/acs", app.url))
            .form(&[
                ("SAMLResponse", "PHNhbWxwOlJlc3BvbnNlLz4="),
                ("RelayState", "x"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    third_is_limited(statuses, true);
}

#[tokio::test]
async fn oidc_callback_flood_from_one_address_gets_429() {
    let Some(p) = peers() else { return };
    let app = limited(p).await;
    // The callback path is whatever this broker registers at the IdP: read it from a login.
    let start = no_redirects()
        .get(format!("{}/login/web", app.url))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_string();
    let redirect_uri = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("redirect_uri in the authorization request");
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = no_redirects()
            .get(format!("{redirect_uri}?state=forged-{i}&code=guess-{i}"))
            .send()
            .await
            .unwrap();
        statuses.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    third_is_limited(statuses, true);
}

#[tokio::test]
async fn token_endpoint_guessing_from_one_address_gets_429() {
    let Some(p) = peers() else { return };
    let app = limited(p).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let guess = format!("rgrt_guess-{i}");
        let r = no_redirects()
            .post(format!("{}/oauth2/token", app.url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "rolegate-cli"),
                ("refresh_token", guess.as_str()),
            ])
            .send()
            .await
            .unwrap();
        statuses.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    third_is_limited(statuses, false);
}

/// A header the broker cannot read correctly is a config error naming the key, never a
/// silent fallback; so is a guessable metrics token.
#[test]
fn config_names_a_bad_forwarded_header_and_a_short_metrics_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rolegate.toml");
    std::fs::write(dir.path().join("short"), "too-short").unwrap();
    for (toml, key) in [
        (
            "[server]\ntrusted_proxies = [\"10.0.0.0/8\"]\nforwarded_header = \"cf-connecting-ip\"\n",
            "server.forwarded_header",
        ),
        ("[metrics]\ntoken_file = \"short\"\n", "metrics.token"),
    ] {
        std::fs::write(&path, toml).unwrap();
        let e = rolegate::config::Config::load_with_env(Some(&path), false, std::iter::empty())
            .expect_err(toml)
            .to_string();
        assert!(e.contains(key), "{toml}: {e}");
    }
}
