//! A verified assertion → the same [`Identity`] the OIDC path produces.

use crate::config::SamlIdpConfig;
use crate::domain::{Identity, IdpId};
use samael::schema::Assertion;
use serde_json::Value;

/// The identity a verified assertion vouches for, read with the IdP's attribute settings.
pub fn to_identity(idp: &IdpId, a: &Assertion, cfg: &SamlIdpConfig) -> Identity {
    // The caller has checked that a NameID exists.
    let subject = a
        .subject
        .as_ref()
        .and_then(|s| s.name_id.as_ref())
        .map(|n| n.value.trim().to_string())
        .unwrap_or_default();
    let mut id = Identity::new(idp.clone(), subject);
    let attributes = a
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| &s.attributes);
    for attr in attributes {
        let values: Vec<String> = attr
            .values
            .iter()
            .filter_map(|v| v.value.as_deref())
            .map(|v| v.trim().to_string())
            .collect();
        let named = |want: &str| {
            attr.name.as_deref() == Some(want) || attr.friendly_name.as_deref() == Some(want)
        };
        if named(&cfg.groups_attribute) {
            for v in &values {
                if cfg.groups_split_commas {
                    id.groups.extend(
                        v.split(',')
                            .map(str::trim)
                            .filter(|g| !g.is_empty())
                            .map(String::from),
                    );
                } else if !v.is_empty() {
                    id.groups.push(v.clone());
                }
            }
        }
        if named(&cfg.email_attribute) && id.email.is_none() {
            id.email = values.first().cloned();
        }
        if named(&cfg.username_attribute) && id.username.is_none() {
            id.username = values.first().cloned();
        }
        if let Some(name) = attr.name.clone().or_else(|| attr.friendly_name.clone()) {
            let value = match values.as_slice() {
                [one] => Value::String(one.clone()),
                many => Value::Array(many.iter().cloned().map(Value::String).collect()),
            };
            id.claims.insert(name, value);
        }
    }
    id.groups.sort();
    id.groups.dedup();
    // SAML has no email_verified: whether the IdP's email attribute is authoritative is a
    // per-IdP decision.
    id.email_verified = id.email.is_some() && cfg.trust_email;
    let authn = a.authn_statements.iter().flatten();
    id.auth_time = authn
        .clone()
        .filter_map(|s| s.authn_instant)
        .map(|t| t.timestamp())
        .max();
    // Profiles 4.1.4.2: SessionNotOnOrAfter is the IdP's end for this sign-in; the earliest
    // one of the assertion's statements bounds every session the broker derives from it.
    id.idp_session_end = authn
        .clone()
        .filter_map(|s| s.session_not_on_or_after)
        .map(|t| t.timestamp())
        .min();
    id.mfa = authn
        .filter_map(|s| s.authn_context.as_ref()?.value.as_ref()?.value.as_deref())
        .any(|class| cfg.mfa_authn_contexts.iter().any(|m| m == class));
    id
}
