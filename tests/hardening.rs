//! Small holes from the security review (issue 16, "Low"), each closed with a test named after
//! the attack: what a browser or an unauthenticated caller could learn or steer.

mod common;

use common::app::{TestApp, base_config, peers};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn return_to_with_hidden_chars_is_refused() {
    let Some(p) = peers() else { return };
    let app = TestApp::spawn(&base_config(p, "")).await;
    for bad in [
        "/%09/evil.example",
        "/%0a%0dSet-Cookie:x=1",
        "/%20/evil.example",
        "/%2509/evil.example",
        "/\u{2028}/evil.example",
        "/\u{a0}x",
    ] {
        let mut u = url::Url::parse(&format!("{}/login/web", app.url)).unwrap();
        u.query_pairs_mut().append_pair("return_to", bad);
        let r = no_redirects().get(u).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad:?}");
        assert!(r.text().await.unwrap().contains("bad_return_to"), "{bad:?}");
    }
    // An ordinary deep link still works.
    let mut u = url::Url::parse(&format!("{}/login/web", app.url)).unwrap();
    u.query_pairs_mut()
        .append_pair("return_to", "/?q=prod&destination=%2Fs3%2Fbuckets");
    assert_eq!(no_redirects().get(u).send().await.unwrap().status(), 302);
}
