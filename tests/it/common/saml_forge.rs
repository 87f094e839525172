//! SAML Responses signed at test time with real XML signatures (libxmlsec1 through samael's
//! `Crypto::sign_xml`, never hand-rolled), for the ACS tests that need "now"-relative
//! instants. The attack corpus with fixed instants is tests/fixtures/saml (xmlsec1 CLI).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use rolegate::clock::rfc3339;
use samael::crypto::{Crypto, CryptoProvider};
use std::time::{Duration, SystemTime};

pub(crate) const IDP_ENTITY: &str = "https://idp.forge.test/saml/metadata";
pub(crate) const SP_ENTITY: &str = "https://rolegate.example.test/saml/metadata";
pub(crate) const ACS: &str = "https://rolegate.example.test/saml/acs";

pub(crate) struct SamlForge {
    key: PKey<Private>,
    cert_b64: String,
}

/// What varies between the Responses a test needs.
#[derive(Clone)]
pub(crate) struct Knobs {
    pub in_response_to: Option<String>,
    pub assertion_id: String,
    pub name_id: String,
    pub groups: Vec<String>,
    pub audience: String,
    pub recipient: String,
    pub destination: String,
    /// Seconds after now the assertion stops being valid.
    pub valid_for: i64,
    /// When set, a first bearer SubjectConfirmation that expires this many seconds after now
    /// comes before the regular one (which lives `valid_for`).
    pub first_confirmation_valid_for: Option<i64>,
    /// The assertion signature's DigestMethod.
    pub digest: &'static str,
    /// Inserted after the Response's Status (outside the signed assertion).
    pub response_extra: String,
    /// Conditions without NotOnOrAfter (SAML core 2.5.1: it is optional).
    pub open_ended_conditions: bool,
    /// Whether the assertion carries a signature (template) of its own.
    pub sign_assertion: bool,
    /// The AuthnStatement's SessionNotOnOrAfter, this many seconds after now (none if unset).
    pub session_valid_for: Option<i64>,
    /// How many seconds before now the IdP authenticated the user (AuthnInstant).
    pub authn_age: i64,
}

pub(crate) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub(crate) const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub(crate) const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
pub(crate) const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
pub(crate) const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";

/// How [`SamlForge::encrypted_response_xml`] encrypts the assertion to the SP (XML Encryption:
/// RSA-OAEP key transport to the SP certificate, as /saml/metadata publishes it, and AES).
pub(crate) struct Encrypt<'a> {
    pub sp_cert_pem: &'a str,
    /// [`AES128_CBC`], [`AES256_CBC`] or [`AES128_GCM`].
    pub cipher: &'static str,
    /// The EncryptionMethod written into the document (another than `cipher` relabels it).
    pub label: Option<&'static str>,
    /// Keep only this many bytes of the EncryptedData CipherValue (IV included).
    pub truncate: Option<usize>,
    /// What is encrypted instead of the signed assertion.
    pub plaintext: Option<String>,
    /// Also sign the Response itself (its own ds:Signature, covering the EncryptedAssertion).
    pub sign_response: bool,
}

impl<'a> Encrypt<'a> {
    pub(crate) fn to(sp_cert_pem: &'a str, cipher: &'static str) -> Self {
        Encrypt {
            sp_cert_pem,
            cipher,
            label: None,
            truncate: None,
            plaintext: None,
            sign_response: false,
        }
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            in_response_to: None,
            assertion_id: format!("_a{}", hex::encode(rand::random::<[u8; 8]>())),
            name_id: "alice@example.com".into(),
            groups: vec!["eng".into()],
            audience: SP_ENTITY.into(),
            recipient: ACS.into(),
            destination: ACS.into(),
            valid_for: 300,
            first_confirmation_valid_for: None,
            digest: SHA256,
            response_extra: String::new(),
            open_ended_conditions: false,
            sign_assertion: true,
            session_valid_for: None,
            authn_age: 0,
        }
    }
}

