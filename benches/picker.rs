//! The role picker (scripts/bench/README.md, `picker.sh`): a user with 200 roles in 20 accounts.
//!
//! - `picker/acs_to_picker`: `POST /saml/acs` with a freshly signed Response (verification,
//!   replay cache, session creation) → 303 → `GET /` with the new cookie (session lookup, policy
//!   listing of 200 roles, favourites, template) over loopback HTTP against the real server.
//!   Signing each Response happens outside the timed part (a Response is single-use).
//! - `picker/healthz` (baseline, same run): one `GET /healthz` round trip on the same client,
//!   so `acs_to_picker` minus 2 × `healthz` approximates the broker's own time.
//! - `picker/render_200`: building and rendering the page alone (no HTTP).
//!
//! Page weight (HTML + CSS + JS bytes as served, uncompressed) is printed at start.
//! `scripts/bench/picker.sh` runs this and prints the ratios.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use rolegate::clock::rfc3339;
use rolegate::config::Config;
use rolegate::policy::{Action, RoleSummary};
use rolegate::routes::picker;
use rolegate::startup::Application;
use samael::crypto::{Crypto, CryptoProvider};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const IDP: &str = "https://idp.bench.test/saml/metadata";
const SP: &str = "https://rolegate.bench.test/saml/metadata";
const ACS: &str = "https://rolegate.bench.test/saml/acs";
const ROLES: usize = 200;
const ACCOUNTS: usize = 20;

fn cert_b64(key: &PKey<Private>) -> String {
    use openssl::asn1::Asn1Time;
    use openssl::x509::{X509, X509NameBuilder};
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "idp.bench.test").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    STANDARD.encode(b.build().to_der().unwrap())
}

fn config(dir: &std::path::Path, cert: &str) -> Config {
    let mut roles = String::new();
    for i in 0..ROLES {
        let account = 100_000_000_000u64 + u64::try_from(i % ACCOUNTS).unwrap();
        let _ = write!(
            roles,
            "[[role]]\narn = \"arn:aws:iam::{account}:role/team-{i:03}/Role{i:03}ReadOnly\"\nalias = \"role-{i:03}\"\naccount_name = \"workload-{:02}\"\nmax_duration = \"{}h\"\n\n",
            i % ACCOUNTS,
            1 + i % 12
        );
    }
    let aliases: Vec<String> = (0..ROLES).map(|i| format!("\"role-{i:03}\"")).collect();
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "https://rolegate.bench.test"

[aws]
role_chaining = "false"
access_key_id_file = "aws-key-id"
secret_access_key_file = "aws-secret"

[aws.partitions.aws]
sts_endpoint = "http://127.0.0.1:9"

# Every iteration posts a fresh Response from the one loopback address: the per-IP ACS limit
# (60 a minute by default) still counts each post, but must not refuse the bench's thousands.
[limits]
saml_acs_per_minute_per_ip = 100000000

[[idp]]
id = "corp"
kind = "saml"
metadata_file = "md.xml"
allow_idp_initiated = true

{roles}
[[map]]
idp = "corp"
groups = ["eng"]
roles = [{}]
"#,
        aliases.join(", ")
    );
    let md = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.bench.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    );
    std::fs::write(dir.join("md.xml"), md).unwrap();
    std::fs::write(dir.join("aws-key-id"), "bench").unwrap();
    std::fs::write(dir.join("aws-secret"), "bench").unwrap();
    let path = dir.join("rolegate.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load_with_env(Some(&path), false, std::iter::empty()).expect("bench config")
}

