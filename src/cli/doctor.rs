//! `rolegate doctor`: every catalogue role read through IAM (read-only) and checked against
//! what the broker needs (`crate::aws::doctor`); in `web_identity` mode also the IAM OIDC
//! provider each role names (once per account) and the issuer's discovery and JWKS, fetched as
//! AWS fetches them. Exit 0 when every role is right, 1 on any
//! finding, 2 when the config does not load or IAM (or STS, for the broker's principal) cannot
//! be read — then it names the roles it could not read.

use super::aws::{BrokerPrincipal, load, refuse, trustee_for};
use crate::aws::doctor::{
    Finding, INLINE_POLICY_LIMIT, check, inline_policy_chars, provider_findings,
};
use crate::aws::iam::{ReadError, iam_client, oidc_provider_audiences, read_role, sdk_config};
use crate::aws::needs::needs;
use crate::aws::trust::{Trustee, trust_policy};
use crate::config::RoleConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub(super) struct DoctorArgs {
    /// The broker's config file (its mode, issuer, roles and policy).
    #[arg(long, env = "ROLEGATE_CONFIG")]
    config: PathBuf,
    /// Print JSON: {"roles": [{"arn", "ok", "findings": [{"check", "message", "fix"}]}]}.
    #[arg(long)]
    json: bool,
    /// With each role whose trust policy is wrong, print the trust policy to apply.
    #[arg(long)]
    fix_print: bool,
    #[command(flatten)]
    principal: BrokerPrincipal,
}

/// One role's outcome.
struct Report {
    role: RoleConfig,
    /// Err: IAM could not be read for it (the reason).
    result: Result<Checked, String>,
}

struct Checked {
    findings: Vec<Finding>,
    inline_chars_left: Option<usize>,
    /// With --fix-print and a trust finding: the policy to apply.
    trust_policy: Option<Value>,
}

const TRUST_CHECKS: &[&str] = &[
    "trust_principal",
    "oidc_provider",
    "sub_aud_pinned",
    "roles_claim_required",
    "set_source_identity",
    "tag_session",
];