impl SamlForge {
    pub(crate) fn new() -> SamlForge {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "idp.forge.test").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert_b64 = STANDARD.encode(b.build().to_der().unwrap());
        SamlForge { key, cert_b64 }
    }

    pub(crate) fn key_pem(&self) -> String {
        String::from_utf8(self.key.private_key_to_pem_pkcs8().unwrap()).unwrap()
    }

    pub(crate) fn cert_pem(&self) -> String {
        let der = STANDARD.decode(&self.cert_b64).unwrap();
        String::from_utf8(X509::from_der(&der).unwrap().to_pem().unwrap()).unwrap()
    }

    pub(crate) fn cert_b64_der(&self) -> String {
        self.cert_b64.clone()
    }

    /// This forge's certificate as a signing KeyDescriptor, to splice into metadata.
    pub(crate) fn key_descriptor(&self) -> String {
        format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            self.cert_b64
        )
    }

    pub(crate) fn metadata(&self, sso_url: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP_ENTITY}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
            self.cert_b64
        )
    }

    /// The IdP metadata as the file [`corp_idp`] names, for `TestApp::spawn_with_files`.
    pub(crate) fn metadata_file(&self) -> (&'static str, String) {
        (
            "corp-metadata.xml",
            self.metadata("https://idp.forge.test/sso"),
        )
    }

    /// A Response with a signed Assertion, base64 as a browser posts it.
    pub(crate) fn response_b64(&self, k: &Knobs) -> String {
        STANDARD.encode(self.response_xml(k))
    }

    pub(crate) fn response_xml(&self, k: &Knobs) -> String {
        let now = SystemTime::now();
        let assertion = self.assertion_template(k, now, false);
        let template = envelope(k, now, "", &assertion);
        self.sign(&template)
    }

    /// The assertion alone, signed (its own document: what an IdP encrypts).
    pub(crate) fn signed_assertion_xml(&self, k: &Knobs) -> String {
        let signed = self.sign(&self.assertion_template(k, SystemTime::now(), true));
        // Without the XML declaration: the plaintext of an EncryptedData of Type Element.
        signed[signed.find("<saml:Assertion").unwrap()..]
            .trim()
            .to_string()
    }

    /// A Response carrying an EncryptedAssertion (SAML core 2.3.4) encrypted to `e.sp_cert_pem`.
    pub(crate) fn encrypted_response_xml(&self, k: &Knobs, e: &Encrypt<'_>) -> String {
        let plain = e
            .plaintext
            .clone()
            .unwrap_or_else(|| self.signed_assertion_xml(k));
        let (key_b64, mut value) = encrypt(e.sp_cert_pem, e.cipher, plain.as_bytes());
        if let Some(n) = e.truncate {
            value.truncate(n);
        }
        let enc = format!(
            r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{alg}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="{SHA1}"/></xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{key_b64}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{value}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
            alg = e.label.unwrap_or(e.cipher),
            value = STANDARD.encode(&value),
        );
        let now = SystemTime::now();
        if e.sign_response {
            let sig = signature_template(&format!("_r{}", k.assertion_id), SHA256);
            self.sign(&envelope(k, now, &sig, &enc))
        } else {
            let xml = envelope(k, now, "", &enc);
            // Unsigned: no xmlsec pass, so add the declaration a serialiser would.
            format!("<?xml version=\"1.0\"?>\n{xml}")
        }
    }

    fn sign(&self, template: &str) -> String {
        Crypto::sign_xml(template, &self.key.private_key_to_der().unwrap())
            .expect("xmlsec signs the template")
    }

    /// The assertion with an empty signature template; `standalone` declares the assertion
    /// namespace on it (it is then a document of its own).
    fn assertion_template(&self, k: &Knobs, now: SystemTime, standalone: bool) -> String {
        let t = |secs: i64| at(now, secs);
        let irt = k
            .in_response_to
            .as_ref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let groups: String = k
            .groups
            .iter()
            .map(|g| format!("<saml:AttributeValue>{g}</saml:AttributeValue>"))
            .collect();
        let confirmation = |until: &str| {
            format!(
                r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{irt} Recipient="{recipient}" NotOnOrAfter="{until}"/></saml:SubjectConfirmation>"#,
                recipient = k.recipient
            )
        };
        let first = k
            .first_confirmation_valid_for
            .map(|s| confirmation(&t(s)))
            .unwrap_or_default();
        let session_until = k
            .session_valid_for
            .map(|s| format!(r#" SessionNotOnOrAfter="{}""#, t(s)))
            .unwrap_or_default();
        let aid = &k.assertion_id;
        let ns = if standalone {
            r#" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion""#
        } else {
            ""
        };
        format!(
            r##"<saml:Assertion{ns} ID="{aid}" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{IDP_ENTITY}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name}</saml:NameID>{first}{regular}</saml:Subject><saml:Conditions NotBefore="{nb}"{conditions_until}><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{authn}" SessionIndex="_s1"{session_until}><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="groups">{groups}</saml:Attribute><saml:Attribute Name="email"><saml:AttributeValue>{name}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"##,
            sig = if k.sign_assertion {
                signature_template(aid, k.digest)
            } else {
                String::new()
            },
            conditions_until = if k.open_ended_conditions {
                String::new()
            } else {
                format!(r#" NotOnOrAfter="{}""#, t(k.valid_for))
            },
            // Now, not earlier: the broker refuses assertions issued before its store's memory
            // began (a store restart), and tests sign in right after the broker starts.
            issued = t(0),
            authn = t(-k.authn_age),
            nb = t(-30),
            regular = confirmation(&t(k.valid_for)),
            aud = k.audience,
            name = k.name_id,
        )
    }
}

fn at(now: SystemTime, secs: i64) -> String {
    let when = if secs >= 0 {
        now + Duration::from_secs(secs.unsigned_abs())
    } else {
        now - Duration::from_secs(secs.unsigned_abs())
    };
    rfc3339(when)
}

/// The Response element around `inner` (an Assertion or EncryptedAssertion); `signature` goes
/// right after its Issuer, where SAML core 3.2.2 puts the Response's own ds:Signature.
fn envelope(k: &Knobs, now: SystemTime, signature: &str, inner: &str) -> String {
    let irt = k
        .in_response_to
        .as_ref()
        .map(|i| format!(r#" InResponseTo="{i}""#))
        .unwrap_or_default();
    format!(
        r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{aid}" Version="2.0" IssueInstant="{issued}" Destination="{dest}"{irt}><saml:Issuer>{IDP_ENTITY}</saml:Issuer>{signature}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{extra}{inner}</samlp:Response>"##,
        aid = k.assertion_id,
        issued = at(now, 0),
        dest = k.destination,
        extra = k.response_extra,
    )
}

/// An enveloped-signature template over the element with ID `id` (RSA-SHA256, exclusive c14n).
pub(crate) fn signature_template(id: &str, digest: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##
    )
}

/// XML Encryption with openssl primitives: a fresh AES key, RSA-OAEP (SHA-1, MGF1-SHA-1: the
/// rsa-oaep-mgf1p defaults) to the certificate's key; the value is IV ‖ ciphertext (‖ tag for
/// GCM, XML Encryption 1.1 §5.2.4). Returns (EncryptedKey CipherValue base64, EncryptedData
/// bytes).
fn encrypt(sp_cert_pem: &str, cipher: &str, plain: &[u8]) -> (String, Vec<u8>) {
    use openssl::symm::{Cipher, Crypter, Mode};
    let rsa = X509::from_pem(sp_cert_pem.as_bytes())
        .unwrap()
        .public_key()
        .unwrap()
        .rsa()
        .unwrap();
    let (c, gcm) = match cipher {
        AES128_CBC => (Cipher::aes_128_cbc(), false),
        AES256_CBC => (Cipher::aes_256_cbc(), false),
        AES128_GCM => (Cipher::aes_128_gcm(), true),
        other => panic!("no cipher {other}"),
    };
    let mut key = vec![0u8; c.key_len()];
    openssl::rand::rand_bytes(&mut key).unwrap();
    let mut wrapped = vec![0u8; usize::try_from(rsa.size()).unwrap()];
    let n = rsa
        .public_encrypt(&key, &mut wrapped, openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    wrapped.truncate(n);
    let mut iv = vec![0u8; if gcm { 12 } else { 16 }];
    openssl::rand::rand_bytes(&mut iv).unwrap();
    let mut crypter = Crypter::new(c, Mode::Encrypt, &key, Some(&iv)).unwrap();
    // PKCS#7 padding is one of the paddings XML Encryption 5.2.1 allows (the last byte counts).
    crypter.pad(!gcm);
    let mut out = vec![0u8; plain.len() + 32];
    let mut len = crypter.update(plain, &mut out).unwrap();
    len += crypter.finalize(&mut out[len..]).unwrap();
    out.truncate(len);
    let mut value = iv;
    value.extend_from_slice(&out);
    if gcm {
        let mut tag = [0u8; 16];
        crypter.get_tag(&mut tag).unwrap();
        value.extend_from_slice(&tag);
    }
    (STANDARD.encode(wrapped), value)
}

/// The `[[idp]]` "corp" of a forge (metadata in `corp-metadata.xml`, see
/// [`SamlForge::metadata_file`]; IdP-initiated sign-in allowed so tests can post Responses
/// directly), then `roles`, then one rule granting group `eng` the aliases in `eng_roles`.
pub(crate) fn corp_idp(roles: &str, eng_roles: &[&str]) -> String {
    let granted: Vec<String> = eng_roles.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        r#"
[[idp]]
id = "corp"
kind = "saml"
metadata_file = "corp-metadata.xml"
allow_idp_initiated = true

{roles}

[[map]]
idp = "corp"
groups = ["eng"]
roles = [{}]
"#,
        granted.join(", ")
    )
}
