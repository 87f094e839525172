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

pub const IDP_ENTITY: &str = "https://idp.forge.test/saml/metadata";
pub const SP_ENTITY: &str = "https://rolegate.example.test/saml/metadata";
pub const ACS: &str = "https://rolegate.example.test/saml/acs";

pub struct SamlForge {
    key: PKey<Private>,
    cert_b64: String,
}

/// What varies between the Responses a test needs.
#[derive(Clone)]
pub struct Knobs {
    pub in_response_to: Option<String>,
    pub assertion_id: String,
    pub name_id: String,
    pub groups: Vec<String>,
    pub audience: String,
    pub recipient: String,
    pub destination: String,
    /// Seconds after now the assertion stops being valid.
    pub valid_for: i64,
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
        }
    }
}

impl SamlForge {
    pub fn new() -> SamlForge {
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

    pub fn key_pem(&self) -> String {
        String::from_utf8(self.key.private_key_to_pem_pkcs8().unwrap()).unwrap()
    }

    pub fn cert_pem(&self) -> String {
        let der = STANDARD.decode(&self.cert_b64).unwrap();
        String::from_utf8(X509::from_der(&der).unwrap().to_pem().unwrap()).unwrap()
    }

    pub fn cert_b64_der(&self) -> String {
        self.cert_b64.clone()
    }

    /// This forge's certificate as a signing KeyDescriptor, to splice into metadata.
    pub fn key_descriptor(&self) -> String {
        format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            self.cert_b64
        )
    }

    pub fn metadata(&self, sso_url: &str) -> String {
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
    pub fn metadata_file(&self) -> (&'static str, String) {
        (
            "corp-metadata.xml",
            self.metadata("https://idp.forge.test/sso"),
        )
    }

    /// A Response with a signed Assertion, base64 as a browser posts it.
    pub fn response_b64(&self, k: &Knobs) -> String {
        STANDARD.encode(self.response_xml(k))
    }

    pub fn response_xml(&self, k: &Knobs) -> String {
        let now = SystemTime::now();
        let t = |secs: i64| {
            let when = if secs >= 0 {
                now + Duration::from_secs(secs as u64)
            } else {
                now - Duration::from_secs((-secs) as u64)
            };
            rfc3339(when)
        };
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
        let aid = &k.assertion_id;
        let template = format!(
            r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{aid}" Version="2.0" IssueInstant="{issued}" Destination="{dest}"{irt}><saml:Issuer>{IDP_ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{IDP_ENTITY}</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{aid}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{irt} Recipient="{recipient}" NotOnOrAfter="{until}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{until}"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="groups">{groups}</saml:Attribute><saml:Attribute Name="email"><saml:AttributeValue>{name}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"##,
            // Now, not earlier: the broker refuses assertions issued before its store's memory
            // began (a store restart), and tests sign in right after the broker starts.
            issued = t(0),
            nb = t(-30),
            until = t(k.valid_for),
            dest = k.destination,
            recipient = k.recipient,
            aud = k.audience,
            name = k.name_id,
        );
        Crypto::sign_xml(&template, &self.key.private_key_to_der().unwrap())
            .expect("xmlsec signs the template")
    }
}

/// The `[[idp]]` "corp" of a forge (metadata in `corp-metadata.xml`, see
/// [`SamlForge::metadata_file`]; IdP-initiated sign-in allowed so tests can post Responses
/// directly), then `roles`, then one rule granting group `eng` the aliases in `eng_roles`.
pub fn corp_idp(roles: &str, eng_roles: &[&str]) -> String {
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
