//! The admin page `/admin/sessions`: who sees which sessions, revocation through its
//! confirmation step, CSRF, escaping and the security headers — over plain HTTP with SAML
//! sign-ins the forge signs (any subject, hostile ones too) and credentials from moto; and an
//! administrator's whole journey in headless Chromium through oidc-provider
//! (tests/support/browser/admin.mjs), ending with the revoked person's next credentials refused.

use crate::browser::{chromium, run_script, step};
use crate::common;

use common::app::{ACCOUNT_ROLES, ROLES, TestApp, broker_head, peers};
use common::peers::{OIDC_CLIENT_SECRET, OidcIdp, free_port};
use common::saml_forge::SamlForge;
use common::web::{self, hidden, saml_sign_in};
use serde_json::{Value, json};

const PUBLIC: &str = "https://rolegate.example.test";

/// Administrators by policy: `sre` may list and end sessions on every role.
const SRE_ADMINS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "SreManageSessions", "Effect": "Allow",
   "Action": ["rolegate:ListSessions", "rolegate:RevokeSessions"], "Resource": "*",
   "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "sre"}}}
]}"#;

/// Closes an attribute, then opens a script and an image: what a subject, a user agent or a
/// reason might carry.
const HOSTILE: &str = r#"<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;

struct Env {
    app: TestApp,
    forge: SamlForge,
}

/// A broker with one SAML IdP (the forge, IdP-initiated allowed): `eng` may use the read-only
/// roles, `sre` also prod-admin and the sessions of everyone.
async fn env() -> Option<Env> {
    let p = peers()?;
    let forge = SamlForge::new();
    let toml = format!(
        r#"{head}
[[idp]]
id = "corp"
kind = "saml"
display_name = "Corporate SSO"
metadata_file = "corp-metadata.xml"
allow_idp_initiated = true

{ACCOUNT_ROLES}

[[map]]
idp = "corp"
groups = ["eng"]
roles = ["prod-readonly", "dev-readonly"]

[[map]]
idp = "corp"
groups = ["sre"]
roles = ["prod-admin"]

[policy]
files = ["policy.json"]
"#,
        head = broker_head("127.0.0.1:0", PUBLIC, &p.moto.url, None),
    );
    let md = forge.metadata("https://idp.forge.test/sso");
    let files = [
        ("corp-metadata.xml", md.as_str()),
        ("policy.json", SRE_ADMINS),
    ];
    let app = TestApp::spawn_with_files(&toml, &files, None, true).await;
    Some(Env { app, forge })
}

async fn sign_in(e: &Env, user: &str, groups: &[&str]) -> String {
    saml_sign_in(&e.app.url, &e.forge, user, groups).await
}

