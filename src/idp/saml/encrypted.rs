//! What decryption needs from an EncryptedAssertion (SAML core 2.3.4, XML Encryption 1.1),
//! read by namespace, whatever prefixes and declarations the IdP chose.
//!
//! Why not samael's schema: it requires `xmlns:ds` (or `xmlns:dsig`) written on the KeyInfo
//! inside EncryptedData, and an X509Certificate inside any X509Data. pysaml2 declares the
//! signature namespace once on EncryptedData under another prefix, and AD FS names its key by
//! X509IssuerSerial: both are valid XML Encryption, and both were refused as `malformed` before
//! any decryption.

use super::SamlError;
use super::preparse::ASSERTION_NS;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

const XENC_NS: &[u8] = b"http://www.w3.org/2001/04/xmlenc#";
const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";

/// The algorithms and values of the one EncryptedData and its EncryptedKey.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Parts {
    /// EncryptedData/EncryptionMethod@Algorithm: the content cipher.
    pub data_method: Option<String>,
    /// EncryptedData/CipherData/CipherValue (base64, as written).
    pub data_value: Option<String>,
    /// EncryptedKey/EncryptionMethod@Algorithm: the key transport.
    pub key_method: Option<String>,
    /// EncryptedKey/EncryptionMethod/ds:DigestMethod@Algorithm: the OAEP digest.
    pub key_digest: Option<String>,
    /// EncryptedKey/CipherData/CipherValue (base64, as written).
    pub key_value: Option<String>,
}

/// Which element of the path a name is, by namespace and local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum El {
    EncryptedAssertion,
    EncryptedData,
    EncryptedKey,
    EncryptionMethod,
    DigestMethod,
    CipherData,
    CipherValue,
    Other,
}

fn element(ns: &[u8], local: &[u8]) -> El {
    match (ns, local) {
        (ASSERTION_NS, b"EncryptedAssertion") => El::EncryptedAssertion,
        (XENC_NS, b"EncryptedData") => El::EncryptedData,
        (XENC_NS, b"EncryptedKey") => El::EncryptedKey,
        (XENC_NS, b"EncryptionMethod") => El::EncryptionMethod,
        (XENC_NS, b"CipherData") => El::CipherData,
        (XENC_NS, b"CipherValue") => El::CipherValue,
        (DSIG_NS, b"DigestMethod") => El::DigestMethod,
        _ => El::Other,
    }
}

