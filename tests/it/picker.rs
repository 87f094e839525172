//! The role picker over plain HTTP, as a browser without JavaScript sees it: roles grouped by
//! account, the server-side search, favourites remembered per user in the store, durations
//! bounded by the grant, deep links into the console carried through sign-in, sign-out with an
//! IdP logout link, and the security headers on every kind of response. (tests/it/browser.rs
//! drives the same pages in Chromium.)

use crate::common;

use common::app::{ACCOUNT_ROLES, TestApp, broker_head, peers};
use common::federation::Federation;
use common::saml_forge::SamlForge;
use common::web::{self, hidden, saml_sign_in};

const PUBLIC: &str = "https://rolegate.example.test";

struct Env {
    app: TestApp,
    forge: SamlForge,
    _federation: Federation,
}

async fn env() -> Option<Env> {
    let p = peers()?;
    let forge = SamlForge::new();
    let federation = Federation::start(p.moto.url.clone()).await;
    let toml = format!(
        r#"{head}
[[idp]]
id = "corp"
kind = "saml"
display_name = "Corporate SSO"
metadata_file = "corp-metadata.xml"
allow_idp_initiated = true
logout_url = "https://idp.forge.test/logout"

{ACCOUNT_ROLES}

[[map]]
idp = "corp"
groups = ["eng"]
roles = ["prod-readonly", "dev-readonly", "sandbox-poweruser"]

[[map]]
idp = "corp"
groups = ["sre"]
roles = ["prod-admin"]
"#,
        head = broker_head("127.0.0.1:0", PUBLIC, &p.moto.url, Some(&federation.url)),
    );
    let md = forge.metadata("https://idp.forge.test/sso");
    let app = TestApp::spawn_with_files(&toml, &[("corp-metadata.xml", &md)], None, true).await;
    Some(Env {
        app,
        forge,
        _federation: federation,
    })
}

async fn sign_in(e: &Env, user: &str, groups: &[&str]) -> String {
    saml_sign_in(&e.app.url, &e.forge, user, groups).await
}

async fn get(e: &Env, path: &str, cookie: Option<&str>) -> reqwest::Response {
    web::get(&e.app.url, path, cookie).await
}

/// The page at `path` for the session `cookie`, as HTML.
async fn html(e: &Env, path: &str, cookie: &str) -> String {
    get(e, path, Some(cookie)).await.text().await.unwrap()
}

async fn post(e: &Env, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    web::post(&e.app.url, path, cookie, form).await
}

