//! An IdP's signing keys: parsed once into `DecodingKey`s (no per-request key parsing), looked
//! up by `kid`, refreshed from discovery with a floor of one fetch a minute, so a flood of
//! tokens with made-up `kid`s cannot turn the broker into a JWKS request amplifier.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Asymmetric algorithms only: `none` and HS* are never accepted for IdP tokens, since an HMAC
/// "public key" is a shared secret anyone holding the JWKS knows (RFC 8725 §2.1, §3.1).
pub const ACCEPTED_ALGS: &[Algorithm] = &[
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

pub struct VerifyKey {
    pub kid: Option<String>,
    /// The algorithms this key may verify: from its `alg`, else from its type and curve.
    pub algs: Vec<Algorithm>,
    pub key: DecodingKey,
}

#[derive(Default)]
pub struct KeySet {
    pub keys: Vec<VerifyKey>,
}

impl KeySet {
    /// Parses a JWK Set. Keys that are not usable signature keys (encryption keys, symmetric
    /// keys, unknown types) are skipped, not fatal: IdPs publish all sorts of keys.
    pub fn from_jwks_json(bytes: &[u8]) -> Result<KeySet, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let Some(list) = doc.get("keys").and_then(|k| k.as_array()) else {
            return Err("JWKS has no `keys` array".into());
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
            return Err("JWKS has no usable signature keys (RSA, EC P-256/P-384, Ed25519)".into());
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
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        algs,
        key,
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
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

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
    pub fn with_keys(keys: KeySet) -> Self {
        let c = KeyCache::default();
        c.replace(keys);
        c
    }

    pub fn get(&self) -> Option<Arc<KeySet>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn replace(&self, keys: KeySet) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(keys));
    }

    /// True (and records the attempt) when a fetch may run now.
    pub fn claim_fetch_slot(&self, min_interval: Duration) -> bool {
        let mut last = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < min_interval) {
            return false;
        }
        *last = Some(now);
        true
    }
}