pub(super) fn run(a: &DoctorArgs) -> ExitCode {
    let (config, mapper) = match load(&a.config) {
        Ok(x) => x,
        Err(e) => return refuse("doctor", e),
    };
    let engine = mapper.engine();
    let reports = crate::cli::client::block_on(async {
        let sdk = sdk_config(&config.aws).await;
        let mut trustees: BTreeMap<String, Result<Trustee, String>> = BTreeMap::new();
        let mut clients = BTreeMap::new();
        let mut providers = Providers::new();
        let mut out = Vec::new();
        for role in engine.roles() {
            let partition = role.arn.partition().to_string();
            if !trustees.contains_key(&partition) {
                let t = trustee_for(&config, &partition, &a.principal).await;
                trustees.insert(partition.clone(), t);
            }
            let result = match &trustees[&partition] {
                Err(e) => Err(e.clone()),
                Ok(trustee) => {
                    let iam = clients
                        .entry(partition.clone())
                        .or_insert_with(|| iam_client(&sdk, &config.aws, &partition));
                    check_role(a, &engine, role, trustee, iam, &mut providers).await
                }
            };
            out.push(Report {
                role: role.clone(),
                result,
            });
        }
        out
    });
    let issuer = match (&config.aws.mode, &config.issuer) {
        (crate::config::AwsMode::WebIdentity, Some(i)) => Some((
            i.url.as_str().trim_end_matches('/').to_string(),
            crate::cli::client::block_on(issuer_findings(i.url.as_str())),
        )),
        _ => None,
    };
    let unreadable: Vec<&Report> = reports.iter().filter(|r| r.result.is_err()).collect();
    let any_finding = reports
        .iter()
        .any(|r| r.result.as_ref().is_ok_and(|c| !c.findings.is_empty()))
        || issuer.as_ref().is_some_and(|(_, f)| !f.is_empty());
    if a.json {
        print_json(&reports, issuer.as_ref());
    } else {
        print_text(&reports, issuer.as_ref());
    }
    if !unreadable.is_empty() {
        let names: Vec<&str> = unreadable.iter().map(|r| r.role.arn.as_str()).collect();
        eprintln!(
            "rolegate doctor: could not read {} role(s) through IAM: {}",
            names.len(),
            names.join(", ")
        );
        ExitCode::from(2)
    } else if any_finding {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// IAM OIDC providers already read, by ARN (one read per account, not per role).
type Providers = BTreeMap<String, Result<Option<Vec<String>>, String>>;

/// `web_identity`: the provider the role trusts, registered with the broker's audience.
async fn provider_check(
    a: &DoctorArgs,
    role: &RoleConfig,
    trustee: &Trustee,
    iam: &aws_sdk_iam::Client,
    providers: &mut Providers,
) -> Result<Vec<Finding>, String> {
    let Trustee::Issuer(p) = trustee else {
        return Ok(Vec::new());
    };
    let arn = p.arn_for(&role.arn);
    if !providers.contains_key(&arn) {
        let read = oidc_provider_audiences(iam, &arn)
            .await
            .map_err(|e| e.to_string());
        providers.insert(arn.clone(), read);
    }
    let audiences = providers[&arn].clone()?;
    let fix = match &audiences {
        None => format!(
            "rolegate aws oidc-provider --config {} (then: aws iam create-open-id-connect-provider --url {} --client-id-list {})",
            a.config.display(),
            p.url,
            p.audience
        ),
        Some(_) => format!(
            "aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {arn} --client-id {}",
            p.audience
        ),
    };
    Ok(provider_findings(
        &arn,
        audiences.as_deref(),
        &p.audience,
        &fix,
    ))
}

async fn check_role(
    a: &DoctorArgs,
    engine: &crate::policy::engine::Engine,
    role: &RoleConfig,
    trustee: &Trustee,
    iam: &aws_sdk_iam::Client,
    providers: &mut Providers,
) -> Result<Checked, String> {
    let needs = needs(engine, role);
    let provider = provider_check(a, role, trustee, iam, providers).await?;
    let fix_trust = format!(
        "rolegate aws trust-policy --config {} --role {} > trust.json && aws iam update-assume-role-policy --role-name {} --policy-document file://trust.json",
        a.config.display(),
        role.alias,
        role.arn.name()
    );
    let policy = || {
        a.fix_print
            .then(|| trust_policy(&role.arn, &needs, trustee).ok())
            .flatten()
    };
    match read_role(iam, &role.arn).await {
        Ok(facts) => {
            let mut findings = provider;
            findings.extend(check(&role.arn, &facts, &needs, trustee, &fix_trust));
            let trust_wrong = findings.iter().any(|f| TRUST_CHECKS.contains(&f.check));
            Ok(Checked {
                inline_chars_left: Some(
                    INLINE_POLICY_LIMIT.saturating_sub(inline_policy_chars(&facts)),
                ),
                trust_policy: if trust_wrong { policy() } else { None },
                findings,
            })
        }
        Err(ReadError::NoSuchRole(name)) => Ok(Checked {
            findings: provider.into_iter().chain([Finding {
                check: "role_exists",
                message: format!("IAM has no role named {name} in this account"),
                fix: format!(
                    "rolegate aws trust-policy --config {} --role {} > trust.json && aws iam create-role --role-name {name} --max-session-duration {} --assume-role-policy-document file://trust.json",
                    a.config.display(),
                    role.alias,
                    needs.longest_session.as_secs().max(3600)
                ),
            }]).collect(),
            inline_chars_left: None,
            trust_policy: policy(),
        }),
        Err(ReadError::Unreadable(e)) => Err(e),
    }
}

/// What AWS fetches from the issuer: discovery naming this issuer and a JWKS with keys.
async fn issuer_findings(url: &str) -> Vec<Finding> {
    let issuer = url.trim_end_matches('/');
    let http = match reqwest::Client::builder()
        .redirect(crate::fetch::redirect_policy())
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            return vec![finding("issuer_discovery", e.to_string())];
        }
    };
    let get = |u: String| {
        let http = http.clone();
        async move {
            let body = crate::fetch::get_capped(&http, &u, 64 * 1024, Duration::from_secs(5))
                .await
                .map_err(|e| e.to_string())?;
            serde_json::from_slice::<Value>(&body).map_err(|_| format!("{u}: not JSON"))
        }
    };
    let discovery = match get(format!("{issuer}/.well-known/openid-configuration")).await {
        Ok(d) => d,
        Err(e) => return vec![finding("issuer_discovery", e)],
    };
    if discovery["issuer"].as_str() != Some(issuer) {
        return vec![finding(
            "issuer_discovery",
            format!(
                "discovery names issuer {}, not {issuer}",
                discovery["issuer"]
            ),
        )];
    }
    let Some(jwks_uri) = discovery["jwks_uri"]
        .as_str()
        .filter(|u| u.starts_with("https://"))
    else {
        return vec![finding(
            "issuer_jwks",
            "discovery has no https jwks_uri".into(),
        )];
    };
    match get(jwks_uri.to_string()).await {
        Ok(j) if j["keys"].as_array().is_some_and(|k| !k.is_empty()) => Vec::new(),
        Ok(_) => vec![finding("issuer_jwks", format!("{jwks_uri}: no keys"))],
        Err(e) => vec![finding("issuer_jwks", e)],
    }
}

