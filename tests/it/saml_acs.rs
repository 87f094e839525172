//! SAML sign-in end to end through the broker's own HTTP surface: `/login/{idp}` starts an
//! AuthnRequest, a Response really signed (xmlsec) for that request comes back to the ACS,
//! and the browser session it creates gets credentials that moto's GetCallerIdentity accepts.
//! Then the attacks that need server state: replay, a missing pending-login cookie, a stale
//! RelayState, unsolicited Responses, CSRF, oversize and junk posts.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::app::{Peers, ROLES, TestApp, caller_identity_arn, peers};
use common::saml_forge::{
    AES128_CBC, AES128_GCM, AES256_CBC, Encrypt, IDP_ENTITY, Knobs, SHA1, SamlForge,
    signature_template,
};
use common::web::{Started, saml_post_acs, saml_start_login};
use reqwest::redirect::Policy;

const PUBLIC: &str = "https://rolegate.example.test";

fn config(p: &Peers, idp_extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "{PUBLIC}"

[aws]
role_chaining = "false"
access_key_id_file = "aws-key-id"
secret_access_key_file = "aws-secret"

[aws.partitions.aws]
sts_endpoint = "{moto}"

[[idp]]
id = "corp"
kind = "saml"
metadata_file = "corp-metadata.xml"
{idp_extra}

{ROLES}

[[map]]
idp = "corp"
groups = ["eng"]
roles = ["prod-readonly"]
"#,
        moto = p.moto.url
    )
}

async fn spawn(p: &Peers, forge: &SamlForge, idp_extra: &str) -> TestApp {
    spawn_with_clock(p, forge, idp_extra, None).await
}

