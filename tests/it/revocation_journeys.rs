//! Revocation through every journey, with the real CLI: a person's CLI sign-in, browser session
//! and credentials end on every replica of one redis-server while another person goes on; the
//! role carries a Deny the policy engine proves; the kill switch freezes issuing and reports
//! per role; an IdP removed from the configuration, or revoked, ends what it vouched for.

use crate::common;
use crate::revocation::unix_of;

use common::app::{TestApp, broker_head, peers};
use common::cli::{self, assert_success};
use common::peers::Redis;
use common::saml_forge::{SamlForge, corp_idp};
use common::web::{get, hidden, post, saml_sign_in};
use rolegate::policy::aws_deny::denies;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, UNIX_EPOCH};

const PUBLIC: &str = "https://rolegate.example.test";

/// Group `sre` may list and revoke everywhere; `eng` uses prod-readonly and admin.
const ADMINS: &str = r#"{"Version": "2012-10-17", "Statement": [
  {"Sid": "SreRevoke", "Effect": "Allow", "Action": ["rolegate:ListSessions", "rolegate:RevokeSessions"],
   "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "sre"}}}
]}"#;

/// The catalogue plus `journey`, a role no other test writes a Deny on (moto's IAM is shared).
fn config(moto: &str, store: &str, extra: &str) -> String {
    let roles = format!(
        "{}\n[[role]]\narn = \"arn:aws:iam::123456789012:role/RvkJourney\"\nalias = \"journey\"\n",
        common::app::ROLES
    );
    format!(
        "{head}\n{store}\n{extra}\n{idp}\n[policy]\nfiles = [\"policy.json\"]\n",
        head = broker_head("127.0.0.1:0", PUBLIC, moto, None),
        idp = corp_idp(&roles, &["prod-readonly", "admin", "journey"]),
    )
}

async fn spawn(forge: &SamlForge, toml: &str) -> TestApp {
    let (md_name, md) = forge.metadata_file();
    TestApp::spawn_with_files(
        toml,
        &[(md_name, md.as_str()), ("policy.json", ADMINS)],
        None,
        true,
    )
    .await
}

/// One person's terminal: their own HOME, signed in to `broker` through a SAML browser sign-in.
struct Person {
    home: tempfile::TempDir,
    cookie: String,
    broker: String,
}

