//! The AWS side of a revocation: the inline policy `rolegate-revocations` written through IAM
//! (moto), read back and evaluated with the policy engine's IAM grammar (moto stores a policy
//! but does not evaluate its conditions); merged with what a role already carries, refused
//! before IAM's size limit or a statement rolegate did not write, and reported per role when
//! IAM is down — the broker's side ends the sessions whatever IAM does.
//!
//! Every test has its own role names: moto's IAM is shared by the whole test binary.

use crate::common;
use crate::revocation::unix_of;

use common::app::{Peers, TestApp, base_config, peers};
use common::peers::Moto;
use rolegate::policy::aws_deny::denies;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ACCOUNT: &str = "123456789012";

fn arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// Alice (sre) may list and revoke everywhere; everyone may use every role.
const ADMINS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "SreRevoke", "Effect": "Allow", "Action": ["rolegate:ListSessions", "rolegate:RevokeSessions"],
   "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "sre"}}},
  {"Sid": "EveryoneUses", "Effect": "Allow", "Action": "rolegate:*", "Resource": "*"}
]}"#;

/// The standard config against `moto`, these roles added to the catalogue, [`ADMINS`].
async fn spawn(p: &Peers, moto: &str, roles: &[&str]) -> TestApp {
    let extra: String = roles
        .iter()
        .map(|r| {
            // `Elsewhere`-named roles are in another account than moto's (and the writer's).
            let arn = match r.strip_prefix("Elsewhere") {
                Some(_) => format!("arn:aws:iam::111122223333:role/{r}"),
                None => arn(r),
            };
            format!("\n[[role]]\narn = \"{arn}\"\nalias = \"{r}\"\n")
        })
        .collect();
    let config = format!(
        "{}\n{extra}\n[policy]\nfiles = [\"policy.json\"]\n",
        base_config(p, "").replace(&p.moto.url, moto)
    );
    TestApp::spawn_with_files(&config, &[("policy.json", ADMINS)], None, true).await
}

async fn create_role(iam: &aws_sdk_iam::Client, name: &str) {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .max_session_duration(3600)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create role {name}: {e:?}"));
}

async fn put_inline(iam: &aws_sdk_iam::Client, role: &str, name: &str, doc: &Value) {
    iam.put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap();
}