/// An IdP-initiated Response for alice (group eng), signed now, with a fresh assertion ID.
fn signed_response(key_der: &[u8], n: u64) -> String {
    let now = SystemTime::now();
    let t = |d: i64| {
        rfc3339(if d >= 0 {
            now + Duration::from_secs(d.unsigned_abs())
        } else {
            now - Duration::from_secs(d.unsigned_abs())
        })
    };
    let aid = format!("_bench{n}x{}", hex::encode(rand::random::<[u8; 6]>()));
    let xml = format!(
        r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{aid}" Version="2.0" IssueInstant="{i}" Destination="{ACS}"><saml:Issuer>{IDP}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="{aid}" Version="2.0" IssueInstant="{i}"><saml:Issuer>{IDP}</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{aid}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice@example.com</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData Recipient="{ACS}" NotOnOrAfter="{u}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{b}" NotOnOrAfter="{u}"><saml:AudienceRestriction><saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{i}" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="groups"><saml:AttributeValue>eng</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"##,
        i = t(0),
        b = t(-30),
        u = t(300),
    );
    STANDARD.encode(Crypto::sign_xml(xml, key_der).expect("sign"))
}

fn summaries() -> Vec<RoleSummary> {
    (0..ROLES)
        .map(|i| RoleSummary {
            alias: format!("role-{i:03}"),
            arn: format!(
                "arn:aws:iam::{}:role/team-{i:03}/Role{i:03}ReadOnly",
                100_000_000_000u64 + u64::try_from(i % ACCOUNTS).unwrap()
            ),
            account: format!(
                "{}",
                100_000_000_000u64 + u64::try_from(i % ACCOUNTS).unwrap()
            ),
            account_name: Some(format!("workload-{:02}", i % ACCOUNTS)),
            actions: vec![Action::Console, Action::Credentials],
            max_duration_seconds: 3600 * (1 + u64::try_from(i % 12).unwrap()),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let key_der = key.private_key_to_der().unwrap();
    let cfg = config(dir.path(), &cert_b64(&key));
    let url = rt.block_on(async {
        let app = Application::build(cfg).await.expect("broker starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        url
    });
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let sign_in_and_pick = |n: u64| {
        let response = signed_response(&key_der, n);
        let (http, url) = (&http, &url);
        async move {
            let start = Instant::now();
            let acs = http
                .post(format!("{url}/saml/acs"))
                .form(&[("SAMLResponse", response.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(acs.status(), 303, "the bench Response is accepted");
            let cookie = acs.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string();
            let page = http
                .get(format!("{url}/"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), 200);
            let body = page.bytes().await.unwrap();
            (start.elapsed(), body)
        }
    };

    // Page weight, once: the picker as served plus its stylesheet and script.
    let (_, html) = rt.block_on(sign_in_and_pick(0));
    let html = String::from_utf8(html.to_vec()).unwrap();
    assert_eq!(html.matches("<li><b>").count(), ROLES);
    let asset = |prefix: &str| {
        let path = html
            .split(prefix)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        rt.block_on(async {
            http.get(format!("{url}{path}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .len()
        })
    };
    let (css, js) = (
        asset(r#"<link rel="stylesheet" href=""#),
        asset(r#"<script src=""#),
    );
    eprintln!(
        "picker page weight for {ROLES} roles: HTML {} B + CSS {css} B + JS {js} B = {} B (target < 102400)",
        html.len(),
        html.len() + css + js
    );

    let mut g = c.benchmark_group("picker");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    let mut n = 1;
    g.bench_function("acs_to_picker", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                total += rt.block_on(sign_in_and_pick(n)).0;
            }
            total
        });
    });
    g.bench_function("healthz", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = http.get(format!("{url}/healthz")).send().await.unwrap();
                black_box(r.bytes().await.unwrap());
            });
        });
    });
    let roles = summaries();
    let favourites: BTreeSet<String> = ["role-007", "role-150"].map(String::from).into();
    g.bench_function("render_200", |b| {
        b.iter(|| {
            use askama::Template;
            let page = picker::build(&picker::Input {
                who: "alice@example.com",
                idp: "Corporate SSO",
                csrf: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                query: "",
                destination: None,
                roles: &roles,
                favourites: &favourites,
            });
            black_box(page.render().unwrap())
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
