//! IdP metadata from arbitrary bytes (src/idp/saml/metadata.rs), as `metadata_file` and
//! `metadata_url` deliver it: samael's EntityDescriptor schema, the certificate checks, and the
//! pinned keys loaded into xmlsec (crates/xmlsec-bridge). Nothing may panic, and accepted
//! metadata has an entity ID and at least one signing key, one loaded key per certificate.
//!
//! Run it with `cargo fuzz` (fuzz/README.md).

#![no_main]

use libfuzzer_sys::fuzz_target;

/// 2026-11-22T12:00:00Z, the instant of the fixtures the seeds come from.
const NOW: i64 = 1_795_348_800;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(md) = rolegate::idp::saml::metadata::parse(xml, NOW) {
        assert!(!md.entity_id.trim().is_empty());
        assert!(!md.certs.is_empty());
        assert_eq!(md.keys.len(), md.certs.len());
        assert_eq!(md.fingerprints.len(), md.certs.len());
    }
});