fn finding(check: &'static str, message: String) -> Finding {
    Finding {
        check,
        message,
        fix: "publish the broker's /.well-known/openid-configuration and /.well-known/jwks.json at [issuer] url over https (deploy/aws/README.md)".into(),
    }
}

fn print_json(reports: &[Report], issuer: Option<&(String, Vec<Finding>)>) {
    let roles: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut v = json!({"arn": r.role.arn.as_str(), "alias": r.role.alias});
            match &r.result {
                Ok(c) => {
                    v["ok"] = json!(c.findings.is_empty());
                    v["findings"] = json!(c.findings);
                    if let Some(left) = c.inline_chars_left {
                        v["inline_policy_chars_left"] = json!(left);
                    }
                    if let Some(p) = &c.trust_policy {
                        v["trust_policy"] = p.clone();
                    }
                }
                Err(e) => {
                    v["ok"] = json!(false);
                    v["findings"] = json!([]);
                    v["error"] = json!(e);
                }
            }
            v
        })
        .collect();
    let mut out = json!({"roles": roles});
    if let Some((url, findings)) = issuer {
        out["issuer"] = json!({"url": url, "ok": findings.is_empty(), "findings": findings});
    }
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}

fn print_text(reports: &[Report], issuer: Option<&(String, Vec<Finding>)>) {
    for r in reports {
        let name = format!("{} ({})", r.role.alias, r.role.arn);
        match &r.result {
            Ok(c) if c.findings.is_empty() => println!("ok    {name}"),
            Ok(c) => {
                println!("FIX   {name}");
                for f in &c.findings {
                    println!("      {}: {}\n      fix: {}", f.check, f.message, f.fix);
                }
                if let Some(p) = &c.trust_policy {
                    println!(
                        "      trust policy to apply:\n{}",
                        serde_json::to_string_pretty(p).unwrap_or_default()
                    );
                }
            }
            Err(e) => println!("ERROR {name}\n      cannot read it through IAM: {e}"),
        }
    }
    if let Some((url, findings)) = issuer {
        if findings.is_empty() {
            println!("ok    issuer {url}: discovery and JWKS reachable");
        }
        for f in findings {
            println!(
                "FIX   issuer {url}\n      {}: {}\n      fix: {}",
                f.check, f.message, f.fix
            );
        }
    }
}
