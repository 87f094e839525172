//! The strict SAML pre-parse from arbitrary bytes (src/idp/saml/preparse.rs).
//!
//! Every input that is UTF-8 is taken as the decoded XML of a SAMLResponse (the ACS only
//! reaches the pre-parse with a `String`) and goes through `preparse` twice, as the ACS uses
//! it: with a `samlp:Response` root (the posted document) and with a `saml:Assertion` root
//! (a decrypted EncryptedAssertion); whatever it accepts goes through `check_algorithms` with
//! and without SHA-1. Nothing may panic, and:
//!
//! - an accepted document is at most `MAX_XML_CHARS` characters;
//! - `check_algorithms` is monotonic: what it accepts without SHA-1 it accepts with SHA-1;
//! - when it accepts, every `Algorithm` it saw sits on an element the allow list knows.
//!
//! Run it with `cargo fuzz` (fuzz/README.md); no libxml2 or xmlsec runs here.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rolegate::idp::saml::preparse::{
    ASSERTION_NS, MAX_XML_CHARS, PROTOCOL_NS, check_algorithms, preparse,
};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    for root in [
        (PROTOCOL_NS, b"Response".as_slice()),
        (ASSERTION_NS, b"Assertion".as_slice()),
    ] {
        let Ok(facts) = preparse(xml, root) else {
            continue;
        };
        assert!(xml.chars().count() <= MAX_XML_CHARS);
        let strict = check_algorithms(&facts, false);
        let lax = check_algorithms(&facts, true);
        assert!(
            strict.is_err() || lax.is_ok(),
            "allowing SHA-1 refused what the strict check accepted: {lax:?}"
        );
        // Any document whose algorithms all pass has only allow-listed ones: check_algorithms
        // must have looked at every one of them (no early `Ok`).
        if lax.is_ok() {
            for a in &facts.algorithms {
                let element = &a.element;
                assert!(
                    matches!(
                        element.as_str(),
                        "SignatureMethod"
                            | "DigestMethod"
                            | "CanonicalizationMethod"
                            | "Transform"
                            | "EncryptionMethod"
                    ),
                    "an Algorithm on <{element}> passed the allow list"
                );
            }
        }
    }
});
