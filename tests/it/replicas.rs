//! Two broker replicas on one redis-server, as deploy/compose and the Kubernetes Deployment run
//! them, with nothing sticky in front: a SAML login started on replica A completes on B and the
//! session works on both; the same assertion posted to both at once signs in exactly once; a
//! device code started on A is approved on B and redeemed on A, once; refresh rotation and
//! reuse detection span replicas; the login rate limit per client IP is one budget across them.

use crate::common;

use common::app::{TestApp, broker_head, peers};
use common::peers::Redis;
use common::saml_forge::{Knobs, SamlForge, corp_idp};
use common::web::{self, client, hidden, saml_post_acs, saml_start_login};
use serde_json::Value;

const PUBLIC: &str = "https://rolegate.example.test";

struct Pair {
    a: TestApp,
    b: TestApp,
    forge: std::sync::Arc<SamlForge>,
    redis: Redis,
}

async fn pair() -> Option<Pair> {
    let p = peers()?;
    let redis = Redis::start()?;
    let forge = SamlForge::new();
    let toml = format!(
        r#"{head}
[store]
backend = "redis"
redis_url = "{redis}"

[limits]
logins_per_minute_per_ip = 4
# The restart test streams ACS posts every 20 ms from one address: about replay, not limits.
saml_acs_per_minute_per_ip = 0

{idp}
"#,
        head = broker_head("127.0.0.1:0", PUBLIC, &p.moto.url, None),
        redis = redis.url,
        idp = corp_idp(common::app::ROLES, &["prod-readonly"]),
    );
    let (md_name, md) = forge.metadata_file();
    let files = [(md_name, md.as_str())];
    let a = TestApp::spawn_with_files(&toml, &files, None, true).await;
    let b = TestApp::spawn_with_files(&toml, &files, None, true).await;
    Some(Pair {
        a,
        b,
        forge: std::sync::Arc::new(forge),
        redis,
    })
}

fn session_of(r: &reqwest::Response) -> String {
    web::cookie_pair(r, "__Host-rolegate_session").expect("session cookie")
}

