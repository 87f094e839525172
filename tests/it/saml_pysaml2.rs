//! SAML journeys against a second real IdP, pysaml2's `Server` (tests/support/pysaml2-idp),
//! next to samlify in saml_real_idp.rs. Each journey is SP-initiated: `/login/corp` sends an
//! AuthnRequest (signed with the SP key) by HTTP-Redirect to the IdP, which parses and verifies
//! it with pysaml2, signs a user in by name, and answers with pysaml2's own auto-post form to
//! the ACS it read from the broker's `/saml/metadata`. Every Response is built, signed and
//! encrypted by pysaml2 (through the `xmlsec1` command, as pysaml2 deployments do). A journey
//! that should succeed ends with credentials that moto's GetCallerIdentity accepts.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::app::{Peers, ROLES, TestApp, caller_identity_arn, peers};
use common::peers::Pysaml2Idp;
use common::saml_forge::SamlForge;
use reqwest::redirect::Policy;
use std::sync::OnceLock;

const PUBLIC: &str = "https://rolegate.example.test";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            v[name.len() + 1..]
                .split(';')
                .next()
                .unwrap_or("")
                .to_string()
        })
}

/// What an HTML attribute value says (pysaml2 escapes with Python's `html.escape`).
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attribute(body: &str, before: &str, after: &str) -> String {
    body.split(before)
        .nth(1)
        .and_then(|s| s.split(after).next())
        .map_or_else(|| panic!("no {before}…{after} in {body}"), unescape)
}

