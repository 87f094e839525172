//! Bearer JWT verification, and verification plus role mapping, through the library code the
//! server runs per `POST /api/v1/credentials`:
//!
//! - `verify/{rs256,es256}`: `parse_header` + `verify` (signature via jsonwebtoken on aws-lc-rs,
//!   then every claim check), against a `KeySet` parsed once, as the server's key cache holds it.
//! - `verify_and_map/{rs256,es256}`: the same, then `PolicyMapper::authorize` for one role, the
//!   mapper the server builds at start (`[[map]]` rules compiled into policy statements: group
//!   match, duration caps, session-tag variable substitution).
//! - `signature_only/*` (diagnostic, not a target): the bare aws-lc-rs signature check on the
//!   same token, once with the key rebuilt from the JWK per call (`*_per_call`, what
//!   jsonwebtoken 11 does inside `decode`) and once with a key parsed once (`*_parsed`), so the
//!   gap between `verify/*` and `openssl speed` can be split into key setup, crypto and the rest.
//!
//! Keys are generated at start (RSA-2048 and P-256); the IdP, roles and `[[map]]` rules come
//! from a TOML file loaded with `Config::load_with_env`, exactly as `rolegate serve` loads it.
//! `scripts/bench/jwt_vs_openssl.sh` compares the results with `openssl speed` on this machine.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rolegate::clock::{Clock, FixedClock};
use rolegate::config::{Config, IdpKind, OidcIdpConfig};
use rolegate::domain::{ClientKind, IdpId};
use rolegate::idp::oidc::keys::KeySet;
use rolegate::idp::oidc::verify::{self, Expectations};
use rolegate::policy::loader::PolicyMapper;
use rolegate::policy::{Action, Mapper, RequestContext};
use rolegate::token::SigningKey;
use serde_json::json;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

const ISSUER: &str = "https://idp.bench.example";
const CLIENT_ID: &str = "rolegate-bench";
const RSA_KID: &str = "bench-rsa-2048";
/// The instant the tokens are verified at; they were issued a minute before.
const NOW: i64 = 1_790_000_000;
const ROLE: &str = "prod-readonly";

/// A realistic ID token body: what Okta/Entra/Keycloak put in one, a few groups included.
fn claims() -> serde_json::Value {
    json!({
        "iss": ISSUER,
        "sub": "00u1a2b3c4d5e6f7g8h9",
        "aud": CLIENT_ID,
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 3540,
        "auth_time": NOW - 65,
        "jti": "6f1c2d3e4b5a69788796a5b4c3d2e1f0",
        "email": "alice@example.com",
        "email_verified": true,
        "name": "Alice Example",
        "preferred_username": "alice",
        "department": "platform",
        "groups": ["everyone", "eng", "sre", "oncall", "platform-team", "aws-readers"],
        "amr": ["pwd", "mfa"],
    })
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
    keys: KeySet,
    jwks: serde_json::Value,
    rs256_token: String,
    es256_token: String,
}

impl Fixture {
    fn new() -> Fixture {
        // RS256: an RSA-2048 key from aws-lc-rs, PKCS#8 → PEM → jsonwebtoken's EncodingKey.
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("generate an RSA-2048 key");
        let pkcs8: Pkcs8V1Der = rsa.as_der().expect("RSA key as PKCS#8");
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        let rsa_key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM");
        let mut rsa_jwk = Jwk::from_encoding_key(&rsa_key, Algorithm::RS256).expect("RSA JWK");
        rsa_jwk.common.key_id = Some(RSA_KID.into());
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(RSA_KID.into());
        header.typ = Some("JWT".into());
        let rs256_token = jsonwebtoken::encode(&header, &claims(), &rsa_key).expect("sign RS256");

        // ES256: the broker's own P-256 key type (kid = RFC 7638 thumbprint, alg ES256).
        let ec = SigningKey::generate().expect("generate a P-256 key");
        let es256_token = ec.sign(&claims()).expect("sign ES256");
        let ec_jwk: Jwk = serde_json::from_value(ec.public_jwk().clone()).expect("EC JWK");

        let jwks = serde_json::to_vec_pretty(&JwkSet {
            keys: vec![rsa_jwk, ec_jwk],
        })
        .expect("JWKS JSON");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("jwks.json"), &jwks).expect("write JWKS");
        let config = load_config(dir.path());
        // Parsed once, from the file the config names, as the server's key cache does.
        let jwks_file = oidc(&config).jwks_file.clone().expect("jwks_file");
        let keys =
            KeySet::from_jwks_json(&std::fs::read(jwks_file).expect("read JWKS")).expect("JWKS");
        Fixture {
            _dir: dir,
            config,
            keys,
            jwks: serde_json::from_slice(&jwks).expect("JWKS JSON"),
            rs256_token,
            es256_token,
        }
    }
}

fn load_config(dir: &Path) -> Config {
    let toml = format!(
        r#"
[[idp]]
id = "corp"
kind = "oidc"
issuer = "{ISSUER}"
client_id = "{CLIENT_ID}"
jwks_file = "jwks.json"

[[role]]
arn = "arn:aws:iam::123456789012:role/ProdReadOnly"
alias = "prod-readonly"
max_duration = "4h"

[[role]]
arn = "arn:aws:iam::123456789012:role/ProdAdmin"
alias = "prod-admin"
max_duration = "1h"

[[role]]
arn = "arn:aws:iam::210987654321:role/DevPowerUser"
alias = "dev-poweruser"

[[map]]
idp = "corp"
groups = ["contractors"]
roles = ["dev-poweruser"]

[[map]]
idp = "corp"
groups = ["eng", "sre"]
roles = ["prod-readonly", "dev-poweruser"]
tags = {{ team = "${{rolegate:claims/department, 'engineering'}}", user = "${{rolegate:username}}" }}
transitive_tag_keys = ["team"]

[[map]]
idp = "corp"
groups = ["sre"]
roles = ["prod-readonly", "prod-admin"]
max_duration = "2h"
tags = {{ team = "${{rolegate:claims/department, 'engineering'}}" }}
"#
    );
    let path = dir.join("rolegate.toml");
    std::fs::write(&path, toml).expect("write config");
    Config::load_with_env(Some(&path), false, std::iter::empty()).expect("bench config is valid")
}