/// The role names in page order (favourites first, then account by account).
fn rows(page: &str) -> Vec<String> {
    page.split("<li><b>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect()
}

/// The row key of `alias`'s first row (its buttons carry `?r=<key>`; its select is `d<key>`).
fn row_key(page: &str, alias: &str) -> String {
    page.split(&format!("formaction=/credentials/{alias}?r="))
        .nth(1)
        .unwrap_or_else(|| panic!("no credentials button for {alias}"))
        .split('>')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_grouped_by_account_and_searchable_without_javascript() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng", "sre"]).await;
    let home = get(&e, "/", Some(&alice)).await;
    assert_eq!(home.status(), 200);
    let page = home.text().await.unwrap();
    assert_eq!(
        rows(&page),
        [
            "dev-readonly",
            "prod-admin",
            "prod-readonly",
            "sandbox-poweruser"
        ]
    );
    assert!(page.contains(r#"<h2>dev <span class="muted">444455556666</span></h2>"#));
    assert!(
        page.contains("<h2>777788889999</h2>"),
        "no name: the number"
    );
    assert!(page.contains("4 of 4 roles"));
    assert!(page.contains("alice@example.com"));
    // One form, one CSRF token for the whole page.
    assert_eq!(
        page.matches(r#"name="csrf""#).count(),
        2,
        "roles + sign-out"
    );

    // ?q= filters on the server: every term must match alias, role, account name or number.
    let page = html(&e, "/?q=PROD+read", &alice).await;
    assert_eq!(rows(&page), ["prod-readonly"]);
    assert!(page.contains("1 of 4 roles"));
    assert!(
        page.contains(r#"value="PROD read""#),
        "the query stays in the box"
    );
    let page = html(&e, "/?q=444455556666", &alice).await;
    assert_eq!(rows(&page), ["dev-readonly"]);
    let page = html(&e, "/?q=%3Cscript%3E", &alice).await;
    assert!(rows(&page).is_empty());
    assert!(page.contains("&#60;script&#62;") && !page.contains("<script>"));

    // bob (eng only) never sees prod-admin; forcing it is refused with a page.
    let bob = sign_in(&e, "bob", &["eng"]).await;
    let page = html(&e, "/", &bob).await;
    assert!(!page.contains("prod-admin"));
    let csrf = hidden(&page, "csrf");
    for action in ["credentials", "console", "fav"] {
        let r = post(
            &e,
            &format!("/{action}/prod-admin"),
            &bob,
            &[("csrf", &csrf)],
        )
        .await;
        assert_eq!(r.status(), 403, "{action}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Request ID"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_are_bounded_by_the_grant_and_the_clicked_rows_choice_wins() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng", "sre"]).await;
    let page = html(&e, "/", &alice).await;
    let csrf = hidden(&page, "csrf");
    // dev-readonly's grant is 90 minutes: the standard steps below it, then 90 min itself.
    let key = row_key(&page, "dev-readonly");
    let select = page
        .split(&format!("name=m{key} "))
        .nth(1)
        .unwrap()
        .split("</select>")
        .next()
        .unwrap();
    assert_eq!(
        select.matches("<option").count(),
        4,
        "15m, 30m, 1h, 1h30m: {select}"
    );
    assert!(select.contains("<option value=60 selected>1h"), "{select}");
    assert!(select.contains("<option value=90>1h30m"));

    // The whole form comes along (every row's duration); the clicked row's field counts.
    let other = row_key(&page, "prod-readonly");
    let (d_key, d_other) = (format!("m{key}"), format!("m{other}"));
    let form = [
        ("csrf", csrf.as_str()),
        (d_other.as_str(), "240"),
        (d_key.as_str(), "30"),
    ];
    let clicked = format!("/credentials/dev-readonly?r={key}");
    let r = post(&e, &clicked, &alice, &form).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let expires = body
        .split(r#"<time datetime=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    let left = expires.timestamp() - common::forge::now();
    assert!((1700..=1800).contains(&left), "30 minutes, got {left}s");
    assert!(body.contains(r#"download="rolegate-dev-readonly.json""#));
    assert!(body.contains("aws_session_token = "));
    assert!(body.contains("$Env:AWS_ACCESS_KEY_ID="));

    // Longer than the grant (a forged form): refused, naming the limit; nothing issued.
    let page = html(&e, "/", &alice).await;
    let csrf = hidden(&page, "csrf");
    let form = [("csrf", csrf.as_str()), (d_key.as_str(), "120")];
    let r = post(&e, &clicked, &alice, &form).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("at most 1h30m"),
        "names the grant's maximum: {body}"
    );
    let page = html(&e, "/", &alice).await;
    let csrf = hidden(&page, "csrf");
    let r = post(
        &e,
        "/credentials/dev-readonly",
        &alice,
        &[("csrf", &csrf), ("duration_seconds", "soon")],
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn favourites_are_remembered_per_user_and_need_csrf() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng", "sre"]).await;
    let page = html(&e, "/?q=dev", &alice).await;
    let csrf = hidden(&page, "csrf");
    let r = post(
        &e,
        "/fav/sandbox-poweruser",
        &alice,
        &[("csrf", &csrf), ("q", "dev")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/?q=dev",
        "back to the same search"
    );
    let page = html(&e, "/", &alice).await;
    assert!(page.contains(r#"<section class="account favourites">"#));
    assert_eq!(rows(&page)[0], "sandbox-poweruser", "favourites come first");
    assert!(page.contains(r#"aria-pressed=true aria-label="Favourite sandbox-poweruser""#));

    // A new session (another browser) sees the same favourites; bob sees none of them.
    let again = sign_in(&e, "alice", &["eng", "sre"]).await;
    let page = html(&e, "/", &again).await;
    assert_eq!(rows(&page)[0], "sandbox-poweruser");
    let bob = sign_in(&e, "bob", &["eng"]).await;
    let bob_page = html(&e, "/", &bob).await;
    assert!(!bob_page.contains(r#"class="account favourites""#));

    // Without the token nothing changes; with it, a second click removes the star.
    let r = post(&e, "/fav/sandbox-poweruser", &alice, &[("csrf", "nope")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(rows(&html(&e, "/", &alice).await)[0], "sandbox-poweruser");
    let r = post(&e, "/fav/sandbox-poweruser", &alice, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    let page = html(&e, "/", &alice).await;
    assert!(!page.contains(r#"class="account favourites""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_deep_link_survives_sign_in_and_stays_on_the_console_host() {
    let Some(e) = env().await else { return };
    // Signed out: the only IdP is where `/` goes, coming back to the same deep link after
    // sign-in; after a sign-out (the marker cookie) the sign-in page links there instead.
    let r = get(&e, "/?destination=/s3/buckets", None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login/corp?return_to=%2F%3Fdestination%3D%2Fs3%2Fbuckets"
    );
    let page = html(&e, "/?destination=/s3/buckets", "rolegate_signed_out=1").await;
    assert!(
        page.contains("/login/corp?return_to=%2F%3Fdestination%3D%2Fs3%2Fbuckets"),
        "{page}"
    );
    assert!(page.contains("<code>/s3/buckets</code>"));

    let alice = sign_in(&e, "alice", &["eng"]).await;
    let page = html(&e, "/?destination=/s3/buckets", &alice).await;
    assert_eq!(hidden(&page, "destination"), "/s3/buckets");
    let csrf = hidden(&page, "csrf");
    let r = post(
        &e,
        "/console/prod-readonly",
        &alice,
        &[("csrf", &csrf), ("destination", "/s3/buckets")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let login = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = login.query_pairs().into_owned().collect();
    assert_eq!(
        q["Destination"],
        "https://console.aws.amazon.com/s3/buckets"
    );
    assert_eq!(q["Issuer"], format!("{PUBLIC}/"));

    // Each console or credentials POST spends the page's token: the same form again is refused.
    let r = post(
        &e,
        "/console/prod-readonly",
        &alice,
        &[("csrf", &csrf), ("destination", "/s3/buckets")],
    )
    .await;
    assert_eq!(r.status(), 403, "a replayed console POST");

    // Anywhere else is refused before anything is issued, as a page.
    for bad in [
        "https://evil.example/",
        "//evil.example/x",
        "javascript:alert(1)",
    ] {
        let page = html(&e, "/", &alice).await;
        let csrf = hidden(&page, "csrf");
        let r = post(
            &e,
            "/console/prod-readonly",
            &alice,
            &[("csrf", &csrf), ("destination", bad)],
        )
        .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.text().await.unwrap().contains("invalid_destination"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_the_session_and_offers_the_idps_logout() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng"]).await;
    let page = html(&e, "/", &alice).await;
    let csrf = hidden(&page, "csrf");

    // A wrong token signs nobody out (logout CSRF).
    let r = post(&e, "/logout", &alice, &[("csrf", "0")]).await;
    assert_eq!(r.status(), 403);
    assert!(html(&e, "/", &alice).await.contains("Sign out"));

    let r = post(&e, "/logout", &alice, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    let cleared = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cleared.starts_with("__Host-rolegate_session=;"),
        "{cleared}"
    );
    // The signed-out marker: `/` shows the sign-in page instead of going straight back to the
    // only IdP (whose session lives on: Back would sign the user in again silently).
    let marker = web::cookie_pair(&r, "rolegate_signed_out").expect("the signed-out marker");
    let body = r.text().await.unwrap();
    assert!(body.contains("Signed out"));
    assert!(
        body.contains(r#"href="/login/corp">Sign in again"#),
        "{body}"
    );
    assert!(
        body.contains(r#"href="https://idp.forge.test/logout">Also sign out of Corporate SSO"#),
        "{body}"
    );
    // The old cookie and its CSRF token are worth nothing now.
    let r = post(&e, "/credentials/prod-readonly", &alice, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let after = get(&e, "/", Some(&format!("{alice}; {marker}"))).await;
    assert_eq!(after.status(), 200);
    let after = after.text().await.unwrap();
    assert!(after.contains("<title>Sign in"), "{after}");
    assert!(after.contains(r#"href="/login/corp""#), "{after}");
    // Starting a sign-in clears the marker; without it `/` goes to the IdP again.
    let start = get(&e, "/login/corp", Some(&marker)).await;
    let cleared = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("rolegate_signed_out=;"));
    assert!(cleared, "{:?}", start.headers());
    let r = get(&e, "/", Some(&alice)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login/corp");
}

/// A user whose groups grant nothing sees who the IdP says they are (to send an
/// administrator), escaped as the untrusted text it is, and no empty search box.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_roles_sees_what_to_send_an_administrator() {
    let Some(e) = env().await else { return };
    // XML-escaped in the assertion: the group the IdP asserts is `<script>x</script>`.
    let mallory = sign_in(
        &e,
        "mallory",
        &["contractors", "&lt;script&gt;x&lt;/script&gt;"],
    )
    .await;
    let page = html(&e, "/", &mallory).await;
    assert!(page.contains("No AWS role is granted to you"), "{page}");
    assert!(page.contains("administrator"), "{page}");
    assert!(!page.contains(r#"id="q""#), "no search box: {page}");
    assert!(
        !page.contains(r#"id="roles""#),
        "no empty role form: {page}"
    );
    assert!(page.contains("<code>mallory@example.com</code>"), "{page}");
    assert!(page.contains("<code>contractors</code>"), "{page}");
    assert!(
        page.contains("<code>&#60;script&#62;x&#60;/script&#62;</code>"),
        "{page}"
    );
    assert!(!page.contains("<script>x"), "{page}");
    assert!(page.contains("Corporate SSO"), "{page}");
    assert!(
        page.contains(r#"<time datetime=""#),
        "the session's end: {page}"
    );
}

/// A Cancel at a SAML IdP comes back as a Response with a non-Success status and no assertion
/// (SAML core 3.2.2.2): the page says the sign-in was cancelled or refused and offers to sign
/// in again, not "something went wrong"; nothing is signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saml_cancel_says_sign_in_cancelled() {
    use base64::Engine;
    let Some(e) = env().await else { return };
    for (second, shown) in [
        (
            r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/>"#,
            "AuthnFailed",
        ),
        (
            r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:RequestDenied"/>"#,
            "RequestDenied",
        ),
        (r#"<samlp:StatusCode Value="x-&lt;b&gt;"/>"#, "Responder"),
    ] {
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_c1" Version="2.0" IssueInstant="2026-12-07T10:00:00Z" Destination="{PUBLIC}/saml/acs"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder">{second}</samlp:StatusCode><samlp:StatusMessage>User cancelled</samlp:StatusMessage></samlp:Status></samlp:Response>"#,
            issuer = common::saml_forge::IDP_ENTITY,
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
        let r = web::client()
            .post(format!("{}/saml/acs", e.app.url))
            .form(&[("SAMLResponse", b64.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{shown}");
        assert!(web::cookie_pair(&r, "__Host-rolegate_session").is_none());
        assert!(web::cookie_pair(&r, "rolegate_signed_out").is_some());
        let body = r.text().await.unwrap();
        assert!(body.contains("<h1>Sign-in cancelled</h1>"), "{body}");
        assert!(
            body.contains(&format!(
                "Sign-in cancelled or refused at your identity provider (status {shown})"
            )),
            "{body}"
        );
        assert!(
            body.contains(r#"href="/login/corp">Sign in again"#),
            "{body}"
        );
        assert!(!body.contains("went wrong"), "{body}");
    }
    let refused = e.app.metrics().await;
    assert!(
        refused
            .lines()
            .any(|l| l.contains("reason=\"status\"") && l.ends_with(" 3")),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng"]).await;
    let page = get(&e, "/", Some(&alice)).await;
    let h = page.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self' http://127.0.0.1:",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(
        h["strict-transport-security"], "max-age=31536000",
        "the public URL is https"
    );
    let body = page.text().await.unwrap();
    assert!(
        !body.contains("<script>") && !body.contains("style="),
        "nothing inline"
    );

    // JSON, redirects and 404s get the deny-all policy too.
    for path in ["/healthz", "/api/v1/roles", "/login/corp", "/nope"] {
        let r = get(&e, path, None).await;
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer", "{path}");
    }

    // The assets: cached for a year under their content hash, revalidated otherwise.
    let js = body
        .split(r#"<script src=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#61;", "=");
    let r = get(&e, &js, None).await;
    assert_eq!(r.status(), 200, "{js}");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let r = get(&e, "/assets/rolegate.js?v=old", None).await;
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert_eq!(get(&e, "/assets/../Cargo.toml", None).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_malformed_forms_change_nothing() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng"]).await;
    let csrf = hidden(&html(&e, "/", &alice).await, "csrf");
    // Over the 64 KiB form limit: refused before parsing, and the token is not spent.
    let padding = "x".repeat(70 * 1024);
    let r = post(
        &e,
        "/credentials/prod-readonly",
        &alice,
        &[("csrf", &csrf), ("pad", &padding)],
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = post(
        &e,
        "/fav/prod-readonly",
        &alice,
        &[("csrf", &csrf), ("m1", "not-a-number")],
    )
    .await;
    assert_eq!(r.status(), 303, "unused junk fields are ignored");
    let r = post(
        &e,
        "/credentials/prod-readonly?r=1",
        &alice,
        &[("csrf", &csrf), ("m1", "sixty")],
    )
    .await;
    assert_eq!(r.status(), 400, "a session length that is not a number");
}
