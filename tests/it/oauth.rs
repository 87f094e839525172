//! The CLI's OAuth 2.0 endpoints over HTTP, with a SAML-signed-in browser session approving:
//! the loopback flow (authorization code + PKCE S256 to 127.0.0.1 only), the RFC 8628 device
//! flow (pending, slow_down, approval, single use, denial, expiry, guess limits, disabled), the
//! broker token on the API (credentials checked against moto), refresh rotation with reuse
//! detection and its grace window, the absolute lifetime, and RFC 7009 revocation. Time moves
//! through an injected clock, never by sleeping.

use crate::common;

use base64::Engine;
use common::app::{TestApp, broker_head, caller_identity_arn, peers};
use common::saml_forge::{SamlForge, corp_idp};
use common::web::{self, client, hidden, saml_sign_in};
use rolegate::clock::OffsetClock;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const PUBLIC: &str = "https://rolegate.example.test";
const REDIRECT: &str = "http://127.0.0.1:53682/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more";

struct Env {
    app: TestApp,
    forge: SamlForge,
    clock: Arc<OffsetClock>,
}

async fn env(cli_extra: &str) -> Option<Env> {
    let p = peers()?;
    let forge = SamlForge::new();
    let clock = Arc::new(OffsetClock::default());
    let toml = format!(
        r#"{head}
[cli]
session_lifetime = "12h"
user_code_attempts_per_minute = 3
{cli_extra}

{idp}
"#,
        head = broker_head("127.0.0.1:0", PUBLIC, &p.moto.url, None),
        idp = corp_idp(common::app::ROLES, &["prod-readonly"]),
    );
    let (md_name, md) = forge.metadata_file();
    let app = TestApp::spawn_with_files(&toml, &[(md_name, &md)], Some(clock.clone()), true).await;
    Some(Env { app, forge, clock })
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_query(redirect: &str, method: &str) -> String {
    let mut u = url::Url::parse("http://x/oauth2/authorize").unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "rolegate-cli")
        .append_pair("redirect_uri", redirect)
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", method)
        .append_pair("state", "st-123");
    format!("/oauth2/authorize?{}", u.query().unwrap())
}

