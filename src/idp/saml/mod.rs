//! SAML 2.0 service provider (Web Browser SSO profile): corporate IdPs sign employees in.
//!
//! - [`metadata`]: the IdP's entity ID and pinned signing certificates (refused without one);
//! - [`preparse`]: the strict pass over raw XML before any XML library interprets it;
//! - [`verify`]: signatures through xmlsec (`crates/xmlsec-bridge`: pinned keys loaded once,
//!   KeyInfo never read), then every check the profile requires, each citing its section,
//!   against an injected clock;
//! - [`encrypted`] and [`decrypt`]: EncryptedAssertions read by namespace, lengths checked
//!   before any key is used;
//! - [`pool`]: the ACS runs the verifier on a bounded set of blocking threads;
//! - [`attributes`]: the verified assertion → the same `Identity` the OIDC path produces;
//! - [`authn_request`] and [`sp_metadata`]: what we send the IdP;
//! - [`service`]: the SP at run time (each IdP's current metadata, refreshed; the verifiers);
//! - [`login`]: the browser flow, HTTP-free: SP-initiated start (pending request) and the ACS
//!   (pending request taken, verification, the store's epoch, the replay cache).
//!
//! `rolegate verify saml` and the ACS run the same verifier; only [`login`]'s replay cache and
//! pending requests are the server's.

pub mod attributes;
pub(crate) mod authn_request;
pub(crate) mod decrypt;
pub(crate) mod encrypted;
mod error;
pub(crate) mod login;
pub mod metadata;
pub mod pool;
pub mod preparse;
pub mod service;
pub(crate) mod sp_metadata;
pub mod verify;

pub use error::SamlError;

// The verifier turns a panic inside it (a library's slice or arithmetic on attacker-sized
// input) into a refusal with `catch_unwind`; with panic=abort that would be a dead process.
// (cargo-fuzz builds abort on purpose: a panic is what a fuzzer looks for.)
#[cfg(all(not(panic = "unwind"), not(fuzzing)))]
compile_error!("rolegate needs panic = \"unwind\": the SAML verifier catches panics as refusals");

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The base64 of a Response as posted to the ACS (or pasted into `verify saml`): whitespace
/// and line breaks are ignored; the decoded size is capped before decoding.
pub fn decode_post(b64: &str) -> Result<String, SamlError> {
    let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if clean.len() > preparse::MAX_XML_CHARS / 3 * 4 + 8 {
        return Err(SamlError::Oversize(preparse::MAX_XML_CHARS));
    }
    let bytes = STANDARD
        .decode(clean.as_bytes())
        .map_err(|_| SamlError::Malformed("SAMLResponse is not valid base64"))?;
    String::from_utf8(bytes).map_err(|_| SamlError::Malformed("SAMLResponse is not UTF-8"))
}

/// `verify saml` input: base64 as posted, or raw XML.
pub(crate) fn decode_any(input: &str) -> Result<String, SamlError> {
    let t = input.trim();
    if t.starts_with('<') {
        Ok(t.to_string())
    } else {
        decode_post(t)
    }
}
