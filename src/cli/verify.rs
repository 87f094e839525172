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
pub struct JwtArgs {
    /// JWK Set file with the IdP's public keys.
    #[arg(long)]
    jwks: PathBuf,
    /// The exact `iss` the token must carry.
    #[arg(long)]
    issuer: String,
    /// An audience the token must name (the broker's client_id or a listed audience).
    #[arg(long)]
    audience: String,
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

pub fn jwt(a: JwtArgs) -> ExitCode {
    let clock = match FixedClock::parse_rfc3339(&a.now) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    if Duration::from(a.clock_skew) > Duration::from_secs(300) {
        return usage("--clock-skew is at most 300s".into());
    }
    let keys = match std::fs::read(&a.jwks)
        .map_err(|e| e.to_string())
        .and_then(|b| KeySet::from_jwks_json(&b))
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
