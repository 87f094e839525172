//! Ending sessions on the broker's side (`POST /api/v1/sessions/revoke`): who may, what a
//! revoked person and a frozen role get afterwards, what the inventory shows, and the Deny each
//! role is given to apply; bad requests change nothing. moto as STS, the oidc-provider's
//! ID tokens (their `iat` is when the person authenticated).

use crate::common;

use common::app::{Peers, TestApp, peers, spawn_with_policy_and};
use serde_json::{Value, json};

/// Alice (sre) may list and revoke everywhere; everyone may use the Admin role.
const ADMINS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "SreRevoke", "Effect": "Allow", "Action": ["rolegate:ListSessions", "rolegate:RevokeSessions"],
   "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "sre"}}},
  {"Sid": "EveryoneAdmin", "Effect": "Allow", "Action": "rolegate:*",
   "Resource": "arn:aws:iam::123456789012:role/Admin"}
]}"#;

/// These tests are about the broker's side: the IAM writer is off, so each role's Deny is
/// returned to apply (tests/it/revocation_iam.rs writes it through IAM).
async fn spawn_with_policy(p: &Peers, document: &str) -> TestApp {
    spawn_with_policy_and(p, document, "[revocation]\nwrite_iam = false\n").await
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

async fn revoke(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    post(app, token, "/api/v1/sessions/revoke", body).await
}

async fn creds(app: &TestApp, token: &str, role: &str) -> reqwest::Response {
    post(app, token, "/api/v1/credentials", json!({ "role": role })).await
}

/// A second passes, so a token minted now is an authentication after what came before.
async fn next_second() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn revoking_a_user_ends_theirs_only_until_they_sign_in_again() {
    let Some(p) = peers() else { return };
    let app = spawn_with_policy(p, ADMINS).await;
    let alice = p.idp.id_token("rolegate", "alice");
    let bob = p.idp.id_token("rolegate", "bob");
    let carol = p.idp.id_token("rolegate", "carol");
    assert_eq!(creds(&app, &bob, "admin").await.status(), 200);
    assert_eq!(creds(&app, &alice, "admin").await.status(), 200);

    // Carol holds no RevokeSessions: refused, nothing changes for Bob.
    let res = revoke(&app, &carol, json!({"user": "web:bob", "reason": "INC-1"})).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("rolegate:RevokeSessions")
    );
    assert_eq!(creds(&app, &bob, "admin").await.status(), 200);

    let res = revoke(
        &app,
        &alice,
        json!({"user": "web:bob", "reason": "INC-1 laptop stolen"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["revoked"], 2, "Bob's two live sessions: {out}");
    let role = &out["roles"][0];
    assert_eq!(role["arn"], "arn:aws:iam::123456789012:role/Admin");
    assert_eq!(role["written"], false);
    assert!(
        role["error"]
            .as_str()
            .unwrap()
            .contains("write_iam = false"),
        "{role}"
    );
    let cond = &role["policy"]["Statement"][0]["Condition"];
    assert_eq!(
        cond["StringEquals"]["aws:SourceIdentity"],
        json!(["web.bob"])
    );
    // The second after the revocation's: a session issued within its second raced it.
    let revoked_at = unix_of(out["revoked_at"].as_str().unwrap());
    let deny_before = unix_of(cond["DateLessThan"]["aws:TokenIssueTime"].as_str().unwrap());
    assert_eq!(deny_before, revoked_at + 1, "{cond}");
    assert_eq!(role["policy"]["Statement"][0]["Effect"], "Deny");

    // Bob's authentication predates the revocation: refused, told to sign in again.
    let res = creds(&app, &bob, "admin").await;
    assert_eq!(res.status(), 403);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"], "session_revoked");
    let why = e["error_description"].as_str().unwrap();
    assert!(
        why.contains("INC-1 laptop stolen") && why.contains("sign in"),
        "{why}"
    );
    // Alice is untouched; the inventory shows Bob's sessions as revoked, by whom.
    assert_eq!(creds(&app, &alice, "admin").await.status(), 200);
    let listed: Value = app
        .http
        .get(format!(
            "{}/api/v1/sessions?user=web:bob&include=revoked",
            app.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for s in listed["sessions"].as_array().unwrap() {
        assert_eq!(s["revoked_by"], "web:alice", "{s}");
        assert_eq!(s["revoked_at"], out["revoked_at"]);
        assert_eq!(s["revoked_reason"], "INC-1 laptop stolen", "{s}");
    }
    // Revoked again: nothing more ends (the Deny is computed again, which retries a failed
    // write), and the first revocation's who, when and why stay.
    let again: Value = revoke(&app, &alice, json!({"user": "web:bob", "reason": "INC-1b"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["revoked"], 0, "{again}");
    assert_eq!(again["roles"].as_array().unwrap().len(), 1, "{again}");
    // Signed in again (a token authenticated after the revocation): served.
    next_second().await;
    let bob_again = p.idp.id_token("rolegate", "bob");
    assert_eq!(creds(&app, &bob_again, "admin").await.status(), 200);
}

#[tokio::test]
async fn a_frozen_role_refuses_even_a_fresh_sign_in_and_other_roles_go_on() {
    let Some(p) = peers() else { return };
    let app = spawn_with_policy(p, ADMINS).await;
    let alice = p.idp.id_token("rolegate", "alice");
    assert_eq!(creds(&app, &alice, "prod-readonly").await.status(), 200);
    let body = json!({"role": "prod-readonly", "reason": "INC-2", "freeze_seconds": 600});
    let res = revoke(&app, &alice, body).await;
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    assert!(out["frozen_until"].is_string(), "{out}");
    let role_wide = &out["roles"][0]["policy"]["Statement"][0]["Condition"];
    assert!(
        role_wide.get("StringEquals").is_none(),
        "a role's Deny names no one: {out}"
    );
    next_second().await;
    let fresh = p.idp.id_token("rolegate", "alice");
    let res = creds(&app, &fresh, "prod-readonly").await;
    assert_eq!(res.status(), 403);
    let e: Value = res.json().await.unwrap();
    assert!(
        e["error_description"].as_str().unwrap().contains("frozen"),
        "{e}"
    );
    assert_eq!(creds(&app, &fresh, "admin").await.status(), 200);
}

#[tokio::test]
async fn bad_revocation_requests_are_refused_naming_the_field_and_change_nothing() {
    let Some(p) = peers() else { return };
    let app = spawn_with_policy(p, ADMINS).await;
    let alice = p.idp.id_token("rolegate", "alice");
    let bob = p.idp.id_token("rolegate", "bob");
    assert_eq!(creds(&app, &bob, "admin").await.status(), 200);
    for (body, status, says) in [
        (
            json!({"user": "web:bob", "role": "admin", "reason": "x"}),
            400,
            "exactly one",
        ),
        (json!({"reason": "x"}), 400, "exactly one"),
        (json!({"user": "web:bob"}), 400, "reason"),
        (json!({"user": "web:bob", "reason": "a\nb"}), 400, "reason"),
        (json!({"user": "bob", "reason": "x"}), 400, "IDP:SUBJECT"),
        (json!({"all": false, "reason": "x"}), 400, "all"),
        (
            json!({"user": "web:bob", "reason": "x", "freeze_seconds": 0}),
            400,
            "freeze_seconds",
        ),
        (
            json!({"session_id": "ses_00", "reason": "x"}),
            404,
            "ses_00",
        ),
        (json!({"role": "no-such", "reason": "x"}), 403, "catalogue"),
    ] {
        let res = revoke(&app, &alice, body.clone()).await;
        assert_eq!(res.status(), status, "{body}");
        let text = res.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    let res = revoke(
        &app,
        &alice,
        json!({"user": "web:bob", "reason": "x", "colour": 1}),
    )
    .await;
    assert_eq!(res.status(), 400, "an unknown field");
    assert_eq!(
        creds(&app, &bob, "admin").await.status(),
        200,
        "nothing was revoked"
    );
}

/// Unix seconds of an RFC 3339 time the broker wrote.
pub(crate) fn unix_of(rfc3339: &str) -> i64 {
    let t = rolegate::clock::FixedClock::parse_rfc3339(rfc3339)
        .unwrap()
        .0;
    i64::try_from(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}
