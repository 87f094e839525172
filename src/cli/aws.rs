//! `rolegate aws trust-policy` and `rolegate aws oidc-provider`: the AWS side written from the
//! broker's own catalogue, issuer and mode (`crate::aws::trust`). Exit 0 with the JSON on
//! stdout; exit 2 with the reason on stderr and nothing on stdout (a role not in the catalogue,
//! a partition mismatch, a non-https issuer, STS unreachable).

use crate::aws::iam::{caller_arn, sdk_config};
use crate::aws::needs::needs;
use crate::aws::trust::{OidcProvider, Trustee, principal_from_caller, trust_policy, trustee};
use crate::config::{AwsMode, Config};
use crate::policy::loader::PolicyMapper;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub(super) struct TrustPolicyArgs {
    /// The broker's config file (its mode, issuer, roles and policy).
    #[arg(long, env = "ROLEGATE_CONFIG")]
    config: PathBuf,
    /// The catalogue role (alias or ARN) the trust policy is for.
    #[arg(long)]
    role: String,
    #[command(flatten)]
    principal: BrokerPrincipal,
}

/// `assume_role` mode: whom the roles trust.
#[derive(clap::Args)]
pub(super) struct BrokerPrincipal {
    /// The broker's IAM user or role ARN (assume_role mode), when these credentials are not
    /// the broker's own: default, ask STS GetCallerIdentity with the config's credentials.
    #[arg(long, value_name = "ARN")]
    pub(super) broker_principal: Option<String>,
}

/// A reason to stop, printed as `rolegate <what>: <reason>` with exit 2.
pub(super) fn refuse(what: &str, reason: impl std::fmt::Display) -> ExitCode {
    eprintln!("rolegate {what}: {reason}");
    ExitCode::from(2)
}

/// The config and its policy, or the message naming what does not load.
pub(super) fn load(path: &Path) -> Result<(Config, PolicyMapper), String> {
    let config = Config::load(Some(path), false).map_err(|e| e.to_string())?;
    let mapper = PolicyMapper::load(&config).map_err(|e| e.to_string())?;
    Ok((config, mapper))
}

/// Whom the roles of `partition` must trust: the issuer's provider, or the broker's principal
/// (`--broker-principal`, else STS GetCallerIdentity in that partition).
pub(super) async fn trustee_for(
    config: &Config,
    partition: &str,
    principal: &BrokerPrincipal,
) -> Result<Trustee, String> {
    let caller = match (config.aws.mode, &principal.broker_principal) {
        (AwsMode::WebIdentity, _) => None,
        (AwsMode::AssumeRole, Some(p)) => Some(p.clone()),
        (AwsMode::AssumeRole, None) => {
            let sdk = sdk_config(&config.aws).await;
            Some(
                caller_arn(&sdk, &config.aws, partition)
                    .await
                    .map_err(|e| format!("cannot tell who the broker is: {e}"))?,
            )
        }
    };
    // Validated here too, so a bad --broker-principal is named as such; a role trusts only
    // principals of its own partition.
    if let Some(c) = &caller {
        let principal = principal_from_caller(c).map_err(|e| e.to_string())?;
        let theirs = principal.split(':').nth(1).unwrap_or_default();
        if theirs != partition {
            return Err(format!(
                "partition mismatch: roles in `{partition}` cannot trust the broker's principal {principal} (partition `{theirs}`)"
            ));
        }
    }
    trustee(config.aws.mode, config.issuer.as_ref(), caller.as_deref()).map_err(|e| e.to_string())
}

pub(super) fn trust_policy_command(a: &TrustPolicyArgs) -> ExitCode {
    const WHAT: &str = "aws trust-policy";
    let (config, mapper) = match load(&a.config) {
        Ok(x) => x,
        Err(e) => return refuse(WHAT, e),
    };
    let engine = mapper.engine();
    let Some(role) = engine.role(&a.role) else {
        return refuse(
            WHAT,
            format!("role `{}` is not in the catalogue ([[role]])", a.role),
        );
    };
    let needs = needs(&engine, role);
    let trustee =
        crate::cli::client::block_on(trustee_for(&config, role.arn.partition(), &a.principal));
    let policy =
        trustee.and_then(|t| trust_policy(&role.arn, &needs, &t).map_err(|e| e.to_string()));
    match policy {
        Ok(p) => {
            println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => refuse(WHAT, e),
    }
}

pub(super) fn oidc_provider_command(config: &Path) -> ExitCode {
    const WHAT: &str = "aws oidc-provider";
    let config = match Config::load(Some(config), false) {
        Ok(c) => c,
        Err(e) => return refuse(WHAT, e),
    };
    if config.aws.mode != AwsMode::WebIdentity {
        return refuse(
            WHAT,
            "aws.mode is assume_role: AWS trusts the broker's principal, no OIDC provider to register",
        );
    }
    let Some(issuer) = &config.issuer else {
        return refuse(WHAT, "web_identity mode needs an [issuer] section");
    };
    match OidcProvider::from_issuer(issuer) {
        Ok(p) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&p.registration()).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => refuse(WHAT, e),
    }
}

/// The source identity a check token carries: `<idp>.<subject>`-shaped, as the trust policy's
/// `sts:SourceIdentity` condition wants, and plain in CloudTrail about what it was.
const CHECK_SOURCE_IDENTITY: &str = "rolegate.roles-claim-check";

/// `rolegate aws web-identity-token`: one token exactly as the broker signs them for `role`
/// (5 minutes, no session tags), for checking the AWS side against real STS
/// (deploy/aws/README.md). Needs the issuer's private key, which can sign such tokens anyway.
pub(super) fn web_identity_token_command(config: &Path, role: &str) -> ExitCode {
    const WHAT: &str = "aws web-identity-token";
    let config = match Config::load(Some(config), false) {
        Ok(c) => c,
        Err(e) => return refuse(WHAT, e),
    };
    let (AwsMode::WebIdentity, Some(issuer)) = (config.aws.mode, &config.issuer) else {
        return refuse(
            WHAT,
            "aws.mode must be web_identity (with [issuer]): only that mode signs tokens for STS",
        );
    };
    let Some(role) = config.role(role) else {
        return refuse(
            WHAT,
            format!("role `{role}` is not in the catalogue ([[role]])"),
        );
    };
    let Some(key_file) = &issuer.signing_key_file else {
        return refuse(WHAT, "issuer.signing_key_file is not set");
    };
    let key = match crate::token::SigningKey::from_pem_file(key_file) {
        Ok(k) => k,
        Err(e) => return refuse(WHAT, format!("issuer.signing_key_file: {e}")),
    };
    let claims = crate::aws::sts::web_identity_claims(&crate::aws::sts::WebIdentityClaims {
        issuer: issuer.url.as_str().trim_end_matches('/'),
        audience: &issuer.audience,
        role_arn: role.arn.as_str(),
        source_identity: CHECK_SOURCE_IDENTITY,
        tags: &[],
        transitive_tag_keys: &[],
        now: crate::clock::Clock::unix(&crate::clock::SystemClock),
    });
    match key.sign(&claims) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => refuse(WHAT, e),
    }
}
