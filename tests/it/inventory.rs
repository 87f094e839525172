//! The session inventory: every issuance is recorded before its credentials are returned, and
//! `GET /api/v1/sessions` lists a caller's own live sessions — on the memory store and on a real
//! redis-server, with moto as STS. A store that cannot record means no credentials.

use crate::common;

use common::app::{TestApp, base_config, peers, spawn_with_policy};
use common::forge;
use common::peers::Redis;
use serde_json::{Value, json};

async fn sessions(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.http
        .get(format!("{}/api/v1/sessions{query}", app.url))
        .bearer_auth(token)
        .header("user-agent", "inventory-test/1.0")
        .send()
        .await
        .unwrap()
}

async fn issue(app: &TestApp, token: &str, role: &str) -> Value {
    issue_with(app, token, json!({ "role": role })).await
}

async fn issue_with(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app
        .http
        .post(format!("{}/api/v1/credentials", app.url))
        .bearer_auth(token)
        .header("user-agent", "inventory-test/1.0")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

/// Two users, two roles, listed back: each sees exactly their own, with what an admin needs to
/// tell sessions apart.
async fn recorded_and_listed_to_their_owner(app: &TestApp) {
    let p = peers().unwrap();
    let alice = p.idp.id_token("rolegate", "alice");
    let bob = p.idp.id_token("rolegate", "bob");
    let ro = issue(app, &alice, "prod-readonly").await;
    let admin = issue_with(
        app,
        &alice,
        json!({"role": "admin", "reason": "CHG-7 deploy"}),
    )
    .await;
    // A reason that would break a table or a log line is refused before anything is issued.
    for bad in ["a\nb", "", &"x".repeat(201)] {
        let res = app
            .http
            .post(format!("{}/api/v1/credentials", app.url))
            .bearer_auth(&alice)
            .json(&json!({"role": "admin", "reason": bad}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad:?}");
        assert!(res.text().await.unwrap().contains("reason"));
    }
    let res = sessions(app, &alice, "").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let listed = body["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{body}");
    for creds in [&ro, &admin] {
        let s = listed
            .iter()
            .find(|s| s["role_arn"] == creds["RoleArn"])
            .unwrap_or_else(|| panic!("{} not listed: {body}", creds["RoleArn"]));
        assert_eq!(s["idp"], "web");
        assert_eq!(s["subject"], "alice");
        assert_eq!(s["name"], "alice@example.com");
        assert_eq!(s["role_arn"], creds["RoleArn"]);
        assert_eq!(s["session_name"], "web.alice");
        assert_eq!(s["source_identity"], "web.alice");
        assert_eq!(
            s["expires_at"], creds["Expiration"],
            "the STS expiry, RFC 3339"
        );
        assert_eq!(s["client"], "api");
        assert_eq!(s["action"], "credentials");
        assert_eq!(s["client_ip"], "127.0.0.1");
        assert_eq!(s["user_agent"], "inventory-test/1.0");
        assert_eq!(s["request_id"].as_str().unwrap().len(), 16);
        assert!(s["id"].as_str().unwrap().starts_with("ses_"));
        assert!(s["matched"].as_str().unwrap().contains("map"), "{s}");
        assert!(s["revoked_at"].is_null());
        let reason = if s["role_arn"] == admin["RoleArn"] {
            json!("CHG-7 deploy")
        } else {
            Value::Null
        };
        assert_eq!(s["reason"], reason, "{s}");
        for secret in ["SecretAccessKey", "SessionToken", "AccessKeyId"] {
            assert!(
                !s.to_string().contains(creds[secret].as_str().unwrap()),
                "the inventory never holds {secret}"
            );
        }
    }
    // Bob has none; he cannot ask for Alice's or a role's without rolegate:ListSessions.
    let body: Value = sessions(app, &bob, "").await.json().await.unwrap();
    assert_eq!(body["sessions"], json!([]));
    for q in ["?user=web:alice", "?role=admin"] {
        let res = sessions(app, &bob, q).await;
        assert_eq!(res.status(), 403, "{q}");
        let e: Value = res.json().await.unwrap();
        assert!(
            e["error_description"]
                .as_str()
                .unwrap()
                .contains("rolegate:ListSessions"),
            "{e}"
        );
    }
    for (q, says) in [
        ("?colour=red", "colour"),
        ("?include=expired", "revoked"),
        ("?all=yes", "true or false"),
    ] {
        let res = sessions(app, &bob, q).await;
        assert_eq!(res.status(), 400, "{q} is refused");
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["error"], "invalid_request", "{q}: {e}");
        let why = e["error_description"].as_str().unwrap();
        assert!(why.contains(says), "{q}: {why}");
    }
    let res = app
        .http
        .get(format!("{}/api/v1/sessions", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "no token, no listing");
}

#[tokio::test]
async fn every_issuance_is_recorded_and_listed_to_its_owner_memory_store() {
    let Some(p) = peers() else { return };
    let app = TestApp::spawn(&base_config(p, "")).await;
    recorded_and_listed_to_their_owner(&app).await;
}

#[tokio::test]
async fn every_issuance_is_recorded_and_listed_to_its_owner_redis_store() {
    let Some(p) = peers() else { return };
    let Some(redis) = Redis::start() else { return };
    let config = base_config(p, "").replacen(
        "[aws]",
        &format!(
            "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\n\n[aws]",
            redis.url
        ),
        1,
    );
    let app = TestApp::spawn(&config).await;
    recorded_and_listed_to_their_owner(&app).await;
}

/// The store refuses the record, after STS issued: the credentials are not returned (a
/// session the inventory does not know is one revocation cannot reach). Real Redis, with an ACL
/// user that may touch every rolegate key but the inventory's: only the record step fails.
/// A subject of its own, so no other test's STS calls share its count.
#[tokio::test]
async fn a_session_that_cannot_be_recorded_is_not_returned() {
    let Some(p) = peers() else { return };
    let Some(redis) = Redis::start() else {
        return;
    };
    let acl = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "ACL",
            "SETUSER",
            "broker",
            "on",
            ">pw",
        ])
        .args(["~rolegate:[^{]*", "~rolegate:{revocations}:*", "+@all"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&acl.stdout).trim(), "OK");
    let url = format!("redis://broker:pw@127.0.0.1:{}/0", redis.port);
    let config = base_config(p, "").replacen(
        "[aws]",
        &format!("[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\n\n[aws]"),
        1,
    );
    let app = TestApp::spawn(&config).await;
    let mut claims = forge::claims(&p.idp.issuer);
    claims["sub"] = json!("inventory-unrecorded");
    let token = forge::rs256(&claims);
    let before = p
        .moto
        .sts_requests_for_session("web.inventory-unrecorded")
        .await;
    let res = app
        .credentials(&token, json!({"role": "prod-readonly"}))
        .await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "store_unavailable", "{body}");
    assert!(body.get("SecretAccessKey").is_none());
    assert_eq!(
        p.moto
            .sts_requests_for_session("web.inventory-unrecorded")
            .await,
        before + 1,
        "STS issued them; the broker withheld them"
    );
}