async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    web::get(&app.url, "/", Some(cookie))
        .await
        .text()
        .await
        .unwrap()
        .contains("Sign out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_started_on_one_replica_completes_on_the_other() {
    let Some(x) = pair().await else { return };
    let started = saml_start_login(&x.a.url).await;
    let response = x.forge.response_b64(&Knobs {
        in_response_to: Some(started.request_id.clone()),
        ..Knobs::default()
    });
    let done = saml_post_acs(
        &x.b.url,
        &response,
        Some(&started.relay),
        Some(&started.pending_cookie),
    )
    .await;
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    let cookie = session_of(&done);
    assert!(signed_in(&x.a, &cookie).await && signed_in(&x.b, &cookie).await);

    // The pending request was spent on B: the same Response at A is refused.
    let again = saml_post_acs(
        &x.a.url,
        &response,
        Some(&started.relay),
        Some(&started.pending_cookie),
    )
    .await;
    assert_eq!(again.status(), 403);

    // Signing out on A ends the session on B.
    let page = web::get(&x.b.url, "/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    let out = web::post(
        &x.a.url,
        "/logout",
        &cookie,
        &[("csrf", &hidden(&page, "csrf"))],
    )
    .await;
    assert_eq!(out.status(), 200);
    assert!(!signed_in(&x.b, &cookie).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_assertion_raced_at_both_replicas_signs_in_exactly_once() {
    let Some(x) = pair().await else { return };
    for round in 0..5 {
        let response = x.forge.response_b64(&Knobs::default());
        let posts = (0..8).map(|i| {
            let url = if i % 2 == 0 { &x.a.url } else { &x.b.url };
            saml_post_acs(url, &response, None, None)
        });
        let statuses: Vec<u16> = futures_util::future::join_all(posts)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        let wins = statuses.iter().filter(|s| **s == 303).count();
        assert_eq!(wins, 1, "round {round}: {statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 303 || *s == 403),
            "{statuses:?}"
        );
    }
}

async fn token(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let r = client()
        .post(format!("{}/oauth2/token", app.url))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_codes_and_refresh_families_span_replicas() {
    let Some(x) = pair().await else { return };
    let d: Value = client()
        .post(format!("{}/oauth2/device_authorization", x.a.url))
        .form(&[("client_id", "rolegate-cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = d["user_code"].as_str().unwrap();
    let device_code = d["device_code"].as_str().unwrap();

    // Approved in a browser whose requests land on B.
    let cookie = web::saml_sign_in(&x.b.url, &x.forge, "alice", &["eng"]).await;
    let page = web::get(
        &x.b.url,
        &format!("/device?user_code={user_code}"),
        Some(&cookie),
    )
    .await
    .text()
    .await
    .unwrap();
    let r = web::post(
        &x.b.url,
        "/device",
        &cookie,
        &[
            ("csrf", &hidden(&page, "csrf")),
            ("user_code", user_code),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);

    // Polled on A: tokens, once (B gets nothing for the same code).
    let grant = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", "rolegate-cli"),
        ("device_code", device_code),
    ];
    let (status, t) = token(&x.a, &grant).await;
    assert_eq!(status, 200, "{t}");
    let (status, _) = token(&x.b, &grant).await;
    assert_eq!(status, 400);

    // The access token works on B; a refresh on B rotates; replaying the old refresh token on A
    // after the grace window would revoke — here within it, it is a retry and succeeds.
    let roles = client()
        .get(format!("{}/api/v1/roles", x.b.url))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(roles.status(), 200);
    let refresh = |rt: String| {
        [
            ("grant_type", "refresh_token".to_string()),
            ("client_id", "rolegate-cli".to_string()),
            ("refresh_token", rt),
        ]
    };
    let r0 = t["refresh_token"].as_str().unwrap().to_string();
    let (status, t1) = token(
        &x.b,
        &refresh(r0.clone())
            .each_ref()
            .map(|(k, v)| (*k, v.as_str())),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = token(&x.a, &refresh(r0).each_ref().map(|(k, v)| (*k, v.as_str()))).await;
    assert_eq!(
        status, 200,
        "a concurrent retry on the other replica is not theft"
    );
    // Revoking on A ends the family on B.
    let r1 = t1["refresh_token"].as_str().unwrap();
    let revoked = client()
        .post(format!("{}/oauth2/revoke", x.a.url))
        .form(&[("client_id", "rolegate-cli"), ("token", r1)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let roles = client()
        .get(format!("{}/api/v1/roles", x.b.url))
        .bearer_auth(t1["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(roles.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_rate_limit_is_one_budget_across_replicas() {
    let Some(x) = pair().await else { return };
    let mut statuses = Vec::new();
    for i in 0..6 {
        let url = if i % 2 == 0 { &x.a.url } else { &x.b.url };
        let r = client()
            .get(format!("{url}/login/corp"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [302, 302, 302, 302, 429, 429]);
}

/// Redis restarted without persistence forgets which assertions were consumed. The broker
/// answers 503 while it is down, refuses an assertion issued before the store's memory began
/// (it may have been used: no replay window reopens), and signs fresh ones in again without a
/// restart of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_reopens_no_replay_window() {
    let Some(mut x) = pair().await else { return };
    let used = x.forge.response_b64(&Knobs::default());
    let r = saml_post_acs(&x.a.url, &used, None, None).await;
    assert_eq!(r.status(), 303);

    // Sign-ins keep arriving at both replicas through the outage; a third of the posts replay
    // an assertion that was accepted earlier.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn({
        let (forge, stop) = (x.forge.clone(), stop.clone());
        let urls = [x.a.url.clone(), x.b.url.clone()];
        let mut accepted = vec![used.clone()];
        async move {
            let mut seen: Vec<(&str, u16)> = Vec::new();
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let url = &urls[i % 2];
                if i % 3 == 2 {
                    let old = &accepted[i % accepted.len()];
                    let r = saml_post_acs(url, old, None, None).await;
                    seen.push(("replay", r.status().as_u16()));
                } else {
                    let fresh = forge.response_b64(&Knobs::default());
                    let status = saml_post_acs(url, &fresh, None, None)
                        .await
                        .status()
                        .as_u16();
                    if status == 303 {
                        accepted.push(fresh);
                    }
                    seen.push(("fresh", status));
                }
                i += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            seen
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    tokio::task::block_in_place(|| x.redis.stop());
    let down = saml_post_acs(
        &x.b.url,
        &x.forge.response_b64(&Knobs::default()),
        None,
        None,
    )
    .await;
    assert_eq!(down.status(), 503, "fails closed while the store is down");
    // Cross a second boundary so the new store epoch is clearly after the assertion's instant.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    tokio::task::block_in_place(|| x.redis.restart());
    for app in [&x.a, &x.b] {
        app.wait_ready(std::time::Duration::from_secs(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = load.await.unwrap();
    let fresh: Vec<u16> = seen
        .iter()
        .filter(|(k, _)| *k == "fresh")
        .map(|(_, s)| *s)
        .collect();
    let replays: Vec<u16> = seen
        .iter()
        .filter(|(k, _)| *k == "replay")
        .map(|(_, s)| *s)
        .collect();
    assert!(
        fresh.iter().all(|s| *s == 303 || *s == 503),
        "only success or fail-closed: {seen:?}"
    );
    assert!(
        fresh.contains(&503) && fresh.last() == Some(&303),
        "down, then recovered: {seen:?}"
    );
    assert!(
        !replays.is_empty() && !replays.contains(&303),
        "no replay ever accepted: {seen:?}"
    );

    let replay = saml_post_acs(&x.b.url, &used, None, None).await;
    assert_eq!(replay.status(), 403, "the consumed assertion stays refused");
    let body = replay.text().await.unwrap();
    assert!(body.contains("before_store_epoch"), "{body}");
    let fresh = saml_post_acs(
        &x.a.url,
        &x.forge.response_b64(&Knobs::default()),
        None,
        None,
    )
    .await;
    assert_eq!(fresh.status(), 303, "new sign-ins work again");
}
