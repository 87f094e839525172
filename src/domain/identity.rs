//! What a verified proof says about a person. SAML and OIDC both end here, so the mapper and
//! the issuer never know which protocol signed the user in.

use super::IdpId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identities are keyed by (idp, subject). Email and username are attributes for display,
/// session names and rules, never identity: two IdPs can both vouch for `alice@example.com`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Identity {
    /// The IdP that vouched for the person.
    pub idp: IdpId,
    /// The IdP's stable id for them (`sub`, NameID): with `idp`, the key of everything.
    pub subject: String,
    /// Their email address, as the IdP sent it.
    pub email: Option<String>,
    /// Whether the IdP says it verified the address (an unverified one is attacker-chosen).
    pub email_verified: bool,
    /// Their username, as the IdP sent it.
    pub username: Option<String>,
    /// Their groups, as the IdP sent them.
    pub groups: Vec<String>,
    /// Every claim/attribute as received, for `rolegate:claims/<name>` rules.
    pub claims: BTreeMap<String, serde_json::Value>,
    /// Whether the IdP reported a second factor (`rolegate:mfa`).
    pub mfa: bool,
    /// Unix seconds of the IdP's authentication (OIDC `auth_time`, SAML `AuthnInstant`); once
    /// a browser session is opened, the instant its lifetime is anchored at.
    pub auth_time: Option<i64>,
    /// The IdP's own end for this sign-in (SAML `SessionNotOnOrAfter`): nothing the broker
    /// derives from it — browser session, CLI token family — outlives it.
    #[serde(default)]
    pub idp_session_end: Option<i64>,
    /// Audience and authorized party of a bearer token (absent for SAML).
    pub aud: Vec<String>,
    /// The bearer token's `azp` (absent for SAML).
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
            idp_session_end: None,
            aud: Vec::new(),
            azp: None,
        }
    }

    /// When a sign-in derived from this identity must end: `lifetime` after the IdP
    /// authenticated the person (not after the broker or a CLI approval saw them: that would
    /// let an identity live one lifetime per hop), and never past the IdP's own end.
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // the broker's; the CLI build shares this type
    pub(crate) fn sign_in_deadline(&self, now: i64, lifetime: std::time::Duration) -> i64 {
        let anchor = self.auth_time.filter(|t| *t <= now).unwrap_or(now);
        let end = anchor.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
        self.idp_session_end.map_or(end, |e| end.min(e))
    }

    /// Email only when the IdP says it verified it: an unverified address is attacker-chosen.
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // the broker's; the CLI build shares this type
    pub(crate) fn verified_email(&self) -> Option<&str> {
        self.email.as_deref().filter(|_| self.email_verified)
    }
}

/// Which surface a request came through (`rolegate:client`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// The browser pages (the role picker, console sign-in).
    Browser,
    /// The `rolegate` CLI, with a broker token.
    Cli,
    /// An app calling the API with an IdP's bearer token.
    Api,
}