impl Person {
    async fn sign_in(forge: &SamlForge, broker: &TestApp, user: &str, groups: &[&str]) -> Person {
        let cookie = saml_sign_in(&broker.url, forge, user, groups).await;
        let me = Person {
            home: tempfile::tempdir().unwrap(),
            cookie,
            broker: broker.url.clone(),
        };
        let login = me.cli(&["login"]);
        let out = tokio::task::block_in_place(|| cli::login_through_session(login, &me.cookie));
        assert_success(&out, "rolegate login");
        me
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rolegate"));
        let h = self.home.path();
        cli::isolate(&mut c, h);
        c.env("AWS_CONFIG_FILE", h.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", h.join("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("ROLEGATE_BROKER", &self.broker)
            .stdin(Stdio::null())
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cli(args);
        tokio::task::block_in_place(|| c.output().unwrap())
    }

    /// `rolegate credentials <role>` as credential_process runs it, the cache bypassed by
    /// making it look expired (as the next renewal would be).
    fn renew(&self, role: &str) -> Output {
        let cache = self.home.path().join("cache/rolegate");
        for f in walk(&cache) {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with(&format!("creds-{role}-")) {
                std::fs::remove_file(&f).unwrap();
            }
        }
        self.run(&["credentials", role])
    }

    /// The saved sign-in (`access_token`, `refresh_token`).
    fn profile(&self) -> Value {
        let dir = self.home.path().join("config/rolegate/brokers");
        let file = walk(&dir).into_iter().next().expect("a saved sign-in");
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// Whether the browser session behind `cookie` still opens the picker.
async fn browser_signed_in(broker: &str, cookie: &str) -> bool {
    let res = get(broker, "/", Some(cookie)).await;
    res.status() == 200 && res.text().await.unwrap().contains("Sign out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_person_ends_their_cli_and_browser_sign_ins_on_every_replica_and_the_role_carries_a_proven_deny()
 {
    let Some(p) = peers() else { return };
    let Some(redis) = Redis::start() else { return };
    let forge = SamlForge::new();
    let store = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\n",
        redis.url
    );
    let toml = config(&p.moto.url, &store, "");
    let a = spawn(&forge, &toml).await;
    let b = spawn(&forge, &toml).await;
    // The role exists in IAM (moto), so the Deny can be written.
    let iam = common::iam::client(&p.moto.url);
    iam.create_role()
        .role_name("RvkJourney")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .max_session_duration(4 * 3600)
        .send()
        .await
        .unwrap();

    let bob = Person::sign_in(&forge, &b, "bob", &["eng"]).await;
    let carol = Person::sign_in(&forge, &a, "carol", &["eng"]).await;
    let alice = Person::sign_in(&forge, &a, "alice", &["eng", "sre"]).await;
    for who in [&bob, &carol] {
        assert_success(&who.renew("journey"), "credentials");
    }
    assert!(browser_signed_in(&a.url, &bob.cookie).await);
    // Carol also takes credentials from the picker, in her browser (a CSRF-protected POST).
    let page = get(&b.url, "/", Some(&carol.cookie))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let res = post(
        &b.url,
        "/credentials/journey",
        &carol.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), 200, "the browser's credentials page");

    // Both replicas' issuances, through both journeys, are in the one inventory.
    let listed = alice.run(&["sessions", "--all", "--json"]);
    assert_success(&listed, "sessions --all");
    let v: Value = serde_json::from_str(&text(&listed).0).unwrap();
    let users: Vec<&str> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subject"].as_str().unwrap())
        .collect();
    for who in ["bob@example.com", "carol@example.com"] {
        assert!(users.contains(&who), "{who} in {users:?}");
    }
    let carols: Vec<&str> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["subject"] == "carol@example.com")
        .map(|s| s["client"].as_str().unwrap())
        .collect();
    assert!(
        carols.contains(&"cli") && carols.contains(&"browser"),
        "{carols:?}"
    );

    let out = alice.run(&[
        "sessions",
        "revoke",
        "--user",
        "corp:bob@example.com",
        "--reason",
        "INC-42 laptop stolen",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Ended 1 session(s)"), "{stdout}");
    assert!(
        stdout.contains("arn:aws:iam::123456789012:role/RvkJourney")
            && stdout.contains("Deny written at"),
        "{stdout}"
    );

    // Bob's CLI: the next renewal is refused, saying why and what to do; on either replica.
    let out = bob.renew("journey");
    let (_, why) = text(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        why.contains("ended by an administrator") && why.contains("INC-42"),
        "{why}"
    );
    assert!(why.contains("rolegate login"), "{why}");
    // His browser session is over on both replicas; Carol's CLI goes on.
    assert!(!browser_signed_in(&a.url, &bob.cookie).await);
    assert!(!browser_signed_in(&b.url, &bob.cookie).await);
    assert!(browser_signed_in(&a.url, &carol.cookie).await);
    assert_success(&carol.renew("journey"), "Carol untouched");

    // AWS's side: what IAM holds denies Bob's session and not Carol's.
    let doc = common::iam::inline_policy(&iam, "RvkJourney", "rolegate-revocations")
        .await
        .expect("the Deny written to IAM");
    let listed = alice.run(&["sessions", "--all", "--include-revoked", "--json"]);
    let v: Value = serde_json::from_str(&text(&listed).0).unwrap();
    for s in v["sessions"].as_array().unwrap() {
        let issued = UNIX_EPOCH
            + Duration::from_secs(
                u64::try_from(unix_of(s["issued_at"].as_str().unwrap())).unwrap(),
            );
        let identity = s["source_identity"].as_str().unwrap();
        let revoked = s["subject"] == "bob@example.com";
        assert_eq!(s["revoked_at"].is_string(), revoked, "{s}");
        assert_eq!(denies(&doc, issued, identity), revoked, "{s}");
    }
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_ends_every_session_freezes_issuing_and_reports_each_role() {
    let Some(p) = peers() else { return };
    let forge = SamlForge::new();
    let toml = config(&p.moto.url, "", "[revocation]\nwrite_iam = false\n");
    let app = spawn(&forge, &toml).await;
    let alice = Person::sign_in(&forge, &app, "alice", &["eng", "sre"]).await;
    let carol = Person::sign_in(&forge, &app, "carol", &["eng"]).await;
    assert_success(&alice.renew("admin"), "alice admin");
    assert_success(&carol.renew("prod-readonly"), "carol readonly");

    // Carol holds no RevokeSessions: refused, and nothing changes.
    let out = carol.run(&["sessions", "revoke", "--all", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("rolegate:RevokeSessions"));
    assert_success(&carol.renew("prod-readonly"), "still served");

    // A role's revocation keeps Carol's CLI sign-in but refuses the role until she
    // authenticates again, and says how.
    let out = alice.run(&[
        "sessions",
        "revoke",
        "--role",
        "prod-readonly",
        "--reason",
        "INC-44",
    ]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    assert!(
        text(&out).0.contains("Ended 2 session(s)"),
        "{:?}",
        text(&out)
    );
    let out = carol.renew("prod-readonly");
    let why = text(&out).1;
    assert!(
        why.contains("INC-44") && why.contains("rolegate login --force"),
        "{why}"
    );

    let out = alice.run(&[
        "sessions", "revoke", "--all", "--freeze", "1h", "--reason", "INC-45",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "broker side done, AWS side not: {stderr}"
    );
    // Alice's admin session; Carol's, revoked with the role already, are not counted again.
    assert!(stdout.contains("Ended 1 session(s)"), "{stdout}");
    assert!(
        stdout.contains("Nothing is issued in this scope until"),
        "{stdout}"
    );
    for role in ["role/Admin", "role/ReadOnly"] {
        assert!(stdout.contains(role), "{role} in {stdout}");
    }
    assert!(stdout.contains("write_iam = false"), "{stdout}");
    assert!(
        stdout.contains("The Deny to add to the inline policy rolegate-revocations of")
            && stdout.contains("aws:TokenIssueTime"),
        "{stdout}"
    );
    assert!(stderr.contains("were not given their Deny"), "{stderr}");

    // Even a fresh sign-in gets nothing while the freeze lasts.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = Person::sign_in(&forge, &app, "carol", &["eng"]).await;
    let out = fresh.renew("prod-readonly");
    assert_ne!(out.status.code(), Some(0));
    let why = text(&out).1;
    assert!(why.contains("frozen") && why.contains("INC-45"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_removed_from_the_config_or_revoked_ends_every_sign_in_it_vouched_for() {
    let Some(p) = peers() else { return };
    let Some(redis) = Redis::start() else { return };
    let forge = SamlForge::new();
    let store = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\n",
        redis.url
    );
    let a = spawn(&forge, &config(&p.moto.url, &store, "")).await;
    // The same broker after the corp IdP was taken out of its configuration (a replica, or
    // a restart: the store is the same).
    let without_corp = format!(
        "{head}\n{store}\n[[idp]]\nid = \"web\"\nkind = \"oidc\"\nissuer = \"{issuer}\"\n\
         client_id = \"rolegate\"\n{roles}\n[[map]]\nidp = \"web\"\ngroups = [\"eng\"]\n\
         roles = [\"prod-readonly\"]\n",
        head = broker_head("127.0.0.1:0", PUBLIC, &p.moto.url, None),
        issuer = p.idp.issuer,
        roles = common::app::ROLES,
    );
    let b = TestApp::spawn_with_files(&without_corp, &[], None, true).await;

    let bob = Person::sign_in(&forge, &a, "bob", &["eng"]).await;
    assert_success(&bob.renew("prod-readonly"), "credentials");
    assert!(browser_signed_in(&a.url, &bob.cookie).await);
    let profile = bob.profile();
    let access = profile["access_token"].as_str().unwrap();
    let refresh = profile["refresh_token"].as_str().unwrap();
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/api/v1/credentials", b.url))
        .bearer_auth(access)
        .json(&json!({"role": "prod-readonly"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        401,
        "the broker without corp refuses its token"
    );
    let res = http
        .post(format!("{}/oauth2/token", b.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "rolegate-cli"),
            ("refresh_token", refresh),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("`corp` that signed you in is no longer configured"),
        "{e}"
    );
    // Presented where corp is gone, the browser session ends for good, in the shared store.
    assert!(!browser_signed_in(&b.url, &bob.cookie).await);
    assert!(!browser_signed_in(&a.url, &bob.cookie).await);

    // Where corp is still configured, a new sign-in works — until corp is revoked on demand.
    let bob = Person::sign_in(&forge, &a, "bob", &["eng"]).await;
    assert_success(&bob.renew("prod-readonly"), "signed in again");
    let admin = Person::sign_in(&forge, &a, "alice", &["eng", "sre"]).await;
    let out = admin.run(&[
        "sessions",
        "revoke",
        "--idp",
        "corp",
        "--reason",
        "INC-46 IdP compromised",
    ]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{:?}", text(&out));
    // Both of Bob's AWS sessions: the one from before corp's removal still lives on AWS.
    assert!(
        text(&out).0.contains("Ended 2 session(s)"),
        "{:?}",
        text(&out)
    );
    assert!(!browser_signed_in(&a.url, &bob.cookie).await);
    let out = bob.renew("prod-readonly");
    let why = text(&out).1;
    assert!(why.contains("INC-46"), "{why}");
    drop(redis);
}
