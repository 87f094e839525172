//! Properties of policy evaluation over random small policies and identities (proptest):
//! - adding a Deny never turns a non-Allow into Allow and never adds a role to `list()`;
//! - adding an Allow never removes an Allow (nor an explicit Deny);
//! - the decision and `list()` do not depend on statement order;
//! - `list()` and `authorize()` agree with `evaluate()` for every role and action, and a role
//!   outside the catalogue is never allowed.
//!
//! `PROPTEST_CASES` raises the number of cases (default 256).

use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use rolegate::config::RoleConfig;
use rolegate::domain::{ClientKind, Identity, IdpId, RoleArn};
use rolegate::policy::document::parse_document;
use rolegate::policy::engine::{Decision, Engine};
use rolegate::policy::{Action, RequestContext};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

const ACCOUNT: &str = "111122223333";
const ROLE_NAMES: [&str; 5] = ["eng-a", "eng-b", "ops", "sbx-alice", "sbx-bob"];
const GROUPS: [&str; 3] = ["eng", "ops", "admin"];
const ACTIONS: [Action; 2] = [Action::Console, Action::Credentials];

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn catalogue() -> Vec<RoleConfig> {
    ROLE_NAMES
        .iter()
        .map(|n| RoleConfig {
            arn: RoleArn::parse(&role_arn(n)).unwrap(),
            alias: n.to_string(),
            account_name: None,
            max_duration: Duration::from_secs(3600),
        })
        .collect()
}

/// A role the policies may name but the catalogue does not hold.
fn ghost() -> RoleConfig {
    RoleConfig {
        arn: RoleArn::parse(&role_arn("ghost")).unwrap(),
        alias: "ghost".into(),
        account_name: None,
        max_duration: Duration::from_secs(3600),
    }
}

fn action_element() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        Just(("Action", json!("rolegate:Console"))),
        Just(("Action", json!("rolegate:Credentials"))),
        Just(("Action", json!("rolegate:*"))),
        Just((
            "Action",
            json!(["ROLEGATE:console", "rolegate:Credentials"])
        )),
        Just(("NotAction", json!("rolegate:Console"))),
        Just(("NotAction", json!("rolegate:Credentials"))),
    ]
}

fn resource_element() -> impl Strategy<Value = (&'static str, Value)> {
    let sandbox = role_arn("sbx-${rolegate:username}");
    prop_oneof![
        Just(("Resource", json!("*"))),
        select(ROLE_NAMES.to_vec()).prop_map(|n| ("Resource", json!(role_arn(n)))),
        Just(("Resource", json!(role_arn("ghost")))),
        Just(("Resource", json!("arn:aws:iam::*:role/eng-*"))),
        Just(("Resource", json!(sandbox.clone()))),
        select(ROLE_NAMES.to_vec()).prop_map(|n| ("NotResource", json!(role_arn(n)))),
        Just(("NotResource", json!("arn:aws:iam::*:role/eng-*"))),
        Just(("NotResource", json!(sandbox))),
    ]
}

/// (operator, key, values)
fn condition() -> impl Strategy<Value = (&'static str, &'static str, Value)> {
    let idps = || select(vec!["corp", "partner"]);
    let groups = || subsequence(GROUPS.to_vec(), 1..=GROUPS.len());
    let users = || select(vec!["alice", "bob"]);
    prop_oneof![
        idps().prop_map(|v| ("StringEquals", "rolegate:idp", json!(v))),
        idps().prop_map(|v| ("StringNotEquals", "rolegate:idp", json!(v))),
        groups().prop_map(|v| ("ForAnyValue:StringEquals", "rolegate:groups", json!(v))),
        groups().prop_map(|v| ("ForAllValues:StringEquals", "rolegate:groups", json!(v))),
        groups().prop_map(|v| ("ForAnyValue:StringNotEquals", "rolegate:groups", json!(v))),
        any::<bool>().prop_map(|b| ("Bool", "rolegate:mfa", json!(b.to_string()))),
        users().prop_map(|u| ("StringEqualsIfExists", "rolegate:username", json!(u))),
        users().prop_map(|u| ("StringNotEquals", "rolegate:username", json!(u))),
        any::<bool>().prop_map(|b| ("Null", "rolegate:username", json!(b.to_string()))),
        Just(("StringLike", "rolegate:username", json!("a*"))),
    ]
}

/// One statement; `effect` forces Allow (true) or Deny (false).
fn statement(effect: Option<bool>) -> impl Strategy<Value = Value> {
    let effect = match effect {
        Some(e) => Just(e).boxed(),
        None => any::<bool>().boxed(),
    };
    (
        effect,
        action_element(),
        resource_element(),
        prop::collection::vec(condition(), 0..3),
    )
        .prop_map(|(allow, (ak, av), (rk, rv), conds)| {
            let mut st = Map::new();
            st.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
            st.insert(ak.into(), av);
            st.insert(rk.into(), rv);
            if !conds.is_empty() {
                let mut blocks: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
                for (op, key, values) in conds {
                    blocks.entry(op).or_default().insert(key.into(), values);
                }
                st.insert("Condition".into(), json!(blocks));
            }
            Value::Object(st)
        })
}