async fn spawn_with_clock(
    p: &Peers,
    forge: &SamlForge,
    idp_extra: &str,
    clock: Option<std::sync::Arc<dyn rolegate::clock::Clock>>,
) -> TestApp {
    let md = forge.metadata("https://idp.forge.test/sso");
    TestApp::spawn_with_files(
        &config(p, idp_extra),
        &[("corp-metadata.xml", &md)],
        clock,
        true,
    )
    .await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of a Set-Cookie named `name`.
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

async fn start_login(app: &TestApp) -> Started {
    saml_start_login(&app.url).await
}

async fn post_acs(
    app: &TestApp,
    response_b64: &str,
    relay: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    saml_post_acs(&app.url, response_b64, relay, cookie).await
}

/// The rejection class shown on the error page.
async fn reason(r: reqwest::Response) -> String {
    let body = r.text().await.unwrap();
    body.split("Reason: <code>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or(&body)
        .to_string()
}

fn hidden(body: &str, name: &str) -> String {
    body.split(&format!(r#"name="{name}" value=""#))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no hidden {name} in {body}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_pick_a_role_and_hold_credentials_verified_by_sts() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "").await;
    let s = start_login(&app).await;
    let response = forge.response_b64(&Knobs {
        in_response_to: Some(s.request_id.clone()),
        ..Knobs::default()
    });
    let r = post_acs(&app, &response, Some(&s.relay), Some(&s.pending_cookie)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["location"], "/");
    let session = set_cookie(&r, "__Host-rolegate_session").expect("session cookie");
    let raw = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(
        raw.contains("HttpOnly") && raw.contains("Secure") && raw.contains("SameSite=Lax"),
        "{raw}"
    );
    let cookie = format!("__Host-rolegate_session={session}");

    let home = client()
        .get(format!("{}/", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let page = home.text().await.unwrap();
    assert!(page.contains("prod-readonly"), "{page}");
    assert!(
        !page.contains("/credentials/admin"),
        "admin is not granted to eng: {page}"
    );
    let csrf = hidden(&page, "csrf");

    let creds = client()
        .post(format!("{}/credentials/prod-readonly", app.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(creds.status(), 200);
    assert_eq!(creds.headers()["cache-control"], "no-store");
    let body = creds.text().await.unwrap();
    let export = |k: &str| {
        body.split(&format!("export {k}="))
            .nth(1)
            .and_then(|s| s.strip_prefix("&#39;")?.split("&#39;").next())
            .unwrap_or_else(|| panic!("no {k} in {body}"))
            .to_string()
    };
    let json = serde_json::json!({
        "AccessKeyId": export("AWS_ACCESS_KEY_ID"),
        "SecretAccessKey": export("AWS_SECRET_ACCESS_KEY"),
        "SessionToken": export("AWS_SESSION_TOKEN"),
    });
    let arn = caller_identity_arn(&p.moto.url, &json).await;
    assert!(arn.contains(":assumed-role/ReadOnly/"), "{arn}");

    // The same Response again: the pending request is gone and the assertion ID is spent.
    let again = post_acs(&app, &response, Some(&s.relay), Some(&s.pending_cookie)).await;
    assert_eq!(again.status(), 403);
    assert_eq!(reason(again).await, "in_response_to");

    // The token was spent by that POST: the same form again (a replay, a double click) issues
    // nothing; the reloaded page carries a fresh token.
    let replay = client()
        .post(format!("{}/credentials/prod-readonly", app.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 403);
    assert!(replay.text().await.unwrap().contains("csrf"));
    let page = common::web::get(&app.url, "/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    let fresh = hidden(&page, "csrf");
    assert_ne!(fresh, csrf);
    let csrf = fresh;

    // CSRF: missing or wrong token does nothing.
    for token in ["", "0000"] {
        let r = client()
            .post(format!("{}/credentials/prod-readonly", app.url))
            .header("cookie", &cookie)
            .form(&[("csrf", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    // A role the policy does not grant: refused even when forced.
    let forced = client()
        .post(format!("{}/credentials/admin", app.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 403);
    assert_eq!(
        reason(forced).await,
        "access_denied",
        "refused by the policy"
    );

    // Logout ends the session server-side.
    let page = common::web::get(&app.url, "/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let out = client()
        .post(format!("{}/logout", app.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    // Signed out: `/` no longer shows the picker (the only IdP is where it sends the browser).
    let after = client()
        .get(format!("{}/", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()["location"], "/login/corp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_that_must_not_sign_anyone_in() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "").await;

    // No pending-login cookie (login CSRF: a Response pushed into another browser).
    let s = start_login(&app).await;
    let ok = Knobs {
        in_response_to: Some(s.request_id.clone()),
        ..Knobs::default()
    };
    let r = post_acs(&app, &forge.response_b64(&ok), Some(&s.relay), None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(reason(r).await, "in_response_to");

    let cases: Vec<(Knobs, &str)> = vec![
        (
            Knobs {
                audience: "https://other.example/sp".into(),
                ..Knobs::default()
            },
            "wrong_audience",
        ),
        (
            Knobs {
                recipient: "https://evil.example/acs".into(),
                ..Knobs::default()
            },
            "wrong_recipient",
        ),
        (
            Knobs {
                destination: "https://evil.example/acs".into(),
                ..Knobs::default()
            },
            "wrong_destination",
        ),
        (
            Knobs {
                valid_for: -120,
                ..Knobs::default()
            },
            "expired",
        ),
        (
            Knobs {
                in_response_to: Some("_someone-elses".into()),
                ..Knobs::default()
            },
            "in_response_to",
        ),
    ];
    for (mut knobs, want) in cases {
        let s = start_login(&app).await;
        if knobs.in_response_to.is_none() {
            knobs.in_response_to = Some(s.request_id.clone());
        }
        let r = post_acs(
            &app,
            &forge.response_b64(&knobs),
            Some(&s.relay),
            Some(&s.pending_cookie),
        )
        .await;
        assert_eq!(r.status(), 403, "{want}");
        assert_eq!(reason(r).await, want);
    }

    // Signed by a key the metadata does not pin.
    let stranger = SamlForge::new();
    let s = start_login(&app).await;
    let forged = stranger.response_b64(&Knobs {
        in_response_to: Some(s.request_id.clone()),
        ..Knobs::default()
    });
    let r = post_acs(&app, &forged, Some(&s.relay), Some(&s.pending_cookie)).await;
    assert_eq!(reason(r).await, "bad_signature");

    // Unsolicited while allow_idp_initiated = false.
    let r = post_acs(&app, &forge.response_b64(&Knobs::default()), None, None).await;
    assert_eq!(reason(r).await, "unsolicited");

    // Junk and oversize posts: a clear refusal, nothing stored.
    let r = post_acs(&app, "%%%", None, None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(reason(r).await, "malformed");
    let huge = STANDARD.encode("<a>".repeat(40_000));
    let r = post_acs(&app, &huge, None, None).await;
    assert_eq!(reason(r).await, "oversize");
    let r = post_acs(&app, &"A".repeat(600_000), None, None).await;
    assert_eq!(
        r.status(),
        400,
        "a body over the ACS limit is refused before parsing"
    );
    assert!(
        app.metrics()
            .await
            .contains("rolegate_saml_rejections_total{reason=\"wrong_audience\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_initiated_when_allowed_is_single_use_and_never_redirects_by_relay_state() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "allow_idp_initiated = true").await;
    let response = forge.response_b64(&Knobs::default());
    let r = post_acs(&app, &response, Some("https://evil.example/"), None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/",
        "RelayState is never a redirect target"
    );
    // Replay of the same assertion (SAML profiles 4.1.4.5).
    let r = post_acs(&app, &response, None, None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(reason(r).await, "replay");
    // A Response that claims to answer a request we do not hold is not "unsolicited".
    let r = post_acs(
        &app,
        &forge.response_b64(&Knobs {
            in_response_to: Some("_gone".into()),
            ..Knobs::default()
        }),
        None,
        None,
    )
    .await;
    assert_eq!(reason(r).await, "in_response_to");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sp_metadata_and_login_guards() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "").await;
    let md = client()
        .get(format!("{}/saml/metadata", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(md.status(), 200);
    let md = md.text().await.unwrap();
    assert!(
        md.contains(r#"entityID="https://rolegate.example.test/saml/metadata""#),
        "{md}"
    );
    assert!(
        md.contains(r#"Location="https://rolegate.example.test/saml/acs""#),
        "{md}"
    );
    for bad in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/%2F%2Fevil",
    ] {
        let mut u = url::Url::parse(&format!("{}/login/corp", app.url)).unwrap();
        u.query_pairs_mut().append_pair("return_to", bad);
        let r = client().get(u).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = client()
        .get(format!("{}/login/nope", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_sp_key_authn_requests_are_signed_and_the_cert_is_published() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let sp = SamlForge::new();
    let toml = config(p, "").replacen(
        "[[idp]]",
        "[saml]\nsp_key_file = \"sp.key\"\nsp_cert_file = \"sp.crt\"\n\n[[idp]]",
        1,
    );
    let app = TestApp::spawn_with_files(
        &toml,
        &[
            (
                "corp-metadata.xml",
                &forge.metadata("https://idp.forge.test/sso"),
            ),
            ("sp.key", &sp.key_pem()),
            ("sp.crt", &sp.cert_pem()),
        ],
        None,
        true,
    )
    .await;
    let r = client()
        .get(format!("{}/login/corp", app.url))
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let verifier = samael::crypto::UrlVerifier::from_x509_cert_pem(&sp.cert_pem()).unwrap();
    assert!(
        verifier.verify_signed_request_url(&location).unwrap(),
        "SAML bindings 3.4.4.1: the query string is signed with the SP key"
    );
    let tampered =
        url::Url::parse(&location.as_str().replace("RelayState=", "RelayState=x")).unwrap();
    assert!(
        !verifier
            .verify_signed_request_url(&tampered)
            .unwrap_or(false)
    );
    let md = client()
        .get(format!("{}/saml/metadata", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(md.contains(r#"AuthnRequestsSigned="true""#), "{md}");
    assert!(
        md.contains(&sp.cert_b64_der()),
        "the SP certificate is published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_starts_are_rate_limited_per_client_ip() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let toml = config(p, "").replacen(
        "[[idp]]",
        "[limits]\nlogins_per_minute_per_ip = 3\n\n[[idp]]",
        1,
    );
    let app = TestApp::spawn_with_files(
        &toml,
        &[(
            "corp-metadata.xml",
            &forge.metadata("https://idp.forge.test/sso"),
        )],
        None,
        true,
    )
    .await;
    for _ in 0..3 {
        let r = client()
            .get(format!("{}/login/corp", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
    }
    let r = client()
        .get(format!("{}/login/corp", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}

async fn session_app(
    p: &'static common::app::Peers,
    forge: &SamlForge,
    session: &str,
) -> (
    TestApp,
    std::sync::Arc<rolegate::clock::OffsetClock>,
    String,
) {
    let clock = std::sync::Arc::new(rolegate::clock::OffsetClock::default());
    let app = TestApp::spawn_with_files(
        &format!("{session}\n{}", config(p, "allow_idp_initiated = true")),
        &[(
            "corp-metadata.xml",
            &forge.metadata("https://idp.forge.test/sso"),
        )],
        Some(clock.clone()),
        true,
    )
    .await;
    let r = post_acs(&app, &forge.response_b64(&Knobs::default()), None, None).await;
    assert_eq!(r.status(), 303);
    let cookie = format!(
        "__Host-rolegate_session={}",
        set_cookie(&r, "__Host-rolegate_session").unwrap()
    );
    (app, clock, cookie)
}

async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    let page = client()
        .get(format!("{}/", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    page.text().await.unwrap().contains("Sign out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_an_idle_hour_and_after_twelve_hours_in_any_case() {
    use std::time::Duration;
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();

    let (app, clock, cookie) = session_app(p, &forge, "").await;
    assert!(signed_in(&app, &cookie).await);
    clock.advance(Duration::from_secs(50 * 60));
    assert!(signed_in(&app, &cookie).await, "used within the idle hour");
    clock.advance(Duration::from_secs(61 * 60));
    assert!(
        !signed_in(&app, &cookie).await,
        "idle for more than an hour"
    );

    // Used every 50 minutes, it still ends 12 hours after sign-in (15 x 50 min = 12.5 h).
    let (app, clock, cookie) = session_app(p, &forge, "").await;
    for _ in 0..15 {
        clock.advance(Duration::from_secs(50 * 60));
        let _ = signed_in(&app, &cookie).await;
    }
    assert!(!signed_in(&app, &cookie).await, "absolute lifetime");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_session_timeouts_apply() {
    use std::time::Duration;
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let short = "[session]\nlifetime = \"30m\"\nidle_timeout = \"10m\"\n";

    let (app, clock, cookie) = session_app(p, &forge, short).await;
    clock.advance(Duration::from_secs(9 * 60));
    assert!(
        signed_in(&app, &cookie).await,
        "used within the idle 10 minutes"
    );
    clock.advance(Duration::from_secs(11 * 60));
    assert!(
        !signed_in(&app, &cookie).await,
        "idle for more than 10 minutes"
    );

    let (app, clock, cookie) = session_app(p, &forge, short).await;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(9 * 60));
        assert!(signed_in(&app, &cookie).await, "busy, within 30 minutes");
    }
    clock.advance(Duration::from_secs(4 * 60));
    assert!(
        !signed_in(&app, &cookie).await,
        "30-minute absolute lifetime"
    );
}

/// A broker with an SP key pair (`sp`): it publishes `sp`'s certificate and decrypts with its key.
async fn spawn_with_sp(p: &Peers, forge: &SamlForge, sp: &SamlForge, idp_extra: &str) -> TestApp {
    let toml = config(p, idp_extra).replacen(
        "[[idp]]",
        "[saml]\nsp_key_file = \"sp.key\"\nsp_cert_file = \"sp.crt\"\n\n[[idp]]",
        1,
    );
    TestApp::spawn_with_files(
        &toml,
        &[
            (
                "corp-metadata.xml",
                &forge.metadata("https://idp.forge.test/sso"),
            ),
            ("sp.key", &sp.key_pem()),
            ("sp.crt", &sp.cert_pem()),
        ],
        None,
        true,
    )
    .await
}

/// The SP certificate as anyone reads it from /saml/metadata (all an attacker needs to
/// encrypt to the broker), as PEM.
async fn published_sp_cert(app: &TestApp) -> String {
    let md = common::web::get(&app.url, "/saml/metadata", None)
        .await
        .text()
        .await
        .unwrap();
    let b64 = md
        .split("<ds:X509Certificate>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the SP certificate is published");
    let der = STANDARD.decode(b64).unwrap();
    String::from_utf8(
        openssl::x509::X509::from_der(&der)
            .unwrap()
            .to_pem()
            .unwrap(),
    )
    .unwrap()
}

/// From the security review: before any signature check, samael sliced the EncryptedData value at the
/// IV length (CBC) and subtracted the GCM tag length from it: a CipherValue shorter than that
/// panicked the worker. The attacker needs only the SP certificate the metadata publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_encrypted_assertion_is_refused_not_panicking() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let sp = SamlForge::new();
    let app = spawn_with_sp(p, &forge, &sp, "allow_idp_initiated = true").await;
    let sp_cert = published_sp_cert(&app).await;
    // Shorter than the GCM tag, shorter than IV + tag, one byte; shorter than the CBC IV.
    for (cipher, keep) in [
        (AES128_GCM, 8),
        (AES128_GCM, 20),
        (AES128_GCM, 1),
        (AES128_CBC, 8),
    ] {
        let xml = forge.encrypted_response_xml(
            &Knobs::default(),
            &Encrypt {
                truncate: Some(keep),
                ..Encrypt::to(&sp_cert, cipher)
            },
        );
        let r = post_acs(&app, &STANDARD.encode(xml), None, None).await;
        assert_eq!(r.status(), 403, "{cipher} cut to {keep} bytes");
        assert_eq!(
            reason(r).await,
            "encryption",
            "{cipher} cut to {keep} bytes"
        );
    }
    // The broker is whole: a well-formed encrypted sign-in still goes through.
    let xml = forge.encrypted_response_xml(&Knobs::default(), &Encrypt::to(&sp_cert, AES128_GCM));
    let r = post_acs(&app, &STANDARD.encode(xml), None, None).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// From the security review: AES-CBC without integrity is the XML Encryption oracle: an attacker who
/// edits the IdP's ciphertext and watches the answer learns the plaintext. CBC is decrypted only
/// inside a Response whose own signature verified first; a GCM ciphertext relabelled as CBC
/// (same content key) is refused the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cbc_assertion_in_unsigned_response_is_refused() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let sp = SamlForge::new();
    let app = spawn_with_sp(p, &forge, &sp, "allow_idp_initiated = true").await;
    let sp_cert = published_sp_cert(&app).await;
    for e in [
        Encrypt::to(&sp_cert, AES128_CBC),
        Encrypt::to(&sp_cert, AES256_CBC),
        Encrypt {
            label: Some(AES128_CBC),
            ..Encrypt::to(&sp_cert, AES128_GCM)
        },
    ] {
        let xml = forge.encrypted_response_xml(&Knobs::default(), &e);
        let r = post_acs(&app, &STANDARD.encode(xml), None, None).await;
        assert_eq!(r.status(), 403, "{}", e.cipher);
        assert_eq!(reason(r).await, "encryption");
    }
    // Entra ID and ADFS encrypt with AES-256-CBC: with Response signing on, it signs in.
    let xml = forge.encrypted_response_xml(
        &Knobs::default(),
        &Encrypt {
            sign_response: true,
            ..Encrypt::to(&sp_cert, AES256_CBC)
        },
    );
    let r = post_acs(&app, &STANDARD.encode(xml), None, None).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// From the security review: whatever a decrypted plaintext holds — no XML, a DOCTYPE, two assertions,
/// no valid signature — or a ciphertext whose tag fails, the refusal is the same: the page's
/// reason code must not tell an attacker anything about a plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decryption_failures_share_one_public_reason() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let sp = SamlForge::new();
    let app = spawn_with_sp(p, &forge, &sp, "allow_idp_initiated = true").await;
    let sp_cert = published_sp_cert(&app).await;
    let assertion = forge.signed_assertion_xml(&Knobs::default());
    let unsigned = assertion.replace("alice@example.com", "mallory@example.com");
    let plaintexts = [
        "not XML at all".to_string(),
        format!("<!DOCTYPE a [<!ENTITY e 'x'>]>{assertion}"),
        format!("{assertion}{assertion}"),
        unsigned,
    ];
    for plain in plaintexts {
        let xml = forge.encrypted_response_xml(
            &Knobs::default(),
            &Encrypt {
                plaintext: Some(plain.clone()),
                ..Encrypt::to(&sp_cert, AES128_GCM)
            },
        );
        let r = post_acs(&app, &STANDARD.encode(xml), None, None).await;
        assert_eq!(r.status(), 403);
        assert_eq!(reason(r).await, "encryption", "{plain:.60}");
    }
    // A tag that does not verify (one byte of it cut off).
    let xml = forge.encrypted_response_xml(&Knobs::default(), &Encrypt::to(&sp_cert, AES128_GCM));
    let cut = {
        let v = xml.rsplit_once("<xenc:CipherValue>").unwrap();
        let (b64, rest) = v.1.split_once('<').unwrap();
        let mut bytes = STANDARD.decode(b64).unwrap();
        bytes.pop();
        format!("{}<xenc:CipherValue>{}<{rest}", v.0, STANDARD.encode(bytes))
    };
    let r = post_acs(&app, &STANDARD.encode(cut), None, None).await;
    assert_eq!(reason(r).await, "encryption");
}

/// From the security review: A RelayState leaks (a log line, a Referer, a shoulder): a post that carries
/// it without the pending-login cookie must not consume the victim's pending login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaked_relay_state_without_cookie_keeps_victim_login() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "").await;
    let s = start_login(&app).await;
    let victims = forge.response_b64(&Knobs {
        in_response_to: Some(s.request_id.clone()),
        ..Knobs::default()
    });
    // The attacker posts junk, then even the victim's own Response, with the RelayState only.
    for body in [STANDARD.encode("<x/>"), victims.clone()] {
        let r = post_acs(&app, &body, Some(&s.relay), None).await;
        assert_eq!(r.status(), 403);
    }
    let r = post_acs(&app, &victims, Some(&s.relay), Some(&s.pending_cookie)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
}

/// From the security review: without a pending login, the ACS looked the IdP up by running samael's full
/// deserialiser over the raw post: XML that the strict pre-parse refuses (a DTD with entities,
/// nesting far deeper than any Response) reached an XML parser first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsolicited_post_meets_the_preparse_before_any_xml_parser() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "allow_idp_initiated = true").await;
    let open = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Version="2.0">"#;
    let entities = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>{open}<saml:Issuer>&b;</saml:Issuer></samlp:Response>"#
    );
    let deep = format!(
        "{open}<saml:Issuer>https://nobody.example/</saml:Issuer>{}{}</samlp:Response>",
        "<x>".repeat(12_000),
        "</x>".repeat(12_000)
    );
    for xml in [entities, deep] {
        let r = post_acs(&app, &STANDARD.encode(&xml), None, None).await;
        assert_eq!(r.status(), 403);
        assert_eq!(reason(r).await, "forbidden_xml", "{xml:.80}");
    }
}

/// From the security review: inside a signed Response the decrypted assertion went straight to samael's
/// deserialiser; it now meets the strict pre-parse like any XML (here, a DTD inside the
/// plaintext).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctype_in_decrypted_assertion_of_signed_response_is_refused() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let sp = SamlForge::new();
    let app = spawn_with_sp(p, &forge, &sp, "allow_idp_initiated = true").await;
    let sp_cert = published_sp_cert(&app).await;
    let assertion = forge.signed_assertion_xml(&Knobs::default());
    let xml = forge.encrypted_response_xml(
        &Knobs::default(),
        &Encrypt {
            plaintext: Some(format!("<!DOCTYPE a [<!ENTITY e 'x'>]>{assertion}")),
            sign_response: true,
            ..Encrypt::to(&sp_cert, AES128_GCM)
        },
    );
    let r = post_acs(&app, &STANDARD.encode(xml), None, None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(reason(r).await, "encryption");
}

/// From the security review: the pending-login cookie is `__Host-` and site-wide: a sibling subdomain
/// can neither plant nor shadow it (a `Path=/saml/acs` cookie without the prefix could be
/// overwritten by one set for the parent domain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_login_cookie_cannot_be_planted_by_a_subdomain() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "").await;
    let r = client()
        .get(format!("{}/login/corp", app.url))
        .send()
        .await
        .unwrap();
    let raw = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.contains("saml_pending"))
        .expect("a pending-login cookie");
    assert!(raw.starts_with("__Host-rolegate_saml_pending="), "{raw}");
    assert!(raw.contains("Path=/;") || raw.ends_with("Path=/"), "{raw}");
    assert!(raw.contains("Secure") && !raw.contains("Domain"), "{raw}");
}

/// From the security review: A SHA-1 digest is accepted without `insecure_allow_sha1` only as the
/// RSA-OAEP hash inside an EncryptionMethod; an OAEP EncryptionMethod anywhere else in the
/// document used to excuse a SHA-1 digest of the assertion's signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha1_signature_digest_beside_an_oaep_method_is_refused() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "allow_idp_initiated = true").await;
    let xml = forge.response_xml(&Knobs {
        digest: SHA1,
        response_extra: r#"<samlp:Extensions><xenc:EncryptionMethod xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/></samlp:Extensions>"#.into(),
        ..Knobs::default()
    });
    let r = post_acs(&app, &STANDARD.encode(xml), None, None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(reason(r).await, "weak_algorithm");
}

/// From the security review: "The Response is signed" means the root carries its own ds:Signature (SAML
/// core 3.2.2); a signature tucked into Extensions that references the root is not it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_signature_outside_the_root_is_not_the_response_signature() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "allow_idp_initiated = true").await;
    let k = Knobs::default();
    let xml = forge.response_xml(&Knobs {
        sign_assertion: false,
        response_extra: format!(
            "<samlp:Extensions>{}</samlp:Extensions>",
            signature_template(&format!("_r{}", k.assertion_id), common::saml_forge::SHA256)
        ),
        ..k
    });
    let r = post_acs(&app, &STANDARD.encode(xml), None, None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(reason(r).await, "bad_signature");
}

/// From the security review: metadata past its `validUntil` (SAML metadata 2.3.1) was refused at load
/// but trusted forever after at run time, while failing refreshes kept the last copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_after_idp_metadata_valid_until_is_refused() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let until = rolegate::clock::rfc3339(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
    );
    let md = forge.metadata("https://idp.forge.test/sso").replacen(
        "entityID=",
        &format!(r#"validUntil="{until}" entityID="#),
        1,
    );
    let clock = std::sync::Arc::new(rolegate::clock::OffsetClock::default());
    let app = TestApp::spawn_with_files(
        &config(p, "allow_idp_initiated = true"),
        &[("corp-metadata.xml", &md)],
        Some(clock.clone()),
        true,
    )
    .await;
    let r = post_acs(&app, &forge.response_b64(&Knobs::default()), None, None).await;
    assert_eq!(r.status(), 303, "within validUntil");
    clock.advance(std::time::Duration::from_secs(2 * 3600));
    let r = post_acs(&app, &forge.response_b64(&Knobs::default()), None, None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(reason(r).await, "metadata_expired");
}

fn offline(
    forge: &SamlForge,
    xml: &str,
) -> Result<rolegate::idp::saml::verify::Verified, rolegate::idp::saml::SamlError> {
    use rolegate::idp::saml::verify::{Expect, Sp, Trust, verify};
    let der = STANDARD.decode(forge.cert_b64_der()).unwrap();
    let keys =
        rolegate::idp::saml::verify::pinned_keys(&[samael::crypto::CertificateDer::from(der)])
            .unwrap();
    verify(
        xml,
        &Sp {
            entity_id: common::saml_forge::SP_ENTITY,
            acs_url: common::saml_forge::ACS,
            decryption_key: None,
        },
        &Trust {
            entity_id: IDP_ENTITY,
            keys: &keys,
            allow_sha1: false,
            clock_skew: std::time::Duration::from_secs(60),
        },
        Expect::Unchecked,
        &rolegate::clock::SystemClock,
    )
}

/// From the security review: the replay cache kept an assertion's ID until the NotOnOrAfter of the first
/// bearer confirmation that passed; with open-ended Conditions a second, longer confirmation
/// kept it acceptable after the ID was forgotten. The entry now lives at least until
/// IssueInstant + the maximum Response age + skew, past which nothing is accepted.
#[test]
fn replay_entry_outlives_every_confirmation_of_the_assertion() {
    let forge = SamlForge::new();
    let xml = forge.response_xml(&Knobs {
        first_confirmation_valid_for: Some(5),
        valid_for: 250,
        open_ended_conditions: true,
        ..Knobs::default()
    });
    let issued = rolegate::clock::Clock::unix(&rolegate::clock::SystemClock);
    let v = offline(&forge, &xml).expect("a valid Response");
    let floor = issued
        + i64::try_from(rolegate::idp::saml::verify::MAX_RESPONSE_AGE.as_secs()).unwrap()
        + 60;
    assert!(v.replay_until >= floor, "{} < {floor}", v.replay_until);
}

/// From the security review: when only the assertion is signed, an InResponseTo on the (unsigned)
/// Response must agree with the signed one, also offline (`verify saml` without a request ID).
#[test]
fn outer_in_response_to_disagreeing_with_the_signed_assertion_is_refused() {
    let forge = SamlForge::new();
    let xml = forge.response_xml(&Knobs {
        in_response_to: Some("_signed".into()),
        ..Knobs::default()
    });
    assert!(offline(&forge, &xml).is_ok());
    // The Response's attribute comes first; the assertion (and its signature) is untouched.
    let swapped = xml.replacen(r#"InResponseTo="_signed""#, r#"InResponseTo="_other""#, 1);
    assert_eq!(
        offline(&forge, &swapped).unwrap_err().code(),
        "in_response_to"
    );
}

/// From the security review: sessionNotOnOrAfter was checked only when the Response arrived; the
/// session then lived its full lifetime. It now ends when the IdP said, while in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ends_at_the_idps_session_not_on_or_after_while_in_use() {
    use std::time::Duration;
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let clock = std::sync::Arc::new(rolegate::clock::OffsetClock::default());
    let app = spawn_with_clock(p, &forge, "allow_idp_initiated = true", Some(clock.clone())).await;
    let knobs = Knobs {
        session_valid_for: Some(30 * 60),
        ..Knobs::default()
    };
    let r = post_acs(&app, &forge.response_b64(&knobs), None, None).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let cookie = format!(
        "__Host-rolegate_session={}",
        set_cookie(&r, "__Host-rolegate_session").unwrap()
    );
    // Used every 10 minutes (well within the idle hour and the 12-hour lifetime).
    for _ in 0..2 {
        clock.advance(Duration::from_secs(10 * 60));
        assert!(signed_in(&app, &cookie).await, "before the IdP's end");
    }
    clock.advance(Duration::from_secs(11 * 60));
    assert!(
        !signed_in(&app, &cookie).await,
        "31 minutes in: past SessionNotOnOrAfter"
    );
}

/// An IdP with a long SSO session (Entra ID's "stay signed in") vouches with an AuthnInstant
/// older than a broker session may live. The broker asks once for a fresh authentication
/// (ForceAuthn) instead of opening a session born dead or sending the user to sign out at the
/// IdP; a second stale answer is refused, never retried in a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_idp_authentication_asks_once_for_force_authn_then_refuses() {
    use common::web::saml_start_login_with;
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let app = spawn(p, &forge, "allow_idp_initiated = true").await;
    let old = Knobs {
        authn_age: 13 * 3600,
        ..Knobs::default()
    };
    // Unsolicited, authenticated 13 h ago (the session lifetime is 12 h).
    let r = post_acs(&app, &forge.response_b64(&old), None, None).await;
    assert_eq!(r.status(), 303);
    assert!(set_cookie(&r, "__Host-rolegate_session").is_none());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/login/corp?reauth=1&return_to=%2F");
    let (started, request) = saml_start_login_with(&app.url, "reauth=1&return_to=%2F").await;
    assert!(request.contains(r#"ForceAuthn="true""#), "{request}");
    // The IdP ignores ForceAuthn and answers with the old authentication again: refused.
    let again = Knobs {
        in_response_to: Some(started.request_id.clone()),
        authn_age: 13 * 3600,
        ..Knobs::default()
    };
    let r = post_acs(
        &app,
        &forge.response_b64(&again),
        Some(&started.relay),
        Some(&started.pending_cookie),
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "__Host-rolegate_session").is_none());
    assert!(r.text().await.unwrap().contains("stale_authentication"));
    // An IdP that honours it authenticates now: signed in.
    let (started, _) = saml_start_login_with(&app.url, "reauth=1&return_to=%2F").await;
    let fresh = Knobs {
        in_response_to: Some(started.request_id.clone()),
        ..Knobs::default()
    };
    let r = post_acs(
        &app,
        &forge.response_b64(&fresh),
        Some(&started.relay),
        Some(&started.pending_cookie),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(set_cookie(&r, "__Host-rolegate_session").is_some());
}