/// The role's `rolegate-revocations`, decoded.
async fn revocations_of(iam: &aws_sdk_iam::Client, role: &str) -> Option<Value> {
    common::iam::inline_policy(iam, role, "rolegate-revocations").await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.http
        .post(format!("{}{path}", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn creds(app: &TestApp, token: &str, role: &str) -> reqwest::StatusCode {
    post(app, token, "/api/v1/credentials", json!({ "role": role }))
        .await
        .status()
}

async fn revoke(app: &TestApp, token: &str, body: Value) -> Value {
    let res = post(app, token, "/api/v1/sessions/revoke", body).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The inventory's sessions of `user` (issue instant, source identity, role ARN).
async fn sessions_of(app: &TestApp, admin: &str, user: &str) -> Vec<(SystemTime, String, String)> {
    let listed: Value = app
        .http
        .get(format!(
            "{}/api/v1/sessions?user={user}&include=revoked",
            app.url
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                at(unix_of(s["issued_at"].as_str().unwrap())),
                s["source_identity"].as_str().unwrap().to_string(),
                s["role_arn"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn at(unix: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap())
}

fn role_report<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["arn"] == arn(name))
        .unwrap_or_else(|| panic!("{name} in {out}"))
}

async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn revoking_a_user_writes_a_deny_on_each_of_their_roles_that_the_engine_proves() {
    let Some(p) = peers() else { return };
    let iam = common::iam::client(&p.moto.url);
    for r in ["RvkUserA", "RvkUserB"] {
        create_role(&iam, r).await;
    }
    let app = spawn(p, &p.moto.url, &["RvkUserA", "RvkUserB"]).await;
    let alice = p.idp.id_token("rolegate", "alice");
    let bob = p.idp.id_token("rolegate", "bob");
    for role in ["RvkUserA", "RvkUserB"] {
        assert_eq!(creds(&app, &bob, role).await, 200);
    }
    assert_eq!(creds(&app, &alice, "RvkUserA").await, 200);

    let out = revoke(&app, &alice, json!({"user": "web:bob", "reason": "INC-7"})).await;
    let revoked_at = unix_of(out["revoked_at"].as_str().unwrap());
    for role in ["RvkUserA", "RvkUserB"] {
        let report = role_report(&out, role);
        assert_eq!(report["written"], true, "{report}");
        assert!(report["written_at"].is_string(), "{report}");
        let written = revocations_of(&iam, role).await.expect("written to IAM");
        assert_eq!(written, report["policy"], "reported as written");
    }
    // What IAM holds, evaluated: Bob's revoked sessions are denied; a session he starts after
    // signing in again is not; Alice's is not.
    let bobs = sessions_of(&app, &alice, "web:bob").await;
    assert_eq!(bobs.len(), 2);
    for (issued, identity, role_arn) in &bobs {
        let name = role_arn.rsplit('/').next().unwrap();
        let doc = revocations_of(&iam, name).await.unwrap();
        assert!(denies(&doc, *issued, identity), "{identity} on {name}");
        assert!(
            !denies(&doc, at(revoked_at + 1), identity),
            "after signing in again"
        );
        assert!(!denies(&doc, *issued, "web.alice"), "another person");
    }
    let doc_a = revocations_of(&iam, "RvkUserA").await.unwrap();
    for (issued, identity, _) in sessions_of(&app, &alice, "web:alice").await {
        assert!(!denies(&doc_a, issued, &identity), "Alice untouched");
    }

    // Bob signs in again, is served, and is revoked again: the later entry covers the
    // earlier, so the role keeps one statement.
    next_second().await;
    let bob_again = p.idp.id_token("rolegate", "bob");
    assert_eq!(creds(&app, &bob_again, "RvkUserA").await, 200);
    let again = revoke(&app, &alice, json!({"user": "web:bob", "reason": "INC-8"})).await;
    assert_eq!(role_report(&again, "RvkUserA")["written"], true);
    let merged = revocations_of(&iam, "RvkUserA").await.unwrap();
    let statements = merged["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{merged}");
    for (issued, identity, _) in sessions_of(&app, &alice, "web:bob").await {
        assert!(denies(&merged, issued, &identity), "every Bob session on A");
    }

    // A role-wide revocation then ends everyone's on A, in one statement.
    let wide = revoke(&app, &alice, json!({"role": "RvkUserA", "reason": "INC-9"})).await;
    assert_eq!(role_report(&wide, "RvkUserA")["written"], true);
    let wide_doc = revocations_of(&iam, "RvkUserA").await.unwrap();
    assert_eq!(wide_doc["Statement"].as_array().unwrap().len(), 1);
    assert!(
        wide_doc["Statement"][0]["Condition"]
            .get("StringEquals")
            .is_none()
    );
    assert!(denies(&wide_doc, at(revoked_at), "web.anyone"));
}

#[tokio::test]
async fn a_write_past_iams_size_limit_over_a_foreign_statement_or_into_another_account_is_refused_and_the_broker_side_still_ends()
 {
    let Some(p) = peers() else { return };
    let iam = common::iam::client(&p.moto.url);
    // ElsewhereRvk is a role of account 111122223333 in the catalogue; moto (the writer's
    // account, 123456789012) has a role of the same name, which must not get the Deny.
    for r in ["RvkFull", "RvkForeign", "ElsewhereRvk"] {
        create_role(&iam, r).await;
    }
    // 10,100 characters of another inline policy leave no room for a Deny statement.
    let filler: Vec<Value> = (0..100)
        .map(|i| {
            json!({"Sid": format!("S{i:03}"), "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{}/*", "b".repeat(40))})
        })
        .collect();
    let big = json!({"Version": "2012-10-17", "Statement": filler});
    put_inline(&iam, "RvkFull", "big", &big).await;
    // Someone else's Deny inside rolegate's policy: never silently dropped.
    let foreign = json!({"Version": "2012-10-17", "Statement": [{"Sid": "KeepMe", "Effect": "Deny",
        "Action": "s3:DeleteBucket", "Resource": "*"}]});
    put_inline(&iam, "RvkForeign", "rolegate-revocations", &foreign).await;

    let app = spawn(p, &p.moto.url, &["RvkFull", "RvkForeign", "ElsewhereRvk"]).await;
    let alice = p.idp.id_token("rolegate", "alice");
    let bob = p.idp.id_token("rolegate", "bob");
    for role in ["RvkFull", "RvkForeign", "ElsewhereRvk"] {
        assert_eq!(creds(&app, &bob, role).await, 200);
    }
    let out = revoke(&app, &alice, json!({"user": "web:bob", "reason": "INC-10"})).await;
    let full = role_report(&out, "RvkFull");
    assert_eq!(full["written"], false);
    let why = full["error"].as_str().unwrap();
    assert!(
        why.contains("10240") && why.contains("other inline policies use"),
        "{why}"
    );
    assert_eq!(full["policy"]["Statement"][0]["Effect"], "Deny", "to apply");
    assert!(
        revocations_of(&iam, "RvkFull").await.is_none(),
        "nothing written"
    );

    let foreign_report = role_report(&out, "RvkForeign");
    assert_eq!(foreign_report["written"], false);
    assert!(
        foreign_report["error"]
            .as_str()
            .unwrap()
            .contains("did not write"),
        "{foreign_report}"
    );
    assert_eq!(
        revocations_of(&iam, "RvkForeign").await.unwrap(),
        foreign,
        "left as it was"
    );
    let elsewhere = out["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["arn"] == "arn:aws:iam::111122223333:role/ElsewhereRvk")
        .unwrap();
    assert_eq!(elsewhere["written"], false);
    let why = elsewhere["error"].as_str().unwrap();
    assert!(
        why.contains("account 123456789012") && why.contains("111122223333"),
        "{why}"
    );
    assert!(
        revocations_of(&iam, "ElsewhereRvk").await.is_none(),
        "the same-named role of the writer's account is untouched"
    );
    // The broker's side ended Bob's sessions regardless.
    let res = post(
        &app,
        &bob,
        "/api/v1/credentials",
        json!({"role": "RvkFull"}),
    )
    .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn with_iam_down_the_broker_side_still_revokes_and_the_report_names_each_role_not_written() {
    let Some(p) = peers() else { return };
    let Some(moto) = Moto::start() else { return };
    let iam = common::iam::client(&moto.url);
    for r in ["RvkDownA", "RvkDownB"] {
        create_role(&iam, r).await;
    }
    let app = spawn(p, &moto.url, &["RvkDownA", "RvkDownB"]).await;
    let alice = p.idp.id_token("rolegate", "alice");
    let bob = p.idp.id_token("rolegate", "bob");
    for role in ["RvkDownA", "RvkDownB"] {
        assert_eq!(creds(&app, &bob, role).await, 200);
    }
    drop(moto); // IAM (and STS) are gone.
    let started = std::time::Instant::now();
    let out = revoke(&app, &alice, json!({"user": "web:bob", "reason": "INC-11"})).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by timeouts"
    );
    assert_eq!(out["revoked"], 2);
    for role in ["RvkDownA", "RvkDownB"] {
        let r = role_report(&out, role);
        assert_eq!(r["written"], false, "{r}");
        assert!(
            r["error"].as_str().unwrap().contains("iam:"),
            "names the IAM call: {r}"
        );
        assert!(r["policy"]["Statement"][0]["Condition"].is_object());
    }
    let res = post(
        &app,
        &bob,
        "/api/v1/credentials",
        json!({"role": "RvkDownA"}),
    )
    .await;
    assert_eq!(
        res.status(),
        403,
        "refused by the broker before any STS call"
    );
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"], "session_revoked");
}