fn policy() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(statement(None), 0..6)
}

#[derive(Debug, Clone)]
struct Who {
    idp: &'static str,
    groups: Vec<&'static str>,
    mfa: bool,
    username: Option<&'static str>,
}

fn who() -> impl Strategy<Value = Who> {
    (
        select(vec!["corp", "partner"]),
        subsequence(GROUPS.to_vec(), 0..=GROUPS.len()),
        any::<bool>(),
        prop::option::of(select(vec!["alice", "bob", "carol"])),
    )
        .prop_map(|(idp, groups, mfa, username)| Who {
            idp,
            groups,
            mfa,
            username,
        })
}

fn identity(w: &Who) -> Identity {
    Identity {
        idp: IdpId::parse(w.idp).unwrap(),
        subject: "u-1".into(),
        email: None,
        email_verified: false,
        username: w.username.map(str::to_string),
        groups: w
            .groups
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
        claims: BTreeMap::new(),
        mfa: w.mfa,
        auth_time: None,
        idp_session_end: None,
        aud: vec![],
        azp: None,
    }
}

fn engine(statements: &[Value]) -> Engine {
    let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    let parsed = parse_document("generated.json", &text)
        .unwrap_or_else(|e| panic!("a generated policy must load: {e}\n{text}"));
    Engine::new(parsed, catalogue())
}

fn ctx(id: &Identity) -> RequestContext<'_> {
    RequestContext {
        aws_session: None,
        identity: id,
        client: ClientKind::Cli,
        source_ip: None,
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_772_366_400),
    }
}

/// The decision for every catalogue role and action, in catalogue order.
fn decisions(e: &Engine, c: &RequestContext<'_>) -> Vec<(String, Action, Decision)> {
    let mut out = Vec::new();
    for role in catalogue() {
        for action in ACTIONS {
            out.push((
                role.alias.clone(),
                action,
                e.evaluate(c, &role, action).decision,
            ));
        }
    }
    out
}

