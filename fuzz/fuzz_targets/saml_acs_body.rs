//! The ACS body from arbitrary bytes: what `POST /saml/acs` does with its `SAMLResponse`
//! parameter (src/routes/saml.rs `verify_post`), minus the store and the thread pool.
//!
//! Every input that is UTF-8 is the form value (the route receives it as a `String`) and goes
//! through the route's own steps and public functions: `decode_post` (whitespace, size cap,
//! base64, UTF-8); for a Response without a pending login, `preparse::claimed_issuer` (the
//! strict pre-parse, the only thing that reads a post before verification) to pick the IdP;
//! then the `pool::Job` the route hands to the verifier pool, run synchronously with
//! `Job::run` (metadata validity, then `verify::verify`: pre-parse, algorithm allow list,
//! xmlsec against the pinned certificates, decryption with the SP key — AES-GCM, or AES-CBC
//! only inside a verified Response —, every profile check), and `attributes::to_identity`.
//!
//! The world is fixed: the fixtures of tests/fixtures/saml (SP
//! `https://rolegate.example.test`, SP key `keys/sp.key`, the IdP's TEST-ONLY RSA certificates
//! `idp` and `idp-next` pinned, 60 s skew, no SHA-1) at their instant 2026-11-22T12:00:00Z. A
//! Response that carries an `InResponseTo` is checked as the answer to the fixtures' pending
//! request `_req-7f3c1a2b9d`; one without, as an IdP-initiated sign-in the IdP allows (the two
//! paths an attacker chooses between with RelayState and the pending-login cookie).
//!
//! Nothing may panic (libfuzzer-sys aborts on a panic before `verify`'s `catch_unwind` can
//! turn it into a refusal, so the fuzzer sees every one), and a Response that verifies yields
//! an identity the IdP really signed: one of the identities the accepted fixtures yield
//! (computed once, at start). The fuzzer holds no IdP key, so any other identity is a forgery.
//!
//! libxml2 and xmlsec keep global state that LeakSanitizer reports as leaks: run with
//! `-detect_leaks=0` (fuzz/README.md).

#![no_main]

use libfuzzer_sys::fuzz_target;
use openssl::pkey::{PKey, Private};
use rolegate::clock::{Clock, FixedClock};
use rolegate::config::{MetadataSource, SamlIdpConfig};
use rolegate::domain::IdpId;
use rolegate::idp::saml::metadata::{self, IdpMetadata};
use rolegate::idp::saml::pool::{Expected, Job};
use rolegate::idp::saml::preparse::claimed_issuer;
use rolegate::idp::saml::{attributes, decode_post};
use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

/// 2026-11-22T12:00:00Z (tests/fixtures/saml/README.md).
const NOW: i64 = 1_795_348_800;
const SP_ENTITY_ID: &str = "https://rolegate.example.test/saml/metadata";
const ACS_URL: &str = "https://rolegate.example.test/saml/acs";
const REQUEST_ID: &str = "_req-7f3c1a2b9d";

/// The fixtures this target treats as really signed by the IdP and acceptable.
const ACCEPTED: &[&str] = &[
    include_str!("../../tests/fixtures/saml/valid.xml"),
    include_str!("../../tests/fixtures/saml/valid-response-signed-only.xml"),
    include_str!("../../tests/fixtures/saml/valid-both-signed.xml"),
    include_str!("../../tests/fixtures/saml/valid-mfa.xml"),
    include_str!("../../tests/fixtures/saml/valid-comma-groups.xml"),
    include_str!("../../tests/fixtures/saml/valid-rollover-cert.xml"),
    include_str!("../../tests/fixtures/saml/valid-unsolicited.xml"),
    include_str!("../../tests/fixtures/saml/valid-encrypted.xml"),
    include_str!("../../tests/fixtures/saml/valid-encrypted-cbc-signed-response.xml"),
    include_str!("../../tests/fixtures/saml/comment-injection-nameid.xml"),
];

struct Fixture {
    metadata: Arc<IdpMetadata>,
    sp_key: PKey<Private>,
    clock: Arc<dyn Clock>,
    cfg: SamlIdpConfig,
    idp: IdpId,
    /// serde_json of every identity the accepted fixtures yield.
    signed: BTreeSet<String>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    // Both RSA certificates (`idp`, `idp-next`). Not `idp-ec` as well: with an EC and an RSA
    // certificate pinned together, xmlsec (through samael) verifies only signatures by the
    // type listed first (the other fixture then fails with bad_signature; see fuzz/README.md).
    let metadata = metadata::parse(
        include_str!("../../tests/fixtures/saml/idp-metadata-rollover.xml"),
        NOW,
    )
    .expect("rollover metadata");
    let sp_key =
        PKey::private_key_from_pem(include_bytes!("../../tests/fixtures/saml/keys/sp.key"))
            .expect("SP key");
    let cfg = SamlIdpConfig {
        allow_idp_initiated: true,
        ..SamlIdpConfig::new(MetadataSource::File("fuzz".into()))
    };
    let mut f = Fixture {
        metadata: Arc::new(metadata),
        sp_key,
        clock: Arc::new(FixedClock::at_unix(NOW)),
        cfg,
        idp: IdpId::parse("fuzz").expect("static id"),
        signed: BTreeSet::new(),
    };
    for (i, xml) in ACCEPTED.iter().enumerate() {
        match acs(&f, xml.trim()) {
            Ok(identity) => f.signed.insert(identity),
            Err(e) => panic!("accepted fixture #{i} of ACCEPTED is refused: {e}"),
        };
    }
    f
});

/// `verify_post` after `decode_post`, without the store: Ok(identity as JSON) or the refusal.
fn acs(f: &Fixture, xml: &str) -> Result<String, &'static str> {
    let expected = if xml.contains("InResponseTo") {
        Expected::Request(REQUEST_ID.to_string())
    } else {
        // No pending login: the route picks the IdP by the Issuer the pre-parse reads.
        let issuer = claimed_issuer(xml).map_err(|e| e.code())?;
        if issuer.as_deref() != Some(f.metadata.entity_id.as_str()) {
            return Err("wrong_issuer");
        }
        Expected::Unsolicited {
            allowed: f.cfg.allow_idp_initiated,
        }
    };
    // What SamlService::job builds for the route from the SP and the IdP's settings.
    let job = Job {
        xml: xml.to_string(),
        sp_entity_id: SP_ENTITY_ID.to_string(),
        acs_url: ACS_URL.to_string(),
        decryption_key: Some(f.sp_key.clone()),
        metadata: f.metadata.clone(),
        allow_sha1: f.cfg.insecure_allow_sha1,
        clock_skew: f.cfg.clock_skew,
        expected,
        clock: f.clock.clone(),
    };
    let verified = job.run().map_err(|e| e.code())?;
    let identity = attributes::to_identity(&f.idp, &verified.assertion, &f.cfg);
    assert!(!identity.subject.is_empty(), "an identity without subject");
    Ok(serde_json::to_string(&identity).expect("identity serialises"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let f = &*FIXTURE;
    let Ok(xml) = decode_post(body) else {
        return;
    };
    if let Ok(identity) = acs(f, &xml) {
        assert!(
            f.signed.contains(&identity),
            "a Response verified with an identity the IdP never signed: {identity}\n{xml}"
        );
    }
});
