//! XML Encryption of an EncryptedAssertion (SAML core 2.3.4), with every length checked before
//! a key is used.
//!
//! Why not samael's decryption: it slices the EncryptedData value at the IV length and
//! subtracts the GCM tag length from it unchecked, so a CipherValue of a few bytes panicked the
//! worker — before any signature check, with nothing but the SP certificate that
//! /saml/metadata publishes (`short_encrypted_assertion_is_refused_not_panicking`).
//!
//! Which content ciphers (XML Encryption 1.1 §5.2):
//! - AES-GCM always: an AEAD, so an edited ciphertext fails its tag and decrypting it teaches
//!   the sender nothing;
//! - AES-CBC only when the Response signature (pinned key) has verified *before* decryption,
//!   so the ciphertext is the IdP's, untouched. Unauthenticated CBC is the XML Encryption
//!   well-formedness oracle (Jager and Somorovsky, "How to Break XML Encryption", CCS 2011),
//!   and a GCM ciphertext relabelled as CBC under the same content key would leak through it
//!   too (Jager, Paterson, Somorovsky, "One Bad Apple: Backwards Compatibility Attacks on
//!   State-of-the-Art Cryptography", NDSS 2013).
//!
//! Key transport is RSA-OAEP only (`rsa-oaep-mgf1p`, §5.5.2): RSA1_5 is Bleichenbacher's oracle.

use super::SamlError;
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};

const OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA15: &str = "http://www.w3.org/2001/04/xmlenc#rsa-1_5";
/// XML Encryption 1.1 §5.2.4: a 96-bit IV, then the ciphertext, then a 128-bit tag.
const GCM_IV: usize = 12;
const GCM_TAG: usize = 16;
const AES_BLOCK: usize = 16;

/// Whether the Response signature covering this EncryptedAssertion verified before decryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelope {
    Verified,
    Unverified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chaining {
    Cbc,
    Gcm,
}

/// An EncryptedAssertion whose algorithms and lengths were checked: what stays is to open it.
pub(crate) struct Sealed {
    wrapped_key: Vec<u8>,
    oaep_digest: &'static openssl::md::MdRef,
    cipher: Cipher,
    mode: Chaining,
    value: Vec<u8>,
}

impl Sealed {
    /// Everything that can be said about the EncryptedAssertion without a key. These refusals
    /// depend only on what the sender wrote, never on a decryption, so they may differ.
    pub(crate) fn read(
        parts: &super::encrypted::Parts,
        envelope: Envelope,
        key: &PKey<Private>,
    ) -> Result<Sealed, SamlError> {
        let transport = parts.key_method.as_deref().ok_or(SamlError::Encryption(
            "EncryptedKey has no EncryptionMethod",
        ))?;
        match transport {
            OAEP => {}
            RSA15 => {
                return Err(SamlError::WeakAlgorithm(
                    "RSA1_5 key transport (padding-oracle prone); use RSA-OAEP",
                ));
            }
            _ => {
                return Err(SamlError::WeakAlgorithm(
                    "key transport other than RSA-OAEP",
                ));
            }
        }
        // XML Encryption §5.5.2: the OAEP digest defaults to SHA-1; MGF1 is SHA-1 by the
        // algorithm's definition (rsa-oaep-mgf1p).
        let oaep_digest = match parts.key_digest.as_deref() {
            None | Some("http://www.w3.org/2000/09/xmldsig#sha1") => Md::sha1(),
            Some("http://www.w3.org/2001/04/xmlenc#sha256") => Md::sha256(),
            Some(_) => {
                return Err(SamlError::Encryption(
                    "RSA-OAEP digest other than SHA-1 or SHA-256",
                ));
            }
        };
        let wrapped_key = parts
            .key_value
            .as_deref()
            .map(base64)
            .ok_or(SamlError::Encryption("EncryptedKey has no CipherValue"))?
            .ok_or(SamlError::Encryption(
                "EncryptedKey CipherValue is not base64",
            ))?;
        // PKCS #1 RSAES-OAEP-DECRYPT step 1: the ciphertext is exactly as long as the modulus.
        if wrapped_key.len() != key.size() {
            return Err(SamlError::Encryption(
                "EncryptedKey is not as long as the SP key's modulus",
            ));
        }
        let (value, method) = parts
            .data_value
            .as_deref()
            .zip(parts.data_method.as_deref())
            .ok_or(SamlError::Encryption(
                "EncryptedData lacks its EncryptionMethod or CipherValue",
            ))?;
        let (cipher, mode) = content_cipher(method)?;
        if mode == Chaining::Cbc && envelope == Envelope::Unverified {
            return Err(SamlError::Encryption(
                "AES-CBC is accepted only inside a signed Response (the CBC decryption oracle): \
                 enable Response signing at the IdP (Entra ID and ADFS encrypt with \
                 AES-256-CBC), or have it encrypt with AES-GCM",
            ));
        }
        let value = base64(value).ok_or(SamlError::Encryption(
            "EncryptedData CipherValue is not base64",
        ))?;
        let long_enough = match mode {
            // An IV and at least one whole block, nothing but whole blocks.
            Chaining::Cbc => value.len() >= 2 * AES_BLOCK && value.len() % AES_BLOCK == 0,
            Chaining::Gcm => value.len() > GCM_IV + GCM_TAG,
        };
        if !long_enough {
            return Err(SamlError::Encryption(
                "EncryptedData is shorter than its IV, tag or block size",
            ));
        }
        Ok(Sealed {
            wrapped_key,
            oaep_digest,
            cipher,
            mode,
            value,
        })
    }

