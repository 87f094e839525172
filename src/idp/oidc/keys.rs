//! An IdP's signing keys: parsed once into `DecodingKey`s (no per-request key parsing), looked
//! up by `kid`, refreshed from discovery with a floor of one fetch a minute, so a flood of
//! tokens with made-up `kid`s cannot turn the broker into a JWKS request amplifier.

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Asymmetric algorithms only: `none` and HS* are never accepted for IdP tokens, since an HMAC
/// "public key" is a shared secret anyone holding the JWKS knows (RFC 8725 §2.1, §3.1).
pub(crate) const ACCEPTED_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// One JWKS key, parsed once into what verification needs.
pub struct VerifyKey {
    /// Its `kid`; a token names the key with it.
    pub kid: Option<String>,
    /// The algorithms this key may verify: from its `alg`, else from its type and curve.
    pub(crate) algs: Vec<Algorithm>,
    /// One parsed aws-lc-rs key per algorithm, built when the JWKS loads: verifying a token
    /// never re-parses key material. jsonwebtoken's own `verify`
    /// rebuilds the RSA key from `n`/`e` on every call, about 1.5 µs of a 14 µs RS256 check.
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
}

impl VerifyKey {
    /// Checks a JWS signature (RFC 7515 §5.2 step 8) over `message` = `header.payload`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, k)| k.verify_sig(message, signature).is_ok())
    }
}

/// RFC 7518 §3.1: the JWS `alg` values and the primitives they name. RSA keys below 2048 bits
/// are refused (as jsonwebtoken's aws-lc backend does); ECDSA signatures are the fixed-width
/// `R || S` form JWS uses (§3.4), not ASN.1.
fn verification_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    if let Some(rsa) = rsa_parameters(alg) {
        return Some(rsa);
    }
    Some(match alg {
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        _ => return None,
    })
}

fn rsa_parameters(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// The aws-lc-rs key for one algorithm, from the JWK's public parameters.
fn parse_key(params: &AlgorithmParameters, alg: Algorithm) -> Option<ParsedPublicKey> {
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
    let va = verification_algorithm(alg)?;
    match params {
        AlgorithmParameters::RSA(r) => {
            let (n, e) = (b64(&r.n)?, b64(&r.e)?);
            let rsa = rsa_parameters(alg)?;
            signature::RsaPublicKeyComponents {
                n: n.as_slice(),
                e: e.as_slice(),
            }
            .to_parsed_public_key(rsa)
            .ok()
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            // SEC 1 uncompressed point: 0x04 || x || y.
            let mut point = vec![4u8];
            point.extend(b64(&ec.x)?);
            point.extend(b64(&ec.y)?);
            ParsedPublicKey::new(va, point).ok()
        }
        AlgorithmParameters::OctetKeyPair(okp) => ParsedPublicKey::new(va, b64(&okp.x)?).ok(),
        _ => None,
    }
}

/// Why a JWK Set cannot be used; the text reaches the log, readiness and `verify jwt`.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The document is not JSON.
    #[error("JWKS is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// No `keys` array: not a JWK Set.
    #[error("JWKS has no `keys` array")]
    NoKeysArray,
    /// Only keys the verifier cannot use (encryption, symmetric, unknown types).
    #[error("JWKS has no usable signature keys (RSA, EC P-256/P-384, Ed25519)")]
    NoUsableKeys,
}

/// An IdP's signing keys, as one JWKS.
#[derive(Default)]
pub struct KeySet {
    /// The keys.
    pub keys: Vec<VerifyKey>,
}

impl KeySet {
    /// Parses a JWK Set. Keys that are not usable signature keys (encryption keys, symmetric
    /// keys, unknown types) are skipped, not fatal: IdPs publish all sorts of keys.
    pub fn from_jwks_json(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let doc: serde_json::Value = serde_json::from_slice(bytes)?;
        let Some(list) = doc.get("keys").and_then(|k| k.as_array()) else {
            return Err(JwksError::NoKeysArray);
        };
        let mut keys = Vec::new();
        for v in list {
            let Ok(jwk) = serde_json::from_value::<Jwk>(v.clone()) else {
                continue;
            };
            if let Some(k) = usable_key(&jwk) {
                keys.push(k);
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(KeySet { keys })
    }

    /// RFC 7515 §4.1.4: with a `kid`, the key must carry it; without, accept only when exactly
    /// one key can verify this algorithm (no trying every key).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&VerifyKey> {
        let mut candidates = self.keys.iter().filter(|k| k.algs.contains(&alg));
        match kid {
            Some(kid) => candidates.find(|k| k.kid.as_deref() == Some(kid)),
            None => {
                let first = candidates.next()?;
                candidates.next().is_none().then_some(first)
            }
        }
    }
}

fn usable_key(jwk: &Jwk) -> Option<VerifyKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => ACCEPTED_ALGS[..6].to_vec(),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => return None, // `oct` (symmetric) keys are never trusted for IdP tokens
    };
    let algs = match jwk.common.key_algorithm {
        Some(ka) => {
            let alg = key_alg(ka)?;
            if !by_type.contains(&alg) {
                return None; // a key whose `alg` contradicts its type is misconfigured
            }
            vec![alg]
        }
        None => by_type,
    };
    let verifiers: Vec<(Algorithm, ParsedPublicKey)> = algs
        .iter()
        .filter_map(|&a| parse_key(&jwk.algorithm, a).map(|k| (a, k)))
        .collect();
    if verifiers.len() != algs.len() {
        return None; // malformed or too small: a key that cannot verify is no key
    }
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        algs,
        verifiers,
    })
}

fn key_alg(ka: KeyAlgorithm) -> Option<Algorithm> {
    Some(match ka {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The live key set of one IdP plus the bookkeeping for refreshes.
pub struct KeyCache {
    current: RwLock<Option<Arc<KeySet>>>,
    last_attempt: std::sync::Mutex<Option<Instant>>,
    /// Serialises fetches so concurrent misses cause one request.
    pub(crate) fetching: tokio::sync::Mutex<()>,
}

/// RFC-free but essential: at most one refetch a minute triggered by unknown `kid`s.
pub(crate) const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            current: RwLock::new(None),
            last_attempt: std::sync::Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }
}

impl KeyCache {
    /// The current keys; None before the first successful load.
    pub fn get(&self) -> Option<Arc<KeySet>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Swaps in new keys: verifications in flight keep the set they took.
    pub fn replace(&self, keys: KeySet) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(keys));
    }

    /// True (and records the attempt) when a fetch may run now.
    pub(crate) fn claim_fetch_slot(&self, min_interval: Duration) -> bool {
        let mut last = self
            .last_attempt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < min_interval) {
            return false;
        }
        *last = Some(now);
        true
    }
}
