//! ACS verification of a realistic signed SAML Response (scripts/bench/README.md, `saml_vs_peers.sh`): about 6 KB,
//! RSA-SHA256 over the assertion, 10 group values, the attributes Okta/Entra send.
//!
//! - `saml/verify`: what `POST /saml/acs` runs per Response after base64 decoding — the strict
//!   pre-parse, the algorithm allow list, xmlsec signature verification against the pinned
//!   certificate (through samael), parsing the signed content, every profile check, and the
//!   mapping to an `Identity`. Decoding base64 is `saml/decode_and_verify`.
//! - `crypto_floor` (diagnostic): one RSA-2048 PKCS#1 v1.5 verification plus SHA-256 over the
//!   assertion's bytes with OpenSSL — the work no verifier can skip.
//!
//! The Response is signed at start with libxmlsec1 (samael's `Crypto::sign_xml`) by a fresh
//! RSA-2048 key; the setup asserts it verifies, so the bench never times an error path.
//! `scripts/bench/saml_vs_peers.sh` runs python3-saml and node-saml on the same Response.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use rolegate::clock::FixedClock;
use rolegate::config::{MetadataSource, SamlIdpConfig};
use rolegate::domain::IdpId;
use rolegate::idp::saml::verify::{Expect, Sp, Trust, verify};
use rolegate::idp::saml::{attributes, decode_post, metadata};
use samael::crypto::{Crypto, CryptoProvider};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

/// The server's allocator (src/main.rs), so allocation costs are the production ones.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: i64 = 1_795_348_800; // 2026-11-22T12:00:00Z
const IDP: &str = "https://idp.bench.test/saml/metadata";
const SP: &str = "https://rolegate.bench.test/saml/metadata";
const ACS: &str = "https://rolegate.bench.test/saml/acs";
const REQ: &str = "_req-bench-0001";

fn cert(key: &PKey<openssl::pkey::Private>) -> Vec<u8> {
    use openssl::asn1::Asn1Time;
    use openssl::x509::{X509, X509NameBuilder};
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "idp.bench.test").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(NOW - 86_400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(NOW + 86_400 * 365).unwrap())
        .unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build().to_der().unwrap()
}

/// The Response (Okta-shaped: NameID email, 10 groups, profile attributes).
fn template() -> String {
    let groups: String = [
        "eng", "sre", "platform", "oncall", "aws-prod-readonly", "aws-dev-admin", "github-org",
        "vpn-users", "payments-team", "everyone",
    ]
    .iter()
    .map(|g| format!(r#"<saml2:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{g}</saml2:AttributeValue>"#))
    .collect();
    let attr = |name: &str, value: &str| {
        format!(
            r#"<saml2:Attribute Name="{name}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"><saml2:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{value}</saml2:AttributeValue></saml2:Attribute>"#
        )
    };
    let profile: String = [
        ("email", "alice.liddell@example.com"),
        ("username", "alice"),
        ("firstName", "Alice"),
        ("lastName", "Liddell"),
        ("department", "Platform Engineering"),
        ("employeeNumber", "000123456"),
    ]
    .iter()
    .map(|(n, v)| attr(n, v))
    .collect();
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?><saml2p:Response xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" Destination="{ACS}" ID="id5402164478412917916493391" InResponseTo="{REQ}" IssueInstant="2026-11-22T11:59:58.512Z" Version="2.0"><saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP}</saml2:Issuer><saml2p:Status><saml2p:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></saml2p:Status><saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="id54021644785146571483549862" IssueInstant="2026-11-22T11:59:58.512Z" Version="2.0"><saml2:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{IDP}</saml2:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#id54021644785146571483549862"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature><saml2:Subject><saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice.liddell@example.com</saml2:NameID><saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml2:SubjectConfirmationData InResponseTo="{REQ}" NotOnOrAfter="2026-11-22T12:04:58.512Z" Recipient="{ACS}"/></saml2:SubjectConfirmation></saml2:Subject><saml2:Conditions NotBefore="2026-11-22T11:54:58.512Z" NotOnOrAfter="2026-11-22T12:04:58.512Z"><saml2:AudienceRestriction><saml2:Audience>{SP}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions><saml2:AuthnStatement AuthnInstant="2026-11-22T11:59:40.128Z" SessionIndex="id1795348798512.1543218470"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement><saml2:AttributeStatement><saml2:Attribute Name="groups" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified">{groups}</saml2:Attribute>{profile}</saml2:AttributeStatement></saml2:Assertion></saml2p:Response>"##
    )
}

fn metadata_xml(cert_der: &[u8]) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.bench.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        STANDARD.encode(cert_der)
    )
}

