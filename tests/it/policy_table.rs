//! The policy engine against a table of cases whose answers come from AWS's documented IAM
//! evaluation logic (tests/fixtures/policy/cases.json; each case names its documentation
//! section, or says where the answer is rolegate's own choice).
//!
//! Every case runs, and every failure is reported with the case's name. Besides the expected
//! decision, each loaded case also checks that `authorize()` agrees with `evaluate()`, that
//! `list()` lists the role for the action exactly when it is allowed, and that reversing the
//! statement order changes nothing.

use rolegate::config::RoleConfig;
use rolegate::domain::{ClientKind, Identity, IdpId, RoleArn};
use rolegate::policy::document::{Statement, parse_document};
use rolegate::policy::engine::{Decision, Engine};
use rolegate::policy::{Action, Denied, Grant, RequestContext};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

const DEFAULT_NOW: &str = "2026-03-01T12:00:00Z";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[allow(dead_code)]
    about: Vec<String>,
    roles: Vec<RoleRow>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRow {
    alias: String,
    arn: String,
    max_duration: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    doc: String,
    policy: Value,
    #[serde(default)]
    identity: IdentityRow,
    role: String,
    action: Action,
    client: Option<ClientKind>,
    source_ip: Option<IpAddr>,
    now: Option<String>,
    expect: Expect,
    /// A fragment of the load error (file, JSON path or message).
    error: Option<String>,
    grant: Option<GrantRow>,
    /// The `Denied` variant authorize() returns although evaluate() allows.
    authorize_error: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum Expect {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
    LoadError,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IdentityRow {
    idp: Option<String>,
    subject: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    username: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    claims: BTreeMap<String, Value>,
    #[serde(default)]
    mfa: bool,
    auth_time: Option<i64>,
    #[serde(default)]
    aud: Vec<String>,
    azp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRow {
    max_duration: Option<u64>,
    tags: Option<BTreeMap<String, String>>,
    transitive_tag_keys: Option<Vec<String>>,
    policy_arns: Option<Vec<String>>,
    /// null: none; "present": some inline policy. Absent: not checked.
    #[serde(default, deserialize_with = "some_value")]
    inline_policy: Option<Value>,
}

fn some_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn table() -> Table {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy/cases.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn catalogue(rows: &[RoleRow]) -> Vec<RoleConfig> {
    rows.iter()
        .map(|r| RoleConfig {
            arn: RoleArn::parse(&r.arn).unwrap(),
            alias: r.alias.clone(),
            account_name: None,
            max_duration: Duration::from_secs(r.max_duration),
        })
        .collect()
}

fn identity(row: &IdentityRow) -> Identity {
    Identity {
        idp: IdpId::parse(row.idp.as_deref().unwrap_or("corp")).unwrap(),
        subject: row.subject.clone().unwrap_or_else(|| "u-123".into()),
        email: row.email.clone(),
        email_verified: row.email_verified,
        username: row.username.clone(),
        groups: row.groups.clone(),
        claims: row.claims.clone(),
        mfa: row.mfa,
        auth_time: row.auth_time,
        idp_session_end: None,
        aud: row.aud.clone(),
        azp: row.azp.clone(),
    }
}

/// Every document of the case, parsed; the first error fails the whole load.
fn load(case: &Case) -> Result<Vec<Statement>, String> {
    let docs: Vec<&Value> = match &case.policy {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    };
    let mut out = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        let text = match d {
            Value::String(raw) => raw.clone(),
            other => other.to_string(),
        };
        let file = format!("policy{i}.json");
        out.extend(parse_document(&file, &text).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn decision_name(d: Decision) -> Expect {
    match d {
        Decision::Allow => Expect::Allow,
        Decision::ExplicitDeny => Expect::ExplicitDeny,
        Decision::ImplicitDeny => Expect::ImplicitDeny,
    }
}

fn variant(d: &Denied) -> &'static str {
    match d {
        Denied::NotGranted(_) => "NotGranted",
        Denied::UnresolvedVariable { .. } => "UnresolvedVariable",
        Denied::ConflictingTags { .. } => "ConflictingTags",
        Denied::ConflictingSessionPolicies { .. } => "ConflictingSessionPolicies",
    }
}

fn check_grant(g: &Grant, want: &GrantRow, problems: &mut Vec<String>) {
    if let Some(secs) = want.max_duration
        && g.max_duration() != Duration::from_secs(secs)
    {
        problems.push(format!(
            "grant max_duration {:?}, want {secs}s",
            g.max_duration()
        ));
    }
    if let Some(tags) = &want.tags {
        let got: BTreeMap<String, String> = g.tags().iter().cloned().collect();
        if got != *tags {
            problems.push(format!("grant tags {got:?}, want {tags:?}"));
        }
    }
    if let Some(keys) = &want.transitive_tag_keys {
        let mut got = g.transitive_tag_keys().to_vec();
        got.sort();
        if got != *keys {
            problems.push(format!("grant transitive_tag_keys {got:?}, want {keys:?}"));
        }
    }
    if let Some(arns) = &want.policy_arns
        && g.policy_arns() != arns.as_slice()
    {
        problems.push(format!(
            "grant policy_arns {:?}, want {arns:?}",
            g.policy_arns()
        ));
    }
    match &want.inline_policy {
        None => {}
        Some(Value::Null) if g.inline_policy().is_some() => {
            problems.push("grant has an inline policy, want none".into());
        }
        Some(Value::String(_)) if g.inline_policy().is_none() => {
            problems.push("grant has no inline policy, want one".into());
        }
        Some(_) => {}
    }
}

/// Everything wrong with one case (empty when it passes).
fn run(case: &Case, roles: &[RoleConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    let statements = match (load(case), case.expect) {
        (Err(e), Expect::LoadError) => {
            if let Some(fragment) = &case.error
                && !e.contains(fragment.as_str())
            {
                problems.push(format!(
                    "load failed, but the error does not mention `{fragment}`: {e}"
                ));
            }
            return problems;
        }
        (Err(e), want) => return vec![format!("load error `{e}`, want {want:?}")],
        (Ok(_), Expect::LoadError) => return vec!["loaded, want a load error".into()],
        (Ok(s), _) => s,
    };
    let id = identity(&case.identity);
    let now = humantime::parse_rfc3339(case.now.as_deref().unwrap_or(DEFAULT_NOW))
        .unwrap_or_else(|e| panic!("{}: bad `now`: {e}", case.name));
    let ctx = RequestContext {
        aws_session: None,
        identity: &id,
        client: case.client.unwrap_or(ClientKind::Browser),
        source_ip: case.source_ip,
        now,
    };
    let role = roles
        .iter()
        .find(|r| r.alias == case.role || r.arn.as_str() == case.role)
        .cloned();
    let in_catalogue = role.is_some();
    let role = role.unwrap_or_else(|| RoleConfig {
        arn: RoleArn::parse(&case.role)
            .unwrap_or_else(|e| panic!("{}: role `{}`: {e}", case.name, case.role)),
        alias: "uncatalogued".into(),
        account_name: None,
        max_duration: Duration::from_secs(3600),
    });

    let mut reversed = statements.clone();
    reversed.reverse();
    let engine = Engine::new(statements, roles.to_vec());
    let got = decision_name(engine.evaluate(&ctx, &role, case.action).decision);
    if got != case.expect {
        problems.push(format!("evaluate() = {got:?}, want {:?}", case.expect));
    }

    let reversed_engine = Engine::new(reversed, roles.to_vec());
    let got_reversed = decision_name(reversed_engine.evaluate(&ctx, &role, case.action).decision);
    if got_reversed != got {
        problems.push(format!(
            "statement order matters: {got:?} forwards, {got_reversed:?} reversed"
        ));
    }

    match (
        engine.authorize(&ctx, &case.role, case.action),
        got,
        &case.authorize_error,
    ) {
        (Ok(g), Expect::Allow, None) => {
            if let Some(want) = &case.grant {
                check_grant(&g, want, &mut problems);
            }
        }
        (Ok(_), Expect::Allow, Some(want)) => {
            problems.push(format!("authorize() granted, want {want}"));
        }
        (Ok(_), d, _) => problems.push(format!("authorize() granted although evaluate() = {d:?}")),
        (Err(e), Expect::Allow, Some(want)) if variant(&e) == want => {}
        (Err(e), Expect::Allow, _) => problems.push(format!(
            "authorize() refused ({}: {e}) although evaluate() allows{}",
            variant(&e),
            case.authorize_error
                .as_ref()
                .map(|w| format!("; want {w}"))
                .unwrap_or_default()
        )),
        (Err(Denied::NotGranted(_)), _, _) => {}
        (Err(e), d, _) => problems.push(format!(
            "authorize() = {} for a {d:?} decision, want NotGranted",
            variant(&e)
        )),
    }
    if case.grant.is_some() && (case.expect != Expect::Allow || case.authorize_error.is_some()) {
        problems.push("the case lists a grant but cannot be granted".into());
    }

    if in_catalogue {
        let listed = engine
            .list(&ctx)
            .into_iter()
            .find(|s| s.arn == role.arn.as_str())
            .is_some_and(|s| s.actions.contains(&case.action));
        if listed != (got == Expect::Allow) {
            problems.push(format!(
                "list() {} the role for {:?} but evaluate() = {got:?}",
                if listed { "lists" } else { "omits" },
                case.action
            ));
        }
    }
    problems
}

#[test]
fn policy_cases_follow_aws_evaluation_logic() {
    let table = table();
    let roles = catalogue(&table.roles);
    assert!(
        table.cases.len() >= 150,
        "the table has {} cases",
        table.cases.len()
    );
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for case in &table.cases {
        assert!(
            names.insert(case.name.as_str()),
            "duplicate case name {}",
            case.name
        );
        assert!(
            !case.doc.is_empty(),
            "{}: every case names its source",
            case.name
        );
        let problems = run(case, &roles);
        if !problems.is_empty() {
            failures.push(format!(
                "- {} ({})\n    {}",
                case.name,
                case.doc,
                problems.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} policy cases failed:\n{}",
        failures.len(),
        table.cases.len(),
        failures.join("\n")
    );
}
