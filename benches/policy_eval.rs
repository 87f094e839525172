//! The policy engine at scale (scripts/bench/README.md, `policy.sh`).
//!
//! A synthetic organisation shaped like a large Okta + AWS estate: 10,000 roles (1,000 teams ×
//! 10 roles, spread over 100 accounts) and a policy of N statements, where statement `i`
//! grants the roles of one team to one group (`team-i`) with the usual IdP, group and MFA
//! conditions and session tags, every tenth statement is a Deny with an IP condition, and a
//! fixed handful of statements carry what makes evaluation expensive: `Resource: "*"`-style
//! wildcards (checked for every role) and `${rolegate:username}` resources (resolved per
//! request). The caller is in 12 groups, so several statements match.
//!
//! - `evaluate/N`: one decision (the `authorize` path minus building the grant), N = 10,
//!   1,000, 10,000 statements. Target: < 50 µs at 10,000.
//! - `authorize/N`: the decision plus the `Grant` (durations, templated session tags) — what
//!   `POST /api/v1/credentials` pays.
//! - `list/10000_roles/N`: every role the caller may use, what `GET /api/v1/roles` computes.
//!   Target: < 5 ms for 10,000 roles.
//! - `build/N`: `Engine::new` (resolving static resources against the catalogue), paid once
//!   per policy load, never per request.
//!
//! Run with `cargo bench --bench policy_eval`; `scripts/bench/policy.sh` prints the growth
//! curve as ratios against the 10-statement case.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rolegate::config::RoleConfig;
use rolegate::domain::{ClientKind, Identity, IdpId, RoleArn};
use rolegate::policy::document::{Statement, parse_document};
use rolegate::policy::engine::{Decision, Engine};
use rolegate::policy::{Action, RequestContext};
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TEAMS: usize = 1_000;
const ROLES_PER_TEAM: usize = 10;
const ACCOUNTS: usize = 100;
/// Groups the caller is in: `team-{0..GROUPS}`, so the statements of those teams match.
const GROUPS: usize = 12;

fn account(team: usize) -> String {
    format!(
        "{:012}",
        100_000_000_000u64 + u64::try_from(team % ACCOUNTS).unwrap()
    )
}

fn catalogue() -> Vec<RoleConfig> {
    let mut roles = Vec::with_capacity(TEAMS * ROLES_PER_TEAM);
    for team in 0..TEAMS {
        for k in 0..ROLES_PER_TEAM {
            let arn = format!("arn:aws:iam::{}:role/team-{team}-role-{k}", account(team));
            roles.push(RoleConfig {
                arn: RoleArn::parse(&arn).expect("bench ARN"),
                alias: format!("team-{team}-role-{k}"),
                account_name: Some(format!("acct-{}", team % ACCOUNTS)),
                max_duration: Duration::from_secs(43_200),
            });
        }
    }
    // The per-user sandboxes the `${rolegate:username}` statements resolve to.
    for user in ["alice", "bob"] {
        roles.push(RoleConfig {
            arn: RoleArn::parse(&format!("arn:aws:iam::100000000000:role/sandbox-{user}"))
                .expect("bench ARN"),
            alias: format!("sandbox-{user}"),
            account_name: None,
            max_duration: Duration::from_secs(14_400),
        });
    }
    roles
}