fn bench(c: &mut Criterion) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let cert_der = cert(&key);
    let signed = Crypto::sign_xml(template(), &key.private_key_to_der().unwrap()).unwrap();
    let b64 = STANDARD.encode(&signed);
    // Files for the peer comparison (scripts/bench/saml_vs_peers.sh reads them).
    let out = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("bench-results/saml");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("response.xml"), &signed).unwrap();
    std::fs::write(out.join("response.b64"), &b64).unwrap();
    std::fs::write(out.join("idp-metadata.xml"), metadata_xml(&cert_der)).unwrap();
    std::fs::write(
        out.join("idp.crt"),
        openssl::x509::X509::from_der(&cert_der)
            .unwrap()
            .to_pem()
            .unwrap(),
    )
    .unwrap();

    let md = metadata::parse(&metadata_xml(&cert_der), NOW).unwrap();
    let clock = FixedClock::at_unix(NOW);
    let cfg = SamlIdpConfig::new(MetadataSource::File(PathBuf::from("bench")));
    let idp = IdpId::parse("okta").unwrap();
    let sp = Sp {
        entity_id: SP,
        acs_url: ACS,
        decryption_key: None,
    };
    let trust = Trust {
        entity_id: &md.entity_id,
        keys: &md.keys,
        allow_sha1: false,
        clock_skew: Duration::from_secs(60),
    };
    let run = |xml: &str| {
        let v = verify(xml, &sp, &trust, Expect::Request(REQ), &clock)
            .expect("the bench Response verifies");
        attributes::to_identity(&idp, &v.assertion, &cfg)
    };
    let identity = run(&signed);
    assert_eq!(identity.groups.len(), 10);
    assert_eq!(identity.email.as_deref(), Some("alice.liddell@example.com"));
    eprintln!("bench Response: {} bytes of XML", signed.len());

    let mut g = c.benchmark_group("saml");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify", |b| b.iter(|| black_box(run(black_box(&signed)))));
    g.bench_function("decode_and_verify", |b| {
        b.iter(|| black_box(run(&decode_post(black_box(&b64)).unwrap())));
    });
    g.finish();

    idp_count_and_refresh(c, &signed, &metadata_xml(&cert_der));

    // Diagnostic: where the time goes.
    let mut parts = c.benchmark_group("parts");
    parts.bench_function("preparse", |b| {
        b.iter(|| {
            black_box(rolegate::idp::saml::preparse::preparse(
                black_box(&signed),
                (rolegate::idp::saml::preparse::PROTOCOL_NS, b"Response"),
            ))
        });
    });
    parts.bench_function("serde_parse_response", |b| {
        b.iter(|| {
            black_box(
                black_box(&signed)
                    .parse::<samael::schema::Response>()
                    .is_ok(),
            )
        });
    });
    parts.bench_function("xmlsec_reduce", |b| {
        b.iter(|| {
            black_box(
                Crypto::reduce_xml_to_signed(
                    black_box(&signed),
                    &md.certs,
                    samael::crypto::ReduceMode::ValidateAndMarkNoAncestors,
                )
                .is_ok(),
            )
        });
    });
    // The signature step as the verifier runs it now: the keys loaded once (at metadata load),
    // KeyInfo never read. `xmlsec_predigest` is the same step as samael runs it, decoding the
    // certificate on every call (what `saml/verify` did before crates/xmlsec-bridge).
    let strong = rolegate::idp::saml::preparse::signature_algorithms(false);
    parts.bench_function("bridge_verify_pinned_keys", |b| {
        b.iter(|| {
            black_box(
                rolegate_xmlsec::verify_signatures(black_box(&signed), &md.keys, &strong).is_ok(),
            )
        });
    });
    parts.bench_function("xmlsec_predigest", |b| {
        b.iter(|| {
            black_box(
                Crypto::reduce_xml_to_signed(
                    black_box(&signed),
                    &md.certs,
                    samael::crypto::ReduceMode::PreDigest,
                )
                .is_ok(),
            )
        });
    });
    parts.finish();

    // The floor: SHA-256 over the assertion plus one RSA-2048 verification.
    let start = signed.find("<saml2:Assertion").unwrap();
    let end = signed.find("</saml2:Assertion>").unwrap() + "</saml2:Assertion>".len();
    let assertion = &signed.as_bytes()[start..end];
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(b"signed-info").unwrap();
    let sig = signer.sign_to_vec().unwrap();
    let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
    let mut floor = c.benchmark_group("crypto_floor");
    floor.throughput(Throughput::Elements(1));
    floor.bench_function("rsa2048_verify_plus_sha256_assertion", |b| {
        b.iter(|| {
            let digest = openssl::sha::sha256(black_box(assertion));
            let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
            v.update(b"signed-info").unwrap();
            black_box((digest, v.verify(&sig).unwrap()))
        });
    });
    floor.finish();
}

