//! Policy documents from arbitrary bytes.
//!
//! Every input that is UTF-8 goes to `parse_document`, as the loader passes a file's text. A
//! document that parses is built into an `Engine` over a small fixed role catalogue and
//! evaluated for two fixed identities (one with every attribute, one with almost none, so
//! both present and missing keys are exercised), every role and both actions. Nothing may
//! panic, and the answers must agree with each other:
//!
//! - `evaluate` (the indexed path) agrees with `explain`, which walks every statement;
//! - `list()` (what `GET /api/v1/roles` returns) shows exactly the roles and actions that
//!   `evaluate` allows, and its `max_duration_seconds` is the largest duration `authorize`
//!   grants over those actions (when `authorize` succeeds for all of them);
//! - `authorize` succeeds only when `evaluate` allows, and answers alike for alias and ARN;
//! - `lint` runs on every engine.
//!
//! Run it with `cargo fuzz` (fuzz/README.md).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rolegate::config::RoleConfig;
use rolegate::domain::{ClientKind, Identity, IdpId, RoleArn};
use rolegate::policy::document::{Effect, parse_document};
use rolegate::policy::engine::{Decision, Engine};
use rolegate::policy::{Action, Denied, RequestContext, explain, lint};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

const ACTIONS: [Action; 2] = [Action::Console, Action::Credentials];

/// 2026-11-22T12:00:00Z.
const NOW: u64 = 1_795_348_800;

struct Fixture {
    roles: Vec<RoleConfig>,
    identities: Vec<(Identity, ClientKind, Option<IpAddr>)>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let role = |alias: &str, arn: &str, secs: u64| RoleConfig {
        arn: RoleArn::parse(arn).expect("fixture ARN"),
        alias: alias.to_string(),
        account_name: Some("fuzz".into()),
        max_duration: Duration::from_secs(secs),
    };
    let roles = vec![
        role(
            "readonly",
            "arn:aws:iam::111122223333:role/ReadOnly",
            43_200,
        ),
        role("admin", "arn:aws:iam::111122223333:role/Admin", 3_600),
        role(
            "sandbox-alice",
            "arn:aws:iam::111122223333:role/sandbox-alice",
            14_400,
        ),
        role(
            "deploy",
            "arn:aws:iam::111122223333:role/team/Deploy",
            7_200,
        ),
        role(
            "eng-prod",
            "arn:aws:iam::444455556666:role/eng-prod",
            43_200,
        ),
        role(
            "odd-name",
            "arn:aws:iam::444455556666:role/a+b=c,d.e@f_g-h",
            900,
        ),
        role(
            "gov-readonly",
            "arn:aws-us-gov:iam::111122223333:role/ReadOnly",
            43_200,
        ),
    ];
    let mut claims = BTreeMap::new();
    for (k, v) in [
        ("team", serde_json::json!("platform")),
        ("dept", serde_json::json!("eng")),
        ("email", serde_json::json!("alice@example.com")),
        ("level", serde_json::json!(7)),
        ("contractor", serde_json::json!(false)),
        ("projects", serde_json::json!(["apollo", "gemini"])),
        ("hired", serde_json::json!("2020-01-15T09:00:00Z")),
        ("wild", serde_json::json!("*")),
    ] {
        claims.insert(k.to_string(), v);
    }
    let alice = Identity {
        idp: IdpId::parse("okta").expect("fixture idp"),
        subject: "00u1alice".into(),
        email: Some("alice@example.com".into()),
        email_verified: true,
        username: Some("alice".into()),
        groups: vec!["eng".into(), "sre".into(), "Admins".into()],
        claims,
        mfa: true,
        auth_time: Some(NOW as i64 - 60),
        idp_session_end: None,
        aud: vec!["rolegate".into(), "other-client".into()],
        azp: Some("rolegate".into()),
    };
    // Only what every identity has: missing keys, empty sets, no source IP.
    let bare = Identity {
        idp: IdpId::parse("corp").expect("fixture idp"),
        subject: "u-123".into(),
        email: Some("unverified@example.com".into()),
        email_verified: false,
        username: None,
        groups: vec![],
        claims: BTreeMap::new(),
        mfa: false,
        auth_time: None,
        idp_session_end: None,
        aud: vec![],
        azp: None,
    };
    Fixture {
        roles,
        identities: vec![
            (
                alice,
                ClientKind::Api,
                Some("10.1.2.3".parse().expect("ip")),
            ),
            (bare, ClientKind::Browser, None),
        ],
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(statements) = parse_document("fuzz.json", text) else {
        return;
    };
    let fx = &*FIXTURE;
    let engine = Engine::new(statements, fx.roles.clone());
    let _ = lint::lint(&engine);
    for (identity, client, source_ip) in &fx.identities {
        let ctx = RequestContext {
            identity,
            client: *client,
            source_ip: *source_ip,
            now: UNIX_EPOCH + Duration::from_secs(NOW),
        };
        check(&engine, &ctx);
    }
});

