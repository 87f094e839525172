//! Bearer JWTs from arbitrary bytes (the OIDC/JWT checks of docs/ARCHITECTURE.md).
//!
//! Every input that is UTF-8 goes where `POST /api/v1/credentials` sends an `Authorization:
//! Bearer` value: `peek_issuer` (which picks the IdP), `parse_header`, then `verify` against a
//! fixed key set (the TEST-ONLY `rsa-1`/`ec-1` of tests/fixtures/jwt/jwks.json), a fixed clock
//! (2026-11-22T12:00:00Z, the fixtures' instant) and two IdP configurations: the fixtures'
//! own (client `rolegate`, listed audience `mobile-app`, no nonce) and one that also wants a
//! nonce, a tenant claim and reads groups and username from other claims, so the claim checks
//! after the signature are reached both ways. Nothing may panic, and:
//!
//! - a token `verify` accepts has, as its signed part (`header.payload`), one of the messages
//!   the test keys really signed (`fuzz/jwt_parse.signed`, checked with python `cryptography`
//!   by `fuzz/scripts/jwt_seeds.py`): the fuzzer does not hold the private keys, so anything
//!   else that verifies is a forged token;
//! - an accepted token's issuer is the configured one, both from `peek_issuer` and in the
//!   identity, and its subject is not empty;
//! - `parse_header` refuses anything longer than `MAX_TOKEN_CHARS`.
//!
//! Run it with `cargo fuzz` (fuzz/README.md).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rolegate::clock::FixedClock;
use rolegate::config::OidcIdpConfig;
use rolegate::domain::IdpId;
use rolegate::idp::oidc::keys::KeySet;
use rolegate::idp::oidc::verify::{
    Expectations, MAX_TOKEN_CHARS, parse_header, peek_issuer, verify,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

/// 2026-11-22T12:00:00Z (tests/fixtures/jwt/README.md).
const NOW: i64 = 1_795_348_800;
const ISSUER: &str = "https://idp.rolegate.test";
const NONCE: &str = "n-fuzz";

struct Fixture {
    keys: KeySet,
    idp: IdpId,
    plain: OidcIdpConfig,
    strict: OidcIdpConfig,
    signed: HashSet<&'static str>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let keys = KeySet::from_jwks_json(include_bytes!("../../tests/fixtures/jwt/jwks.json"))
        .expect("the fixtures' JWKS parses");
    let plain = OidcIdpConfig {
        audiences: vec!["mobile-app".into()],
        mfa_acr_values: vec!["phr".into()],
        ..OidcIdpConfig::new(ISSUER, "rolegate")
    };
    let strict = OidcIdpConfig {
        groups_claim: "roles".into(),
        username_claim: "email".into(),
        required_claims: BTreeMap::from([("tid".to_string(), "tenant-1".to_string())]),
        insecure_trust_unverified_email: true,
        ..OidcIdpConfig::new(ISSUER, "rolegate")
    };
    let signed = include_str!("../jwt_parse.signed").lines().collect();
    Fixture {
        keys,
        idp: IdpId::parse("fuzz").expect("static id"),
        plain,
        strict,
        signed,
    }
});

fuzz_target!(|data: &[u8]| {
    // The header value reaches the verifier as a `&str` (actix refuses non-visible-ASCII
    // header values before that; any UTF-8 is a superset).
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let f = &*FIXTURE;
    let clock = FixedClock::at_unix(NOW);
    let issuer = peek_issuer(token);
    let header = match parse_header(token) {
        Ok(h) => h,
        Err(_) => return,
    };
    assert!(
        token.len() <= MAX_TOKEN_CHARS,
        "parse_header accepted a token over the size limit"
    );
    for (cfg, nonce) in [(&f.plain, None), (&f.strict, Some(NONCE))] {
        let x = Expectations {
            idp: &f.idp,
            cfg,
            nonce,
        };
        let Ok(identity) = verify(token, &header, &f.keys, &clock, &x) else {
            continue;
        };
        let message = token.rsplit_once('.').map_or("", |(m, _)| m);
        assert!(
            f.signed.contains(message),
            "verify accepted a token the test keys never signed: {token}"
        );
        assert_eq!(issuer.as_deref(), Some(ISSUER), "peek_issuer disagrees");
        assert_eq!(
            identity.claims.get("iss").and_then(|v| v.as_str()),
            Some(ISSUER)
        );
        assert!(!identity.subject.is_empty());
    }
});
