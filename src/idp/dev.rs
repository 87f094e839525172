//! The built-in development IdP (`serve --dev` only): static users from config/dev/users.toml,
//! no password. It is a real (if tiny) OpenID Provider — discovery, JWKS, ES256-signed ID
//! tokens, the authorization-code flow with PKCE for browsers and a password grant for curl —
//! and the broker signs browsers in and verifies tokens through it with the same OIDC code
//! production uses, so trying rolegate exercises the real path.

use crate::config::{DevUser, OidcIdpConfig};
use crate::domain::IdpId;
use crate::token::KeyError;
use crate::token::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

pub(crate) const CLIENT_ID: &str = "rolegate-dev";
pub(crate) const PATH: &str = "/dev-idp";
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How long an authorization code waits for the token request (the broker redeems it at once).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// What an authorization code stands for until the token endpoint takes it (single use).
#[derive(Serialize, Deserialize)]
pub(crate) struct CodeGrant {
    pub username: String,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    /// RFC 7636 S256 `code_challenge` (checked with `oauth::code::pkce_s256_matches`).
    pub challenge: String,
}

pub struct DevIdp {
    /// Its `[[idp]] id`: the broker's redirect URI for it is `/oidc/callback/{id}`.
    pub id: IdpId,
    pub issuer: String,
    users: Vec<DevUser>,
    key: SigningKey,
}

impl DevIdp {
    pub fn new(id: IdpId, public_url: &url::Url, users: Vec<DevUser>) -> Result<Self, KeyError> {
        Ok(DevIdp {
            id,
            issuer: format!("{}{PATH}", public_url.as_str().trim_end_matches('/')),
            users,
            key: SigningKey::generate()?,
        })
    }

    /// The settings the broker's OIDC verifier uses for this IdP.
    pub fn oidc_config(&self) -> OidcIdpConfig {
        OidcIdpConfig {
            mfa_amr_values: vec!["mfa".into()],
            ..OidcIdpConfig::new(self.issuer.clone(), CLIENT_ID)
        }
    }

    pub fn discovery(&self) -> serde_json::Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks.json", self.issuer),
            "authorization_endpoint": format!("{}/authorize", self.issuer),
            "token_endpoint": format!("{}/token", self.issuer),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "password"],
            "code_challenge_methods_supported": ["S256"],
            // RFC 9207: every authorization response names this issuer.
            "authorization_response_iss_parameter_supported": true,
            "token_endpoint_auth_methods_supported": ["none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }

    pub fn jwks(&self) -> serde_json::Value {
        self.key.jwks()
    }

    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(|u| u.username.as_str())
    }

    pub fn users(&self) -> &[DevUser] {
        &self.users
    }

    /// An ID token for `username`, or None for an unknown user.
    pub fn id_token(
        &self,
        username: &str,
        audience: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> Option<String> {
        let u = self.users.iter().find(|u| u.username == username)?;
        let mut claims = json!({
            "iss": self.issuer,
            // The username itself: the session name STS shows is then `dev.alice`, readable
            // (a `|`, as some IdPs write, is outside STS's alphabet and would be hashed).
            "sub": u.username,
            "aud": audience,
            "iat": now,
            "exp": now + crate::clock::secs(TOKEN_LIFETIME),
            "auth_time": now,
            "preferred_username": u.username,
            "name": u.name.clone().unwrap_or_else(|| u.username.clone()),
            "groups": u.groups,
            "amr": if u.mfa { vec!["pwd", "mfa"] } else { vec!["pwd"] },
        });
        if let Some(e) = &u.email {
            claims["email"] = json!(e);
            claims["email_verified"] = json!(true);
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        self.key.sign(&claims).ok()
    }
}
