//! What a verified proof says about a person. SAML and OIDC both end here, so the mapper and
//! the issuer never know which protocol signed the user in.

use super::IdpId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identities are keyed by (idp, subject). Email and username are attributes for display,
/// session names and rules, never identity: two IdPs can both vouch for `alice@example.com`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Identity {
    pub idp: IdpId,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub username: Option<String>,
    pub groups: Vec<String>,
    /// Every claim/attribute as received, for `rolegate:claims/<name>` rules.
    pub claims: BTreeMap<String, serde_json::Value>,
    pub mfa: bool,
    pub auth_time: Option<i64>,
    /// Audience and authorized party of a bearer token (absent for SAML).
    pub aud: Vec<String>,
    pub azp: Option<String>,
}

impl Identity {
    /// How pages name the user: the username, else a verified email, else the subject.
    pub fn display_name(&self) -> &str {
        self.username
            .as_deref()
            .or(self.email.as_deref().filter(|_| self.email_verified))
            .unwrap_or(&self.subject)
    }

    /// An identity with nothing but its key; every attribute empty.
    pub fn new(idp: IdpId, subject: impl Into<String>) -> Identity {
        Identity {
            idp,
            subject: subject.into(),
            email: None,
            email_verified: false,
            username: None,
            groups: Vec::new(),
            claims: BTreeMap::new(),
            mfa: false,
            auth_time: None,
            aud: Vec::new(),
            azp: None,
        }
    }

    /// Email only when the IdP says it verified it: an unverified address is attacker-chosen.
    pub fn verified_email(&self) -> Option<&str> {
        self.email.as_deref().filter(|_| self.email_verified)
    }
}

/// Which surface a request came through (`rolegate:client`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Browser,
    Cli,
    Api,
}
