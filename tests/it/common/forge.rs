//! Tokens signed with the test IdP's real private keys (tests/support/oidc-idp/*.pem), with
//! whatever claims an attack needs. The broker fetched the matching public keys from the live
//! oidc-provider, so a signature here is as good as the IdP's own.

use super::peers::repo_root;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub(crate) fn now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

/// Claims the `web` IdP would issue to alice for the `rolegate` client.
pub(crate) fn claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "aud": "rolegate",
        "sub": "forged-alice",
        "email": "alice@example.com",
        "email_verified": true,
        "groups": ["eng"],
        "iat": now - 10,
        "exp": now + 600,
    })
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/support/oidc-idp").join(name)).expect("test key")
}

pub(crate) fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, "rsa-1", claims)
}

pub(crate) fn es256(claims: &Value) -> String {
    sign(Algorithm::ES256, "ec-1", claims)
}

pub(crate) fn sign(alg: Algorithm, kid: &str, claims: &Value) -> String {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem("ec-1.pem")).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem("rsa-1.pem")).unwrap(),
    };
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}

/// A token with a hand-written header and signature segment (for `alg: none`, `crit`, …).
pub(crate) fn raw(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

/// Signs header+claims as given, header included verbatim (RS256 with the IdP's key).
pub(crate) fn rs256_with_header(header: &Value, claims: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = EncodingKey::from_rsa_pem(&pem("rsa-1.pem")).unwrap();
    let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{signing_input}.{sig}")
}

/// Signs a hand-written payload (RS256 with the IdP's key, kid `rsa-1`): for JSON that
/// serde cannot produce, such as a claim named twice.
pub(crate) fn rs256_raw_payload(payload: &str) -> String {
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_rsa_pem(&pem("rsa-1.pem")).unwrap();
    let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{signing_input}.{sig}")
}