async fn token(e: &Env, form: &[(&str, &str)]) -> (u16, Value) {
    let r = client()
        .post(format!("{}/oauth2/token", e.app.url))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

/// The loopback flow up to the code: the confirmation page, Allow, the redirect.
async fn code_for(e: &Env, cookie: &str) -> String {
    let page = web::get(&e.app.url, &authorize_query(REDIRECT, "S256"), Some(cookie)).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Allow") && page.contains(REDIRECT), "{page}");
    let mut form: Vec<(String, String)> = [
        "client_id",
        "redirect_uri",
        "code_challenge",
        "code_challenge_method",
        "response_type",
        "state",
        "csrf",
    ]
    .iter()
    .map(|k| (k.to_string(), hidden(&page, k)))
    .collect();
    form.push(("decision".into(), "allow".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = web::post(&e.app.url, "/oauth2/authorize", cookie, &form).await;
    assert_eq!(r.status(), 303);
    let back = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    let q: HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st-123");
    q["code"].clone()
}

async fn redeem(e: &Env, code: &str, verifier: &str, redirect: &str) -> (u16, Value) {
    token(
        e,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "rolegate-cli"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn roles_with(e: &Env, access: &str) -> u16 {
    client()
        .get(format!("{}/api/v1/roles", e.app.url))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn refresh(e: &Env, refresh_token: &str) -> (u16, Value) {
    token(
        e,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "rolegate-cli"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_flow_gives_a_broker_token_that_gets_credentials() {
    let Some(e) = env("").await else { return };
    let p = peers().unwrap();
    // Signed out: the authorization request sends the browser to sign in (one IdP: straight
    // to it, no chooser), coming back here after.
    let r = web::get(&e.app.url, &authorize_query(REDIRECT, "S256"), None).await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with("/login/corp?return_to=%2Foauth2%2Fauthorize%3F"),
        "{to}"
    );

    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    let code = code_for(&e, &alice).await;
    let (status, tokens) = redeem(&e, &code, VERIFIER, REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = s(&tokens, "access_token");
    assert!(access.starts_with("rgat_") && access.len() == 5 + 43);
    assert!(s(&tokens, "refresh_token").starts_with("rgrt_"));

    // The code is single-use.
    let (status, err) = redeem(&e, &code, VERIFIER, REDIRECT).await;
    assert_eq!((status, s(&err, "error")), (400, "invalid_grant"));

    // The broker token works on the API, as the CLI will use it.
    assert_eq!(roles_with(&e, access).await, 200);
    let creds: Value = client()
        .post(format!("{}/api/v1/credentials", e.app.url))
        .bearer_auth(access)
        .json(&serde_json::json!({"role": "prod-readonly"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        caller_identity_arn(&p.moto.url, &creds)
            .await
            .contains(":assumed-role/ReadOnly/")
    );
    // Junk and unknown broker tokens are 401 with a hint, like bad IdP tokens.
    for bad in ["rgat_nope", &format!("rgat_{}", "A".repeat(43))] {
        assert_eq!(roles_with(&e, bad).await, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_flow_refuses_what_pkce_and_rfc_8252_forbid() {
    let Some(e) = env("").await else { return };
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;

    // Redirects anywhere but a loopback IP literal over http: an error page, never a redirect.
    for bad in [
        "https://127.0.0.1:1/cb",
        "http://localhost:53682/callback",
        "http://evil.example/cb",
        "http://127.0.0.1.evil.example/cb",
    ] {
        let r = web::get(&e.app.url, &authorize_query(bad, "S256"), Some(&alice)).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none());
    }
    // PKCE is required, S256 only.
    let r = web::get(
        &e.app.url,
        &authorize_query(REDIRECT, "plain"),
        Some(&alice),
    )
    .await;
    assert_eq!(r.status(), 400);
    // The Allow POST needs the session's CSRF token.
    let r = web::post(
        &e.app.url,
        "/oauth2/authorize",
        &alice,
        &[
            ("client_id", "rolegate-cli"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
            ("response_type", "code"),
            ("decision", "allow"),
            ("csrf", "forged"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);

    // A wrong verifier fails, and burns the code for the right one too.
    let code = code_for(&e, &alice).await;
    let wrong = "x".repeat(43);
    let (status, err) = redeem(&e, &code, &wrong, REDIRECT).await;
    assert_eq!((status, s(&err, "error")), (400, "invalid_grant"), "{err}");
    assert!(s(&err, "error_description").contains("PKCE"));
    let (status, _) = redeem(&e, &code, VERIFIER, REDIRECT).await;
    assert_eq!(status, 400, "the code was spent by the failed attempt");
    // Another redirect_uri than the request's.
    let code = code_for(&e, &alice).await;
    let (status, err) = redeem(&e, &code, VERIFIER, "http://127.0.0.1:1/other").await;
    assert_eq!((status, s(&err, "error")), (400, "invalid_grant"));
    // Another client, an unknown grant, a missing parameter.
    let (status, err) = token(
        &e,
        &[("grant_type", "authorization_code"), ("client_id", "app")],
    )
    .await;
    assert_eq!((status, s(&err, "error")), (401, "invalid_client"));
    let (status, err) = token(
        &e,
        &[("grant_type", "password"), ("client_id", "rolegate-cli")],
    )
    .await;
    assert_eq!((status, s(&err, "error")), (400, "unsupported_grant_type"));
    let (status, err) = token(
        &e,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "rolegate-cli"),
        ],
    )
    .await;
    assert_eq!((status, s(&err, "error")), (400, "invalid_request"));
    // Cancel sends the CLI an access_denied, with its state.
    let page = web::get(&e.app.url, &authorize_query(REDIRECT, "S256"), Some(&alice))
        .await
        .text()
        .await
        .unwrap();
    let r = web::post(
        &e.app.url,
        "/oauth2/authorize",
        &alice,
        &[
            ("client_id", "rolegate-cli"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
            ("response_type", "code"),
            ("state", "st-123"),
            ("decision", "deny"),
            ("csrf", &hidden(&page, "csrf")),
        ],
    )
    .await;
    let back = r.headers()["location"].to_str().unwrap();
    assert!(
        back.contains("error=access_denied")
            && back.contains("state=st-123")
            && !back.contains("code=")
    );
}

/// RFC 6749 §3.1/§3.2: a parameter sent twice. A map keeps the last `redirect_uri` or
/// `refresh_token` while whatever sits in front of the broker (a proxy, a WAF, a log) may have
/// judged the first; the broker refuses the request instead of choosing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_oauth_parameter_is_refused_parameter_pollution() {
    let Some(e) = env("").await else { return };
    let (status, body) = token(
        &e,
        &[
            ("client_id", "rolegate-cli"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "first"),
            ("refresh_token", "second"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(s(&body, "error"), "invalid_request");
    assert!(
        s(&body, "error_description").contains("`refresh_token` appears more than once"),
        "{body}"
    );
    let (status, body) = token(
        &e,
        &[
            ("client_id", "rolegate-cli"),
            ("client_id", "rolegate-cli"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
        ],
    )
    .await;
    assert_eq!((status, s(&body, "error")), (400, "invalid_request"));

    // The authorization request: a second redirect_uri pointing elsewhere is an error page,
    // never a redirect to either.
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    let twice = format!(
        "{}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb",
        authorize_query(REDIRECT, "S256")
    );
    let r = web::get(&e.app.url, &twice, Some(&alice)).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(
        r.text().await.unwrap().contains("appears more than once"),
        "the page says why"
    );
}

async fn start_device(e: &Env) -> Value {
    let r = client()
        .post(format!("{}/oauth2/device_authorization", e.app.url))
        .form(&[("client_id", "rolegate-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn poll(e: &Env, device_code: &str) -> (u16, Value) {
    token(
        e,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "rolegate-cli"),
            ("device_code", device_code),
        ],
    )
    .await
}

async fn decide(e: &Env, cookie: &str, user_code: &str, decision: &str) -> reqwest::Response {
    let page = web::get(
        &e.app.url,
        &format!("/device?user_code={user_code}"),
        Some(cookie),
    )
    .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Asked from") && page.contains("127.0.0.1"),
        "the page shows where it came from"
    );
    // The person types the code from their terminal; the link's code is not in the form.
    assert!(!page.contains(&canonical(user_code)), "{page}");
    web::post(
        &e.app.url,
        "/device",
        cookie,
        &[
            ("csrf", &hidden(&page, "csrf")),
            ("user_code", user_code),
            ("decision", decision),
        ],
    )
    .await
}

/// `ABCD-EFGH`, as the page shows a code.
fn canonical(user_code: &str) -> String {
    let c = user_code.replace('-', "").to_uppercase();
    format!("{}-{}", &c[..4], &c[4..])
}

/// The attack (RFC 8628 §5.4 remote phishing): start a device login, send the victim the
/// `verification_uri_complete` link; one click on Approve gave the attacker their AWS roles.
/// The link is now opt-in, and a code that came in a link is never pre-filled: the person
/// must type what their own terminal shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_link_with_prefilled_code_is_not_one_click_approval_phishing() {
    let Some(e) = env("").await else { return };
    let d = start_device(&e).await;
    assert!(
        d.get("verification_uri_complete").is_none(),
        "off by default: {d}"
    );
    let code = s(&d, "user_code").to_string();
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    let page = web::get(
        &e.app.url,
        &format!("/device?user_code={code}"),
        Some(&alice),
    )
    .await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Asked from"), "{page}");
    assert!(
        !page.contains(&code),
        "the link's code is neither shown nor carried: {page}"
    );
    assert!(
        page.contains(r#"name="user_code" value="""#),
        "an empty field to type the code into: {page}"
    );
    // Approve without typing it (what the one click used to send) approves nothing.
    let r = web::post(
        &e.app.url,
        "/device",
        &alice,
        &[("csrf", &hidden(&page, "csrf")), ("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 404);
    e.clock.advance(Duration::from_secs(6));
    let (_, err) = poll(&e, s(&d, "device_code")).await;
    assert_eq!(s(&err, "error"), "authorization_pending");

    // Typing the code into the site's own form shows the request with that code to confirm.
    let form = web::get(&e.app.url, "/device", Some(&alice)).await;
    let form = form.text().await.unwrap();
    let r = web::post(
        &e.app.url,
        "/device",
        &alice,
        &[("csrf", &hidden(&form, "csrf")), ("user_code", &code)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let confirm = r.text().await.unwrap();
    assert!(
        confirm.contains(&code) && confirm.contains("Approve"),
        "{confirm}"
    );
    let r = web::post(
        &e.app.url,
        "/device",
        &alice,
        &[
            ("csrf", &hidden(&confirm, "csrf")),
            ("user_code", &hidden(&confirm, "user_code")),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    e.clock.advance(Duration::from_secs(6));
    let (status, _) = poll(&e, s(&d, "device_code")).await;
    assert_eq!(status, 200);

    // Opting in brings the link back (for QR codes); approval still needs the typed code.
    let Some(on) = env("verification_uri_complete = true").await else {
        return;
    };
    let d = start_device(&on).await;
    assert!(
        s(&d, "verification_uri_complete")
            .ends_with(&format!("/device?user_code={}", s(&d, "user_code")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_pending_slow_down_approval_and_single_use() {
    let Some(e) = env("").await else { return };
    let d = start_device(&e).await;
    assert_eq!(d["interval"], 5);
    assert_eq!(d["expires_in"], 600);
    assert_eq!(d["verification_uri"], format!("{PUBLIC}/device"));
    let user_code = s(&d, "user_code").to_string();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{user_code}"
    );
    let device_code = s(&d, "device_code").to_string();

    let (status, err) = poll(&e, &device_code).await;
    assert_eq!((status, s(&err, "error")), (400, "authorization_pending"));
    // Polling again at once: slow_down, and from then on the interval is 10 s (§3.5).
    let (_, err) = poll(&e, &device_code).await;
    assert_eq!(s(&err, "error"), "slow_down");
    e.clock.advance(Duration::from_secs(6));
    let (_, err) = poll(&e, &device_code).await;
    assert_eq!(s(&err, "error"), "slow_down", "6 s is under the grown 10 s");
    e.clock.advance(Duration::from_secs(16));
    let (_, err) = poll(&e, &device_code).await;
    assert_eq!(s(&err, "error"), "authorization_pending");

    // The page needs a session; a typed code is case- and dash-insensitive.
    let r = web::get(&e.app.url, "/device", None).await;
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/corp?return_to=%2Fdevice")
    );
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    let typed = user_code.replace('-', "").to_lowercase();
    let r = decide(&e, &alice, &typed, "approve").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("return to your terminal"));

    e.clock.advance(Duration::from_secs(16));
    let (status, tokens) = poll(&e, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(roles_with(&e, s(&tokens, "access_token")).await, 200);
    // Single use: the same device code again gets nothing; the user code is gone too.
    e.clock.advance(Duration::from_secs(16));
    let (status, err) = poll(&e, &device_code).await;
    assert_eq!((status, s(&err, "error")), (400, "invalid_grant"));
    let r = web::get(
        &e.app.url,
        &format!("/device?user_code={user_code}"),
        Some(&alice),
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_denied_expired_guessed_and_disabled() {
    let Some(e) = env("").await else { return };
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;

    // Denied: the CLI hears access_denied.
    let d = start_device(&e).await;
    let r = decide(&e, &alice, s(&d, "user_code"), "deny").await;
    assert_eq!(r.status(), 200);
    let (_, err) = poll(&e, s(&d, "device_code")).await;
    assert_eq!(s(&err, "error"), "access_denied");

    // Expired: ten minutes without approval, then expired_token; the page no longer knows it.
    let d = start_device(&e).await;
    e.clock.advance(Duration::from_secs(601));
    let (_, err) = poll(&e, s(&d, "device_code")).await;
    assert_eq!(s(&err, "error"), "expired_token");
    let r = web::get(
        &e.app.url,
        &format!("/device?user_code={}", s(&d, "user_code")),
        Some(&alice),
    )
    .await;
    assert_eq!(r.status(), 404);

    // Guessing: codes that find nothing count against the user's budget (3 a minute here; the
    // expired one above was the first), then 429.
    let mut statuses = Vec::new();
    for guess in ["BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM", "BCDF-GHJN"] {
        let r = web::get(
            &e.app.url,
            &format!("/device?user_code={guess}"),
            Some(&alice),
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [404, 404, 429, 429]);
    // Approving needs the page's CSRF token.
    let d = start_device(&e).await;
    let r = web::post(
        &e.app.url,
        "/device",
        &alice,
        &[
            ("csrf", "forged"),
            ("user_code", s(&d, "user_code")),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let (_, err) = poll(&e, s(&d, "device_code")).await;
    assert_eq!(s(&err, "error"), "authorization_pending");
    // Unknown device codes and other clients.
    let (_, err) = poll(&e, "rgdc_nope").await;
    assert_eq!(s(&err, "error"), "invalid_grant");
    let r = client()
        .post(format!("{}/oauth2/device_authorization", e.app.url))
        .form(&[("client_id", "someone-else")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // With the device flow off: no device codes, no /device page.
    let Some(off) = env("device_flow = false").await else {
        return;
    };
    let r = client()
        .post(format!("{}/oauth2/device_authorization", off.app.url))
        .form(&[("client_id", "rolegate-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"], "unauthorized_client");
    assert_eq!(web::get(&off.app.url, "/device", None).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let Some(e) = env("").await else { return };
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    let code = code_for(&e, &alice).await;
    let (_, first) = redeem(&e, &code, VERIFIER, REDIRECT).await;
    let r0 = s(&first, "refresh_token").to_string();

    let (status, second) = refresh(&e, &r0).await;
    assert_eq!(status, 200);
    let r1 = s(&second, "refresh_token").to_string();
    assert_ne!(r0, r1, "rotated");
    // A retry of a lost answer within seconds is not a thief: it gets the same pair.
    let (status, racer) = refresh(&e, &r0).await;
    assert_eq!(status, 200, "within the grace window: {racer}");
    assert_eq!(
        s(&racer, "refresh_token"),
        r1,
        "the same successor, not a new branch"
    );

    // After the grace window, the spent token again: the whole family is revoked.
    e.clock.advance(Duration::from_secs(30));
    let (status, err) = refresh(&e, &r0).await;
    assert_eq!((status, s(&err, "error")), (400, "invalid_grant"));
    assert!(s(&err, "error_description").contains("already used"));
    assert_eq!(roles_with(&e, s(&second, "access_token")).await, 401);
    assert_eq!(roles_with(&e, s(&racer, "access_token")).await, 401);
    let (status, _) = refresh(&e, &r1).await;
    assert_eq!(status, 400, "the legitimate successor dies with the family");
    assert!(
        e.app
            .metrics()
            .await
            .contains("rolegate_oauth_events_total{event=\"refresh_reuse\"} 1")
    );
}

/// The attack: a thief replaying a stolen, just-rotated refresh token within the grace window
/// got a second live branch of the family (its own refresh token), undetected from then on.
/// Now a retry gets the very pair the first answer carried: one branch, whoever holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_retry_within_grace_returns_same_successor_not_a_fork() {
    let Some(e) = env("").await else { return };
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    let (_, first) = redeem(&e, &code_for(&e, &alice).await, VERIFIER, REDIRECT).await;
    let r0 = s(&first, "refresh_token").to_string();

    let (status, second) = refresh(&e, &r0).await;
    assert_eq!(status, 200);
    e.clock.advance(Duration::from_secs(3));
    let (status, retry) = refresh(&e, &r0).await;
    assert_eq!(status, 200, "{retry}");
    assert_eq!(s(&retry, "refresh_token"), s(&second, "refresh_token"));
    assert_eq!(s(&retry, "access_token"), s(&second, "access_token"));
    assert!(retry["expires_in"].as_u64().unwrap() <= second["expires_in"].as_u64().unwrap());
    assert_eq!(roles_with(&e, s(&retry, "access_token")).await, 200);

    // Two presentations racing each other: still one successor between them.
    let (_, other) = redeem(&e, &code_for(&e, &alice).await, VERIFIER, REDIRECT).await;
    let t = s(&other, "refresh_token").to_string();
    let ((a_status, a), (b_status, b)) = tokio::join!(refresh(&e, &t), refresh(&e, &t));
    assert_eq!((a_status, b_status), (200, 200), "{a} {b}");
    assert_eq!(s(&a, "refresh_token"), s(&b, "refresh_token"), "no fork");
    assert_eq!(s(&a, "access_token"), s(&b, "access_token"));
}

/// The attack: the successor has been used (the user's CLI moved on), then the spent token
/// comes back within seconds — that is no lost answer but a second holder: revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_reuse_after_successor_used_revokes_family() {
    let Some(e) = env("").await else { return };
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    let (_, first) = redeem(&e, &code_for(&e, &alice).await, VERIFIER, REDIRECT).await;
    let r0 = s(&first, "refresh_token").to_string();
    let (_, second) = refresh(&e, &r0).await;
    let (status, third) = refresh(&e, s(&second, "refresh_token")).await;
    assert_eq!(status, 200, "{third}");
    let (status, err) = refresh(&e, &r0).await;
    assert_eq!((status, s(&err, "error")), (400, "invalid_grant"), "{err}");
    assert_eq!(roles_with(&e, s(&third, "access_token")).await, 401);
    let (status, _) = refresh(&e, s(&third, "refresh_token")).await;
    assert_eq!(status, 400, "the whole family is revoked");
}

/// RFC 9700 §4.14.2: reuse outside the grace window revokes the family — and now leaves a
/// record in the audit stream (not only a log line that RUST_LOG can filter away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_reuse_outside_grace_revokes_family() {
    let audit = "\n[audit]\noutput = \"file\"\nfile = \"audit.jsonl\"\n";
    let Some(e) = env(audit).await else { return };
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    let (_, first) = redeem(&e, &code_for(&e, &alice).await, VERIFIER, REDIRECT).await;
    let r0 = s(&first, "refresh_token").to_string();
    let (_, second) = refresh(&e, &r0).await;
    e.clock.advance(Duration::from_secs(11));
    let (status, err) = refresh(&e, &r0).await;
    assert_eq!((status, s(&err, "error")), (400, "invalid_grant"));
    assert_eq!(roles_with(&e, s(&second, "access_token")).await, 401);
    let (status, _) = refresh(&e, s(&second, "refresh_token")).await;
    assert_eq!(status, 400);

    let text = std::fs::read_to_string(e.app.dir.path().join("audit.jsonl")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["event"] == "refresh_token_reuse")
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    assert_eq!(events[0]["subject"], "alice@example.com");
    assert_eq!(events[0]["idp"], "corp");
    // The injected clock is wall time plus the offset: a second may tick between the calls.
    let ago = events[0]["spent_secs_ago"].as_i64().unwrap();
    assert!((11..=12).contains(&ago), "{ago}");
    assert_eq!(events[0]["client_ip"], "127.0.0.1");
    assert!(!text.contains(&r0) && !text.contains(s(&second, "refresh_token")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_end_at_their_absolute_lifetime_and_on_revocation() {
    let Some(e) = env("").await else { return };
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;

    // Revocation (rolegate logout): the refresh token ends the family and its access tokens.
    let (_, t) = redeem(&e, &code_for(&e, &alice).await, VERIFIER, REDIRECT).await;
    assert_eq!(roles_with(&e, s(&t, "access_token")).await, 200);
    let revoke = |token: String| {
        let url = format!("{}/oauth2/revoke", e.app.url);
        async move {
            client()
                .post(url)
                .form(&[("client_id", "rolegate-cli"), ("token", token.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(revoke(s(&t, "refresh_token").to_string()).await, 200);
    assert_eq!(roles_with(&e, s(&t, "access_token")).await, 401);
    let (status, _) = refresh(&e, s(&t, "refresh_token")).await;
    assert_eq!(status, 400);
    // RFC 7009 §2.2: unknown tokens are not an error.
    assert_eq!(revoke("rgrt_unknown".into()).await, 200);
    assert_eq!(revoke("whatever".into()).await, 200);

    // Refreshing every 50 minutes keeps working until 12 h after sign-in, not beyond.
    let (_, t) = redeem(&e, &code_for(&e, &alice).await, VERIFIER, REDIRECT).await;
    let mut current = t;
    let mut refreshed = 0;
    for _ in 0..16 {
        e.clock.advance(Duration::from_secs(50 * 60));
        let (status, next) = refresh(&e, s(&current, "refresh_token")).await;
        if status != 200 {
            assert_eq!(s(&next, "error"), "invalid_grant");
            break;
        }
        assert!(next["refresh_expires_in"].as_u64().unwrap() <= 12 * 3600);
        refreshed += 1;
        current = next;
    }
    assert_eq!(refreshed, 14, "14 × 50 min < 12 h < 15 × 50 min");
    assert_eq!(roles_with(&e, s(&current, "access_token")).await, 401);
}

/// From the security review: a browser session approving `rolegate login` late in its life must not
/// start a fresh `[cli] session_lifetime`: the family is anchored at the IdP's authentication,
/// so an identity lives at most one lifetime after the IdP last vouched for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_cli_sign_in_approved_late_gets_no_fresh_lifetime() {
    let Some(e) = env("").await else { return };
    let alice = saml_sign_in(&e.app.url, &e.forge, "alice", &["eng"]).await;
    // Keep the browser session alive (idle timeout 1 h) for 11 hours.
    for _ in 0..13 {
        e.clock.advance(Duration::from_secs(50 * 60));
        assert_eq!(web::get(&e.app.url, "/", Some(&alice)).await.status(), 200);
    }
    e.clock.advance(Duration::from_secs(10 * 60));
    // 11 h after the IdP authenticated alice, she approves a CLI sign-in.
    let (status, t) = redeem(&e, &code_for(&e, &alice).await, VERIFIER, REDIRECT).await;
    assert_eq!(status, 200, "{t}");
    let left = t["refresh_expires_in"].as_u64().unwrap();
    assert!(
        left <= 3600,
        "the family ends 12 h after the IdP's authentication, not 12 h after approval: {left}s"
    );
    e.clock.advance(Duration::from_secs(left + 1));
    let (status, next) = refresh(&e, s(&t, "refresh_token")).await;
    assert_eq!(status, 400, "{next}");
    assert_eq!(roles_with(&e, s(&t, "access_token")).await, 401);
}
