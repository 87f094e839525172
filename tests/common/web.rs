//! What a browser does, for tests without one: a client that does not follow redirects,
//! reading hidden form fields and Set-Cookie, and an IdP-initiated SAML sign-in.

use super::saml_forge::{Knobs, SamlForge};
use reqwest::redirect::Policy;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub fn hidden(body: &str, name: &str) -> String {
    body.split(&format!(r#"name="{name}" value=""#))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no hidden {name} in {body}"))
        .to_string()
}

/// `name=value` of the Set-Cookie named `name`, ready for a Cookie header.
pub fn cookie_pair(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
}

/// An IdP-initiated sign-in (the IdP must allow it) for `user` with `groups`; returns the
/// Cookie header value of the new session.
pub async fn saml_sign_in(base: &str, forge: &SamlForge, user: &str, groups: &[&str]) -> String {
    let response = forge.response_b64(&Knobs {
        name_id: format!("{user}@example.com"),
        groups: groups.iter().map(|g| g.to_string()).collect(),
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

pub async fn get(base: &str, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut r = client().get(format!("{base}{path}"));
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

pub async fn post(
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
