//! IdP metadata: the entity ID, the pinned signing certificates and the SSO endpoint.
//!
//! Refusing metadata without a signing certificate is a security check, not a nicety: samael
//! skips signature verification altogether when it has no certificate (PEERS.md), so a
//! Response would then be accepted unsigned.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::CertificateDer;
use samael::metadata::EntityDescriptor;

const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// What the broker takes from an IdP's SAML metadata: who it is, its keys, where to send people.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    /// The IdP's entity id: the Issuer its Responses must carry.
    pub entity_id: String,
    /// Every signing certificate (several during a rollover); any of them may sign.
    pub certs: Vec<CertificateDer>,
    /// Their public keys, loaded into xmlsec once here (per load and refresh), shared by every
    /// verification.
    pub keys: rolegate_xmlsec::PinnedKeys,
    /// SHA-256 fingerprints of `certs`, hex, for logs and rollover alarms.
    pub fingerprints: Vec<String>,
    /// SingleSignOnService with the HTTP-Redirect binding (SP-initiated sign-in).
    pub(crate) sso_redirect_url: Option<String>,
    /// `validUntil` (Unix seconds): metadata past it is refused (SAML metadata 2.3.1).
    pub(crate) valid_until: Option<i64>,
}

/// Why IdP metadata is refused; the texts are what operators see at start, from `config
/// check` and from `verify saml`.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A DOCTYPE or entity declaration (never needed, and an XML attack surface).
    #[error("metadata must not contain a DOCTYPE or entities")]
    Doctype,
    /// Not an EntityDescriptor that samael can read.
    #[error("not SAML 2.0 metadata (an EntityDescriptor): {0}")]
    NotEntityDescriptor(<EntityDescriptor as std::str::FromStr>::Err),
    /// `entityID` is absent or blank.
    #[error("EntityDescriptor has no entityID")]
    NoEntityId,
    /// No IDPSSODescriptor: an SP's or someone else's metadata.
    #[error("no IDPSSODescriptor: this is not an identity provider's metadata")]
    NotAnIdp,
    /// `validUntil` is in the past (SAML metadata 2.3.1).
    #[error("metadata has expired (validUntil is in the past); fetch it again")]
    Expired,
    /// An X509Certificate is not base64.
    #[error("an X509Certificate is not valid base64")]
    CertNotBase64,
    /// An X509Certificate is base64 but not a DER certificate.
    #[error("an X509Certificate is not a valid DER certificate")]
    CertNotDer,
    /// No signing certificate: samael would accept unsigned Responses.
    #[error(
        "no signing certificate (KeyDescriptor use=\"signing\" with an \
                    X509Certificate): rolegate will not accept unsigned Responses"
    )]
    NoSigningCertificate,
    /// A certificate whose key cannot verify XML signatures.
    #[error(transparent)]
    Pin(#[from] super::verify::PinError),
}

/// Parses an EntityDescriptor (`now` in Unix seconds, for `validUntil`); refuses metadata without a signing certificate or past its end.
pub fn parse(xml: &str, now: i64) -> Result<IdpMetadata, MetadataError> {
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err(MetadataError::Doctype);
    }
    let ed: EntityDescriptor = xml.parse().map_err(MetadataError::NotEntityDescriptor)?;
    let entity_id = ed
        .entity_id
        .clone()
        .filter(|e| !e.trim().is_empty())
        .ok_or(MetadataError::NoEntityId)?;
    let descriptors = ed
        .idp_sso_descriptors
        .as_deref()
        .filter(|d| !d.is_empty())
        .ok_or(MetadataError::NotAnIdp)?;
    let mut valid_until = ed.valid_until.map(|t| t.timestamp());
    for d in descriptors {
        if let Some(t) = d.valid_until {
            valid_until = Some(valid_until.map_or(t.timestamp(), |v| v.min(t.timestamp())));
        }
    }
    if let Some(v) = valid_until
        && v <= now
    {
        return Err(MetadataError::Expired);
    }
    let mut certs = Vec::new();
    for d in descriptors {
        for k in &d.key_descriptors {
            // `use` absent means "both signing and encryption" (metadata 2.4.1.1).
            if !matches!(k.key_use.as_deref(), None | Some("") | Some("signing")) {
                continue;
            }
            for b64 in k.key_info.x509_data.iter().flat_map(|x| &x.certificates) {
                let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
                let der = STANDARD
                    .decode(clean)
                    .map_err(|_| MetadataError::CertNotBase64)?;
                openssl::x509::X509::from_der(&der).map_err(|_| MetadataError::CertNotDer)?;
                if !certs.iter().any(|c: &CertificateDer| c.der_data() == der) {
                    certs.push(CertificateDer::from(der));
                }
            }
        }
    }
    if certs.is_empty() {
        return Err(MetadataError::NoSigningCertificate);
    }
    let keys = super::verify::pinned_keys(&certs)?;
    let fingerprints = certs
        .iter()
        .map(|c| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(c.der_data()))
        })
        .collect();
    let sso_redirect_url = descriptors
        .iter()
        .flat_map(|d| &d.single_sign_on_services)
        .find(|e| e.binding == REDIRECT_BINDING)
        .map(|e| e.location.clone());
    Ok(IdpMetadata {
        entity_id,
        certs,
        keys,
        fingerprints,
        sso_redirect_url,
        valid_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509, X509NameBuilder};

    fn cert_b64() -> String {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "idp.test").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(365).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        STANDARD.encode(b.build().to_der().unwrap())
    }

    fn md(keys: &str, extra: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.test/md" {extra}>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    fn key(use_: &str, cert: &str) -> String {
        format!(
            r#"<md:KeyDescriptor {use_}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
        )
    }

    #[test]
    fn signing_certs_rollover_and_sso_url() {
        let (a, b) = (cert_b64(), cert_b64());
        let x = md(
            &format!(
                "{}{}",
                key(r#"use="signing""#, &a),
                key(r#"use="signing""#, &b)
            ),
            "",
        );
        let m = parse(&x, 0).unwrap();
        assert_eq!(m.entity_id, "https://idp.test/md");
        assert_eq!(m.certs.len(), 2);
        assert_eq!(m.fingerprints.len(), 2);
        assert_eq!(m.sso_redirect_url.as_deref(), Some("https://idp.test/sso"));
        // `use` absent counts as signing (metadata 2.4.1.1).
        assert_eq!(parse(&md(&key("", &a), ""), 0).unwrap().certs.len(), 1);
    }

    #[test]
    fn refuses_metadata_that_would_let_unsigned_responses_through() {
        let a = cert_b64();
        let e = parse(&md(&key(r#"use="encryption""#, &a), ""), 0).unwrap_err();
        assert!(e.to_string().contains("no signing certificate"), "{e}");
        assert!(parse(&md("", ""), 0).is_err());
        assert!(parse(&md(&key(r#"use="signing""#, "bm90IGEgY2VydA=="), ""), 0).is_err());
        let expired = md(
            &key(r#"use="signing""#, &a),
            r#"validUntil="2020-01-01T00:00:00Z""#,
        );
        assert!(
            parse(&expired, 1_800_000_000)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        assert!(parse("<!DOCTYPE x><x/>", 0).is_err());
        assert!(parse("not xml", 0).is_err());
    }
}
