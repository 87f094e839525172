//! Browser sign-in with a real OIDC provider (oidc-provider): `/login/{idp}` sends the browser
//! to the IdP with state, nonce and a PKCE S256 challenge; the IdP's redirect comes back to
//! `/oidc/callback`; the broker redeems the code with the verifier and its client secret,
//! verifies the ID token (nonce included) and opens a session that gets credentials from moto.
//! Then: a replayed callback, a callback in another browser, a forged state, an IdP error.

mod common;

use common::app::{ROLES, TestApp, caller_identity_arn};
use common::peers::{Moto, OIDC_CLIENT_SECRET, OidcIdp};
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

struct Started {
    authorize: String,
    cookie: String,
}

async fn start(app: &TestApp) -> Started {
    let r = client()
        .get(format!("{}/login/web?return_to=/", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let cookie = set_cookie(&r, "rolegate_oidc_pending").expect("pending cookie");
    let authorize = r.headers()["location"].to_str().unwrap().to_string();
    let u = url::Url::parse(&authorize).unwrap();
    let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], format!("{PUBLIC}/oidc/callback"));
    assert_eq!(q["state"], cookie);
    assert!(q["nonce"].len() >= 32 && q["code_challenge"].len() == 43);
    Started { authorize, cookie }
}

/// The IdP's redirect to `https://rolegate.example.test/oidc/callback?…`, delivered to the
/// broker on its loopback port, as the browser would.
async fn deliver(app: &TestApp, redirect: &str, cookie: Option<&str>) -> reqwest::Response {
    let query = url::Url::parse(redirect)
        .unwrap()
        .query()
        .unwrap_or("")
        .to_string();
    let mut req = client().get(format!("{}/oidc/callback?{query}", app.url));
    if let Some(c) = cookie {
        req = req.header("cookie", format!("rolegate_oidc_pending={c}"));
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
    let Some(idp) = OidcIdp::start_with_redirect_uris(&[&format!("{PUBLIC}/oidc/callback")]) else {
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
id = "web"
kind = "oidc"
issuer = "{issuer}"
client_id = "rolegate"
client_secret_file = "client-secret"

{ROLES}

[[map]]
idp = "web"
groups = ["eng"]
roles = ["prod-readonly"]
"#,
        moto = moto.url,
        issuer = idp.issuer,
    );
    let app =
        TestApp::spawn_with_files(&toml, &[("client-secret", OIDC_CLIENT_SECRET)], None, true)
            .await;

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
            .and_then(|s| s.split(['\n', '<']).next())
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
        &format!("{PUBLIC}/oidc/callback?code=x&state=forged"),
        Some("forged"),
    )
    .await;
    assert_eq!(reason(forged).await, "invalid_state");
    let s = start(&app).await;
    let denied = deliver(
        &app,
        &format!(
            "{PUBLIC}/oidc/callback?error=access_denied&state={}",
            s.cookie
        ),
        Some(&s.cookie),
    )
    .await;
    assert_eq!(reason(denied).await, "idp_error");
}
