//! The policy engine in the running broker: IAM documents next to [[map]] rules, session
//! blocks reaching STS, explain for oneself and for admins, and reloads — where a broken or
//! deleted file must keep the last good policy (a deleted Deny never widens access).

use crate::common;

use common::app::{ROLES, TestApp, peers, server_and_aws};
use common::forge;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ALLOW_ENG: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "EngReadOnly", "Effect": "Allow", "Action": "rolegate:*",
   "Resource": "arn:aws:iam::123456789012:role/ReadOnly",
   "Condition": {"StringEquals": {"rolegate:idp": "web"}, "ForAnyValue:StringEquals": {"rolegate:groups": "eng"}},
   "Session": {"MaxDuration": "2h"}},
  {"Sid": "OwnSandbox", "Effect": "Allow", "Action": "rolegate:Credentials",
   "Resource": "arn:aws:iam::123456789012:role/sts-${rolegate:username}",
   "Condition": {"StringEquals": {"rolegate:idp": "web"}}}
]}"#;

const DENY_READONLY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "FreezeReadOnly", "Effect": "Deny", "Action": "rolegate:*", "Resource": "arn:aws:iam::123456789012:role/ReadOnly"}
]}"#;

const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef-admin";

fn config(p: &common::app::Peers) -> String {
    format!(
        "{head}\n[[idp]]\nid = \"web\"\nkind = \"oidc\"\nissuer = \"{iss}\"\nclient_id = \"rolegate\"\n{ROLES}\n[[role]]\narn = \"arn:aws:iam::123456789012:role/sts-sandbox-user\"\nalias = \"sandbox\"\n\n[policy]\nfiles = [\"allow.json\", \"deny.json\"]\n\n[admin]\ntoken_file = \"admin-token\"\n",
        head = server_and_aws(p),
        iss = p.idp.issuer
    )
}

async fn spawn(p: &common::app::Peers, deny: &str) -> TestApp {
    TestApp::spawn_with_files(
        &config(p),
        &[
            ("allow.json", ALLOW_ENG),
            ("deny.json", deny),
            ("admin-token", ADMIN_TOKEN),
        ],
        None,
        true,
    )
    .await
}

fn token(p: &common::app::Peers, username: &str) -> String {
    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!(username);
    forge::rs256(&c)
}

const NO_DENY: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "Nothing", "Effect": "Deny", "Action": "rolegate:Console", "Resource": "arn:aws:iam::123456789012:role/Sales"}
]}"#;