/// Reads the EncryptedAssertion of `xml` (a Response that passed the pre-parse, or the
/// verified canonical copy of one). Exactly one EncryptedData and one EncryptedKey, inside the
/// EncryptedData's KeyInfo or beside it (both are allowed by SAML core 2.3.4); anything else is
/// ambiguous and refused.
pub(crate) fn read(xml: &str) -> Result<Parts, SamlError> {
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut path: Vec<El> = Vec::new();
    let mut parts = Parts::default();
    let (mut data_seen, mut keys_seen, mut inside) = (0usize, 0usize, false);
    let mut text = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| SamlError::Malformed("EncryptedAssertion is not well-formed"))?;
        let ns: &[u8] = match ns {
            ResolveResult::Bound(n) => n.into_inner(),
            _ => b"",
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let el = element(ns, e.local_name().as_ref());
                let empty = matches!(event, Event::Empty(_));
                if el == El::EncryptedAssertion {
                    inside = true;
                }
                if inside {
                    let algorithm = || {
                        e.try_get_attribute("Algorithm")
                            .ok()
                            .flatten()
                            .and_then(|a| {
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok()
                            })
                            .map(std::borrow::Cow::into_owned)
                    };
                    match (el, path.last()) {
                        (El::EncryptedData, _) => data_seen += 1,
                        (El::EncryptedKey, _) => keys_seen += 1,
                        (El::EncryptionMethod, Some(El::EncryptedData)) => {
                            parts.data_method = algorithm();
                        }
                        (El::EncryptionMethod, Some(El::EncryptedKey)) => {
                            parts.key_method = algorithm();
                        }
                        (El::DigestMethod, Some(El::EncryptionMethod))
                            if path.len() >= 2 && path[path.len() - 2] == El::EncryptedKey =>
                        {
                            parts.key_digest = algorithm();
                        }
                        (El::CipherValue, _) => text.clear(),
                        _ => {}
                    }
                }
                if !empty {
                    path.push(el);
                }
            }
            Event::Text(t) if path.last() == Some(&El::CipherValue) => {
                let t = t
                    .xml_content(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|_| SamlError::Malformed("CipherValue is not text"))?;
                text.push_str(&t);
            }
            Event::CData(t) if path.last() == Some(&El::CipherValue) => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::End(_) => {
                let el = path.pop();
                if el == Some(El::CipherValue) && inside {
                    // The CipherValue's owner: EncryptedData or EncryptedKey, through CipherData.
                    let n = path.len();
                    if n >= 2 && path[n - 1] == El::CipherData {
                        match path[n - 2] {
                            El::EncryptedData => parts.data_value = Some(std::mem::take(&mut text)),
                            El::EncryptedKey => parts.key_value = Some(std::mem::take(&mut text)),
                            _ => {}
                        }
                    }
                }
                if el == Some(El::EncryptedAssertion) {
                    inside = false;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if data_seen != 1 {
        return Err(SamlError::Encryption(
            "an EncryptedAssertion holds exactly one EncryptedData",
        ));
    }
    if keys_seen != 1 {
        return Err(SamlError::Encryption(
            "exactly one EncryptedKey is accepted (none, or several: which one is meant?)",
        ));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(inner: &str) -> String {
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:EncryptedAssertion>{inner}</saml:EncryptedAssertion></samlp:Response>"#
        )
    }

    const GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
    const OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";

    #[test]
    fn pysaml2_style_one_declaration_under_another_prefix() {
        // pysaml2: ds declared once, as ns1, on EncryptedData; KeyInfo carries no xmlns:ds.
        let xml = wrap(&format!(
            r#"<ns0:EncryptedData xmlns:ns0="http://www.w3.org/2001/04/xmlenc#" xmlns:ns1="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element"><ns0:EncryptionMethod Algorithm="{GCM}"/><ns1:KeyInfo><ns0:EncryptedKey><ns0:EncryptionMethod Algorithm="{OAEP}"><ns1:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></ns0:EncryptionMethod><ns0:CipherData><ns0:CipherValue>S0VZ
</ns0:CipherValue></ns0:CipherData></ns0:EncryptedKey></ns1:KeyInfo><ns0:CipherData><ns0:CipherValue>REFUQQ==</ns0:CipherValue></ns0:CipherData></ns0:EncryptedData>"#
        ));
        let p = read(&xml).unwrap();
        assert_eq!(p.data_method.as_deref(), Some(GCM));
        assert_eq!(p.key_method.as_deref(), Some(OAEP));
        assert_eq!(
            p.key_digest.as_deref(),
            Some("http://www.w3.org/2000/09/xmldsig#sha1")
        );
        assert_eq!(p.key_value.as_deref(), Some("S0VZ\n"));
        assert_eq!(p.data_value.as_deref(), Some("REFUQQ=="));
    }

    #[test]
    fn adfs_style_key_beside_the_data_with_a_default_namespace_key_info() {
        let xml = wrap(&format!(
            r##"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:EncryptionMethod Algorithm="{GCM}"/><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><RetrievalMethod URI="#k"/></KeyInfo><xenc:CipherData><xenc:CipherValue>REFUQQ==</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData><xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Id="k"><xenc:EncryptionMethod Algorithm="{OAEP}"/><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509IssuerSerial><X509IssuerName>CN=sp</X509IssuerName><X509SerialNumber>1</X509SerialNumber></X509IssuerSerial></X509Data></KeyInfo><xenc:CipherData><xenc:CipherValue>S0VZ</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"##
        ));
        let p = read(&xml).unwrap();
        assert_eq!(p.key_value.as_deref(), Some("S0VZ"));
        assert_eq!(p.data_value.as_deref(), Some("REFUQQ=="));
        assert_eq!(p.key_digest, None, "OAEP's SHA-1 default applies");
    }

    #[test]
    fn a_second_encrypted_key_or_data_is_ambiguous_key_confusion() {
        let key = format!(
            r#"<xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:EncryptionMethod Algorithm="{OAEP}"/><xenc:CipherData><xenc:CipherValue>S0VZ</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"#
        );
        let data = format!(
            r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:EncryptionMethod Algorithm="{GCM}"/><xenc:CipherData><xenc:CipherValue>REFUQQ==</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>"#
        );
        assert!(read(&wrap(&format!("{data}{key}"))).is_ok());
        for bad in [
            format!("{data}{key}{key}"),
            format!("{data}{data}{key}"),
            data.clone(),
        ] {
            assert_eq!(read(&wrap(&bad)).unwrap_err().code(), "encryption");
        }
        // Elements of another namespace with the same local names are not read.
        let impostor = data.replace(
            "http://www.w3.org/2001/04/xmlenc#\"",
            "urn:evil\" xmlns:x=\"urn:x\"",
        );
        assert_eq!(
            read(&wrap(&format!("{impostor}{key}"))).unwrap_err().code(),
            "encryption"
        );
    }
}
