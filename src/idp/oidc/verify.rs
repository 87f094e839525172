//! Bearer JWT verification: every OIDC/JWT check of docs/ARCHITECTURE.md's table, in order.
//! Pure and synchronous (keys and clock are passed in) so `rolegate verify jwt`, the server
//! and the benchmarks run exactly the same code.

use super::keys::{ACCEPTED_ALGS, KeySet};
use crate::clock::Clock;
use crate::config::OidcIdpConfig;
use crate::domain::{Identity, IdpId};
use crate::idp::VerifyError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The claims as the Identity keeps them (parsed once, moved, never rebuilt).
type Claims = BTreeMap<String, Value>;

/// rolegate's own input limit for bearer tokens.
pub const MAX_TOKEN_CHARS: usize = 20_000;

/// What the checks need to know about the IdP (a view of `OidcIdpConfig`).
pub struct Expectations<'a> {
    /// The IdP whose token this should be.
    pub idp: &'a IdpId,
    /// Its settings (audiences, claims, skew).
    pub cfg: &'a OidcIdpConfig,
    /// The nonce the sign-in sent (browser flow); None for bearer tokens.
    pub nonce: Option<&'a str>,
}

/// The parts of a token's JOSE header the verifier uses, read before any signature check.
pub struct Header {
    /// The signing algorithm (checked against the allow list).
    pub alg: Algorithm,
    /// The key id, to pick the key.
    pub kid: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    /// Present at all (with any value) is enough to refuse the token.
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// Structural checks before any crypto: size, three base64url segments, a JSON header naming
/// an accepted asymmetric algorithm, no `crit` (RFC 7515 §4.1.11: a recipient must reject
/// critical extensions it does not understand, and we understand none).
pub fn parse_header(token: &str) -> Result<Header, VerifyError> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(VerifyError::TooLarge(MAX_TOKEN_CHARS));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed(
            "a JWT has three dot-separated segments",
        ));
    };
    if h.is_empty() || p.is_empty() {
        return Err(VerifyError::Malformed("empty segment"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| VerifyError::Malformed("header is not base64url"))?;
    // A typed header: duplicate or mistyped members (a numeric `kid`, say) are malformed.
    let header: RawHeader<'_> = serde_json::from_slice(&bytes)
        .map_err(|_| VerifyError::Malformed("header is not a valid JSON object"))?;
    let alg_name = header
        .alg
        .as_deref()
        .ok_or(VerifyError::Malformed("header has no alg"))?;
    let alg = alg_name
        .parse::<Algorithm>()
        .ok()
        .filter(|a| ACCEPTED_ALGS.contains(a))
        .ok_or_else(|| VerifyError::UnsupportedAlgorithm(alg_name.chars().take(16).collect()))?;
    if header.crit.is_some() {
        return Err(VerifyError::UnsupportedCritical);
    }
    // RFC 9068 access tokens say so in `typ`; an access token for some API is not an ID token.
    if let Some(typ) = header.typ.as_deref()
        && !typ.eq_ignore_ascii_case("JWT")
    {
        return Err(VerifyError::WrongType(typ.chars().take(32).collect()));
    }
    // Checked after `alg`, so `alg: none` (whose signature is empty) is named for what it is.
    if s.is_empty() {
        return Err(VerifyError::Malformed("empty signature"));
    }
    let kid = header.kid.map(Cow::into_owned);
    Ok(Header { alg, kid })
}

/// The unverified `iss`, used only to pick which IdP's verifier judges the token.
pub fn peek_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    // Strict like the verified parse below: a second `iss` must not pick another verifier.
    let claims = crate::strict_json::parse_object(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

/// Signature, then claims. The signature is checked by jsonwebtoken (aws-lc-rs); its own
/// time checks are off because they read the system clock — ours take the injected one.
pub fn verify(
    token: &str,
    header: &Header,
    keys: &KeySet,
    clock: &dyn Clock,
    x: &Expectations<'_>,
) -> Result<Identity, VerifyError> {
    let key = keys
        .find(header.kid.as_deref(), header.alg)
        .ok_or(VerifyError::UnknownKey)?;
    // The header was parsed (and its `alg` checked against the key) above; verify the
    // signature over `header.payload` with the key parsed at JWKS load, then parse the payload
    // once. (jsonwebtoken's `decode` would rebuild the key, parse the header again and
    // deserialize the claims twice.)
    let (message, signature) = token.rsplit_once('.').ok_or(VerifyError::Malformed(
        "a JWT has three dot-separated segments",
    ))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| VerifyError::Malformed("signature is not base64url"))?;
    let valid = key.verify(header.alg, message.as_bytes(), &signature);
    if !valid {
        return Err(VerifyError::BadSignature);
    }
    let payload = message.split('.').nth(1).ok_or(VerifyError::Malformed(
        "a JWT has three dot-separated segments",
    ))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| VerifyError::Malformed("payload is not base64url"))?;
    // RFC 7519 §4: claim names MUST be unique. Parsers disagree on which duplicate wins, so a
    // token with two `groups` (or two `aud`) is malformed rather than read one way here and
    // another way by whoever else reads it.
    let claims: Claims = crate::strict_json::parse_object(&bytes)
        .map_err(|_| VerifyError::Malformed("payload is not a JSON object with unique claims"))?
        .into_iter()
        .collect();
    check_claims(claims, clock, x)
}

