//! SAML IdP metadata at run time: a start with metadata that pins no signing certificate is
//! refused; `metadata_url` metadata is refreshed, a failed refresh keeps the last good copy
//! (counted), and a rollover certificate that appears is counted and then accepted. Also: the
//! ACS fails closed (503) when the store is down, and signs nobody in.

use crate::common;

use actix_web::{App, HttpResponse, HttpServer, web};
use common::app::{Peers, ROLES, TestApp, peers};
use common::peers::Redis;
use common::saml_forge::{Knobs, SamlForge};
use rolegate::config::Config;
use rolegate::startup::Application;
use std::sync::{Arc, Mutex};

fn config(p: &Peers, metadata: &str, store: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "https://rolegate.example.test"
{store}
[aws]
role_chaining = "false"
access_key_id_file = "aws-key-id"
secret_access_key_file = "aws-secret"

[aws.partitions.aws]
sts_endpoint = "{moto}"

[[idp]]
id = "corp"
kind = "saml"
{metadata}
allow_idp_initiated = true

{ROLES}

[[map]]
idp = "corp"
groups = ["eng"]
roles = ["prod-readonly"]
"#,
        moto = p.moto.url
    )
}

/// Serves whatever metadata the test puts in the slot (an IdP's metadata endpoint).
async fn metadata_server(slot: Arc<Mutex<String>>) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        let slot = slot.clone();
        App::new().route(
            "/metadata",
            web::get().to(move || {
                let body = slot.lock().unwrap().clone();
                async move {
                    if body.is_empty() {
                        HttpResponse::InternalServerError().finish()
                    } else {
                        HttpResponse::Ok().body(body)
                    }
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/metadata"), handle)
}

async fn post_acs(app: &TestApp, b64: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/saml/acs", app.url))
        .form(&[("SAMLResponse", b64)])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_without_a_signing_certificate_refuses_the_start() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let encryption_only = forge
        .metadata("https://idp.forge.test/sso")
        .replace(r#"use="signing""#, r#"use="encryption""#);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("md.xml"), encryption_only).unwrap();
    std::fs::write(dir.path().join("aws-key-id"), "testing").unwrap();
    std::fs::write(dir.path().join("aws-secret"), "testing").unwrap();
    let path = dir.path().join("rolegate.toml");
    std::fs::write(&path, config(p, r#"metadata_file = "md.xml""#, "")).unwrap();
    let cfg = Config::load_with_env(Some(&path), false, std::iter::empty()).unwrap();
    let Err(err) = Application::build(cfg).await else {
        panic!("a SAML IdP without a pinned signing certificate must not serve")
    };
    let err = err.to_string();
    assert!(err.contains("no signing certificate"), "{err}");

    // `config check` catches it too, naming the key.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("idp[0].metadata_file"), "{stderr}");
}

/// Two `[[idp]]` blocks whose metadata names one entity ID: an unsolicited Response's Issuer
/// would pick whichever came first in the file, so the second IdP's policy could never apply
/// (or apply to the wrong users after a reorder). Refused at start and by `config check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_idps_with_one_entity_id_refuse_the_start_issuer_confusion() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("md.xml"),
        forge.metadata("https://idp.forge.test/sso"),
    )
    .unwrap();
    std::fs::write(dir.path().join("aws-key-id"), "testing").unwrap();
    std::fs::write(dir.path().join("aws-secret"), "testing").unwrap();
    let path = dir.path().join("rolegate.toml");
    let second = r#"
[[idp]]
id = "corp-copy"
kind = "saml"
metadata_file = "md.xml"
"#;
    let text = config(p, r#"metadata_file = "md.xml""#, "")
        .replace("\n[[map]]", &format!("{second}\n[[map]]"));
    assert!(text.contains("corp-copy"));
    std::fs::write(&path, text).unwrap();
    let cfg = Config::load_with_env(Some(&path), false, std::iter::empty()).unwrap();
    let Err(err) = Application::build(cfg).await else {
        panic!("two SAML IdPs with one entity ID must not serve")
    };
    let err = err.to_string();
    assert!(
        err.contains("corp-copy") && err.contains("already idp `corp`"),
        "{err}"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("idp[1].metadata_file") && stderr.contains("`idp[0]`"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_url_refresh_keeps_the_last_good_copy_and_counts_new_certificates() {
    let Some(p) = peers() else { return };
    let old = SamlForge::new();
    let next = SamlForge::new(); // same IdP entity, another key
    let slot = Arc::new(Mutex::new(old.metadata("https://idp.forge.test/sso")));
    let (url, server) = metadata_server(slot.clone()).await;
    let app = TestApp::spawn(&config(p, &format!(r#"metadata_url = "{url}""#), "")).await;
    let now = || app.state.clock.unix();

    assert_eq!(
        post_acs(&app, &old.response_b64(&Knobs::default()))
            .await
            .status(),
        303
    );
    assert_ne!(
        post_acs(&app, &next.response_b64(&Knobs::default()))
            .await
            .status(),
        303
    );

    // The metadata host fails: the last good metadata keeps serving.
    slot.lock().unwrap().clear();
    app.state
        .saml
        .refresh(&app.state.http, &app.metrics, now())
        .await;
    assert!(
        app.metrics()
            .await
            .contains(r#"rolegate_saml_metadata_refreshes_total{idp="corp",result="error"} 1"#)
    );
    assert_eq!(
        post_acs(&app, &old.response_b64(&Knobs::default()))
            .await
            .status(),
        303
    );

    // Garbage (no signing certificate) is a failed refresh too, never "no certificates".
    *slot.lock().unwrap() = old
        .metadata("https://idp.forge.test/sso")
        .replace(r#"use="signing""#, r#"use="encryption""#);
    app.state
        .saml
        .refresh(&app.state.http, &app.metrics, now())
        .await;
    assert_eq!(
        post_acs(&app, &old.response_b64(&Knobs::default()))
            .await
            .status(),
        303
    );

    // Rollover: both certificates published; the new one is counted, then accepted.
    // Schema order: the new KeyDescriptor goes next to the first one.
    *slot.lock().unwrap() = old.metadata("https://idp.forge.test/sso").replacen(
        "</md:KeyDescriptor>",
        &format!("</md:KeyDescriptor>{}", next.key_descriptor()),
        1,
    );
    app.state
        .saml
        .refresh(&app.state.http, &app.metrics, now())
        .await;
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"result="new_cert"} 1"#), "{metrics}");
    assert_eq!(
        post_acs(&app, &next.response_b64(&Knobs::default()))
            .await
            .status(),
        303
    );
    assert_eq!(
        post_acs(&app, &old.response_b64(&Knobs::default()))
            .await
            .status(),
        303
    );
    server.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acs_fails_closed_when_the_store_is_down() {
    let Some(p) = peers() else { return };
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let forge = SamlForge::new();
    let store = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\n",
        redis.url
    );
    let app = TestApp::spawn_with_files(
        &config(p, r#"metadata_file = "md.xml""#, &store),
        &[("md.xml", &forge.metadata("https://idp.forge.test/sso"))],
        None,
        true,
    )
    .await;
    assert_eq!(
        post_acs(&app, &forge.response_b64(&Knobs::default()))
            .await
            .status(),
        303
    );
    redis.stop();
    let response = forge.response_b64(&Knobs::default());
    let r = post_acs(&app, &response).await;
    assert_eq!(r.status(), 503, "no replay check, no sign-in");
    assert!(r.headers().get("set-cookie").is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains("store_unavailable"), "{body}");
}