fn check(engine: &Engine, ctx: &RequestContext<'_>) {
    let listed = engine.list(ctx);
    let mut granted_roles = 0;
    for role in engine.roles() {
        let mut allowed = Vec::new();
        let mut widest: Option<u64> = Some(0);
        for action in ACTIONS {
            let ev = engine.evaluate(ctx, role, action);
            match ev.decision {
                Decision::Allow => assert!(!ev.allows.is_empty() && ev.deny.is_none()),
                Decision::ExplicitDeny => assert!(ev.deny.is_some()),
                Decision::ImplicitDeny => assert!(ev.allows.is_empty() && ev.deny.is_none()),
            }

            // The index must not change the answer: explain looks at every statement.
            let ex = explain::explain(engine, ctx, role, action);
            let matched = |effect| {
                ex.statements
                    .iter()
                    .zip(engine.statements())
                    .any(|(r, st)| r.matched && st.effect == effect)
            };
            let brute = if matched(Effect::Deny) {
                Decision::ExplicitDeny
            } else if matched(Effect::Allow) {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            assert_eq!(
                ev.decision, brute,
                "evaluate and explain disagree on {} / {action:?}",
                role.alias
            );

            let by_alias = engine.authorize(ctx, &role.alias, action);
            let by_arn = engine.authorize(ctx, role.arn.as_str(), action);
            match (&by_alias, &by_arn) {
                (Ok(a), Ok(b)) => assert_eq!(
                    (a.max_duration(), a.tags(), a.matched()),
                    (b.max_duration(), b.tags(), b.matched())
                ),
                (Err(Denied::NotGranted(_)), Err(Denied::NotGranted(_))) => {}
                (Err(a), Err(b)) => assert_eq!(a, b),
                _ => panic!("authorize by alias and by ARN disagree on {}", role.alias),
            }
            if ev.decision == Decision::Allow {
                allowed.push(action);
                assert!(
                    !matches!(by_alias, Err(Denied::NotGranted(_))),
                    "evaluate allows {} / {action:?} but authorize says not granted",
                    role.alias
                );
                match &by_alias {
                    Ok(g) => {
                        assert!(g.max_duration() <= role.max_duration);
                        widest = widest.map(|w| w.max(g.max_duration().as_secs()));
                    }
                    Err(_) => widest = None,
                }
            } else {
                assert!(
                    matches!(by_alias, Err(Denied::NotGranted(_))),
                    "evaluate denies {} / {action:?} but authorize grants",
                    role.alias
                );
            }
        }

        if !allowed.is_empty() {
            granted_roles += 1;
        }
        let summary = listed.iter().find(|s| s.alias == role.alias);
        match summary {
            None => assert!(
                allowed.is_empty(),
                "list() omits {} but evaluate allows {allowed:?}",
                role.alias
            ),
            Some(s) => {
                assert_eq!(
                    s.actions, allowed,
                    "list() and evaluate disagree on the actions of {}",
                    role.alias
                );
                assert_eq!(s.arn, role.arn.as_str());
                if let Some(w) = widest {
                    assert_eq!(
                        s.max_duration_seconds, w,
                        "list() and authorize disagree on the duration of {}",
                        role.alias
                    );
                }
            }
        }
    }
    assert_eq!(
        listed.len(),
        granted_roles,
        "list() shows a role twice or one outside the catalogue"
    );
}
