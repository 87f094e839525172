//! The strict pre-parse: a streaming pass over the raw XML before libxml2 or xmlsec see it.
//!
//! Why before: libxml2 expands entities and reads DTDs, and xmlsec follows whatever algorithm
//! URIs a signature names (XSLT transforms included). A SAML Response needs none of that, so
//! anything outside a plain element tree is refused here, where nothing has been interpreted
//! yet. The same pass counts the assertions anywhere in the document: signature-wrapping
//! attacks (XSW) work by adding a second assertion somewhere the verifier does not look, and a
//! legitimate Response carries exactly one (SAML profiles 4.1.4.2 allow more, no IdP we
//! support sends more, and refusing them removes the whole attack class).

use super::SamlError;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// Decoded characters of XML we look at.
pub const MAX_XML_CHARS: usize = 100_000;
/// A Response is about 10 levels deep; 48 leaves room for extensions, never for a bomb.
pub(crate) const MAX_DEPTH: usize = 48;

/// The SAML protocol namespace (`samlp:`).
pub const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
/// The SAML assertion namespace (`saml:`).
pub const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const XENC_NS: &[u8] = b"http://www.w3.org/2001/04/xmlenc#";

/// What the pass learned about the document.
#[derive(Debug, Default)]
pub struct Facts {
    /// `saml:Assertion` elements, anywhere.
    pub assertions: usize,
    /// `saml:EncryptedAssertion` elements, anywhere.
    pub(crate) encrypted_assertions: usize,
    /// A `ds:Signature` that is a direct child of the root element.
    pub(crate) root_signed: bool,
    /// Every `Algorithm` attribute, with the element that carries it.
    pub algorithms: Vec<AlgorithmUse>,
    /// The root element's own fields, read in the same pass (so the envelope never needs a
    /// second, full parse).
    pub envelope: Envelope,
    /// The Issuer of an Assertion that is a direct child of the root (the Response Issuer is
    /// optional, SAML core 3.2.2): with the envelope's, all the ACS reads before verifying.
    pub(crate) assertion_issuer: Option<String>,
}

/// One `Algorithm` attribute in the ds or xenc namespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AlgorithmUse {
    /// Local name of the element carrying it (`SignatureMethod`, `DigestMethod`, …).
    pub element: String,
    /// The algorithm's URI.
    pub uri: String,
    /// A DigestMethod that is a direct child of an RSA-OAEP `xenc:EncryptionMethod`: the OAEP
    /// hash, not a signature digest.
    pub(crate) in_oaep: bool,
}

impl AlgorithmUse {
    /// An algorithm use outside RSA-OAEP (tests and fuzzing build them).
    pub fn new(element: &str, uri: &str) -> AlgorithmUse {
        AlgorithmUse {
            element: element.into(),
            uri: uri.into(),
            in_oaep: false,
        }
    }
}

const OAEP: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";

/// Which Issuer text is being read.
#[derive(Clone, Copy)]
enum IssuerOf {
    Root,
    Assertion,
}

/// What the Response element says about itself: its attributes, its Issuer and its top-level
/// StatusCode. Read from the document as sent; which of it is signed is decided later.
#[derive(Debug, Default)]
pub struct Envelope {
    /// `Version`.
    pub version: Option<String>,
    /// `Destination`.
    pub destination: Option<String>,
    /// `InResponseTo`.
    pub in_response_to: Option<String>,
    /// `IssueInstant`.
    pub issue_instant: Option<String>,
    /// The Response's own `Issuer` text.
    pub issuer: Option<String>,
    /// The top-level StatusCode's value.
    pub status: Option<String>,
    /// The second-level StatusCode inside the top-level one (`AuthnFailed`, `RequestDenied`…):
    /// what the IdP says about a failed sign-in, for the page that tells the user.
    pub(crate) sub_status: Option<String>,
}