/// The ACS path as the route runs it, through a `SamlService` loaded from a config with 1, 5
/// or 50 SAML IdPs (the Response's IdP configured last): the Issuer pre-read, the lookup by
/// entity ID, the verification job, the identity. `lookup/*` is the lookup alone. Then the same
/// verification while another thread refreshes that IdP's metadata as fast as it can (parse,
/// keys loaded, swap): far more often than any `metadata_refresh` would, so the number bounds
/// what a refresh can cost the hot path.
fn idp_count_and_refresh(c: &mut Criterion, signed: &str, target_metadata: &str) {
    use rolegate::idp::saml::pool::Expected;
    use rolegate::idp::saml::preparse::claimed_issuer;
    use rolegate::idp::saml::service::SamlService;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock: Arc<dyn rolegate::clock::Clock> = Arc::new(FixedClock::at_unix(NOW));
    let load = |n: usize| -> (tempfile::TempDir, SamlService) {
        let dir = tempfile::tempdir().unwrap();
        let mut toml = String::new();
        for k in 0..n {
            let md = if k + 1 == n {
                target_metadata.to_string()
            } else {
                target_metadata.replace(IDP, &format!("https://idp{k}.other.bench.test/saml"))
            };
            std::fs::write(dir.path().join(format!("md{k}.xml")), md).unwrap();
            toml.push_str(&format!(
                "[[idp]]\nid = \"idp{k}\"\nkind = \"saml\"\nmetadata_file = \"md{k}.xml\"\n\n"
            ));
        }
        toml.push_str(&format!(
            "[server]\npublic_url = \"https://rolegate.bench.test\"\n\n\
             [[role]]\narn = \"arn:aws:iam::123456789012:role/ProdReadOnly\"\nalias = \"prod-readonly\"\n\n\
             [[map]]\nidp = \"idp{}\"\ngroups = [\"eng\"]\nroles = [\"prod-readonly\"]\n",
            n - 1
        ));
        let path = dir.path().join("rolegate.toml");
        std::fs::write(&path, toml).unwrap();
        let config =
            rolegate::config::Config::load_with_env(Some(&path), false, std::iter::empty())
                .expect("bench config is valid");
        let url = url::Url::parse("https://rolegate.bench.test").unwrap();
        let http = reqwest::Client::new();
        let service = runtime
            .block_on(SamlService::load(&config, &url, &http, NOW))
            .expect("bench IdPs load");
        assert_eq!(service.acs_url, ACS);
        assert_eq!(service.entity_id, SP);
        (dir, service)
    };
    let acs = |service: &SamlService| {
        let issuer = claimed_issuer(signed).unwrap().unwrap();
        let idp = service.idp_by_entity_id(&issuer).unwrap();
        let job = service.job(
            idp,
            signed.to_string(),
            Expected::Request(REQ.to_string()),
            clock.clone(),
        );
        let v = job.run().expect("the bench Response verifies");
        attributes::to_identity(&idp.id, &v.assertion, &idp.cfg)
    };

    let mut g = c.benchmark_group("idps");
    g.throughput(Throughput::Elements(1));
    for n in [1, 5, 50] {
        let (_dir, service) = load(n);
        assert_eq!(acs(&service).groups.len(), 10);
        g.bench_function(format!("acs/{n}"), |b| {
            b.iter(|| black_box(acs(black_box(&service))));
        });
        g.bench_function(format!("lookup/{n}"), |b| {
            b.iter(|| black_box(service.idp_by_entity_id(black_box(IDP)).is_some()));
        });
    }

    // The same ACS path while a second thread refreshes the IdP's metadata. What the two share
    // is one lock, held by a reader only to clone an `Arc` and by the refresher only to swap
    // one in: `metadata_read` times that step alone, with and without the refresher.
    let (_dir, service) = load(1);
    {
        let idp = service.idp_by_entity_id(IDP).unwrap();
        g.bench_function("metadata_read", |b| b.iter(|| black_box(idp.metadata())));
    }
    let stop = AtomicBool::new(false);
    let swaps = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let idp = service.idp_by_entity_id(IDP).unwrap();
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let md = metadata::parse(target_metadata, NOW).unwrap();
                idp.replace_metadata(md);
                swaps.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        g.bench_function("metadata_read_while_refreshing", |b| {
            b.iter(|| black_box(idp.metadata()));
        });
        g.bench_function("acs/1_while_refreshing", |b| {
            b.iter(|| black_box(acs(black_box(&service))));
        });
        stop.store(true, Ordering::Relaxed);
    });
    eprintln!(
        "idps/*_while_refreshing: {} metadata swaps during the two measurements",
        swaps.load(Ordering::Relaxed)
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