/// (alias, action) pairs that `list()` offers.
fn listed(e: &Engine, c: &RequestContext<'_>) -> BTreeSet<(String, bool)> {
    e.list(c)
        .into_iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .map(|a| (s.alias.clone(), *a == Action::Console))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn insert_at(base: &[Value], extra: Value, at: Index) -> Vec<Value> {
    let mut v = base.to_vec();
    v.insert(at.index(base.len() + 1), extra);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn adding_a_deny_never_grants(
        base in policy(),
        added in statement(Some(false)),
        at in any::<Index>(),
        w in who(),
    ) {
        let id = identity(&w);
        let c = ctx(&id);
        let before_engine = engine(&base);
        let after_engine = engine(&insert_at(&base, added.clone(), at));
        let before = decisions(&before_engine, &c);
        let after = decisions(&after_engine, &c);
        for ((role, action, b), (_, _, a)) in before.iter().zip(&after) {
            if *b != Decision::Allow {
                prop_assert_ne!(*a, Decision::Allow, "{} {:?}: the Deny {} granted", role, action, added);
            }
            if *b == Decision::ExplicitDeny {
                prop_assert_eq!(*a, Decision::ExplicitDeny, "{} {:?}: the Deny {} lifted a Deny", role, action, added);
            }
        }
        let listed_before = listed(&before_engine, &c);
        let listed_after = listed(&after_engine, &c);
        prop_assert!(
            listed_after.is_subset(&listed_before),
            "the Deny {} added {:?} to list()",
            added,
            listed_after.difference(&listed_before).collect::<Vec<_>>()
        );
    }

    #[test]
    fn adding_an_allow_never_revokes(
        base in policy(),
        added in statement(Some(true)),
        at in any::<Index>(),
        w in who(),
    ) {
        let id = identity(&w);
        let c = ctx(&id);
        let before_engine = engine(&base);
        let after_engine = engine(&insert_at(&base, added.clone(), at));
        let before = decisions(&before_engine, &c);
        let after = decisions(&after_engine, &c);
        for ((role, action, b), (_, _, a)) in before.iter().zip(&after) {
            if *b == Decision::Allow {
                prop_assert_eq!(*a, Decision::Allow, "{} {:?}: the Allow {} revoked an Allow", role, action, added);
            }
            if *b == Decision::ExplicitDeny {
                prop_assert_eq!(*a, Decision::ExplicitDeny, "{} {:?}: the Allow {} beat a Deny", role, action, added);
            }
        }
        let listed_before = listed(&before_engine, &c);
        let listed_after = listed(&after_engine, &c);
        prop_assert!(
            listed_before.is_subset(&listed_after),
            "the Allow {} removed {:?} from list()",
            added,
            listed_before.difference(&listed_after).collect::<Vec<_>>()
        );
    }

    #[test]
    fn statement_order_does_not_matter(
        (base, shuffled) in policy().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        w in who(),
    ) {
        let id = identity(&w);
        let c = ctx(&id);
        let a = engine(&base);
        let b = engine(&shuffled);
        prop_assert_eq!(decisions(&a, &c), decisions(&b, &c));
        prop_assert_eq!(listed(&a, &c), listed(&b, &c));
    }

    #[test]
    fn list_and_authorize_agree_with_evaluate(base in policy(), w in who()) {
        let id = identity(&w);
        let c = ctx(&id);
        let e = engine(&base);
        let offered = listed(&e, &c);
        for (role, action, d) in decisions(&e, &c) {
            let allowed = d == Decision::Allow;
            prop_assert_eq!(
                offered.contains(&(role.clone(), action == Action::Console)),
                allowed,
                "list() and evaluate() = {:?} disagree on {} {:?}", d, role, action
            );
            prop_assert_eq!(
                e.authorize(&c, &role, action).is_ok(),
                allowed,
                "authorize() and evaluate() = {:?} disagree on {} {:?}", d, role, action
            );
        }
        for action in ACTIONS {
            prop_assert_ne!(e.evaluate(&c, &ghost(), action).decision, Decision::Allow);
            prop_assert!(e.authorize(&c, ghost().arn.as_str(), action).is_err());
        }
    }
}

/// The administrators' actions are granted only by naming them in full in an Allow: a user's
/// `rolegate:*` or `NotAction` statement (how policies hand out access to a sandbox role) must
/// not make them an administrator of that role's sessions. A Deny's wildcard covers them.
#[test]
fn admin_actions_only_by_explicit_allow_never_wildcard_or_not_action_privilege_escalation() {
    use rolegate::policy::AdminAction::{ListSessions, RevokeSessions};
    let alice = identity(&Who {
        idp: "corp",
        groups: vec!["admin"],
        mfa: true,
        username: Some("alice"),
    });
    let c = ctx(&alice);
    let allow =
        |action: Value| json!({"Effect": "Allow", "Action": action, "Resource": role_arn("ops")});
    for broad in [
        allow(json!("rolegate:*")),
        allow(json!(["rolegate:Console", "rolegate:Credentials"])),
        json!({"Effect": "Allow", "NotAction": "rolegate:Console", "Resource": "*"}),
        json!({"Effect": "Allow", "NotAction": "rolegate:ListSessions", "Resource": "*"}),
    ] {
        let e = engine(std::slice::from_ref(&broad));
        for a in [ListSessions, RevokeSessions] {
            assert!(!e.permits(&c, "ops", a), "{a:?} from {broad}");
        }
    }
    let e = engine(&[allow(json!([
        "rolegate:ListSessions",
        "ROLEGATE:revokesessions"
    ]))]);
    assert!(e.permits(&c, "ops", ListSessions) && e.permits(&c, "ops", RevokeSessions));
    assert!(
        !e.permits(&c, "eng-a", ListSessions),
        "on its Resource only"
    );
    assert!(
        !e.permits(&c, "ghost", ListSessions),
        "never outside the catalogue"
    );
    let e = engine(&[allow(json!("rolegate:ListSessions"))]);
    assert!(e.permits(&c, "ops", ListSessions) && !e.permits(&c, "ops", RevokeSessions));
    // A condition applies as to any action.
    let conditional = json!({"Effect": "Allow", "Action": "rolegate:ListSessions",
        "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"rolegate:groups": "nobody"}}});
    assert!(!engine(&[conditional]).permits(&c, "ops", ListSessions));
    // A Deny's wildcard and NotAction do cover them.
    for deny in [
        json!({"Effect": "Deny", "Action": "rolegate:*", "Resource": "*"}),
        json!({"Effect": "Deny", "Action": "rolegate:*Sessions", "Resource": "*"}),
        json!({"Effect": "Deny", "NotAction": "rolegate:Console", "Resource": "*"}),
    ] {
        let e = engine(&[allow(json!("rolegate:ListSessions")), deny.clone()]);
        assert!(!e.permits(&c, "ops", ListSessions), "{deny}");
    }
    // A wildcard that would reach only them names nothing an Allow can grant: refused at load.
    for partial in [
        "rolegate:List*",
        "rolegate:*Sessions",
        "rolegate:?istSessions",
    ] {
        let text =
            json!({"Version": "2012-10-17", "Statement": [allow(json!(partial))]}).to_string();
        let e = parse_document("p.json", &text).unwrap_err();
        assert!(e.message.contains("only in full"), "{partial}: {e}");
    }
}
