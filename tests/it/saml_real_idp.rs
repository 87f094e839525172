//! The SAML journey against a real SAML IdP (samlify, started on a free port): the broker
//! reads the IdP's metadata from its URL, sends the browser there with an AuthnRequest, the
//! IdP signs a user in and posts a signed Response back, and the session ends holding
//! credentials that moto's GetCallerIdentity accepts. The user's groups decide the roles.

use crate::common;

use common::app::{ROLES, TestApp, caller_identity_arn, peers};
use common::peers::SamlIdp;
use reqwest::redirect::Policy;

const PUBLIC: &str = "https://rolegate.example.test";

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

fn hidden(body: &str, name: &str) -> String {
    body.split(&format!(r#"name="{name}" value=""#))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no hidden {name} in {body}"))
        .to_string()
}

/// A browser signing in as `user`: broker → IdP login form → IdP → broker ACS. Returns the
/// session cookie (None if the ACS refused) and the ACS response's status.
async fn sign_in(app: &TestApp, user: &str, password: &str) -> (u16, Option<String>) {
    let start = client()
        .get(format!("{}/login/corp", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let pending = set_cookie(&start, "__Host-rolegate_saml_pending").unwrap();
    let to_idp = start.headers()["location"].to_str().unwrap().to_string();
    let form = client().get(&to_idp).send().await.unwrap();
    assert_eq!(
        form.status(),
        200,
        "the IdP parsed the broker's AuthnRequest"
    );
    let form = form.text().await.unwrap();
    let idp_base = to_idp.split("/sso").next().unwrap();
    let posted = client()
        .post(format!("{idp_base}/sso/login?format=json"))
        .form(&[
            ("username", user),
            ("password", password),
            ("request_id", &hidden(&form, "request_id")),
            ("relay_state", &hidden(&form, "relay_state")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200, "the IdP signed {user} in");
    let post: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(post["acs_url"], format!("{PUBLIC}/saml/acs"));
    let acs = client()
        .post(format!("{}/saml/acs", app.url))
        .header("cookie", format!("__Host-rolegate_saml_pending={pending}"))
        .form(&[
            ("SAMLResponse", post["SAMLResponse"].as_str().unwrap()),
            ("RelayState", post["RelayState"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let status = acs.status().as_u16();
    (status, set_cookie(&acs, "__Host-rolegate_session"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_saml_idp_signs_alice_in_and_she_gets_credentials() {
    let Some(p) = peers() else { return };
    let Some(idp) = SamlIdp::start(
        &format!("{PUBLIC}/saml/metadata"),
        &format!("{PUBLIC}/saml/acs"),
    ) else {
        return;
    };
    let toml = format!(
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
metadata_url = "{md}"
trust_email = true

{ROLES}

[[map]]
idp = "corp"
groups = ["sre"]
roles = ["prod-readonly"]
"#,
        moto = p.moto.url,
        md = idp.metadata_url()
    );
    let app = TestApp::spawn(&toml).await;

    let (status, session) = sign_in(&app, "alice", "alice-pw").await;
    assert_eq!(status, 303);
    let cookie = format!("__Host-rolegate_session={}", session.expect("session"));
    let page = common::web::get(&app.url, "/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(">alice</span>"), "signed in as alice: {page}");
    let creds = client()
        .post(format!("{}/credentials/prod-readonly", app.url))
        .header("cookie", &cookie)
        .form(&[("csrf", hidden(&page, "csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(creds.status(), 200);
    let body = creds.text().await.unwrap();
    let export = |k: &str| {
        body.split(&format!("export {k}="))
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
    let arn = caller_identity_arn(&p.moto.url, &json).await;
    assert!(arn.contains(":assumed-role/ReadOnly/"), "{arn}");

    // bob signs in fine, but his groups grant nothing.
    let (status, session) = sign_in(&app, "bob", "bob-pw").await;
    assert_eq!(status, 303);
    let cookie = format!("__Host-rolegate_session={}", session.unwrap());
    let page = common::web::get(&app.url, "/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("No AWS role is granted"), "{page}");
}