    /// Decrypts with the SP key. Every failure is the same error: the caller gives it (and
    /// whatever else goes wrong before the plaintext's signature has verified) one public
    /// reason.
    pub(crate) fn open(&self, key: &PKey<Private>) -> Result<String, SamlError> {
        self.try_open(key)
            .map_err(|()| SamlError::Encryption("the assertion does not decrypt with the SP key"))
    }

    fn try_open(&self, key: &PKey<Private>) -> Result<String, ()> {
        let content_key = self.unwrap_key(key)?;
        if content_key.len() != self.cipher.key_len() {
            return Err(());
        }
        let plain = match self.mode {
            Chaining::Cbc => {
                let (iv, data) = self.value.split_at(AES_BLOCK);
                let mut p = run(self.cipher, &content_key, iv, data, None)?;
                // XML Encryption §5.2.1: the last byte counts the padding bytes (1..=16); the
                // others are arbitrary, so only the count is checked.
                let n = p.last().copied().map_or(0, usize::from);
                if n == 0 || n > AES_BLOCK || n > p.len() {
                    return Err(());
                }
                p.truncate(p.len() - n);
                p
            }
            Chaining::Gcm => {
                let (iv, rest) = self.value.split_at(GCM_IV);
                let (data, tag) = rest.split_at(rest.len() - GCM_TAG);
                run(self.cipher, &content_key, iv, data, Some(tag))?
            }
        };
        String::from_utf8(plain)
            .map(|s| s.trim().to_string())
            .map_err(|_| ())
    }

    fn unwrap_key(&self, key: &PKey<Private>) -> Result<Vec<u8>, ()> {
        let mut ctx = PkeyCtx::new(key).map_err(|_| ())?;
        ctx.decrypt_init().map_err(|_| ())?;
        ctx.set_rsa_padding(Padding::PKCS1_OAEP).map_err(|_| ())?;
        ctx.set_rsa_oaep_md(self.oaep_digest).map_err(|_| ())?;
        ctx.set_rsa_mgf1_md(Md::sha1()).map_err(|_| ())?;
        let mut out = Vec::new();
        ctx.decrypt_to_vec(&self.wrapped_key, &mut out)
            .map_err(|_| ())?;
        Ok(out)
    }
}

fn content_cipher(uri: &str) -> Result<(Cipher, Chaining), SamlError> {
    Ok(match uri {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), Chaining::Cbc),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), Chaining::Cbc),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), Chaining::Cbc),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), Chaining::Gcm),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), Chaining::Gcm),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), Chaining::Gcm),
        _ => {
            return Err(SamlError::Encryption(
                "unsupported content encryption (AES-GCM, or AES-CBC in a signed Response)",
            ));
        }
    })
}

fn base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean.as_bytes())
        .ok()
}

/// One AES pass without PKCS#7 handling (XML Encryption padding is not PKCS#7); with a tag,
/// GCM verifies it at `finalize`.
fn run(
    cipher: Cipher,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
    tag: Option<&[u8]>,
) -> Result<Vec<u8>, ()> {
    let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(|_| ())?;
    c.pad(false);
    let mut out = vec![0u8; data.len() + cipher.block_size()];
    let mut n = c.update(data, &mut out).map_err(|_| ())?;
    if let Some(tag) = tag {
        c.set_tag(tag).map_err(|_| ())?;
    }
    n += c.finalize(&mut out[n..]).map_err(|_| ())?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ciphers_are_named_exactly() {
        assert!(content_cipher("http://www.w3.org/2009/xmlenc11#aes256-gcm").is_ok());
        assert!(content_cipher("http://www.w3.org/2001/04/xmlenc#aes256-cbc").is_ok());
        assert_eq!(
            content_cipher("http://www.w3.org/2001/04/xmlenc#tripledes-cbc")
                .err()
                .map(|e| e.code()),
            Some("encryption")
        );
    }
}