/// `root` is the (namespace, local name) the document element must have.
pub fn preparse(xml: &str, root: (&[u8], &[u8])) -> Result<Facts, SamlError> {
    if xml.chars().count() > MAX_XML_CHARS {
        return Err(SamlError::Oversize(MAX_XML_CHARS));
    }
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut facts = Facts::default();
    let mut depth = 0usize;
    let mut root_done = false;
    let mut root_seen = false;
    // Text of an Issuer while it is being read; whether we are inside Status, or inside an
    // Assertion that is a child of the root.
    let mut issuer_text: Option<(IssuerOf, String)> = None;
    let mut in_status = false;
    // Inside the top-level StatusCode (whose child StatusCode is the second-level one).
    let mut in_top_code = false;
    let mut in_assertion = false;
    // The depth of the children of an open RSA-OAEP xenc:EncryptionMethod.
    let mut oaep_children: Option<usize> = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| SamlError::Malformed("not well-formed XML"))?;
        match event {
            Event::Start(_) | Event::Empty(_) if root_done => {
                return Err(SamlError::ForbiddenXml("content after the root element"));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name();
                let local = local.as_ref();
                let ns = match ns {
                    ResolveResult::Bound(n) => n.into_inner(),
                    ResolveResult::Unbound => b"".as_slice(),
                    ResolveResult::Unknown(_) => {
                        return Err(SamlError::Malformed("undeclared namespace prefix"));
                    }
                };
                if depth == 0 {
                    if (ns, local) != root {
                        return Err(SamlError::Malformed("the document is not a SAML Response"));
                    }
                    root_seen = true;
                    for a in e.attributes() {
                        let a = a.map_err(|_| SamlError::Malformed("bad attribute"))?;
                        let slot = match a.key.as_ref() {
                            b"Version" => &mut facts.envelope.version,
                            b"Destination" => &mut facts.envelope.destination,
                            b"InResponseTo" => &mut facts.envelope.in_response_to,
                            b"IssueInstant" => &mut facts.envelope.issue_instant,
                            _ => continue,
                        };
                        let v = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|_| SamlError::Malformed("bad attribute value"))?;
                        *slot = Some(v.into_owned());
                    }
                }
                let start = matches!(event, Event::Start(_));
                if start && depth == 1 && ns == ASSERTION_NS && local == b"Issuer" {
                    issuer_text = Some((IssuerOf::Root, String::new()));
                }
                if start && depth == 2 && in_assertion && ns == ASSERTION_NS && local == b"Issuer" {
                    issuer_text = Some((IssuerOf::Assertion, String::new()));
                }
                in_assertion = (in_assertion && depth >= 2)
                    || (start && depth == 1 && ns == ASSERTION_NS && local == b"Assertion");
                in_status = (in_status && depth >= 2)
                    || (depth == 1 && ns == PROTOCOL_NS && local == b"Status");
                let status_code = in_status && ns == PROTOCOL_NS && local == b"StatusCode";
                let top_code = depth == 2 && status_code && facts.envelope.status.is_none();
                let sub_code =
                    depth == 3 && in_top_code && status_code && facts.envelope.sub_status.is_none();
                in_top_code = (in_top_code && depth >= 3) || (top_code && start);
                if top_code || sub_code {
                    let slot = if top_code {
                        &mut facts.envelope.status
                    } else {
                        &mut facts.envelope.sub_status
                    };
                    for a in e.attributes().flatten() {
                        if a.key.as_ref() == b"Value" {
                            *slot = a
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .ok()
                                .map(std::borrow::Cow::into_owned);
                        }
                    }
                }
                if ns == ASSERTION_NS && local == b"Assertion" {
                    facts.assertions += 1;
                }
                if ns == ASSERTION_NS && local == b"EncryptedAssertion" {
                    facts.encrypted_assertions += 1;
                }
                if depth == 1 && ns == DSIG_NS && local == b"Signature" {
                    facts.root_signed = true;
                }
                if ns == DSIG_NS || ns == XENC_NS {
                    for a in e.attributes() {
                        let a = a.map_err(|_| SamlError::Malformed("bad attribute"))?;
                        if a.key.local_name().as_ref() == b"Algorithm" {
                            let uri = String::from_utf8_lossy(&a.value).into_owned();
                            if start && ns == XENC_NS && local == b"EncryptionMethod" && uri == OAEP
                            {
                                oaep_children = Some(depth + 1);
                            }
                            facts.algorithms.push(AlgorithmUse {
                                element: String::from_utf8_lossy(local).into_owned(),
                                in_oaep: oaep_children == Some(depth)
                                    && ns == DSIG_NS
                                    && local == b"DigestMethod",
                                uri,
                            });
                        }
                    }
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(SamlError::ForbiddenXml("elements nested too deeply"));
                    }
                } else if depth == 0 {
                    root_done = true;
                }
            }
            Event::End(_) => {
                depth -= 1;
                if oaep_children == Some(depth + 1) {
                    oaep_children = None;
                }
                match issuer_text.take() {
                    Some((IssuerOf::Root, text)) if depth == 1 => {
                        facts.envelope.issuer = Some(text.trim().to_string());
                    }
                    Some((IssuerOf::Assertion, text)) if depth == 2 => {
                        facts
                            .assertion_issuer
                            .get_or_insert_with(|| text.trim().to_string());
                    }
                    // An element inside the Issuer ended: keep reading it.
                    other => issuer_text = other,
                }
                if depth <= 1 {
                    in_status = false;
                    in_assertion = false;
                }
                if depth == 0 {
                    root_done = true;
                }
            }
            Event::Text(ref t) if root_done || depth == 0 => {
                if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(if root_seen {
                        SamlError::ForbiddenXml("text outside the root element")
                    } else {
                        SamlError::Malformed("not XML")
                    });
                }
            }
            Event::Text(ref t) => {
                if let Some((_, buf)) = issuer_text.as_mut() {
                    buf.push_str(&t.decode().map_err(|_| SamlError::Malformed("not UTF-8"))?);
                }
            }
            Event::CData(_) | Event::Comment(_) => {}
            // Character references (`&#65;`) and the five predefined entities are plain text;
            // any other entity needs a DTD, which is refused below.
            Event::GeneralRef(ref r) => {
                let predefined = matches!(&**r, b"lt" | b"gt" | b"amp" | b"apos" | b"quot");
                if !(predefined || r.is_char_ref()) || depth == 0 {
                    return Err(SamlError::ForbiddenXml("entity reference"));
                }
                if let Some((_, buf)) = issuer_text.as_mut() {
                    let c = match &**r {
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"amp" => Some('&'),
                        b"apos" => Some('\''),
                        b"quot" => Some('"'),
                        _ => r.resolve_char_ref().ok().flatten(),
                    };
                    buf.push(c.ok_or(SamlError::Malformed("bad character reference"))?);
                }
            }
            Event::Decl(_) if !root_seen => {}
            Event::Decl(_) => return Err(SamlError::ForbiddenXml("misplaced XML declaration")),
            Event::DocType(_) => return Err(SamlError::ForbiddenXml("DOCTYPE")),
            Event::PI(_) => return Err(SamlError::ForbiddenXml("processing instruction")),
            Event::Eof => break,
        }
    }
    if !root_seen || !root_done {
        return Err(SamlError::Malformed("no complete root element"));
    }
    Ok(facts)
}

