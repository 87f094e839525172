//! What a browser does, for tests without one: a client that does not follow redirects,
//! reading hidden form fields and Set-Cookie, and an IdP-initiated SAML sign-in.

use super::saml_forge::{Knobs, SamlForge};
use reqwest::redirect::Policy;

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn hidden(body: &str, name: &str) -> String {
    body.split(&format!(r#"name="{name}" value=""#))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no hidden {name} in {body}"))
        .to_string()
}

/// `name=value` of the Set-Cookie named `name`, ready for a Cookie header.
pub(crate) fn cookie_pair(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

/// An IdP-initiated sign-in (the IdP must allow it) for `user` with `groups`; returns the
/// Cookie header value of the new session.
pub(crate) async fn saml_sign_in(
    base: &str,
    forge: &SamlForge,
    user: &str,
    groups: &[&str],
) -> String {
    let response = forge.response_b64(&Knobs {
        name_id: format!("{user}@example.com"),
        groups: groups
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
        ..Knobs::default()
    });
    let r = client()
        .post(format!("{base}/saml/acs"))
        .form(&[("SAMLResponse", response.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    cookie_pair(&r, "__Host-rolegate_session").expect("session cookie")
}

pub(crate) async fn get(base: &str, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut r = client().get(format!("{base}{path}"));
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

pub(crate) async fn post(
    base: &str,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(format!("{base}{path}"))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// An SP-initiated login as `GET /login/corp` starts it: the RelayState, the AuthnRequest's ID
/// and the pending-login cookie that binds them to this browser.
pub(crate) struct Started {
    pub relay: String,
    pub request_id: String,
    pub pending_cookie: String,
}

pub(crate) async fn saml_start_login(base: &str) -> Started {
    saml_start_login_with(base, "return_to=/").await.0
}

/// `GET /login/corp?{query}`: the pending login, and the AuthnRequest the IdP would receive.
pub(crate) async fn saml_start_login_with(base: &str, query: &str) -> (Started, String) {
    use base64::Engine;
    use std::io::Read;
    let r = client()
        .get(format!("{base}/login/corp?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let pending_cookie = cookie_pair(&r, "__Host-rolegate_saml_pending")
        .expect("pending-login cookie")
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with("https://idp.forge.test/sso?"));
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    let relay = q["RelayState"].clone();
    assert_eq!(
        relay, pending_cookie,
        "the cookie binds this browser to the RelayState"
    );
    // HTTP-Redirect binding (SAML bindings 3.4.4.1): DEFLATE, then base64.
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(&q["SAMLRequest"])
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    let request_id = xml
        .split(" ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(
        xml.contains("https://rolegate.example.test/saml/acs"),
        "{xml}"
    );
    let started = Started {
        relay,
        request_id: request_id.to_string(),
        pending_cookie,
    };
    (started, xml)
}

pub(crate) async fn saml_post_acs(
    base: &str,
    response_b64: &str,
    relay: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("SAMLResponse", response_b64.to_string())];
    if let Some(r) = relay {
        form.push(("RelayState", r.to_string()));
    }
    let mut req = client().post(format!("{base}/saml/acs")).form(&form);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("__Host-rolegate_saml_pending={c}"));
    }
    req.send().await.unwrap()
}
