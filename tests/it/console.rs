//! Console sign-in: credentials for the role go to the federation endpoint (a checking double:
//! it asks moto whether they are real), and the broker answers the `login` URL — through the
//! API (`POST /api/v1/console-url`, bearer ID token) and through the browser session
//! (`POST /console/{role}` after SAML sign-in). Destinations are held to the console host.

use crate::common;

use common::app::{TestApp, base_config, peers};
use common::federation::Federation;
use common::forge;
use serde_json::{Value, json};

fn with_federation(toml: &str, url: &str) -> String {
    toml.replacen(
        "[aws.partitions.aws]",
        &format!("[aws.partitions.aws]\nfederation_url = \"{url}\""),
        1,
    )
}

async fn console_url(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/console-url", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_returns_a_login_url_the_federation_endpoint_accepts_once() {
    let Some(p) = peers() else { return };
    let fed = Federation::start(p.moto.url.clone()).await;
    let app = TestApp::spawn(&with_federation(&base_config(p, ""), &fed.url)).await;
    let token = forge::rs256(&forge::claims(&p.idp.issuer));

    let r = console_url(
        &app,
        &token,
        json!({"role": "prod-readonly", "destination": "/s3/buckets"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let url = url::Url::parse(body["url"].as_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["Action"], "login");
    assert_eq!(
        q["Destination"],
        "https://console.aws.amazon.com/s3/buckets"
    );
    assert!(
        q["Issuer"].starts_with("http://127.0.0.1:"),
        "{}",
        q["Issuer"]
    );
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));

    let page = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains(":assumed-role/ReadOnly/")
    );
    let again = reqwest::get(url).await.unwrap();
    assert_eq!(again.status(), 403, "a SigninToken works once");

    // Bad destinations change nothing: refused before anything is issued.
    for bad in [
        "https://evil.example/",
        "//evil.example",
        "http://console.aws.amazon.com/",
        // WHATWG parsing drops the tab: the path would have become https://evil.example/.
        "/\t/evil.example",
        "/%09/evil.example",
    ] {
        let r = console_url(
            &app,
            &token,
            json!({"role": "prod-readonly", "destination": bad}),
        )
        .await;
        assert_eq!(r.status(), 400, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "invalid_destination");
    }
    let denied = console_url(&app, &token, json!({"role": "admin"})).await;
    assert_eq!(denied.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_endpoint_down_is_a_clear_upstream_error() {
    let Some(p) = peers() else { return };
    let dead = format!("http://127.0.0.1:{}/federation", common::peers::free_port());
    let app = TestApp::spawn(&with_federation(&base_config(p, ""), &dead)).await;
    let token = forge::rs256(&forge::claims(&p.idp.issuer));
    let r = console_url(&app, &token, json!({"role": "prod-readonly"})).await;
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap();
    assert!(body.contains("upstream_error"), "{body}");
    assert!(
        !body.contains("sessionKey") && !body.contains("Session="),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saml_session_opens_the_console_through_a_csrf_protected_post() {
    use common::saml_forge::{Knobs, SamlForge};
    let Some(p) = peers() else { return };
    let fed = Federation::start(p.moto.url.clone()).await;
    let forge = SamlForge::new();
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "https://rolegate.example.test"

[aws]
role_chaining = "false"
access_key_id_file = "aws-key-id"
secret_access_key_file = "aws-secret"

[aws.partitions.aws]
sts_endpoint = "{moto}"
federation_url = "{fed}"

[[idp]]
id = "corp"
kind = "saml"
metadata_file = "md.xml"
allow_idp_initiated = true

{roles}

[[map]]
idp = "corp"
groups = ["eng"]
roles = ["prod-readonly"]
"#,
        moto = p.moto.url,
        fed = fed.url,
        roles = common::app::ROLES,
    );
    let app = TestApp::spawn_with_files(
        &toml,
        &[("md.xml", &forge.metadata("https://idp.forge.test/sso"))],
        None,
        true,
    )
    .await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let acs = client
        .post(format!("{}/saml/acs", app.url))
        .form(&[("SAMLResponse", forge.response_b64(&Knobs::default()))])
        .send()
        .await
        .unwrap();
    assert_eq!(acs.status(), 303);
    let session = acs
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-rolegate_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let home = client
        .get(format!("{}/", app.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    // Browsers apply form-action to the redirect a form POST answers with: the federation
    // endpoint's origin must be allowed, and nothing else beyond this site.
    let csp = home.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let fed_origin = url::Url::parse(&fed.url)
        .unwrap()
        .origin()
        .ascii_serialization();
    assert!(
        csp.contains("form-action 'self' ") && csp.contains(&fed_origin),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self';"),
        "{csp}"
    );
    let page = home.text().await.unwrap();
    assert!(
        page.contains("formaction=/console/prod-readonly?r="),
        "{page}"
    );
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let no_csrf = client
        .post(format!("{}/console/prod-readonly", app.url))
        .header("cookie", &session)
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let go = client
        .post(format!("{}/console/prod-readonly", app.url))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str()), ("destination", "/ec2/home")])
        .send()
        .await
        .unwrap();
    assert_eq!(go.status(), 303);
    assert_eq!(go.headers()["cache-control"], "no-store");
    let login = go.headers()["location"].to_str().unwrap().to_string();
    assert!(login.starts_with(&fed.url), "{login}");
    let console = reqwest::get(&login).await.unwrap().text().await.unwrap();
    assert!(console.contains(":assumed-role/ReadOnly/"), "{console}");
    assert!(
        console.contains("https://console.aws.amazon.com/ec2/home"),
        "{console}"
    );
}