/// The IdP a Response claims to come from, read by the strict pre-parse and nothing else
/// (no XML library sees unverified input first): the Response Issuer, else
/// its Assertion's. It only picks whose pinned certificates the Response must verify against.
pub fn claimed_issuer(xml: &str) -> Result<Option<String>, SamlError> {
    let facts = preparse(xml, (PROTOCOL_NS, b"Response"))?;
    Ok(facts.envelope.issuer.or(facts.assertion_issuer))
}

/// Algorithms a signature or an encrypted assertion may use. Anything else — XSLT or XPath
/// transforms, HMAC, RSA1_5 key transport, MD5 — is refused before xmlsec runs.
/// Signature methods accepted without the SHA-1 opt-in.
const SIGNATURE_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const DIGEST_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
/// Canonicalization methods and Reference transforms.
const TRANSFORMS: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
];
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Every algorithm xmlsec may run while verifying: the same lists this pre-parse checks, so the
/// door has two locks (any other algorithm is refused by xmlsec itself too).
pub fn signature_algorithms(allow_sha1: bool) -> Vec<&'static str> {
    let mut all: Vec<&str> = [SIGNATURE_METHODS, DIGEST_METHODS, TRANSFORMS].concat();
    if allow_sha1 {
        all.extend([RSA_SHA1, SHA1]);
    }
    all
}

