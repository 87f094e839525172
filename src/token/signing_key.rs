//! An ES256 (P-256) signing key: generated, or loaded from a PKCS#8 PEM file, with its public
//! half as a JWK. The `kid` is the RFC 7638 thumbprint, so it changes exactly when the key does.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Why the broker's signing key could not be made or read; the texts are what operators see
/// when the broker refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The system's random source or aws-lc-rs failed.
    #[error("could not generate a P-256 key")]
    Generate,
    /// The key file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file is not PEM.
    #[error("{} is not PEM: {source}", path.display())]
    NotPem {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: pem::PemError,
    },
    /// PEM, but not a PKCS#8 private key: the message says how to make one.
    #[error(
        "{}: expected a PKCS#8 `PRIVATE KEY` (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)",
        path.display()
    )]
    NotPkcs8 {
        /// The key file.
        path: PathBuf,
    },
    /// PKCS#8, but not an ECDSA P-256 key (the only algorithm the broker signs with).
    #[error("the key is not a P-256 PKCS#8 private key")]
    NotP256,
    /// The public point is not in SEC 1 uncompressed form.
    #[error("unexpected public key encoding")]
    PublicKeyEncoding,
}

/// Signing a token failed (jsonwebtoken's encoder); logged, never shown to a client.
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignError(#[from] jsonwebtoken::errors::Error);

/// The broker's ES256 key for its own tokens (CLI tokens, web identity), with the rotated-out keys it still publishes.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public_jwk: Value,
    pkcs8_der: crate::secret::Secret<Vec<u8>>,
    /// Public halves of rotated-out keys, still in the JWKS so tokens they signed verify
    /// until they expire (and relying parties' cached JWKS catch up).
    previous: Vec<Value>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(ES256, kid={})", self.kid)
    }
}

impl SigningKey {
    /// A new random key (`--dev`: nothing on disk to manage).
    pub fn generate() -> Result<Self, KeyError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| KeyError::Generate)?;
        Self::from_pkcs8_der(doc.as_ref())
    }

    pub(crate) fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let pem = pem::parse(text.as_bytes()).map_err(|source| KeyError::NotPem {
            path: path.to_path_buf(),
            source,
        })?;
        if pem.tag() != "PRIVATE KEY" {
            return Err(KeyError::NotPkcs8 {
                path: path.to_path_buf(),
            });
        }
        Self::from_pkcs8_der(pem.contents())
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| KeyError::NotP256)?;
        let point = pair.public_key().as_ref(); // 0x04 || x || y (SEC 1 uncompressed)
        if point.len() != 65 || point[0] != 4 {
            return Err(KeyError::PublicKeyEncoding);
        }
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..]),
        );
        // RFC 7638 §3.2: required members in lexicographic order, no whitespace.
        let thumb_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumb_input.as_bytes()));
        let public_jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_ec_der(der),
            public_jwk,
            pkcs8_der: crate::secret::Secret::new(der.to_vec()),
            previous: Vec::new(),
        })
    }

    /// Its key id: the JWK thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its public half as a JWK, for the JWKS.
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// Publishes `previous` keys' public halves next to this one (this one still signs).
    pub(crate) fn publishing(mut self, previous: Vec<SigningKey>) -> Self {
        self.previous = previous
            .into_iter()
            .filter(|k| k.kid != self.kid)
            .map(|k| k.public_jwk)
            .collect();
        self
    }

    /// The current key first, then the rotated-out ones.
    pub fn jwks(&self) -> Value {
        let mut keys = vec![self.public_jwk.clone()];
        keys.extend(self.previous.iter().cloned());
        json!({ "keys": keys })
    }

    /// PKCS#8 PEM of the private key (for writing a generated dev key to disk).
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            self.pkcs8_der.expose().clone(),
        ))
    }

    /// Signs `claims` as an ES256 JWT with this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, SignError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idp::oidc::keys::KeySet;

    /// jsonwebtoken without a crypto backend compiles but panics at the first sign/verify
    /// (PEERS.md): this test does both.
    #[test]
    fn signs_and_verifies_with_its_own_jwks() {
        let k = SigningKey::generate().unwrap();
        let token = k
            .sign(&json!({"sub": "x", "exp": 4_000_000_000u64}))
            .unwrap();
        let set = KeySet::from_jwks_json(k.jwks().to_string().as_bytes()).unwrap();
        let vk = set.find(Some(k.kid()), Algorithm::ES256).unwrap();
        // jsonwebtoken's own verify agrees with our pre-parsed aws-lc-rs key…
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.public_jwk().clone()).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.validate_aud = false;
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let data = jsonwebtoken::decode::<Value>(&token, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "x");
        let (message, sig) = token.rsplit_once('.').unwrap();
        let sig =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).unwrap();
        assert!(vk.verify(Algorithm::ES256, message.as_bytes(), &sig));
        // …and neither accepts a flipped bit or another algorithm.
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert!(!vk.verify(Algorithm::ES256, message.as_bytes(), &bad));
        assert!(!vk.verify(Algorithm::RS256, message.as_bytes(), &sig));
        let reloaded =
            SigningKey::from_pkcs8_der(&pem::parse(k.to_pem()).unwrap().into_contents()).unwrap();
        assert_eq!(reloaded.kid(), k.kid());
    }
}
