//! The README's first command, as a user runs it: the real binary with `serve --dev` against a
//! local STS emulator, driven by the exact curl steps its banner prints. Also: logs carry
//! request ids and an audit event, never a secret; SIGTERM shuts down cleanly; a browser signs in
//! through the built-in dev IdP (and its code flow refuses what a real OP would).

use crate::common;

use common::app::caller_identity_arn;
use common::cli::{self, assert_success};
use common::dev_broker::{password_grant, start, start_with, wait_ready};
use common::peers::Moto;
use common::web;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

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
    let token: Value = password_grant(&http, &broker, "alice")
        .await
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
    assert_dev_alice_session(&caller_identity_arn(&moto.url, &creds).await);

    // The embedded dev policy makes alice (sre) an administrator of sessions; bob is not one.
    let all: Value = http
        .get(format!("{}/api/v1/sessions?all=true", broker.url))
        .bearer_auth(&id_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["sessions"].as_array().unwrap().len(), 1, "{all}");
    let bob: Value = password_grant(&http, &broker, "bob")
        .await
        .json()
        .await
        .unwrap();
    let res = http
        .get(format!("{}/api/v1/sessions?all=true", broker.url))
        .bearer_auth(bob["id_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "bob administers nothing");

    // The dev IdP refuses unknown users with a hint.
    let res = password_grant(&http, &broker, "mallory").await;
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
    assert_eq!(e["session_name"], "dev.alice", "{e}");
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

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The authorize URL's query as pairs, to post back like the page's hidden fields do.
fn query_pairs(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// What `GET /` on `scripts/dev` leads to: the dev IdP's sign-in page, then the role picker,
/// through the broker's ordinary OIDC code flow (PKCE, nonce, single-use state).
#[tokio::test]
async fn serve_dev_signs_a_browser_in_through_the_dev_idp() {
    let Some(moto) = Moto::start() else { return };
    let broker = start(&moto, "127.0.0.1:0");
    let http = web::client();
    wait_ready(&http, &broker).await;
    let base = broker.url.as_str();
    assert!(
        broker.read("stdout").contains(&format!("open {base}/")),
        "the banner points at the browser"
    );

    // One IdP: `/` goes straight to it.
    let home = web::get(base, "/", None).await;
    assert_eq!(home.status(), 303);
    assert_eq!(location(&home), "/login/dev");
    // Opened as localhost: the sign-in starts at the address the broker lives at, so the
    // pending-login cookie and the IdP's answer meet on one host.
    let port = url::Url::parse(base).unwrap().port().unwrap();
    let other = web::client()
        .get(format!("{base}/login/dev?return_to=%2F"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 303);
    assert_eq!(location(&other), format!("{base}/login/dev?return_to=%2F"));
    assert!(web::cookie_pair(&other, "rolegate_oidc_pending").is_none());
    let start = web::get(base, "/login/dev", None).await;
    assert_eq!(start.status(), 302);
    let pending = web::cookie_pair(&start, "rolegate_oidc_pending").unwrap();
    let authorize = location(&start);
    assert!(
        authorize.starts_with(&format!("{base}/dev-idp/authorize?")),
        "{authorize}"
    );

    let page = http.get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let page = page.text().await.unwrap();
    assert!(page.contains("Sign in as Alice Example"), "{page}");
    assert!(page.contains("groups: eng, sre"), "{page}");

    let mut form = query_pairs(&authorize);
    form.push(("username".into(), "alice".into()));
    let chosen = http
        .post(format!("{base}/dev-idp/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), 303);
    let callback = location(&chosen);
    assert!(
        callback.starts_with(&format!("{base}/oidc/callback/dev?code=rgdc_")),
        "{callback}"
    );

    let done = http
        .get(&callback)
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    assert_eq!(location(&done), "/");
    let session = web::cookie_pair(&done, "rolegate_session").unwrap();
    let picker = web::get(base, "/", Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(picker.contains("signed in via Development IdP"), "{picker}");
    assert!(
        picker.contains("dev-readonly") && picker.contains("dev-admin"),
        "{picker}"
    );

    // The banner's CLI lines with this browser session at the loopback flow's Allow button
    // (tests/support/cli_browser.py stands in for the person), then credentials moto accepts.
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut c = cli::rolegate(home.path());
        c.args(args).args(["--broker", base]);
        c
    };
    let login = cli::login_through_session(cli(&["login"]), &session);
    assert_success(&login, "rolegate login");
    let out = cli(&["credentials", "--role", "dev-readonly"])
        .output()
        .unwrap();
    assert_success(&out, "rolegate credentials");
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_dev_alice_session(&caller_identity_arn(&moto.url, &creds).await);

    // The callback is single use: the same code and state again change nothing.
    let again = http
        .get(&callback)
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403);
    assert!(web::cookie_pair(&again, "rolegate_session").is_none());

    // Cancel: the broker is told access_denied and signs nobody in.
    let start = web::get(base, "/login/dev", None).await;
    let pending = web::cookie_pair(&start, "rolegate_oidc_pending").unwrap();
    let mut form = query_pairs(&location(&start));
    form.push(("decision".into(), "deny".into()));
    let cancelled = http
        .post(format!("{base}/dev-idp/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(location(&cancelled).contains("error=access_denied"));
    let refused = http
        .get(location(&cancelled))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 200, "a Cancel is a choice, not an error");
    assert!(web::cookie_pair(&refused, "rolegate_session").is_none());
    assert!(refused.text().await.unwrap().contains("Sign-in cancelled"));
}

/// The dev IdP is still an OpenID Provider that a client could misuse: every authorization
/// request it cannot vouch for is a page (never a redirect), and its codes are single use,
/// bound to the redirect URI and to the PKCE challenge.
#[tokio::test]
async fn the_dev_idp_refuses_bad_authorization_requests_and_code_misuse() {
    let Some(moto) = Moto::start() else { return };
    let broker = start(&moto, "127.0.0.1:0");
    let http = web::client();
    wait_ready(&http, &broker).await;
    let base = broker.url.as_str();
    let callback = format!("{base}/oidc/callback/dev");
    // challenge = BASE64URL(SHA-256(verifier)) (RFC 7636 §4.2).
    let verifier = "dBjftJeZ4CVP-mJ92K1zmOfvBxaVTLvFwSYV5r4pUx4";
    let challenge = "_Q1CcZJhL91W_Z6-UOFLj-5i4GCaBuxBQ4m1GwgqPkw";
    let good = |k: &str, v: &str| {
        let mut p: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", "rolegate-dev"),
            ("redirect_uri", callback.as_str()),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .filter(|(name, _)| *name != k)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        if !v.is_empty() {
            p.push((k.to_string(), v.to_string()));
        }
        p
    };
    for (field, value, says) in [
        ("redirect_uri", "https://evil.example/cb", "redirect_uri"),
        ("redirect_uri", "", "redirect_uri"),
        ("client_id", "someone-else", "client_id"),
        ("response_type", "token", "response_type"),
        ("code_challenge_method", "plain", "PKCE"),
        ("code_challenge", "", "PKCE"),
        ("state", "", "state"),
    ] {
        let params = good(field, value);
        let url =
            url::Url::parse_with_params(&format!("{base}/dev-idp/authorize"), &params).unwrap();
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{field}={value}");
        assert!(r.headers().get("location").is_none(), "{field}={value}");
        assert!(r.text().await.unwrap().contains(says), "{field}={value}");
        let mut form = params.clone();
        form.push(("username".into(), "alice".into()));
        let r = http
            .post(format!("{base}/dev-idp/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "POST {field}={value}");
        assert!(
            r.headers().get("location").is_none(),
            "POST {field}={value}"
        );
    }
    let mut unknown = good("", "");
    unknown.push(("username".into(), "mallory".into()));
    let r = http
        .post(format!("{base}/dev-idp/authorize"))
        .form(&unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());

    let code = || async {
        let mut form = good("", "");
        form.push(("username".into(), "bob".into()));
        let r = http
            .post(format!("{base}/dev-idp/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let to = url::Url::parse(&location(&r)).unwrap();
        let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "s1");
        q["code"].clone()
    };
    let redeem = |code: String, verifier: &'static str, redirect: String| {
        let http = http.clone();
        let base = base.to_string();
        async move {
            let r = http
                .post(format!("{base}/dev-idp/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "rolegate-dev"),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect.as_str()),
                    ("code_verifier", verifier),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let wrong_verifier = "x".repeat(43).leak();

    // The good path, then the same code again.
    let c = code().await;
    let (status, body) = redeem(c.clone(), verifier, callback.clone()).await;
    assert_eq!(status, 200, "{body}");
    let claims = body["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["preferred_username"], "bob");
    assert_eq!(claims["nonce"], "n1");
    let (status, body) = redeem(c, verifier, callback.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    // A wrong verifier is refused and burns the code.
    let c = code().await;
    let (status, _) = redeem(c.clone(), wrong_verifier, callback.clone()).await;
    assert_eq!(status, 400);
    let (status, _) = redeem(c, verifier, callback.clone()).await;
    assert_eq!(status, 400, "a burnt code stays burnt");

    // Another redirect_uri than the authorization request's.
    let c = code().await;
    let (status, body) = redeem(c, verifier, format!("{base}/elsewhere")).await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("redirect_uri"), "{body}");
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

/// The dev IdP's subject is the username: the session name is `<idp>.<subject>`, readable, as
/// a newcomer's first ARN should be (see aws::session_name for the hashed forms).
fn assert_dev_alice_session(arn: &str) {
    assert_eq!(
        arn, "arn:aws:sts::123456789012:assumed-role/DevReadOnly/dev.alice",
        "{arn}"
    );
}
