//! Browser sign-in with a real OIDC provider (oidc-provider): `/login/{idp}` sends the browser
//! to the IdP with state, nonce and a PKCE S256 challenge; the IdP's redirect comes back to
//! `/oidc/callback/{idp}`; the broker redeems the code with the verifier and its client secret,
//! verifies the ID token (nonce included) and opens a session that gets credentials from moto.
//! Then: a replayed callback, a callback in another browser, a forged state, an IdP error, and
//! the mix-up attack (RFC 9700 §4.4) with two real oidc-provider instances.

use crate::common;

use common::app::{ROLES, TestApp, caller_identity_arn};
use common::peers::{Moto, OIDC_CLIENT_SECRET, OidcIdp};
use reqwest::redirect::Policy;

const PUBLIC: &str = "https://rolegate.example.test";

/// An `[[idp]]` of kind oidc with the test client `rolegate` and its secret file.
fn oidc_idp(id: &str, issuer: &str) -> String {
    format!(
        "[[idp]]\nid = \"{id}\"\nkind = \"oidc\"\nissuer = \"{issuer}\"\nclient_id = \"rolegate\"\nclient_secret_file = \"client-secret\"\n"
    )
}

/// A broker at PUBLIC on moto with `body` (IdPs, roles, rules) after the common head.
async fn broker(
    moto: &Moto,
    body: &str,
    clock: Option<std::sync::Arc<dyn rolegate::clock::Clock>>,
) -> TestApp {
    let toml = format!(
        "{}\n{body}",
        common::app::broker_head("127.0.0.1:0", PUBLIC, &moto.url, None)
    );
    TestApp::spawn_with_files(&toml, &[("client-secret", OIDC_CLIENT_SECRET)], clock, true).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            v[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_string()
        })
}

struct Started {
    authorize: String,
    cookie: String,
}

async fn start(app: &TestApp) -> Started {
    start_at(app, "web").await
}

async fn start_at(app: &TestApp, idp: &str) -> Started {
    let r = client()
        .get(format!("{}/login/{idp}?return_to=/", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let cookie = set_cookie(&r, "__Host-rolegate_oidc_pending").expect("pending cookie");
    // __Host- (a sibling subdomain cannot plant or shadow it): Secure, Path=/, no Domain.
    let raw = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-rolegate_oidc_pending="))
        .unwrap()
        .to_string();
    assert!(
        raw.contains("Path=/;") && raw.contains("Secure") && !raw.contains("Domain"),
        "{raw}"
    );
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let u = url::Url::parse(&authorize).unwrap();
    let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], format!("{PUBLIC}/oidc/callback/{idp}"));
    assert_eq!(q["state"], cookie);
    assert!(q["nonce"].len() >= 32 && q["code_challenge"].len() == 43);
    Started { authorize, cookie }
}

/// The IdP's redirect to `https://rolegate.example.test/oidc/callback/{idp}?…`, delivered to
/// the broker on its loopback port (same path and query), as the browser would.
async fn deliver(app: &TestApp, redirect: &str, cookie: Option<&str>) -> reqwest::Response {
    let u = url::Url::parse(redirect).unwrap();
    let query = u.query().unwrap_or("").to_string();
    let mut req = client().get(format!("{}{}?{query}", app.url, u.path()));
    if let Some(c) = cookie {
        req = req.header("cookie", format!("__Host-rolegate_oidc_pending={c}"));
    }
    req.send().await.unwrap()
}