fn oidc(config: &Config) -> &OidcIdpConfig {
    match &config.idps[0].kind {
        IdpKind::Oidc(o) => o,
        IdpKind::Dev(_) | IdpKind::Saml(_) => unreachable!("the bench config has one OIDC IdP"),
    }
}

fn benches(c: &mut Criterion) {
    let f = Fixture::new();
    let idp: &IdpId = &f.config.idps[0].id;
    let x = Expectations {
        idp,
        cfg: oidc(&f.config),
        nonce: None,
    };
    let clock = FixedClock::at_unix(NOW);
    let mapper = PolicyMapper::load(&f.config).expect("policy loads");
    let tokens = [("rs256", &f.rs256_token), ("es256", &f.es256_token)];

    // The setup must produce tokens the verifier accepts and a grant the mapper gives:
    // a benchmark of the error path would measure nothing useful.
    for (name, token) in tokens {
        let header = verify::parse_header(token).expect("header");
        let id = verify::verify(token, &header, &f.keys, &clock, &x)
            .unwrap_or_else(|e| panic!("{name} token rejected: {e}"));
        let ctx = RequestContext {
            aws_session: None,
            identity: &id,
            client: ClientKind::Api,
            source_ip: None,
            now: clock.now(),
        };
        let grant = mapper
            .authorize(&ctx, ROLE, Action::Credentials)
            .unwrap_or_else(|e| panic!("{name}: no grant: {e}"));
        assert_eq!(grant.max_duration(), Duration::from_secs(7200));
        assert_eq!(grant.tags().len(), 2);
    }

    let mut group = c.benchmark_group("verify");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(50)
        .measurement_time(Duration::from_secs(3));
    for (name, token) in tokens {
        group.bench_function(name, |b| {
            b.iter(|| {
                let token = black_box(token.as_str());
                let header = verify::parse_header(token).expect("header");
                verify::verify(token, &header, &f.keys, &clock, &x).expect("valid token")
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("verify_and_map");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(50)
        .measurement_time(Duration::from_secs(3));
    for (name, token) in tokens {
        group.bench_function(name, |b| {
            b.iter(|| {
                let token = black_box(token.as_str());
                let header = verify::parse_header(token).expect("header");
                let id = verify::verify(token, &header, &f.keys, &clock, &x).expect("valid token");
                let ctx = RequestContext {
                    aws_session: None,
                    identity: &id,
                    client: ClientKind::Api,
                    source_ip: None,
                    now: clock.now(),
                };
                mapper
                    .authorize(&ctx, black_box(ROLE), Action::Credentials)
                    .expect("granted")
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("signature_only");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(50)
        .measurement_time(Duration::from_secs(3));
    let (rs_msg, rs_sig) = signing_input(&f.rs256_token);
    let (n, e) = rsa_components(&f);
    let rsa = RsaPublicKeyComponents { n: &n, e: &e };
    group.bench_function("rs256_per_call", |b| {
        b.iter(|| {
            rsa.verify(&RSA_PKCS1_2048_8192_SHA256, black_box(rs_msg), &rs_sig)
                .expect("valid signature");
        });
    });
    let rsa_parsed = rsa
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .expect("RSA public key");
    group.bench_function("rs256_parsed", |b| {
        b.iter(|| {
            rsa_parsed
                .verify_sig(black_box(rs_msg), &rs_sig)
                .expect("valid signature");
        });
    });
    let (es_msg, es_sig) = signing_input(&f.es256_token);
    let point = ec_point(&f);
    group.bench_function("es256_per_call", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .verify(black_box(es_msg), &es_sig)
                .expect("valid signature");
        });
    });
    let ec_parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).expect("EC public key");
    group.bench_function("es256_parsed", |b| {
        b.iter(|| {
            ec_parsed
                .verify_sig(black_box(es_msg), &es_sig)
                .expect("valid signature");
        });
    });
    group.finish();
}

/// `header.payload` (what is signed) and the decoded signature.
fn signing_input(token: &str) -> (&[u8], Vec<u8>) {
    let (msg, sig) = token.rsplit_once('.').expect("a JWT");
    (msg.as_bytes(), b64(sig))
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

fn jwk_member<'a>(keys: &'a serde_json::Value, kty: &str, member: &str) -> &'a str {
    keys["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["kty"] == kty))
        .and_then(|k| k[member].as_str())
        .expect("JWK member")
}

fn rsa_components(f: &Fixture) -> (Vec<u8>, Vec<u8>) {
    (
        b64(jwk_member(&f.jwks, "RSA", "n")),
        b64(jwk_member(&f.jwks, "RSA", "e")),
    )
}

/// SEC 1 uncompressed point, 0x04 || x || y.
fn ec_point(f: &Fixture) -> Vec<u8> {
    let mut p = vec![4u8];
    p.extend(b64(jwk_member(&f.jwks, "EC", "x")));
    p.extend(b64(jwk_member(&f.jwks, "EC", "y")));
    p
}

criterion_group!(jwt, benches);
criterion_main!(jwt);