/// RFC 7519 §2 NumericDate. Anything past the year 9999 is treated as malformed: no real IdP
/// issues it, and it would only invite overflow in the comparisons below.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// A fractional NumericDate in whole seconds, the fraction dropped; `None` outside
/// ±MAX_NUMERIC_DATE or not finite.
// There is no `TryFrom<f64>` for i64. The bound is checked first: ±253 402 300 799 is exact in
// an f64 (below 2^53) and far inside i64, so neither cast rounds or saturates.
#[allow(
    clippy::as_conversions,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss
)]
fn whole_secs(f: f64) -> Option<i64> {
    if f.is_finite() && f.abs() <= MAX_NUMERIC_DATE as f64 {
        Some(f as i64)
    } else {
        None
    }
}

fn num(claims: &Claims, name: &'static str) -> Result<Option<i64>, VerifyError> {
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    let secs = match v.as_i64() {
        Some(i) => i,
        None => v
            .as_f64()
            .and_then(whole_secs)
            .ok_or(VerifyError::Malformed(
                "a time claim is not a number in range",
            ))?,
    };
    if !(0..=MAX_NUMERIC_DATE).contains(&secs) {
        return Err(VerifyError::Malformed(
            "a time claim is not a number in range",
        ));
    }
    Ok(Some(secs))
}

fn check_claims(
    claims: Claims,
    clock: &dyn Clock,
    x: &Expectations<'_>,
) -> Result<Identity, VerifyError> {
    let cfg = x.cfg;
    // OIDC Core 3.1.3.7 (2): the issuer must match exactly.
    if claims.get("iss").and_then(Value::as_str) != Some(cfg.issuer.as_str()) {
        return Err(VerifyError::UntrustedIssuer);
    }
    // OIDC Core 3.1.3.7 (3)-(5): aud contains us; several audiences need azp; azp, when
    // present, is us. "Us" is the client_id or an audience listed for this IdP.
    let ours = |a: &str| a == cfg.client_id || cfg.audiences.iter().any(|x| x == a);
    let aud: Vec<String> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or(VerifyError::Malformed(
                "aud holds something other than strings",
            ))?,
        _ => return Err(VerifyError::WrongAudience),
    };
    if !aud.iter().any(|a| ours(a)) {
        return Err(VerifyError::WrongAudience);
    }
    // A non-string azp is malformed, never "absent": absent would skip the azp checks.
    let azp = match claims.get("azp") {
        None => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err(VerifyError::Malformed("azp is not a string")),
    };
    match &azp {
        None if aud.len() > 1 => return Err(VerifyError::AzpRequired),
        Some(p) if !ours(p) => return Err(VerifyError::WrongAzp),
        _ => {}
    }
    // RFC 7519 §4.1.4/§4.1.5, OIDC Core 3.1.3.7 (9)-(10), with the IdP's clock skew.
    let now = clock.unix();
    let skew = crate::clock::secs(cfg.clock_skew);
    let exp = num(&claims, "exp")?.ok_or(VerifyError::MissingExpiry)?;
    if now >= exp + skew {
        return Err(VerifyError::Expired);
    }
    if num(&claims, "nbf")?.is_some_and(|nbf| now + skew < nbf) {
        return Err(VerifyError::NotYetValid);
    }
    let iat = num(&claims, "iat")?.ok_or(VerifyError::MissingIssuedAt)?;
    if iat > now + skew {
        return Err(VerifyError::IssuedInFuture);
    }
    // Tenant pinning for multi-tenant issuers (Entra `tid`, Google `hd`).
    for (name, want) in &cfg.required_claims {
        if claims.get(name).and_then(Value::as_str) != Some(want.as_str()) {
            return Err(VerifyError::RequiredClaim(name.clone()));
        }
    }
    if let Some(n) = x.nonce
        && claims.get("nonce").and_then(Value::as_str) != Some(n)
    {
        return Err(VerifyError::NonceMismatch);
    }
    let subject = match claims.get("sub").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= 255 => s.to_string(),
        _ => return Err(VerifyError::MissingSubject),
    };
    Ok(identity(x.idp, subject, aud, azp, claims, cfg))
}

fn identity(
    idp: &IdpId,
    subject: String,
    aud: Vec<String>,
    azp: Option<String>,
    claims: Claims,
    cfg: &OidcIdpConfig,
) -> Identity {
    let string = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    let email_verified = cfg.insecure_trust_unverified_email
        || matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || matches!(claims.get("email_verified"), Some(Value::String(s)) if s == "true");
    let groups = match claims.get(&cfg.groups_claim) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let amr_mfa = claims
        .get("amr")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .any(|m| cfg.mfa_amr_values.iter().any(|x| x == m))
        });
    let acr_mfa = string("acr").is_some_and(|a| cfg.mfa_acr_values.contains(&a));
    Identity {
        idp: idp.clone(),
        subject,
        email: string("email"),
        email_verified,
        username: string(&cfg.username_claim),
        groups,
        mfa: amr_mfa || acr_mfa,
        auth_time: claims.get("auth_time").and_then(Value::as_i64),
        idp_session_end: None,
        aud,
        azp,
        claims,
    }
}