async fn reason(r: reqwest::Response) -> String {
    let body = r.text().await.unwrap();
    body.split("Reason: <code>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or(&body)
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_with_pkce_and_nonce_ends_with_credentials() {
    let Some(moto) = Moto::start() else { return };
    let Some(idp) = OidcIdp::start_with_redirect_uris(&[&format!("{PUBLIC}/oidc/callback/web")])
    else {
        return;
    };
    let body = format!(
        "{}\n{ROLES}\n[[map]]\nidp = \"web\"\ngroups = [\"eng\"]\nroles = [\"prod-readonly\"]\n",
        oidc_idp("web", &idp.issuer)
    );
    let app = broker(&moto, &body, None).await;

    let s = start(&app).await;
    let redirect = idp.authorize(&s.authorize, "alice");
    let done = deliver(&app, &redirect, Some(&s.cookie)).await;
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    let session = format!(
        "__Host-rolegate_session={}",
        set_cookie(&done, "__Host-rolegate_session").unwrap()
    );
    let page = common::web::get(&app.url, "/", Some(&session))
        .await
        .text()
        .await
        .unwrap();
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("{page}"))
        .to_string();
    let creds = client()
        .post(format!("{}/credentials/prod-readonly", app.url))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let export = |k: &str| {
        creds
            .split(&format!("export {k}="))
            .nth(1)
            .and_then(|s| s.strip_prefix("&#39;")?.split("&#39;").next())
            .unwrap()
            .to_string()
    };
    let json = serde_json::json!({
        "AccessKeyId": export("AWS_ACCESS_KEY_ID"),
        "SecretAccessKey": export("AWS_SECRET_ACCESS_KEY"),
        "SessionToken": export("AWS_SESSION_TOKEN"),
    });
    assert!(
        caller_identity_arn(&moto.url, &json)
            .await
            .contains(":assumed-role/ReadOnly/")
    );

    // The same callback again: the state was single-use.
    let again = deliver(&app, &redirect, Some(&s.cookie)).await;
    assert_eq!(again.status(), 403);
    assert_eq!(reason(again).await, "invalid_state");

    // A callback delivered to another browser (no pending cookie): refused, nothing created.
    let s = start(&app).await;
    let redirect = idp.authorize(&s.authorize, "alice");
    let other = deliver(&app, &redirect, None).await;
    assert_eq!(other.status(), 403);
    assert!(set_cookie(&other, "__Host-rolegate_session").is_none());

    // Forged state and an IdP error.
    let forged = deliver(
        &app,
        &format!("{PUBLIC}/oidc/callback/web?code=x&state=forged"),
        Some("forged"),
    )
    .await;
    assert_eq!(reason(forged).await, "invalid_state");
    let s = start(&app).await;
    let denied = deliver(
        &app,
        &format!(
            "{PUBLIC}/oidc/callback/web?error=access_denied&state={}&iss={}",
            s.cookie,
            url_escape(&idp.issuer)
        ),
        Some(&s.cookie),
    )
    .await;
    // A Cancel at the IdP is the person's choice: said as such, not as an error.
    assert_eq!(denied.status(), 200);
    assert!(set_cookie(&denied, "__Host-rolegate_session").is_none());
    let page = denied.text().await.unwrap();
    assert!(
        page.contains("Sign-in cancelled") && !page.contains("Something went wrong"),
        "{page}"
    );
}

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// A broker trusting the corporate IdP `corp` (honest, H) and a second IdP `evil` (A, which
/// the attacker controls), each with its own redirect URI registered.
async fn two_idp_broker(moto: &Moto, h: &OidcIdp, a: &OidcIdp) -> TestApp {
    let body = format!(
        "{}\n{}\n{ROLES}\n[[map]]\nidp = \"corp\"\ngroups = [\"eng\"]\nroles = [\"prod-readonly\"]\n",
        oidc_idp("corp", &h.issuer),
        oidc_idp("evil", &a.issuer)
    );
    broker(moto, &body, None).await
}

/// RFC 9700 §4.4.1: the attacker's IdP A receives the victim's authorization request (the
/// victim's state), and bounces the victim to the honest IdP H with that state but the PKCE
/// challenge and nonce of a login the attacker started at the broker for H. With one shared
/// callback the broker would hand H's code to A's token endpoint, and the attacker would redeem
/// it in their own pending login: a session as the victim. With a redirect URI per IdP, H sends
/// the code to `/oidc/callback/corp`, which the victim's pending login (for `evil`) refuses
/// before any code leaves the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_oidc_mixup_code_of_honest_idp_is_never_sent_to_the_attacker_idp() {
    let Some(moto) = Moto::start() else { return };
    let Some(h) = OidcIdp::start_with_redirect_uris(&[&format!("{PUBLIC}/oidc/callback/corp")])
    else {
        return;
    };
    let Some(a) = OidcIdp::start_with_redirect_uris(&[&format!("{PUBLIC}/oidc/callback/evil")])
    else {
        return;
    };
    let app = two_idp_broker(&moto, &h, &a).await;

    // The attacker starts a login for H in their own browser and keeps its request.
    let attacker = start_at(&app, "corp").await;
    let att = query(&attacker.authorize);
    // The victim starts a login with A (a link the attacker sent); A receives this request.
    let victim = start_at(&app, "evil").await;
    let vic = query(&victim.authorize);
    // A, as the attacker would, redirects the victim to H: the victim's state, the attacker's
    // challenge and nonce, the only redirect URI H accepts for rolegate.
    let mut bounce = url::Url::parse(&attacker.authorize).unwrap();
    bounce
        .query_pairs_mut()
        .clear()
        .append_pair("response_type", "code")
        .append_pair("client_id", "rolegate")
        .append_pair("redirect_uri", &att["redirect_uri"])
        .append_pair("scope", &att["scope"])
        .append_pair("state", &vic["state"])
        .append_pair("nonce", &att["nonce"])
        .append_pair("code_challenge", &att["code_challenge"])
        .append_pair("code_challenge_method", "S256");
    // The victim signs in at H (their real IdP); H redirects the victim's browser back.
    let redirect = h.authorize(bounce.as_str(), "alice");
    assert!(
        redirect.starts_with(&format!("{PUBLIC}/oidc/callback/corp?")),
        "{redirect}"
    );
    assert_eq!(query(&redirect)["iss"], h.issuer, "H speaks RFC 9207");
    let r = deliver(&app, &redirect, Some(&victim.cookie)).await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "__Host-rolegate_session").is_none());
    assert_eq!(reason(r).await, "idp_mismatch");

    // The same response re-aimed at A's callback (where the victim's pending login lives):
    // H's `iss` names H, not A.
    let victim = start_at(&app, "evil").await;
    let mut bounce2 = bounce.clone();
    bounce2.query_pairs_mut().clear();
    for (k, v) in query(bounce.as_str()) {
        let v = if k == "state" {
            victim.cookie.clone()
        } else {
            v
        };
        bounce2.query_pairs_mut().append_pair(&k, &v);
    }
    let redirect = h.authorize(bounce2.as_str(), "alice");
    let moved = redirect.replace("/oidc/callback/corp?", "/oidc/callback/evil?");
    let r = deliver(&app, &moved, Some(&victim.cookie)).await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "__Host-rolegate_session").is_none());
    assert_eq!(reason(r).await, "wrong_iss");

    // H advertises RFC 9207, so a response without `iss` is refused too.
    let honest = start_at(&app, "corp").await;
    let redirect = h.authorize(&honest.authorize, "alice");
    let q = query(&redirect);
    let stripped = format!(
        "{PUBLIC}/oidc/callback/corp?code={}&state={}",
        url_escape(&q["code"]),
        url_escape(&q["state"])
    );
    let r = deliver(&app, &stripped, Some(&honest.cookie)).await;
    assert_eq!(reason(r).await, "missing_iss");

    // The honest flow through the per-IdP callback still signs in.
    let honest = start_at(&app, "corp").await;
    let redirect = h.authorize(&honest.authorize, "alice");
    let r = deliver(&app, &redirect, Some(&honest.cookie)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// The shared `/oidc/callback` of earlier versions is gone: keeping it would keep the attack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_oidc_callback_no_longer_exists() {
    let Some(moto) = Moto::start() else { return };
    let Some(h) = OidcIdp::start() else { return };
    let Some(a) = OidcIdp::start() else { return };
    let app = two_idp_broker(&moto, &h, &a).await;
    let s = start_at(&app, "corp").await;
    let r = client()
        .get(format!(
            "{}/oidc/callback?code=x&state={}",
            app.url, s.cookie
        ))
        .header(
            "cookie",
            format!("__Host-rolegate_oidc_pending={}", s.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// A leaked state (the RelayState of OIDC) delivered without the victim's pending cookie must
/// not consume the victim's pending login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaked_state_without_cookie_does_not_burn_the_victims_login() {
    let Some(moto) = Moto::start() else { return };
    let Some(h) = OidcIdp::start_with_redirect_uris(&[&format!("{PUBLIC}/oidc/callback/corp")])
    else {
        return;
    };
    let Some(a) = OidcIdp::start() else { return };
    let app = two_idp_broker(&moto, &h, &a).await;
    let victim = start_at(&app, "corp").await;
    let burn = deliver(
        &app,
        &format!("{PUBLIC}/oidc/callback/corp?code=x&state={}", victim.cookie),
        None,
    )
    .await;
    assert_eq!(reason(burn).await, "invalid_state");
    let redirect = h.authorize(&victim.authorize, "alice");
    let r = deliver(&app, &redirect, Some(&victim.cookie)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// From the security review: a session is anchored at the IdP's `auth_time`, so an IdP authentication
/// older than the session lifetime opens no session (the broker asks for `max_age`, so an IdP
/// honouring it re-authenticates instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_authentication_older_than_the_session_lifetime_opens_no_session() {
    let Some(moto) = Moto::start() else { return };
    let Some(idp) = OidcIdp::start_with_redirect_uris(&[&format!("{PUBLIC}/oidc/callback/web")])
    else {
        return;
    };
    let clock = std::sync::Arc::new(rolegate::clock::OffsetClock::default());
    let body = format!(
        "[session]\nlifetime = \"5m\"\nidle_timeout = \"2m\"\n\n{}\n{ROLES}\n",
        oidc_idp("web", &idp.issuer)
    );
    let app = broker(&moto, &body, Some(clock.clone())).await;
    let s = start(&app).await;
    assert_eq!(query(&s.authorize)["max_age"], "300");
    let redirect = idp.authorize(&s.authorize, "alice");
    // Six minutes later by the broker's clock: the IdP authenticated alice before the 5-minute
    // session lifetime began.
    clock.advance(std::time::Duration::from_secs(6 * 60));
    let r = deliver(&app, &redirect, Some(&s.cookie)).await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "__Host-rolegate_session").is_none());
    assert_eq!(reason(r).await, "stale_authentication");
}
