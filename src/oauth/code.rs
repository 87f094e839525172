//! Authorization codes for the CLI's loopback flow (RFC 6749 §4.1 with RFC 7636 PKCE S256 and
//! RFC 8252 §7.3 loopback redirects): single-use through the store's atomic `take`, 60 seconds,
//! bound to the client, the exact redirect URI and the code challenge.

use super::{CliTokens, GrantError};
use super::{random_token, token_hash};
use crate::domain::Identity;
use crate::store::key;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

const LIFETIME: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
pub(crate) struct Grant {
    pub identity: Identity,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
}

/// RFC 8252 §7.3: `http` to a loopback IP literal, any port (the CLI picks a free one), no
/// userinfo or fragment. `localhost` is refused: it may resolve elsewhere (§8.3).
pub(crate) fn loopback_redirect(uri: &str) -> Result<url::Url, &'static str> {
    let u = url::Url::parse(uri).map_err(|_| "redirect_uri is not a URL")?;
    let loopback = match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        _ => false,
    };
    if u.scheme() != "http" || !loopback {
        return Err("redirect_uri must be http://127.0.0.1:<port>/… or http://[::1]:<port>/…");
    }
    if !u.username().is_empty() || u.password().is_some() || u.fragment().is_some() {
        return Err("redirect_uri must not carry credentials or a fragment");
    }
    Ok(u)
}

/// RFC 7636 §4.2: a challenge is BASE64URL(SHA-256(verifier)), 43 characters.
pub(crate) fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1 and §4.6: a well-formed verifier (43..128 unreserved characters) whose
/// BASE64URL(SHA-256) equals the S256 challenge, compared in constant time.
pub(crate) fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    use subtle::ConstantTimeEq;
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

pub(crate) async fn issue(cli: &CliTokens, grant: &Grant) -> Result<String, GrantError> {
    let code = random_token("rgac_");
    let value = serde_json::to_vec(grant).map_err(|_| GrantError::Internal)?;
    cli.store
        .put(&key("oauth_code", &token_hash(&code)), &value, LIFETIME)
        .await?;
    Ok(code)
}

/// Spends `code` (whatever the outcome: a wrong verifier burns it) and returns the identity.
pub(crate) async fn redeem(
    cli: &CliTokens,
    code: &str,
    client_id: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Identity, GrantError> {
    let bad = |why: &str| GrantError::InvalidGrant(why.to_string());
    let Some(bytes) = cli
        .store
        .take(&key("oauth_code", &token_hash(code)))
        .await?
    else {
        return Err(bad("unknown, expired or already used authorization code"));
    };
    let grant: Grant = serde_json::from_slice(&bytes).map_err(|_| GrantError::Internal)?;
    if grant.client_id != client_id {
        return Err(bad("the code was issued to another client"));
    }
    // RFC 6749 §4.1.3: identical to the redirect_uri of the authorization request.
    if grant.redirect_uri != redirect_uri {
        return Err(bad("redirect_uri differs from the authorization request"));
    }
    if !pkce_s256_matches(verifier, &grant.code_challenge) {
        return Err(bad(
            "code_verifier does not match the code_challenge (PKCE)",
        ));
    }
    Ok(grant.identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_ip_literals_over_http() {
        for ok in [
            "http://127.0.0.1:53682/callback",
            "http://127.0.0.1:1/",
            "http://[::1]:9000/cb",
        ] {
            assert!(loopback_redirect(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:53682/callback",
            "http://localhost:53682/callback",
            "http://127.0.0.1.evil.example/",
            "http://evil.example/",
            "http://user:pw@127.0.0.1:1/",
            "http://127.0.0.1:1/#frag",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(loopback_redirect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn challenges_are_43_base64url_characters() {
        assert!(valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
        assert!(!valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}