#[tokio::test]
async fn documents_grant_with_session_limits_and_variables() {
    let Some(p) = peers() else { return };
    let app = spawn(p, NO_DENY).await;
    let t = token(p, "sandbox-user");
    let roles: Value = app.roles(&t).await.json().await.unwrap();
    let listed: Vec<(&str, u64)> = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["alias"].as_str().unwrap(),
                r["max_duration_seconds"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("prod-readonly", 7200), ("sandbox", 3600)],
        "{roles}"
    );
    // MaxDuration 2h from the Session block caps the role's own 4h.
    let res = app
        .credentials(
            &t,
            json!({"role": "prod-readonly", "duration_seconds": 7201}),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        app.credentials(
            &t,
            json!({"role": "prod-readonly", "duration_seconds": 7200})
        )
        .await
        .status(),
        200
    );
    // ${rolegate:username} in Resource: only the user's own sandbox.
    assert_eq!(
        app.credentials(&t, json!({"role": "sandbox"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.credentials(&token(p, "someone-else"), json!({"role": "sandbox"}))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn explain_for_oneself_and_for_admins() {
    let Some(p) = peers() else { return };
    let app = spawn(p, DENY_READONLY).await;
    let t = token(p, "alice");
    let res = app
        .http
        .get(format!(
            "{}/api/v1/explain?role=prod-readonly&action=credentials",
            app.url
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let e: Value = res.json().await.unwrap();
    // A role the caller cannot use: "denied" and nothing else — not the Deny, not its Sid.
    assert_eq!(
        e,
        json!({"decision": "denied", "role": "prod-readonly", "action": "credentials"})
    );

    let admin = |token: Option<&str>, body: Value| {
        let mut r = app
            .http
            .post(format!("{}/api/v1/explain", app.url))
            .json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let body = json!({"identity": {"idp": "web", "subject": "u-1", "groups": ["sales"]}, "role": "prod-readonly", "action": "console"});
    assert_eq!(admin(None, body.clone()).await.unwrap().status(), 401);
    assert_eq!(
        admin(Some(&t), body.clone()).await.unwrap().status(),
        401,
        "an IdP token is not the admin token"
    );
    assert_eq!(
        admin(Some(&format!("{ADMIN_TOKEN}x")), body.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    let res = admin(Some(ADMIN_TOKEN), body).await.unwrap();
    assert_eq!(res.status(), 200);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["decision"], "explicit_deny");
    let eng = e["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sid"] == "EngReadOnly")
        .unwrap();
    assert_eq!(
        eng["failed"],
        r#"condition ForAnyValue:StringEquals on rolegate:groups failed: the request has ["sales"], the policy wants ["eng"]"#
    );
    let res = admin(
        Some(ADMIN_TOKEN),
        json!({"identity": {"idp": "web", "subject": "u"}, "role": "nope", "action": "console"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 404);
}

/// Failed reloads so far, by any trigger (from /metrics).
async fn reload_errors(app: &TestApp) -> u64 {
    app.metrics()
        .await
        .lines()
        .filter(|l| l.starts_with(r#"rolegate_policy_reloads_total{result="error""#))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

async fn wait_for(app: &TestApp, what: &str, mut ok: impl FnMut(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready: Value = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ok(&ready) {
            return ready;
        }
        assert!(Instant::now() < deadline, "{what}: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reload_applies_changes_and_a_broken_or_deleted_file_keeps_the_last_good_policy() {
    let Some(p) = peers() else { return };
    let app = spawn(p, NO_DENY).await;
    let t = token(p, "alice");
    let deny_path = app.dir.path().join("deny.json");
    let readonly = || app.credentials(&t, json!({"role": "prod-readonly"}));
    assert_eq!(readonly().await.status(), 200);

    // An added Deny takes effect without a restart (the watcher polls every 2 s).
    std::fs::write(&deny_path, DENY_READONLY).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while readonly().await.status() != 403 {
        assert!(Instant::now() < deadline, "the new Deny never took effect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A broken file: the Deny stays in force, readiness says why, the metric raises the alarm.
    std::fs::write(&deny_path, "{ this is not json").unwrap();
    let r = wait_for(&app, "stale after breakage", |r| {
        r["checks"]["policy"]["status"] == "stale"
    })
    .await;
    // A stable reason code only: the message (file, parser position) is in the log.
    assert_eq!(r["checks"]["policy"]["error"], "reload_failed", "{r}");
    assert!(!r.to_string().contains("deny.json"), "{r}");
    assert_eq!(
        readonly().await.status(),
        403,
        "the last good policy (with its Deny) still applies"
    );
    assert!(app.metrics().await.contains("rolegate_policy_stale 1"));

    // A deleted file: same — deleting a Deny must never silently widen access.
    let failed_before = reload_errors(&app).await;
    std::fs::remove_file(&deny_path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while reload_errors(&app).await == failed_before {
        assert!(
            Instant::now() < deadline,
            "the deletion never failed a reload"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = wait_for(&app, "stale after deletion", |r| {
        r["checks"]["policy"]["error"] == "reload_failed"
    })
    .await;
    assert_eq!(r["status"], "ready", "serving the last good policy: {r}");
    assert_eq!(readonly().await.status(), 403);

    // Fixed: the new policy loads and the alarm clears.
    std::fs::write(&deny_path, NO_DENY).unwrap();
    wait_for(&app, "recovered", |r| {
        r["checks"]["policy"]["status"] == "ok"
    })
    .await;
    assert_eq!(
        readonly().await.status(),
        200,
        "the fixed file no longer denies"
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains("rolegate_policy_stale 0"), "{metrics}");
    assert!(
        metrics.contains(r#"rolegate_policy_reloads_total{result="error",trigger="file_change"}"#),
        "{metrics}"
    );
}

/// The main config file reloads too: a `[[map]]` added to rolegate.toml grants without a
/// restart; a rolegate.toml that no longer validates changes nothing and says why.
#[tokio::test]
async fn the_main_config_reloads_its_roles_and_rules_and_a_bad_one_keeps_the_last_good() {
    let Some(p) = peers() else { return };
    let app = spawn(p, NO_DENY).await;
    let t = token(p, "alice");
    let sandbox = || app.credentials(&t, json!({"role": "sandbox"}));
    assert_eq!(sandbox().await.status(), 403, "not granted yet");
    let path = app.dir.path().join("rolegate.toml");
    let original = std::fs::read_to_string(&path).unwrap();
    let granted =
        format!("{original}\n[[map]]\nidp = \"web\"\ngroups = [\"eng\"]\nroles = [\"sandbox\"]\n");
    std::fs::write(&path, &granted).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox().await.status() != 200 {
        assert!(
            Instant::now() < deadline,
            "the new [[map]] never took effect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Broken (an unknown key): the grant stays, readiness names the key.
    std::fs::write(&path, format!("{granted}\n[server2]\nx = 1\n")).unwrap();
    let r = wait_for(&app, "stale after a bad config", |r| {
        r["checks"]["policy"]["status"] == "stale"
    })
    .await;
    assert_eq!(r["checks"]["policy"]["error"], "reload_failed", "{r}");
    assert!(!r.to_string().contains("server2"), "{r}");
    assert_eq!(
        sandbox().await.status(),
        200,
        "the last good config still applies"
    );
    // Fixed by removing the rule: access goes away again.
    std::fs::write(&path, &original).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox().await.status() != 403 {
        assert!(
            Instant::now() < deadline,
            "the removed [[map]] still grants"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_invalid_policy_stops_the_broker_from_starting() {
    let Some(p) = peers() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("allow.json", ALLOW_ENG),
        ("admin-token", ADMIN_TOKEN),
        ("aws-key-id", "t"),
        ("aws-secret", "t"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("deny.json"), r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "rolegate:*", "Resource": "*", "Condition": {"StringEqual": {"rolegate:idp": "web"}}}}"#).unwrap();
    let path = dir.path().join("rolegate.toml");
    std::fs::write(&path, config(p)).unwrap();
    let config =
        rolegate::config::Config::load_with_env(Some(&path), false, std::iter::empty()).unwrap();
    let err = rolegate::startup::Application::build(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("deny.json")
            && err.contains("Statement[0].Condition.StringEqual")
            && err.contains("unknown condition operator"),
        "{err}"
    );
}