fn hidden(body: &str, name: &str) -> String {
    attribute(body, &format!(r#"name="{name}" value=""#), "\"")
}

/// One pysaml2 IdP and one SP key pair for every test of this binary (starting Python with
/// pysaml2 costs seconds); each test has its own broker, whose metadata the IdP loads. The
/// brokers publish the same entity ID, ACS and certificate, so what pysaml2 reads is the same.
fn shared() -> Option<(&'static Pysaml2Idp, &'static SamlForge)> {
    static IDP: OnceLock<Option<Pysaml2Idp>> = OnceLock::new();
    static SP: OnceLock<SamlForge> = OnceLock::new();
    let idp = IDP.get_or_init(Pysaml2Idp::start).as_ref()?;
    Some((idp, SP.get_or_init(SamlForge::new)))
}

/// A broker with an SP key pair (it signs AuthnRequests and publishes its certificate for
/// encryption) and pysaml2 as IdP `corp`; `sre` grants prod-readonly, nothing else grants any
/// role. pysaml2 names attributes as eduPerson/LDAP URIs with FriendlyNames (mail, uid,
/// isMemberOf), which the broker is configured to read. None (SKIP) when pysaml2 is not
/// installed outside CI; under CI=true that fails instead.
async fn broker_and_idp(p: &Peers) -> Option<(TestApp, &'static Pysaml2Idp)> {
    let (idp, sp) = shared()?;
    let toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "{PUBLIC}"

[aws]
role_chaining = "false"
access_key_id_file = "aws-key-id"
secret_access_key_file = "aws-secret"

[aws.partitions.aws]
sts_endpoint = "{moto}"

[saml]
sp_key_file = "sp.key"
sp_cert_file = "sp.crt"

[[idp]]
id = "corp"
kind = "saml"
metadata_url = "{md}"
groups_attribute = "isMemberOf"
email_attribute = "mail"
username_attribute = "uid"
trust_email = true

{ROLES}

[[map]]
idp = "corp"
groups = ["sre"]
roles = ["prod-readonly"]
"#,
        moto = p.moto.url,
        md = idp.metadata_url()
    );
    let app = TestApp::spawn_with_files(
        &toml,
        &[("sp.key", &sp.key_pem()), ("sp.crt", &sp.cert_pem())],
        None,
        true,
    )
    .await;
    idp.load_sp_metadata(&format!("{}/saml/metadata", app.url))
        .await;
    Some((app, idp))
}

/// What the IdP is told to do for one sign-in (tests/support/pysaml2-idp/server.py).
#[derive(Clone, Copy)]
struct How {
    sign: &'static str,
    encrypt: &'static str,
    key: &'static str,
    algorithms: &'static str,
}

const SIGNED_ASSERTION: How = How {
    sign: "assertion",
    encrypt: "none",
    key: "metadata",
    algorithms: "sha256",
};

struct Acs {
    status: u16,
    session: Option<String>,
    body: String,
    /// The Response as pysaml2 posted it (decoded XML).
    response_xml: String,
}

impl Acs {
    /// The refusal class on the ACS error page.
    fn reason(&self) -> &str {
        self.body
            .split("Reason: <code>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or(&self.body)
    }
}

/// A browser signing in as `user`: broker → IdP (AuthnRequest) → sign-in form → pysaml2's
/// auto-post form → broker ACS.
async fn sign_in(app: &TestApp, idp: &Pysaml2Idp, user: &str, how: How) -> Acs {
    let start = client()
        .get(format!("{}/login/corp", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let pending = set_cookie(&start, "__Host-rolegate_saml_pending").unwrap();
    let to_idp = start.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to_idp.starts_with(&format!("{}/sso?", idp.url)),
        "HTTP-Redirect to the SSO endpoint in pysaml2's metadata: {to_idp}"
    );
    let form = client().get(&to_idp).send().await.unwrap();
    let status = form.status();
    let form = form.text().await.unwrap();
    assert_eq!(
        status,
        200,
        "pysaml2 parsed the broker's AuthnRequest: {form}\n{}",
        idp.log_tail()
    );
    assert!(
        form.contains("AuthnRequest signed: yes"),
        "pysaml2 verified the AuthnRequest's query-string signature with the SP metadata's key: {form}"
    );
    let posted = client()
        .post(format!("{}/sso/login", idp.url))
        .form(&[
            ("username", user),
            ("request", &hidden(&form, "request")),
            ("sign", how.sign),
            ("encrypt", how.encrypt),
            ("key", how.key),
            ("algorithms", how.algorithms),
        ])
        .send()
        .await
        .unwrap();
    let status = posted.status();
    let post = posted.text().await.unwrap();
    assert_eq!(
        status,
        200,
        "pysaml2 signed {user} in: {post}\n{}",
        idp.log_tail()
    );
    assert!(
        post.contains("document.forms[0].submit()"),
        "an auto-posting form: {post}"
    );
    let action = attribute(&post, r#"<form action=""#, "\"");
    assert_eq!(
        action,
        format!("{PUBLIC}/saml/acs"),
        "pysaml2 posts to the ACS in the broker's metadata"
    );
    let saml_response = hidden(&post, "SAMLResponse");
    let response_xml = String::from_utf8(STANDARD.decode(&saml_response).unwrap()).unwrap();
    let acs = client()
        .post(format!("{}/saml/acs", app.url))
        .header("cookie", format!("__Host-rolegate_saml_pending={pending}"))
        .form(&[
            ("SAMLResponse", saml_response.as_str()),
            ("RelayState", hidden(&post, "RelayState").as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = acs.status().as_u16();
    let session = set_cookie(&acs, "__Host-rolegate_session");
    Acs {
        status,
        session,
        body: acs.text().await.unwrap(),
        response_xml,
    }
}

/// The signed-in picker page for a session cookie.
async fn picker(app: &TestApp, acs: &Acs) -> (String, String) {
    assert_eq!(
        acs.status, 303,
        "the broker accepted pysaml2's Response: {}\n{}",
        acs.body, acs.response_xml
    );
    let cookie = format!(
        "__Host-rolegate_session={}",
        acs.session.as_deref().expect("session")
    );
    let page = common::web::get(&app.url, "/", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    (cookie, page)
}

async fn post_credentials(app: &TestApp, cookie: &str, page: &str) -> reqwest::Response {
    client()
        .post(format!("{}/credentials/prod-readonly", app.url))
        .header("cookie", cookie)
        .form(&[("csrf", hidden(page, "csrf").as_str())])
        .send()
        .await
        .unwrap()
}

/// Alice's journey from the ACS on: signed in as alice, credentials for prod-readonly that
/// moto's GetCallerIdentity accepts.
async fn alice_gets_credentials(p: &Peers, app: &TestApp, acs: &Acs) {
    let (cookie, page) = picker(app, acs).await;
    assert!(page.contains(">alice</span>"), "signed in as alice: {page}");
    let creds = post_credentials(app, &cookie, &page).await;
    assert_eq!(creds.status(), 200);
    let body = creds.text().await.unwrap();
    let export = |k: &str| {
        body.split(&format!("export {k}="))
            .nth(1)
            .and_then(|s| s.strip_prefix("&#39;")?.split("&#39;").next())
            .unwrap()
            .to_string()
    };
    let json = serde_json::json!({
        "AccessKeyId": export("AWS_ACCESS_KEY_ID"),
        "SecretAccessKey": export("AWS_SECRET_ACCESS_KEY"),
        "SessionToken": export("AWS_SESSION_TOKEN"),
    });
    let arn = caller_identity_arn(&p.moto.url, &json).await;
    // The session is named after the IdP and pysaml2's NameID (src/aws/session_name.rs).
    assert!(
        arn.ends_with(":assumed-role/ReadOnly/corp.alice@example.com"),
        "{arn}"
    );
}

/// Which elements pysaml2 signed: (Response, plaintext Assertion), read from the XML it posted
/// as the signatures' References to their IDs (pysaml2 writes `ns0:`-style prefixes).
fn signatures(xml: &str) -> (bool, bool) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut ids, mut refs) = (Vec::new(), Vec::new());
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let local = e.local_name().as_ref().to_vec();
                for a in e.attributes().flatten() {
                    let value = String::from_utf8_lossy(&a.value).into_owned();
                    match (local.as_slice(), a.key.as_ref()) {
                        (b"Response" | b"Assertion", b"ID") => ids.push((local.clone(), value)),
                        (b"Reference", b"URI") => refs.push(value),
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let signed = |name: &[u8]| {
        ids.iter()
            .any(|(l, id)| l == name && refs.contains(&format!("#{id}")))
    };
    (signed(b"Response"), signed(b"Assertion"))
}

/// alice signs in with pysaml2 signing `sign` ("assertion", "response" or "both"): the
/// Response carries exactly the (Response, Assertion) signatures `expected`, and she gets
/// credentials moto accepts.
async fn signed_journey(sign: &'static str, expected: (bool, bool)) {
    let Some(p) = peers() else { return };
    let Some((app, idp)) = broker_and_idp(p).await else {
        return;
    };
    let how = How {
        sign,
        ..SIGNED_ASSERTION
    };
    let acs = sign_in(&app, idp, "alice", how).await;
    assert_eq!(
        signatures(&acs.response_xml),
        expected,
        "{}",
        acs.response_xml
    );
    alice_gets_credentials(p, &app, &acs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_signed_assertion_only() {
    signed_journey("assertion", (false, true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_signed_response_only() {
    signed_journey("response", (true, false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_signed_response_and_assertion() {
    signed_journey("both", (true, true)).await;
}

const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";

/// Signs alice in with her assertion encrypted with `cipher` (RSA-OAEP key transport) by
/// pysaml2, and checks what pysaml2 sent: that cipher, nothing in clear, and a ciphertext that
/// `xmlsec1` opens with the SP key to alice's signed assertion.
async fn encrypted_sign_in(app: &TestApp, idp: &Pysaml2Idp, how: How, cipher: &str) -> Acs {
    let acs = sign_in(app, idp, "alice", how).await;
    let xml = &acs.response_xml;
    assert!(xml.contains("EncryptedAssertion"), "{xml}");
    assert!(xml.contains(&format!(r#"Algorithm="{cipher}""#)), "{xml}");
    assert!(
        xml.contains(r#"Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p""#),
        "{xml}"
    );
    assert!(
        !xml.contains("alice@example.com"),
        "nothing in clear: {xml}"
    );
    let plain = xmlsec1_decrypt(app, xml);
    assert!(
        plain.contains(">alice@example.com</") && plain.contains("Signature"),
        "xmlsec1 opens pysaml2's ciphertext with the SP key: alice's signed assertion: {plain}"
    );
    acs
}

/// pysaml2 encrypts the signed assertion to the certificate in the broker's metadata with the
/// first content cipher that metadata prefers, AES-256-GCM; the Response around it is
/// unsigned, which rolegate accepts for GCM (an AEAD). pysaml2 declares the XML-DSig namespace
/// once, as `xmlns:ns1` on EncryptedData: rolegate refused this as `malformed` until it read
/// EncryptedAssertions by namespace (src/idp/saml/encrypted.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_encrypted_assertion_aes_gcm() {
    let Some(p) = peers() else { return };
    let Some((app, idp)) = broker_and_idp(p).await else {
        return;
    };
    let how = How {
        encrypt: "sp-preference",
        ..SIGNED_ASSERTION
    };
    let acs = encrypted_sign_in(&app, idp, how, AES256_GCM).await;
    assert!(!signatures(&acs.response_xml).0, "the Response is unsigned");
    alice_gets_credentials(p, &app, &acs).await;
}

/// AES-256-CBC, as Entra ID and ADFS encrypt: rolegate decrypts CBC only when the Response
/// signature has verified first, so inside a signed Response alice gets credentials and in an
/// unsigned one the Response is refused (`encryption`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_encrypted_assertion_aes_cbc_only_inside_a_signed_response() {
    let Some(p) = peers() else { return };
    let Some((app, idp)) = broker_and_idp(p).await else {
        return;
    };
    let unsigned = How {
        encrypt: AES256_CBC,
        ..SIGNED_ASSERTION
    };
    let acs = encrypted_sign_in(&app, idp, unsigned, AES256_CBC).await;
    assert_eq!(acs.status, 403, "{}", acs.body);
    assert!(acs.session.is_none());
    assert_eq!(acs.reason(), "encryption", "CBC outside a signed Response");
    let signed = How {
        sign: "both",
        ..unsigned
    };
    let acs = encrypted_sign_in(&app, idp, signed, AES256_CBC).await;
    assert!(signatures(&acs.response_xml).0, "the Response is signed");
    alice_gets_credentials(p, &app, &acs).await;
}

/// The Response decrypted by the `xmlsec1` command (the one pysaml2 drives) with the SP key
/// the broker was given.
fn xmlsec1_decrypt(app: &TestApp, xml: &str) -> String {
    let response = app.dir.path().join("pysaml2-encrypted-response.xml");
    std::fs::write(&response, xml).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .arg("--decrypt")
        .arg("--privkey-pem")
        .arg(app.dir.path().join("sp.key"))
        .arg(&response)
        .output()
        .expect("xmlsec1 (pysaml2 needs it too)");
    assert!(
        out.status.success(),
        "xmlsec1 --decrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What pysaml2 7.5.5 does on its own when asked to encrypt (create_authn_response with
/// encrypt_assertion=True): Triple-DES-CBC, whatever the SP's metadata lists. rolegate decrypts
/// AES only (GCM, or CBC inside a signed Response), so even a signed Response is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_default_encryption_triple_des_is_refused() {
    let Some(p) = peers() else { return };
    let Some((app, idp)) = broker_and_idp(p).await else {
        return;
    };
    let how = How {
        sign: "both",
        encrypt: "pysaml2-default",
        ..SIGNED_ASSERTION
    };
    let algorithm = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc";
    refused_for_algorithm(&app, idp, how, algorithm, "encryption").await;
}

/// Alice's sign-in with `how`: pysaml2 used `algorithm`, and rolegate refused it (`reason`),
/// opening no session.
async fn refused_for_algorithm(
    app: &TestApp,
    idp: &Pysaml2Idp,
    how: How,
    algorithm: &str,
    reason: &str,
) {
    let acs = sign_in(app, idp, "alice", how).await;
    assert!(
        acs.response_xml
            .contains(&format!(r#"Algorithm="{algorithm}""#)),
        "{}",
        acs.response_xml
    );
    assert_eq!(acs.status, 403, "{}", acs.body);
    assert_eq!(acs.reason(), reason);
    assert!(acs.session.is_none());
}

/// bob signs in through pysaml2 fine, but his groups (contractors) grant nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_user_whose_groups_grant_nothing_gets_no_credentials() {
    let Some(p) = peers() else { return };
    let Some((app, idp)) = broker_and_idp(p).await else {
        return;
    };
    let how = How {
        sign: "both",
        ..SIGNED_ASSERTION
    };
    let acs = sign_in(&app, idp, "bob", how).await;
    let (cookie, page) = picker(&app, &acs).await;
    assert!(page.contains(">bob</span>"), "signed in as bob: {page}");
    assert!(page.contains("No AWS role is granted"), "{page}");
    let creds = post_credentials(&app, &cookie, &page).await;
    let status = creds.status();
    let body = creds.text().await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("AWS_SESSION_TOKEN"), "{body}");
}

/// pysaml2 signing with a key pair that is not in the metadata the broker pinned (the same
/// entity ID, a well-formed Response otherwise): refused as bad_signature wherever it signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_signing_with_a_key_not_in_its_metadata_is_bad_signature() {
    let Some(p) = peers() else { return };
    let Some((app, idp)) = broker_and_idp(p).await else {
        return;
    };
    for sign in ["assertion", "response", "both"] {
        let how = How {
            sign,
            key: "rogue",
            ..SIGNED_ASSERTION
        };
        let acs = sign_in(&app, idp, "alice", how).await;
        assert_eq!(acs.status, 403, "{sign}: {}", acs.body);
        assert_eq!(acs.reason(), "bad_signature", "{sign}");
        assert!(acs.session.is_none(), "{sign}");
    }
}

/// pysaml2 7.5.5 signs with RSA-SHA1 and SHA-1 digests unless configured otherwise
/// (xmldsig.sig_default / digest_default); rolegate refuses SHA-1 before any key is used
/// unless the IdP is set `insecure_allow_sha1`. The test IdP's own config names SHA-256.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_default_sha1_signatures_are_weak_algorithm() {
    let Some(p) = peers() else { return };
    let Some((app, idp)) = broker_and_idp(p).await else {
        return;
    };
    let how = How {
        sign: "both",
        algorithms: "pysaml2-default",
        ..SIGNED_ASSERTION
    };
    let algorithm = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
    refused_for_algorithm(&app, idp, how, algorithm, "weak_algorithm").await;
}