/// The page at `path` for `cookie`: status and HTML.
async fn page(e: &Env, path: &str, cookie: &str) -> (u16, String) {
    let r = web::get(&e.app.url, path, Some(cookie)).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(e: &Env, cookie: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = web::post(&e.app.url, "/admin/sessions/revoke", cookie, form).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Credentials for `role` from the picker, as a browser takes them (the session is recorded
/// with this user agent); returns the page.
async fn take(e: &Env, cookie: &str, role: &str, user_agent: &str) -> (u16, String) {
    let (_, picker) = page(e, "/", cookie).await;
    let csrf = hidden(&picker, "csrf");
    let r = web::client()
        .post(format!("{}/credentials/{role}", e.app.url))
        .header("cookie", cookie)
        .header("user-agent", user_agent)
        .form(&[("csrf", csrf.as_str()), ("duration_seconds", "900")])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn take_ok(e: &Env, cookie: &str, role: &str) {
    let (status, body) = take(e, cookie, role, "admin-sessions-test/1.0").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("AWS_SECRET_ACCESS_KEY"), "{body}");
}

/// The session ids the page links to ("Revoke…").
fn session_ids(html: &str) -> Vec<String> {
    html.split("session_id=")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

fn live_rows(html: &str) -> usize {
    html.matches(r#"<td class="status">live</td>"#).count()
}

/// Nothing hostile became markup, and it is shown, escaped.
fn assert_inert(html: &str) {
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("onerror=alert(2)>"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#62;&#60;img"),
        "the text is shown: {html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_sees_only_their_own_sessions_and_a_forged_revoke_changes_nothing() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng", "sre"]).await;
    let bob = sign_in(&e, "bob", &["eng"]).await;
    take_ok(&e, &alice, "dev-readonly").await;
    take_ok(&e, &bob, "dev-readonly").await;

    let (status, mine) = page(&e, "/admin/sessions", &bob).await;
    assert_eq!(status, 200, "{mine}");
    assert!(mine.contains("<code>corp:bob@example.com</code>"), "{mine}");
    assert!(!mine.contains("alice@example.com"), "{mine}");
    assert_eq!(live_rows(&mine), 1);
    assert!(
        !mine.contains("/admin/sessions/revoke"),
        "no revoke link for bob: {mine}"
    );
    assert!(mine.contains("no statement grants it to you"), "{mine}");
    assert!(
        ["in 14 min", "in 15 min", "in 16 min"]
            .iter()
            .any(|t| mine.contains(t)),
        "the expiry relative to now: {mine}"
    );

    // Asking for alice's: refused, saying why; his own that match (none) shown instead.
    let (status, theirs) = page(&e, "/admin/sessions?user=corp:alice@example.com", &bob).await;
    assert_eq!(status, 200);
    assert!(theirs.contains("rolegate:ListSessions"), "{theirs}");
    assert!(!theirs.contains("<tbody>"), "no rows: {theirs}");

    // The admin sees both; alice's own session id, for bob to aim at.
    let (_, all) = page(&e, "/admin/sessions", &alice).await;
    assert_eq!(live_rows(&all), 2, "{all}");
    let (_, hers) = page(&e, "/admin/sessions?user=corp:alice@example.com", &alice).await;
    let target = session_ids(&hers).remove(0);

    // Bob's confirmation page is refused without a word about alice's sessions.
    let path = format!("/admin/sessions/revoke?session_id={target}");
    let (status, refused) = page(&e, &path, &bob).await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("rolegate:RevokeSessions"), "{refused}");
    assert!(!refused.contains("alice"), "{refused}");

    // A forged POST with bob's own valid CSRF token: 403, for one session, a person, everything.
    for aim in [
        ("session_id", target.as_str()),
        ("user", "corp:alice@example.com"),
        ("all", "true"),
    ] {
        let (_, fresh) = page(&e, "/admin/sessions", &bob).await;
        let csrf = hidden(&fresh, "csrf");
        let (status, body) = post(
            &e,
            &bob,
            &[("csrf", csrf.as_str()), aim, ("reason", "forged")],
        )
        .await;
        assert_eq!(status, 403, "{aim:?}: {body}");
        assert!(body.contains("rolegate:RevokeSessions"), "{aim:?}: {body}");
    }
    // Nothing changed: every session live, alice still served.
    let (_, all) = page(&e, "/admin/sessions?include=revoked", &alice).await;
    assert_eq!(live_rows(&all), 2, "{all}");
    assert!(!all.contains("revoked by"), "{all}");
    take_ok(&e, &alice, "dev-readonly").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_post_without_the_sessions_own_csrf_token_is_refused_and_ends_nothing() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng", "sre"]).await;
    let bob = sign_in(&e, "bob", &["eng"]).await;
    take_ok(&e, &bob, "dev-readonly").await;
    let (_, listed) = page(&e, "/admin/sessions?user=corp:bob@example.com", &alice).await;
    let target = session_ids(&listed).remove(0);
    let (_, bobs_page) = page(&e, "/admin/sessions", &bob).await;
    let bobs_csrf = hidden(&bobs_page, "csrf");

    let aim = [("session_id", target.as_str()), ("reason", "INC-9")];
    let zeros = "0".repeat(64);
    for csrf in [
        None,
        Some(""),
        Some(bobs_csrf.as_str()),
        Some(zeros.as_str()),
    ] {
        let mut form = aim.to_vec();
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let (status, body) = post(&e, &alice, &form).await;
        assert_eq!(status, 403, "csrf {csrf:?}: {body}");
        assert!(body.contains("did not come from this site"), "{body}");
    }
    // Without a session at all: back to sign-in, nothing done.
    let r = web::client()
        .post(format!("{}/admin/sessions/revoke", e.app.url))
        .form(&aim)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let (_, all) = page(&e, "/admin/sessions?include=revoked", &alice).await;
    assert!(!all.contains("revoked by"), "nothing revoked: {all}");
    take_ok(&e, &bob, "dev-readonly").await;

    // With her own token, from the confirmation page: revoked, once. The same POST again (a
    // reload) is refused, never a second revocation.
    let (status, confirm) = page(
        &e,
        &format!("/admin/sessions/revoke?session_id={target}"),
        &alice,
    )
    .await;
    assert_eq!(status, 200, "{confirm}");
    assert!(
        confirm.contains("2 live sessions"),
        "both of bob's: {confirm}"
    );
    let csrf = hidden(&confirm, "csrf");
    let mut form = aim.to_vec();
    form.push(("csrf", csrf.as_str()));
    let (status, outcome) = post(&e, &alice, &form).await;
    assert_eq!(status, 200, "{outcome}");
    assert!(outcome.contains("<b>2</b> sessions ended"), "{outcome}");
    assert!(outcome.contains("Not written to IAM"), "{outcome}");
    assert!(
        outcome.contains("&#34;aws:SourceIdentity&#34;: [\n"),
        "the Deny, pretty, to apply: {outcome}"
    );
    let (status, again) = post(&e, &alice, &form).await;
    assert_eq!(status, 403, "{again}");
    let (_, all) = page(&e, "/admin/sessions?include=revoked", &alice).await;
    assert_eq!(
        all.matches("revoked by <code>corp:alice@example.com</code>")
            .count(),
        2,
        "{all}"
    );
    let (_, hidden_revoked) = page(&e, "/admin/sessions", &alice).await;
    assert!(
        hidden_revoked.contains("2 revoked not shown"),
        "{hidden_revoked}"
    );
    // Bob's next credentials on that role are refused.
    let (status, refused) = take(&e, &bob, "dev-readonly", "x").await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused.contains("session_revoked"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_subjects_user_agents_and_reasons_show_as_text_on_every_admin_page() {
    let Some(e) = env().await else { return };
    let alice = sign_in(&e, "alice", &["eng", "sre"]).await;
    // The NameID as XML text: the broker reads the subject `<script>…` back out of it.
    let xml = HOSTILE
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let mallory = sign_in(&e, &xml, &["eng"]).await;
    let (status, body) = take(&e, &mallory, "dev-readonly", HOSTILE).await;
    assert_eq!(status, 200, "{body}");

    let (status, list) = page(&e, "/admin/sessions", &alice).await;
    assert_eq!(status, 200);
    assert_inert(&list);
    let user = format!("corp:{HOSTILE}@example.com");
    let q: String = url::form_urlencoded::byte_serialize(user.as_bytes()).collect();
    let (status, filtered) = page(&e, &format!("/admin/sessions?user={q}"), &alice).await;
    assert_eq!(status, 200);
    assert_inert(&filtered);
    assert_eq!(live_rows(&filtered), 1, "{filtered}");

    let (status, confirm) = page(&e, &format!("/admin/sessions/revoke?user={q}"), &alice).await;
    assert_eq!(status, 200, "{confirm}");
    assert_inert(&confirm);
    let csrf = hidden(&confirm, "csrf");
    let (status, outcome) = post(
        &e,
        &alice,
        &[
            ("csrf", csrf.as_str()),
            ("user", user.as_str()),
            ("reason", HOSTILE),
        ],
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    assert_inert(&outcome);
    assert!(outcome.contains("<b>1</b> session ended"), "{outcome}");

    // An error page that quotes what was asked.
    let q: String = url::form_urlencoded::byte_serialize(HOSTILE.as_bytes()).collect();
    let (status, missing) = page(
        &e,
        &format!("/admin/sessions/revoke?session_id={q}"),
        &alice,
    )
    .await;
    assert_eq!(status, 404, "{missing}");
    assert_inert(&missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_pages_send_the_pickers_headers_and_sign_in_redirect_and_say_what_to_fix() {
    let Some(e) = env().await else { return };
    // Not signed in: the picker's redirect to the only IdP, back to the page asked for.
    let picker = web::get(&e.app.url, "/?q=x", None).await;
    assert_eq!(picker.status(), 303);
    assert_eq!(
        picker.headers()["location"],
        "/login/corp?return_to=%2F%3Fq%3Dx"
    );
    for (path, back) in [
        (
            "/admin/sessions?user=corp:bob",
            "%2Fadmin%2Fsessions%3Fuser%3Dcorp%3Abob",
        ),
        (
            "/admin/sessions/revoke?all=true",
            "%2Fadmin%2Fsessions%2Frevoke%3Fall%3Dtrue",
        ),
    ] {
        let r = web::get(&e.app.url, path, None).await;
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("/login/corp?return_to={back}")
        );
    }

    let alice = sign_in(&e, "alice", &["eng", "sre"]).await;
    // The picker's policy, less the AWS federation origin its Console button posts on to.
    let csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
               connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    let home = web::get(&e.app.url, "/", Some(&alice)).await;
    let pickers = home.headers()["content-security-policy"].to_str().unwrap();
    let without_form_action = |p: &str| -> Vec<String> {
        p.split("; ")
            .filter(|d| !d.starts_with("form-action"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(without_form_action(pickers), without_form_action(csp));
    take_ok(&e, &alice, "dev-readonly").await;
    let (_, list) = page(&e, "/admin/sessions", &alice).await;
    let own = session_ids(&list).remove(0);
    for (path, status) in [
        ("/admin/sessions".to_string(), 200),
        ("/admin/sessions?sort=-expires&include=revoked".into(), 200),
        ("/admin/sessions?user=bob".into(), 400),
        (format!("/admin/sessions/revoke?session_id={own}"), 200),
        ("/admin/sessions/revoke?all=true".into(), 200),
        ("/admin/sessions/revoke?session_id=ses_00".into(), 404),
        ("/admin/sessions/revoke?role=admin&all=true".into(), 400),
    ] {
        let r = web::get(&e.app.url, &path, Some(&alice)).await;
        assert_eq!(r.status(), status, "{path}");
        let h = r.headers();
        assert_eq!(h["content-security-policy"], csp, "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(
            h["content-type"].to_str().unwrap().starts_with("text/html"),
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("<script>") && body.contains("/assets/rolegate.js?v="),
            "{path}"
        );
    }
    // Their own stylesheet, beside the picker's (which stays within its page-weight budget).
    let (_, list) = page(&e, "/admin/sessions", &alice).await;
    let css = list
        .split(r#"<link rel="stylesheet" href=""#)
        .nth(2)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("a second stylesheet: {list}"));
    assert!(css.starts_with("/assets/admin.css?v="), "{css}");
    let r = web::get(&e.app.url, css, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    let (_, bad) = page(&e, "/admin/sessions?user=bob", &alice).await;
    assert!(bad.contains("IDP:SUBJECT"), "says what to fix: {bad}");
    let (_, none) = page(&e, "/admin/sessions/revoke?session_id=ses_00", &alice).await;
    assert!(none.contains("no live session has the id ses_00"), "{none}");

    // A reason that is not one: 400 saying so, with the way back to the form; nothing revoked.
    let (_, confirm) = page(
        &e,
        &format!("/admin/sessions/revoke?session_id={own}"),
        &alice,
    )
    .await;
    let csrf = hidden(&confirm, "csrf");
    let (status, body) = post(
        &e,
        &alice,
        &[
            ("csrf", csrf.as_str()),
            ("session_id", own.as_str()),
            ("reason", "  "),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("reason: required"), "{body}");
    assert!(
        body.contains(&format!("/admin/sessions/revoke?session_id={own}")),
        "{body}"
    );
    let (_, list) = page(&e, "/admin/sessions", &alice).await;
    assert_eq!(live_rows(&list), 1, "{list}");
}

/// Everyone may use the Admin role; `sre` may list and end sessions everywhere.
const ADMINS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "SreManageSessions", "Effect": "Allow",
   "Action": ["rolegate:ListSessions", "rolegate:RevokeSessions"], "Resource": "*",
   "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "sre"}}},
  {"Sid": "EveryoneAdmin", "Effect": "Allow", "Action": "rolegate:*",
   "Resource": "arn:aws:iam::123456789012:role/Admin"}
]}"#;

/// Alice (sre, an administrator by policy) signs in at oidc-provider in Chromium, finds her
/// and bob's sessions on /admin/sessions, filters by bob, revokes his session with a reason,
/// reads the outcome (the Deny naming his SourceIdentity, not written) and sees his session
/// revoked and hers live; bob's next credentials request is refused, hers is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_filters_and_revokes_another_persons_session_in_chromium() {
    if chromium().is_none() {
        return;
    }
    let Some(p) = peers() else { return };
    // The browser must reach the broker at its public URL: a fixed loopback port.
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let Some(oidc) = OidcIdp::start_with_redirect_uris(&[&format!("{public}/oidc/callback/web")])
    else {
        return;
    };
    let toml = format!(
        r#"{head}
[[idp]]
id = "web"
kind = "oidc"
display_name = "Example OIDC"
issuer = "{issuer}"
client_id = "rolegate"
client_secret_file = "client-secret"

{ROLES}

[[map]]
idp = "web"
groups = ["eng"]
roles = ["prod-readonly"]

[policy]
files = ["policy.json"]
"#,
        head = broker_head(&format!("127.0.0.1:{port}"), &public, &p.moto.url, None),
        issuer = oidc.issuer,
    );
    let files = [
        ("client-secret", OIDC_CLIENT_SECRET),
        ("policy.json", ADMINS),
    ];
    let app = TestApp::spawn_with_files(&toml, &files, None, true).await;
    let alice = oidc.id_token("rolegate", "alice");
    let bob = oidc.id_token("rolegate", "bob");
    for token in [&alice, &bob] {
        let r = app.credentials(token, json!({"role": "admin"})).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    #[rustfmt::skip]
    let args = [
        "--broker", &app.url, "--user", "alice", "--password", "x", "--other", "web:bob",
        "--reason", "INC-7 laptop stolen",
    ];
    let lines = tokio::task::block_in_place(|| run_script("admin.mjs", &args));

    let rows = |name: &str| step(&lines, name)["rows"].as_array().unwrap().clone();
    let listed = rows("list");
    let users: Vec<&str> = listed.iter().map(|r| r["user"].as_str().unwrap()).collect();
    assert!(
        users.contains(&"web:alice") && users.contains(&"web:bob"),
        "{listed:?}"
    );
    for r in &listed {
        assert_eq!(r["status"], "live", "{r}");
        assert_eq!(r["role"], "admin", "{r}");
        let expires = r["expires"].as_str().unwrap();
        assert!(
            expires.starts_with("in ") && (expires.ends_with(" min") || expires.ends_with(" h")),
            "{expires}"
        );
        let title = r["expires_title"].as_str().unwrap();
        assert!(
            title.len() == 20 && title.ends_with('Z') && title.contains('T'),
            "RFC 3339 in the title: {title}"
        );
    }
    let bobs = listed.iter().find(|r| r["user"] == "web:bob").unwrap();
    assert_eq!(
        bobs["actions"],
        json!(["Revoke…", "All of this person's…", "All on this role…"])
    );
    assert_eq!(rows("filter").len(), 1);
    let confirm = step(&lines, "confirm");
    assert_eq!(confirm["live"], "1 live session");
    assert!(
        confirm["facts"].as_str().unwrap().contains("sign in"),
        "{confirm}"
    );

    let revoke = step(&lines, "revoke");
    assert!(
        revoke["outcome"]
            .as_str()
            .unwrap()
            .contains("1 session ended"),
        "{revoke}"
    );
    assert!(
        revoke["outcome"]
            .as_str()
            .unwrap()
            .contains("INC-7 laptop stolen")
    );
    let role = &revoke["roles"][0];
    assert_eq!(role["arn"], "arn:aws:iam::123456789012:role/Admin");
    assert_eq!(role["written"], false);
    let statement = &role["policy"]["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:SourceIdentity"],
        json!(["web.bob"])
    );

    let after = rows("after");
    let status_of = |who: &str| -> String {
        after.iter().find(|r| r["user"] == who).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        status_of("web:bob").starts_with("revoked by web:alice"),
        "{after:?}"
    );
    assert_eq!(status_of("web:alice"), "live");
    step(&lines, "done");

    // Bob's next credentials request: refused until he signs in again. Alice: served.
    let r = app.credentials(&bob, json!({"role": "admin"})).await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "session_revoked", "{e}");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("INC-7 laptop stolen"),
        "{e}"
    );
    let r = app.credentials(&alice, json!({"role": "admin"})).await;
    assert_eq!(r.status(), 200);
}
