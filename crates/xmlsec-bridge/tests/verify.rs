//! The wrapper against really signed SAML Responses (tests/fixtures/saml, signed by the
//! xmlsec1 command): what verifies, what never does, and what the caller gets back.

use rolegate_xmlsec::{PinnedKeys, VerifyError, verify_signatures};

const STRONG: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
];

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/saml/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn keys(names: &[&str]) -> PinnedKeys {
    let ders: Vec<Vec<u8>> = names
        .iter()
        .map(|n| {
            std::fs::read(format!(
                "{}/tests/data/{n}.spki.der",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        })
        .collect();
    PinnedKeys::from_spki_der(ders.iter().map(Vec::as_slice)).unwrap()
}

#[test]
fn a_signed_assertion_verifies_and_only_its_canonical_bytes_come_back() {
    let refs = verify_signatures(&fixture("valid.xml"), &keys(&["idp"]), STRONG).unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].uri.as_deref(), Some("#_a7f3c1"));
    assert!(
        refs[0].content.starts_with("<saml:Assertion"),
        "{}",
        refs[0].content
    );
    assert!(
        !refs[0].content.contains("<samlp:Response"),
        "the envelope is not signed"
    );
}

#[test]
fn both_signatures_of_a_doubly_signed_response_are_reported() {
    let refs =
        verify_signatures(&fixture("valid-both-signed.xml"), &keys(&["idp"]), STRONG).unwrap();
    let signatures: Vec<usize> = refs.iter().map(|r| r.signature).collect();
    assert_eq!(signatures, vec![0, 1], "{refs:?}");
}

#[test]
fn key_info_is_never_a_source_of_keys_embedded_cert_attack() {
    for (file, why) in [
        (
            "embedded-attacker-cert.xml",
            "signed by a key it carries itself",
        ),
        (
            "untrusted-key-with-trusted-keyinfo.xml",
            "KeyInfo names the pinned cert, the signature is another key's",
        ),
        ("tampered-after-signing.xml", "changed after signing"),
    ] {
        assert_eq!(
            verify_signatures(&fixture(file), &keys(&["idp"]), STRONG),
            Err(VerifyError::NotVerified),
            "{why}"
        );
    }
    // The attacker's own key verifies its document: the pinned key is what matters.
    assert!(
        verify_signatures(
            &fixture("embedded-attacker-cert.xml"),
            &keys(&["attacker"]),
            STRONG
        )
        .is_ok()
    );
}

#[test]
fn rsa_and_ec_keys_pinned_together_each_verify_their_own_signatures() {
    let both = keys(&["idp", "idp-ec"]);
    assert!(verify_signatures(&fixture("valid.xml"), &both, STRONG).is_ok());
    assert!(verify_signatures(&fixture("valid-ecdsa.xml"), &both, STRONG).is_ok());
    let reversed = keys(&["idp-ec", "idp"]);
    assert!(verify_signatures(&fixture("valid.xml"), &reversed, STRONG).is_ok());
}

#[test]
fn an_algorithm_not_allowed_is_refused_by_xmlsec_itself_sha1_downgrade() {
    let sha1 = fixture("sha1-with-opt-in.xml");
    assert_eq!(
        verify_signatures(&sha1, &keys(&["idp"]), STRONG),
        Err(VerifyError::NotVerified)
    );
    let mut with_sha1 = STRONG.to_vec();
    with_sha1.extend([
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    ]);
    assert!(verify_signatures(&sha1, &keys(&["idp"]), &with_sha1).is_ok());
}

#[test]
fn duplicate_ids_make_the_reference_ambiguous_and_fail_the_document() {
    let xml = fixture("valid.xml").replacen(
        "<saml:Issuer>",
        "<saml:Issuer xmlns:x=\"urn:x\"><x:y ID=\"_a7f3c1\"/>",
        1,
    );
    assert_eq!(
        verify_signatures(&xml, &keys(&["idp"]), STRONG),
        Err(VerifyError::DuplicateId)
    );
}

#[test]
fn ids_need_not_be_ncnames_as_deployed_idps_write_them() {
    // An ID starting with a digit (SecureWorks writes UUIDs) resolves like any other: the
    // Reference finds the element (no "ID not found" refusal before the digest), and the digest
    // still covers it, so renaming an ID inside signed content fails. The accepted case is the
    // real SecureWorks Response in tests/fixtures/saml-realworld (tests/it/cli_verify_saml.rs).
    let xml = fixture("valid.xml").replace("_a7f3c1", "28338c8c-39ab");
    assert_eq!(
        verify_signatures(&xml, &keys(&["idp"]), STRONG),
        Err(VerifyError::NotVerified),
        "the ID is inside the signed assertion: renaming it breaks the digest"
    );
}

#[test]
fn unsigned_and_malformed_documents() {
    assert_eq!(
        verify_signatures(&fixture("unsigned.xml"), &keys(&["idp"]), STRONG),
        Err(VerifyError::NoSignature)
    );
    assert_eq!(
        verify_signatures("<a><b></a>", &keys(&["idp"]), STRONG),
        Err(VerifyError::NotXml)
    );
    assert!(matches!(
        PinnedKeys::from_spki_der([b"not a key".as_slice()]),
        Err(VerifyError::KeyLoad(0))
    ));
    assert!(matches!(
        PinnedKeys::from_spki_der(std::iter::empty::<&[u8]>()),
        Err(VerifyError::NoKeys)
    ));
}

#[test]
fn keys_are_shared_by_threads_verifying_at_once() {
    let k = keys(&["idp", "idp-ec"]);
    let xml = fixture("valid.xml");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert!(verify_signatures(&xml, &k, STRONG).is_ok());
                }
            });
        }
    });
}

#[test]
fn failures_are_reported_to_the_caller_never_to_stderr() {
    rolegate_xmlsec::capture_errors();
    let _ = rolegate_xmlsec::take_errors();
    assert!(
        verify_signatures(
            &fixture("tampered-after-signing.xml"),
            &keys(&["idp"]),
            STRONG
        )
        .is_err()
    );
    let (reports, _) = rolegate_xmlsec::take_errors();
    assert!(
        reports
            .iter()
            .any(|r| r.message.contains("data and digest do not match")),
        "{reports:?}"
    );
}
