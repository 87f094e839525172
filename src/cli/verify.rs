//! `rolegate verify jwt`: the server's bearer-token checks, offline, with the clock injected.
//! Exit 0 with the identity JSON when accepted, 1 with `{"error","error_description"}` when
//! rejected, 2 on usage errors (clap's own code).

use crate::clock::FixedClock;
use crate::config::OidcIdpConfig;
use crate::domain::IdpId;
use crate::idp::oidc::keys::KeySet;
use crate::idp::oidc::verify;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub(super) struct JwtArgs {
    /// JWK Set file with the IdP's public keys.
    #[arg(long)]
    jwks: PathBuf,
    /// The exact `iss` the token must carry.
    #[arg(long)]
    issuer: String,
    /// An audience the token must name (the broker's client_id or a listed audience).
    #[arg(long)]
    audience: String,
    /// The `nonce` the token must carry (as the OIDC callback checks it).
    #[arg(long)]
    nonce: Option<String>,
    /// The instant to verify at (RFC 3339), e.g. 2026-11-22T10:00:00Z.
    #[arg(long)]
    now: String,
    /// Allowed clock skew.
    #[arg(long, default_value = "60s")]
    clock_skew: humantime::Duration,
}

fn usage(msg: String) -> ExitCode {
    eprintln!("rolegate verify jwt: {msg}");
    ExitCode::from(2)
}

fn reject(code: &str, description: String) -> ExitCode {
    println!(
        "{}",
        serde_json::json!({"error": code, "error_description": description})
    );
    ExitCode::from(1)
}

pub(super) fn jwt(a: JwtArgs) -> ExitCode {
    let clock = match FixedClock::parse_rfc3339(&a.now) {
        Ok(c) => c,
        Err(e) => return usage(e.to_string()),
    };
    if Duration::from(a.clock_skew) > Duration::from_secs(300) {
        return usage("--clock-skew is at most 300s".into());
    }
    let keys = match std::fs::read(&a.jwks)
        .map_err(|e| e.to_string())
        .and_then(|b| KeySet::from_jwks_json(&b).map_err(|e| e.to_string()))
    {
        Ok(k) => k,
        Err(e) => return usage(format!("{}: {e}", a.jwks.display())),
    };
    let mut token = String::new();
    if let Err(e) = std::io::stdin().take(1 << 20).read_to_string(&mut token) {
        return usage(format!("cannot read the token from stdin: {e}"));
    }
    let token = token.trim();
    let cfg = OidcIdpConfig {
        clock_skew: a.clock_skew.into(),
        ..OidcIdpConfig::new(a.issuer, a.audience)
    };
    let idp = IdpId::parse("cli").expect("static id");
    let x = verify::Expectations {
        idp: &idp,
        cfg: &cfg,
        nonce: a.nonce.as_deref(),
    };
    let result =
        verify::parse_header(token).and_then(|h| verify::verify(token, &h, &keys, &clock, &x));
    match result {
        Ok(identity) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&identity).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => reject(e.reason(), e.public_description()),
    }
}

/// `rolegate verify saml`: the ACS checks, offline, at an injected instant. Without
/// `--request-id` the Response is treated as unsolicited and only the InResponseTo comparison
/// is skipped; the replay cache is the server's and does not run here.
#[derive(clap::Args)]
pub(super) struct SamlArgs {
    /// The IdP's SAML metadata (entity ID and signing certificates).
    #[arg(long)]
    idp_metadata: PathBuf,
    /// This broker's SP entity ID (the Audience the assertion must name).
    #[arg(long)]
    sp_entity_id: String,
    /// This broker's ACS URL (Destination and Recipient).
    #[arg(long)]
    acs_url: String,
    /// The AuthnRequest ID the Response must answer.
    #[arg(long)]
    request_id: Option<String>,
    /// The instant to verify at (RFC 3339), e.g. 2026-11-22T10:00:00Z.
    #[arg(long)]
    now: String,
    /// Accept RSA-SHA1 signatures and SHA-1 digests (`insecure_allow_sha1`).
    #[arg(long)]
    allow_sha1: bool,
    /// PEM private key of the SP, for encrypted assertions.
    #[arg(long)]
    sp_key: Option<PathBuf>,
    /// Allowed clock skew.
    #[arg(long, default_value = "60s")]
    clock_skew: humantime::Duration,
    /// The assertion attribute that carries the groups (the IdP's `groups_attribute`).
    #[arg(long, default_value = "groups")]
    groups_attribute: String,
    /// Split group values on commas.
    #[arg(long)]
    groups_split_commas: bool,
}

pub(super) fn saml(a: SamlArgs) -> ExitCode {
    use crate::config::{MetadataSource, SamlIdpConfig};
    use crate::idp::saml::{attributes, decode_any, metadata, verify as sv};
    let clock = match FixedClock::parse_rfc3339(&a.now) {
        Ok(c) => c,
        Err(e) => return usage_saml(e.to_string()),
    };
    if Duration::from(a.clock_skew) > Duration::from_secs(300) {
        return usage_saml("--clock-skew is at most 300s".into());
    }
    use crate::clock::Clock;
    let md = match std::fs::read_to_string(&a.idp_metadata)
        .map_err(|e| e.to_string())
        .and_then(|x| metadata::parse(&x, clock.unix()).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => return usage_saml(format!("{}: {e}", a.idp_metadata.display())),
    };
    let key = match &a.sp_key {
        Some(p) => match std::fs::read(p).map_err(|e| e.to_string()).and_then(|pem| {
            openssl::pkey::PKey::private_key_from_pem(&pem)
                .map_err(|_| "not a PEM private key".to_string())
        }) {
            Ok(k) => Some(k),
            Err(e) => return usage_saml(format!("{}: {e}", p.display())),
        },
        None => None,
    };
    let mut input = String::new();
    if let Err(e) = std::io::stdin().take(1 << 20).read_to_string(&mut input) {
        return usage_saml(format!("cannot read the Response from stdin: {e}"));
    }
    let cfg = SamlIdpConfig {
        groups_attribute: a.groups_attribute,
        groups_split_commas: a.groups_split_commas,
        insecure_allow_sha1: a.allow_sha1,
        clock_skew: a.clock_skew.into(),
        ..SamlIdpConfig::new(MetadataSource::File(a.idp_metadata.clone()))
    };
    let sp = sv::Sp {
        entity_id: &a.sp_entity_id,
        acs_url: &a.acs_url,
        decryption_key: key.as_ref(),
    };
    let trust = sv::Trust {
        entity_id: &md.entity_id,
        keys: &md.keys,
        allow_sha1: cfg.insecure_allow_sha1,
        clock_skew: cfg.clock_skew,
    };
    let expect = match &a.request_id {
        Some(id) => sv::Expect::Request(id),
        None => sv::Expect::Unchecked,
    };
    let idp = IdpId::parse("cli").expect("static id");
    let result = decode_any(&input).and_then(|xml| sv::verify(&xml, &sp, &trust, expect, &clock));
    match result {
        Ok(v) => {
            let identity = attributes::to_identity(&idp, &v.assertion, &cfg);
            println!(
                "{}",
                serde_json::to_string_pretty(&identity).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => reject(e.code(), e.to_string()),
    }
}

fn usage_saml(msg: String) -> ExitCode {
    eprintln!("rolegate verify saml: {msg}");
    ExitCode::from(2)
}