/// Refuses any algorithm outside the allow list, before xmlsec sees the document.
pub fn check_algorithms(facts: &Facts, allow_sha1: bool) -> Result<(), SamlError> {
    for AlgorithmUse {
        element,
        uri,
        in_oaep,
    } in &facts.algorithms
    {
        let ok = match element.as_str() {
            "SignatureMethod" => match uri.as_str() {
                u if SIGNATURE_METHODS.contains(&u) => true,
                RSA_SHA1 if allow_sha1 => true,
                RSA_SHA1 | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => {
                    return Err(SamlError::WeakAlgorithm(
                        "SHA-1 signature (set insecure_allow_sha1 to accept it)",
                    ));
                }
                _ => false,
            },
            "DigestMethod" => match uri.as_str() {
                u if DIGEST_METHODS.contains(&u) => true,
                SHA1 if allow_sha1 => true,
                // The OAEP hash of rsa-oaep-mgf1p (SHA-1 by default, XML Encryption §5.5.2)
                // is not a signature digest — but only there: a SHA-1 digest anywhere else in
                // a document that also holds an OAEP EncryptionMethod is still a signature's.
                SHA1 if *in_oaep => true,
                SHA1 => {
                    return Err(SamlError::WeakAlgorithm(
                        "SHA-1 digest (set insecure_allow_sha1 to accept it)",
                    ));
                }
                _ => false,
            },
            "CanonicalizationMethod" | "Transform" => TRANSFORMS.contains(&uri.as_str()),
            "EncryptionMethod" => match uri.as_str() {
                // Whether CBC may be decrypted depends on the Response signature: `decrypt`.
                "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
                | "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
                | "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
                | "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
                | "http://www.w3.org/2009/xmlenc11#aes128-gcm"
                | "http://www.w3.org/2009/xmlenc11#aes192-gcm"
                | "http://www.w3.org/2009/xmlenc11#aes256-gcm" => true,
                "http://www.w3.org/2001/04/xmlenc#rsa-1_5" => {
                    return Err(SamlError::WeakAlgorithm(
                        "RSA1_5 key transport (padding-oracle prone); use RSA-OAEP",
                    ));
                }
                _ => {
                    return Err(SamlError::Encryption(
                        "unsupported encryption algorithm (RSA-OAEP with AES-GCM or AES-CBC only)",
                    ));
                }
            },
            _ => false,
        };
        if !ok {
            return Err(SamlError::WeakAlgorithm(
                "signature algorithm or transform not on the allow list",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: (&[u8], &[u8]) = (PROTOCOL_NS, b"Response");

    fn resp(inner: &str) -> String {
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{inner}</samlp:Response>"#
        )
    }

    #[test]
    fn counts_assertions_anywhere() {
        let x = resp("<saml:Assertion/><samlp:Extensions><saml:Assertion/></samlp:Extensions>");
        assert_eq!(preparse(&x, ROOT).unwrap().assertions, 2);
    }

    #[test]
    fn refuses_what_a_response_never_needs() {
        let cases = [
            format!("<!DOCTYPE r [<!ENTITY a 'b'>]>{}", resp("")),
            format!("{}<x/>", resp("")),
            format!("{} trailing", resp("")),
            resp("<?xml-stylesheet href='x'?>"),
            resp("&custom;"),
            resp(&"<a>".repeat(60)).replace("</samlp", &format!("{}</samlp", "</a>".repeat(60))),
        ];
        for c in cases {
            assert_eq!(
                preparse(&c, ROOT).unwrap_err().code(),
                "forbidden_xml",
                "{c:.80}"
            );
        }
        assert!(preparse(&resp("&lt;&#65;"), ROOT).is_ok());
        assert!(preparse(&format!("<?xml version=\"1.0\"?>\n{}\n", resp("")), ROOT).is_ok());
    }

    #[test]
    fn reads_the_envelope_in_the_same_pass() {
        let x = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Version="2.0" Destination="https://sp/acs?a=1&amp;b=2" InResponseTo="_r1" IssueInstant="2026-11-22T12:00:00Z"><saml:Issuer> https://idp/?x=1&amp;y=&#50; </saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="inner"/></samlp:StatusCode></samlp:Status><saml:Assertion><saml:Issuer>not the envelope's</saml:Issuer></saml:Assertion></samlp:Response>"#;
        let facts = preparse(x, ROOT).unwrap();
        assert_eq!(
            facts.assertion_issuer.as_deref(),
            Some("not the envelope's")
        );
        let e = facts.envelope;
        assert_eq!(e.version.as_deref(), Some("2.0"));
        assert_eq!(e.destination.as_deref(), Some("https://sp/acs?a=1&b=2"));
        assert_eq!(e.in_response_to.as_deref(), Some("_r1"));
        assert_eq!(e.issue_instant.as_deref(), Some("2026-11-22T12:00:00Z"));
        assert_eq!(e.issuer.as_deref(), Some("https://idp/?x=1&y=2"));
        assert_eq!(
            e.status.as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:status:Responder")
        );
        assert_eq!(e.sub_status.as_deref(), Some("inner"));
    }

    #[test]
    fn the_sha1_exception_is_the_oaep_digest_only() {
        const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
        let enc = |inner: &str| {
            resp(&format!(
                r#"<xenc:EncryptionMethod xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="{OAEP}">{inner}</xenc:EncryptionMethod>"#
            ))
        };
        let inside = preparse(
            &enc(&format!(r#"<ds:DigestMethod Algorithm="{SHA1}"/>"#)),
            ROOT,
        );
        assert!(check_algorithms(&inside.unwrap(), false).is_ok());
        // A signature's SHA-1 digest next to (not inside) an OAEP method stays refused.
        let beside = resp(&format!(
            r#"<xenc:EncryptionMethod xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Algorithm="{OAEP}"/><ds:Reference xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:DigestMethod Algorithm="{SHA1}"/></ds:Reference>"#
        ));
        let facts = preparse(&beside, ROOT).unwrap();
        assert_eq!(
            check_algorithms(&facts, false).unwrap_err().code(),
            "weak_algorithm"
        );
    }

    #[test]
    fn root_must_be_a_response() {
        let x = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>"#;
        assert_eq!(preparse(x, ROOT).unwrap_err().code(), "malformed");
        assert_eq!(preparse("not xml", ROOT).unwrap_err().code(), "malformed");
        assert_eq!(preparse("", ROOT).unwrap_err().code(), "malformed");
    }

    #[test]
    fn algorithms_allow_list() {
        let facts = |e: &str, u: &str| Facts {
            algorithms: vec![AlgorithmUse::new(e, u)],
            ..Facts::default()
        };
        let sha1 = facts(
            "SignatureMethod",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        );
        assert_eq!(
            check_algorithms(&sha1, false).unwrap_err().code(),
            "weak_algorithm"
        );
        assert!(check_algorithms(&sha1, true).is_ok());
        let xslt = facts("Transform", "http://www.w3.org/TR/1999/REC-xslt-19991116");
        assert_eq!(
            check_algorithms(&xslt, true).unwrap_err().code(),
            "weak_algorithm"
        );
        let rsa15 = facts(
            "EncryptionMethod",
            "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
        );
        assert_eq!(
            check_algorithms(&rsa15, true).unwrap_err().code(),
            "weak_algorithm"
        );
    }
}
