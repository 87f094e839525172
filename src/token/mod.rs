//! The broker's own signing keys and the tokens it signs.
//!
//! In `web_identity` mode the broker is an OIDC issuer toward AWS: it signs a short JWT per
//! STS call and publishes the public key as a JWKS. The dev IdP uses the same key type.

mod signing_key;

pub use signing_key::{KeyError, SignError, SigningKey};