/// `n` statements (n ≥ 10) in files of 1,000; see the module comment for their shape.
fn statements(n: usize) -> Vec<Statement> {
    let mut out = Vec::with_capacity(n);
    // The expensive few, present at every size.
    out.push(json!({
        "Sid": "SandboxPerUser",
        "Effect": "Allow",
        "Action": "rolegate:*",
        "Resource": "arn:aws:iam::100000000000:role/sandbox-${rolegate:username}",
        "Condition": { "StringEquals": { "rolegate:idp": "okta" } }
    }));
    out.push(json!({
        "Sid": "AuditorsEverywhere",
        "Effect": "Allow",
        "Action": "rolegate:Console",
        "Resource": "arn:aws:iam::*:role/team-*-role-0",
        "Condition": {
            "StringEquals": { "rolegate:idp": "okta" },
            "ForAnyValue:StringEquals": { "rolegate:groups": "auditors" }
        }
    }));
    out.push(json!({
        "Sid": "NoConsoleFromOutside",
        "Effect": "Deny",
        "Action": "rolegate:Console",
        "Resource": "*",
        "Condition": { "NotIpAddress": { "aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"] } }
    }));
    out.push(json!({
        "Sid": "ContractorsNeverAdmin",
        "Effect": "Deny",
        "Action": "rolegate:*",
        "Resource": "arn:aws:iam::*:role/team-*-role-9",
        "Condition": { "Bool": { "rolegate:claims/contractor": "true" } }
    }));
    let mut i = 0;
    while out.len() < n {
        let team = i % TEAMS;
        let acct = account(team);
        let st = if i % 10 == 9 {
            json!({
                "Sid": format!("Deny{i}"),
                "Effect": "Deny",
                "Action": "rolegate:Credentials",
                "Resource": format!("arn:aws:iam::{acct}:role/team-{team}-role-{}", i % ROLES_PER_TEAM),
                "Condition": {
                    "ForAnyValue:StringEquals": { "rolegate:groups": format!("quarantine-{i}") }
                }
            })
        } else {
            json!({
                "Sid": format!("Team{i}"),
                "Effect": "Allow",
                "Action": ["rolegate:Console", "rolegate:Credentials"],
                "Resource": format!("arn:aws:iam::{acct}:role/team-{team}-*"),
                "Condition": {
                    "StringEquals": { "rolegate:idp": "okta" },
                    "ForAnyValue:StringEquals": { "rolegate:groups": [format!("team-{i}"), "platform-admins"] },
                    "Bool": { "rolegate:mfa": "true" },
                    "StringLike": { "rolegate:email": "*@example.com" }
                },
                "Session": {
                    "MaxDuration": "4h",
                    "Tags": { "team": format!("team-{team}"), "user": "${rolegate:username}" }
                }
            })
        };
        out.push(st);
        i += 1;
    }
    // A policy file is capped at 1 MiB, so a large policy is several files, as in production.
    out.chunks(1_000)
        .enumerate()
        .flat_map(|(f, chunk)| {
            let doc = json!({ "Version": "2012-10-17", "Statement": chunk });
            parse_document(&format!("bench-{f}.json"), &doc.to_string())
                .expect("bench policy parses")
        })
        .collect()
}

fn caller() -> Identity {
    let mut id = Identity::new(IdpId::parse("okta").expect("idp"), "00u1alice");
    id.email = Some("alice@example.com".into());
    id.email_verified = true;
    id.username = Some("alice".into());
    id.groups = (0..GROUPS).map(|g| format!("team-{g}")).collect();
    id.groups.push("everyone".into());
    id.mfa = true;
    id.claims.insert("contractor".into(), json!(false));
    id
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_348_800)
}

fn bench(c: &mut Criterion) {
    let roles = catalogue();
    let identity = caller();
    let ctx = RequestContext {
        aws_session: None,
        identity: &identity,
        client: ClientKind::Api,
        source_ip: Some("10.1.2.3".parse().expect("ip")),
        now: now(),
    };
    // team-3's statement is early in every policy; team-3-role-4 is granted at every size.
    let target = "team-3-role-4";

    let mut evaluate = c.benchmark_group("evaluate");
    for n in [10, 1_000, 10_000] {
        let engine = Engine::new(statements(n), roles.clone());
        let role = engine.role(target).expect("target role in catalogue");
        assert_eq!(
            engine.evaluate(&ctx, role, Action::Credentials).decision,
            Decision::Allow
        );
        evaluate.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(engine.evaluate(&ctx, black_box(role), Action::Credentials)));
        });
    }
    evaluate.finish();

    let mut authorize = c.benchmark_group("authorize");
    for n in [10, 1_000, 10_000] {
        let engine = Engine::new(statements(n), roles.clone());
        assert!(engine.authorize(&ctx, target, Action::Credentials).is_ok());
        authorize.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(engine.authorize(&ctx, black_box(target), Action::Credentials)));
        });
    }
    authorize.finish();

    let mut list = c.benchmark_group("list/10000_roles");
    list.sample_size(20);
    for n in [10, 1_000, 10_000] {
        let engine = Engine::new(statements(n), roles.clone());
        let listed = engine.list(&ctx);
        assert!(!listed.is_empty());
        list.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(engine.list(&ctx)));
        });
    }
    list.finish();

    let mut build = c.benchmark_group("build");
    build.sample_size(10);
    for n in [10, 1_000, 10_000] {
        let parsed = statements(n);
        build.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(Engine::new(parsed.clone(), roles.clone())));
        });
    }
    build.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
