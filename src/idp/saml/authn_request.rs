//! SP-initiated sign-in: an AuthnRequest sent with the HTTP-Redirect binding (SAML bindings
//! 3.4), signed over the query string when an SP key is configured (bindings 3.4.4.1).

use openssl::pkey::{PKey, Private};
use samael::metadata::HTTP_POST_BINDING;
use samael::schema::{AuthnRequest, Issuer};
use std::time::SystemTime;

pub(crate) struct LoginRedirect {
    /// Where the browser goes: the IdP's SSO URL with SAMLRequest, RelayState (and signature).
    pub url: String,
    /// The AuthnRequest ID the Response must answer (InResponseTo).
    pub request_id: String,
}

pub(crate) struct AuthnParams<'a> {
    pub sso_url: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    /// An opaque store key, never a URL.
    pub relay_state: &'a str,
    pub force_authn: bool,
    pub signing_key: Option<&'a PKey<Private>>,
}

/// Why no AuthnRequest redirect could be built (logged; the browser sees a generic error).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthnRequestError {
    /// samael could not encode or sign it.
    #[error("cannot build the AuthnRequest: {reason}")]
    Build {
        /// samael's error, as text (its `Box<dyn Error>` is not `Send`).
        reason: String,
    },
    /// No destination (never: `destination` is always set).
    #[error("the AuthnRequest has no destination")]
    NoDestination,
}

pub(crate) fn redirect(
    p: &AuthnParams<'_>,
    now: SystemTime,
) -> Result<LoginRedirect, AuthnRequestError> {
    // xsd:ID is an NCName: it may not start with a digit, hence the underscore.
    let request_id = format!("_{}", hex::encode(rand::random::<[u8; 16]>()));
    let request = AuthnRequest {
        id: request_id.clone(),
        version: "2.0".into(),
        issue_instant: chrono::DateTime::<chrono::Utc>::from(now),
        destination: Some(p.sso_url.to_string()),
        assertion_consumer_service_url: Some(p.acs_url.to_string()),
        // Profiles 4.1.4.1: we consume Responses through the POST binding.
        protocol_binding: Some(HTTP_POST_BINDING.to_string()),
        issuer: Some(Issuer {
            value: Some(p.sp_entity_id.to_string()),
            ..Issuer::default()
        }),
        force_authn: p.force_authn.then_some(true),
        ..AuthnRequest::default()
    };
    let url = match p.signing_key {
        Some(key) => request.signed_redirect(p.relay_state, key),
        None => request.redirect(p.relay_state),
    }
    .map_err(|e| AuthnRequestError::Build {
        reason: e.to_string(),
    })?
    .ok_or(AuthnRequestError::NoDestination)?;
    Ok(LoginRedirect {
        url: url.to_string(),
        request_id,
    })
}