/// Sales may list the ReadOnly role's sessions (named in full), nothing else.
const ADMINS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "SalesSeeReadOnly", "Effect": "Allow", "Action": "rolegate:ListSessions",
   "Resource": "arn:aws:iam::123456789012:role/ReadOnly",
   "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "sales"}}},
  {"Sid": "EveryoneTheirSandbox", "Effect": "Allow", "Action": "rolegate:*",
   "Resource": "arn:aws:iam::123456789012:role/Admin"}
]}"#;

#[tokio::test]
async fn others_sessions_are_listed_by_role_only_with_list_sessions_on_it() {
    let Some(p) = peers() else { return };
    let app = spawn_with_policy(p, ADMINS).await;
    let alice = p.idp.id_token("rolegate", "alice");
    let bob = p.idp.id_token("rolegate", "bob");
    let carol = p.idp.id_token("rolegate", "carol");
    issue(&app, &alice, "prod-readonly").await;
    issue(&app, &alice, "admin").await;
    let roles_of = |body: &Value| -> Vec<String> {
        body["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["role"].as_str().unwrap().to_string())
            .collect()
    };
    let ok = |res: reqwest::Response| async move {
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()
    };
    // Bob (sales) sees the ReadOnly role's sessions, and of Alice's only those.
    let by_role = ok(sessions(&app, &bob, "?role=prod-readonly").await).await;
    assert_eq!(roles_of(&by_role), ["prod-readonly"]);
    assert_eq!(by_role["sessions"][0]["subject"], "alice");
    let by_arn =
        ok(sessions(&app, &bob, "?role=arn:aws:iam::123456789012:role/ReadOnly").await).await;
    assert_eq!(roles_of(&by_arn), ["prod-readonly"]);
    let alices = ok(sessions(&app, &bob, "?user=web:alice").await).await;
    assert_eq!(
        roles_of(&alices),
        ["prod-readonly"],
        "not her Admin session"
    );
    // `rolegate:*` on Admin (everyone's sandbox statement) does not make anyone its admin.
    for q in ["?role=admin", "?user=web:alice&role=admin"] {
        assert_eq!(sessions(&app, &bob, q).await.status(), 403, "{q}");
        assert_eq!(sessions(&app, &alice, q).await.status(), 403, "{q}");
    }
    // Carol may list nothing: refused, not an empty list. Alice may name herself.
    assert_eq!(
        sessions(&app, &carol, "?user=web:alice").await.status(),
        403
    );
    let own = ok(sessions(&app, &alice, "?user=web:alice").await).await;
    assert_eq!(own["sessions"].as_array().unwrap().len(), 2);
    let res = sessions(&app, &bob, "?user=alice").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("IDP:SUBJECT"));
    assert_eq!(
        sessions(&app, &bob, "?role=no-such-role").await.status(),
        403
    );
}
