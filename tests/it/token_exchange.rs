//! The token-exchange journey, black-box: a real oidc-provider issues ID tokens, the broker
//! verifies them, maps groups to roles and calls moto's STS; the returned credentials are
//! proven by calling GetCallerIdentity with them.

use crate::common;

use common::app::{TestApp, base_config, caller_identity_arn, peers};
use common::forge;
use serde_json::{Value, json};

macro_rules! peers_or_skip {
    () => {
        match peers() {
            Some(p) => p,
            None => return,
        }
    };
}

async fn app() -> (TestApp, &'static common::app::Peers) {
    let p = peers().expect("peers checked by caller");
    (TestApp::spawn(&base_config(p, "")).await, p)
}

#[tokio::test]
async fn alice_gets_credentials_that_sts_recognises() {
    peers_or_skip!();
    let (app, p) = app().await;
    let token = p.idp.id_token("rolegate", "alice");

    let res = app
        .credentials(
            &token,
            json!({"role": "prod-readonly", "duration_seconds": 7200}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Version"], 1);
    assert_eq!(body["RoleArn"], "arn:aws:iam::123456789012:role/ReadOnly");
    // The session names the IdP and the subject: `<idp>.<sub>`, like SourceIdentity.
    assert_eq!(body["SessionName"], "web.alice");
    let expiration = humantime::parse_rfc3339(body["Expiration"].as_str().unwrap()).unwrap();
    let secs = expiration
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs();
    assert!((7100..=7200).contains(&secs), "expires in {secs}s");

    let arn = caller_identity_arn(&p.moto.url, &body).await;
    assert_eq!(
        arn,
        "arn:aws:sts::123456789012:assumed-role/ReadOnly/web.alice"
    );
}

#[tokio::test]
async fn es256_tokens_and_listed_audiences_are_accepted() {
    peers_or_skip!();
    let (app, p) = app().await;
    for client in ["rolegate-es", "mobile-app"] {
        let token = p.idp.id_token(client, "alice");
        let res = app.credentials(&token, json!({"role": "admin"})).await;
        assert_eq!(res.status(), 200, "client {client}");
        let body: Value = res.json().await.unwrap();
        assert!(
            caller_identity_arn(&p.moto.url, &body)
                .await
                .contains("assumed-role/Admin/")
        );
    }
}

#[tokio::test]
async fn roles_lists_exactly_what_the_groups_allow() {
    peers_or_skip!();
    let (app, p) = app().await;
    let alice: Value = app
        .roles(&p.idp.id_token("rolegate", "alice"))
        .await
        .json()
        .await
        .unwrap();
    let mut aliases: Vec<&str> = alice["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alias"].as_str().unwrap())
        .collect();
    aliases.sort();
    assert_eq!(
        aliases,
        ["admin", "denied", "prod-readonly", "throttled", "toolong"]
    );
    let ro = alice["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alias"] == "prod-readonly")
        .unwrap();
    assert_eq!(ro["max_duration_seconds"], 14400);
    assert_eq!(ro["account_name"], "prod");

    let bob: Value = app
        .roles(&p.idp.id_token("rolegate", "bob"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bob["roles"], json!([]), "sales has no [[map]] rule");
}

#[tokio::test]
async fn default_duration_is_capped_at_the_role_maximum() {
    peers_or_skip!();
    let (app, p) = app().await;
    let token = forge::rs256(&forge::claims(&p.idp.issuer));
    let body: Value = app
        .credentials(&token, json!({"role": "prod-readonly"}))
        .await
        .json()
        .await
        .unwrap();
    let exp = humantime::parse_rfc3339(body["Expiration"].as_str().unwrap()).unwrap();
    let secs = exp
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs();
    assert!((3500..=3600).contains(&secs), "default 1h, got {secs}s");
}

async fn expect_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status(), status, "expected {status} {code}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["request_id"].as_str().is_some_and(|r| r.len() == 16),
        "{body}"
    );
    body
}

#[tokio::test]
async fn missing_or_non_bearer_authorization_is_challenged() {
    peers_or_skip!();
    let (app, _) = app().await;
    let res = app
        .http
        .post(format!("{}/api/v1/credentials", app.url))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer realm="rolegate""#
    );
    expect_error(res, 401, "invalid_token").await;
    let res = app
        .http
        .post(format!("{}/api/v1/credentials", app.url))
        .header("authorization", "Basic YWxpY2U6eA==")
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "invalid_token").await;
}

/// Each forged token is signed with the IdP's real key (unless the attack is about the key)
/// and carries exactly one fault.
#[tokio::test]
async fn forged_and_malformed_tokens_are_refused_with_a_challenge() {
    peers_or_skip!();
    let (app, p) = app().await;
    let iss = p.idp.issuer.as_str();
    let with = |patch: Value| {
        let mut c = forge::claims(iss);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let now = forge::now();
    let good = forge::claims(iss);
    let rsa_public_pem = {
        // The classic key-confusion attack: HMAC keyed with the IdP's public key.
        let jwks: Value = app
            .http
            .get(format!("{iss}/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks.to_string()
    };
    let hs256 = {
        let key = jsonwebtoken::EncodingKey::from_secret(rsa_public_pem.as_bytes());
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("rsa-1".into());
        jsonwebtoken::encode(&h, &good, &key).unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            forge::raw(&json!({"alg": "none", "typ": "JWT"}), &good, ""),
            "signing algorithm",
        ),
        (
            "HS256 keyed with the RSA public key",
            hs256,
            "signing algorithm",
        ),
        (
            "unknown kid",
            forge::sign(jsonwebtoken::Algorithm::RS256, "rsa-9", &good),
            "key the IdP does not publish",
        ),
        (
            "wrong iss",
            forge::rs256(&with(json!({"iss": "https://evil.example"}))),
            "issuer",
        ),
        (
            "wrong aud",
            forge::rs256(&with(json!({"aud": "someone-else"}))),
            "audience",
        ),
        (
            "several aud, no azp",
            forge::rs256(&with(json!({"aud": ["rolegate", "other"]}))),
            "azp",
        ),
        (
            "azp not ours",
            forge::rs256(&with(json!({"azp": "other"}))),
            "authorized party",
        ),
        (
            "expired",
            forge::rs256(&with(json!({"exp": now - 120}))),
            "expired",
        ),
        (
            "nbf in the future",
            forge::rs256(&with(json!({"nbf": now + 300}))),
            "not valid yet",
        ),
        (
            "iat in the future",
            forge::rs256(&with(json!({"iat": now + 300, "exp": now + 900}))),
            "issued in the future",
        ),
        (
            "missing exp",
            forge::rs256(&with(json!({"exp": null}))),
            "no `exp`",
        ),
        (
            "missing iat",
            forge::rs256(&with(json!({"iat": null}))),
            "no `iat`",
        ),
        (
            "missing sub",
            forge::rs256(&with(json!({"sub": null}))),
            "no `sub`",
        ),
        (
            "unknown crit",
            forge::rs256_with_header(
                &json!({"alg": "RS256", "kid": "rsa-1", "crit": ["urn:x"], "urn:x": 1}),
                &good,
            ),
            "critical",
        ),
        (
            "access token typ",
            forge::rs256_with_header(
                &json!({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}),
                &good,
            ),
            "not an ID token",
        ),
        (
            "over 20,000 chars",
            forge::rs256(&with(json!({"pad": "x".repeat(20_000)}))),
            "larger than 20000",
        ),
        (
            "two segments",
            "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0".into(),
            "malformed",
        ),
        ("garbage", "not a token at all".into(), "malformed"),
        (
            "header not JSON",
            format!(
                "bm90IGpzb24.{}.c2ln",
                forge::rs256(&good).split('.').nth(1).unwrap()
            ),
            "malformed",
        ),
        (
            "tampered payload",
            {
                let t = forge::rs256(&good);
                let parts: Vec<&str> = t.split('.').collect();
                let evil = forge::raw(&json!({}), &with(json!({"groups": ["sre"]})), "");
                format!(
                    "{}.{}.{}",
                    parts[0],
                    evil.split('.').nth(1).unwrap(),
                    parts[2]
                )
            },
            "signature is invalid",
        ),
        (
            // RFC 7519 §4: a claim named twice, signed by the IdP; parsers that keep the last
            // would read `eng`, others `nobody`.
            "duplicate groups claim",
            forge::rs256_raw_payload(&format!(
                r#"{{"iss":"{iss}","aud":"rolegate","sub":"dup","groups":["nobody"],"groups":["eng"],"iat":{},"exp":{}}}"#,
                now - 10,
                now + 600
            )),
            // The unverified peek at `iss` refuses it already, as the verifier would.
            "malformed token",
        ),
    ];
    for (name, token, says) in cases {
        let res = app
            .credentials(&token, json!({"role": "prod-readonly"}))
            .await;
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        let body = expect_error(res, 401, "invalid_token").await;
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{name}: {description}");
        let challenge = challenge.unwrap_or_else(|| panic!("{name}: no WWW-Authenticate"));
        assert!(
            challenge.starts_with(r#"Bearer realm="rolegate", error="invalid_token""#),
            "{name}: {challenge}"
        );
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"rolegate_token_verify_failures_total{reason="expired"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn azp_makes_several_audiences_acceptable_and_skew_is_honoured() {
    peers_or_skip!();
    let (app, p) = app().await;
    let mut c = forge::claims(&p.idp.issuer);
    c["aud"] = json!(["rolegate", "other"]);
    c["azp"] = json!("rolegate");
    assert_eq!(
        app.credentials(&forge::rs256(&c), json!({"role": "prod-readonly"}))
            .await
            .status(),
        200
    );
    let mut c = forge::claims(&p.idp.issuer);
    c["exp"] = json!(forge::now() - 20); // within the 60 s skew
    assert_eq!(
        app.credentials(&forge::es256(&c), json!({"role": "prod-readonly"}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn bad_request_bodies_get_invalid_request() {
    peers_or_skip!();
    let (app, p) = app().await;
    let token = forge::rs256(&forge::claims(&p.idp.issuer));
    let post = |body: String| {
        app.http
            .post(format!("{}/api/v1/credentials", app.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        "{".to_string(),
        "[]".to_string(),
        r#"{"duration_seconds": 3600}"#.to_string(),
        r#"{"role": "admin", "duration": 3600}"#.to_string(),
        r#"{"role": "admin", "duration_seconds": -1}"#.to_string(),
        r#"{"role": "admin", "duration_seconds": "1h"}"#.to_string(),
        format!(r#"{{"role": "{}"}}"#, "a".repeat(20_000)),
    ] {
        let res = post(body.clone()).await.unwrap();
        expect_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn roles_not_granted_or_unknown_are_refused_alike() {
    peers_or_skip!();
    let (app, p) = app().await;
    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!("refusal-test");
    c["sub"] = json!("refusal-test");
    let alice = forge::rs256(&c);
    let unknown = expect_error(
        app.credentials(&alice, json!({"role": "no-such-role"}))
            .await,
        403,
        "access_denied",
    )
    .await;
    let not_granted = expect_error(
        app.credentials(&alice, json!({"role": "sales"})).await,
        403,
        "access_denied",
    )
    .await;
    assert_eq!(
        unknown["error_description"]
            .as_str()
            .unwrap()
            .replace("no-such-role", "X"),
        not_granted["error_description"]
            .as_str()
            .unwrap()
            .replace("sales", "X"),
        "the catalogue must not be enumerable"
    );
    // bob (sales) has no rule at all; an ARN works like an alias and is refused the same way.
    let bob = p.idp.id_token("rolegate", "bob");
    expect_error(
        app.credentials(
            &bob,
            json!({"role": "arn:aws:iam::123456789012:role/ReadOnly"}),
        )
        .await,
        403,
        "access_denied",
    )
    .await;
    assert_eq!(
        p.moto.sts_requests_for_session("web.refusal-test").await,
        0,
        "refusals never reach STS"
    );
}

#[tokio::test]
async fn durations_outside_the_grant_are_refused_naming_the_limit() {
    peers_or_skip!();
    let (app, p) = app().await;
    let mut c = forge::claims(&p.idp.issuer);
    c["groups"] = json!(["eng", "sre"]);
    c["preferred_username"] = json!("durations-test");
    c["sub"] = json!("durations-test");
    let token = forge::rs256(&c);
    let b = expect_error(
        app.credentials(
            &token,
            json!({"role": "prod-readonly", "duration_seconds": 14401}),
        )
        .await,
        400,
        "invalid_duration",
    )
    .await;
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("(4h0m1s) is above this role's maximum: at most 4h"),
        "{b}"
    );
    let b = expect_error(
        app.credentials(&token, json!({"role": "admin", "duration_seconds": 3601}))
            .await,
        400,
        "invalid_duration",
    )
    .await;
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("at most 1h"),
        "{b}"
    );
    expect_error(
        app.credentials(&token, json!({"role": "admin", "duration_seconds": 899}))
            .await,
        400,
        "invalid_duration",
    )
    .await;
    assert_eq!(
        p.moto.sts_requests_for_session("web.durations-test").await,
        0,
        "limits are checked before STS"
    );
}

#[tokio::test]
async fn sts_errors_map_to_stable_codes() {
    peers_or_skip!();
    let (app, p) = app().await;
    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!("sts-errors-test");
    c["sub"] = json!("sts-errors-test");
    let token = forge::rs256(&c);
    let b = expect_error(
        app.credentials(&token, json!({"role": "denied"})).await,
        403,
        "sts_access_denied",
    )
    .await;
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("trust policy"),
        "{b}"
    );
    assert!(
        !b.to_string().contains("user/moto"),
        "STS detail stays in the log: {b}"
    );
    expect_error(
        app.credentials(
            &token,
            json!({"role": "toolong", "duration_seconds": 43200}),
        )
        .await,
        400,
        "sts_validation_error",
    )
    .await;
    let before = p.moto.sts_requests_for_session("web.sts-errors-test").await;
    expect_error(
        app.credentials(&token, json!({"role": "throttled"})).await,
        503,
        "sts_throttled",
    )
    .await;
    let attempts = p.moto.sts_requests_for_session("web.sts-errors-test").await - before;
    assert_eq!(
        attempts, 3,
        "bounded retries: the SDK's standard mode, 3 attempts"
    );
}

#[tokio::test]
async fn unverified_email_never_names_the_session() {
    peers_or_skip!();
    let (app, p) = app().await;
    let token = p.idp.id_token("rolegate", "mallory"); // groups [eng], email_verified false
    let body: Value = app
        .credentials(&token, json!({"role": "prod-readonly"}))
        .await
        .json()
        .await
        .unwrap();
    let session = body["SessionName"].as_str().unwrap();
    assert!(!session.contains("mallory@example.com"), "{session}");
}

#[tokio::test]
async fn tenant_pinning_with_required_claims() {
    let p = peers_or_skip!();
    let app = TestApp::spawn(&base_config(p, r#"required_claims = { tid = "acme" }"#)).await;
    let mut c = forge::claims(&p.idp.issuer);
    c["tid"] = json!("other-tenant");
    let b = expect_error(
        app.credentials(&forge::rs256(&c), json!({"role": "prod-readonly"}))
            .await,
        401,
        "invalid_token",
    )
    .await;
    assert!(
        b["error_description"].as_str().unwrap().contains("`tid`"),
        "{b}"
    );
    c["tid"] = json!("acme");
    assert_eq!(
        app.credentials(&forge::rs256(&c), json!({"role": "prod-readonly"}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn session_tags_are_checked_before_sts() {
    let p = peers_or_skip!();
    let many: Vec<String> = (0..51).map(|i| format!("k{i} = \"v\"")).collect();
    let toml = format!(
        "{}\n[[map]]\nidp = \"web\"\ngroups = [\"eng\"]\nroles = [\"sales\"]\ntags = {{ {} }}\n",
        base_config(p, ""),
        many.join(", ")
    );
    let app = TestApp::spawn(&toml).await;
    let mut c = forge::claims(&p.idp.issuer);
    c["preferred_username"] = json!("tags-test");
    c["sub"] = json!("tags-test");
    let b = expect_error(
        app.credentials(&forge::rs256(&c), json!({"role": "sales"}))
            .await,
        400,
        "invalid_session_tags",
    )
    .await;
    assert!(
        b["error_description"]
            .as_str()
            .unwrap()
            .contains("at most 50"),
        "{b}"
    );
    assert_eq!(p.moto.sts_requests_for_session("web.tags-test").await, 0);
}

#[tokio::test]
async fn credentials_are_rate_limited_per_subject() {
    let p = peers_or_skip!();
    let toml = format!(
        "{}\n[limits]\ncredentials_per_minute = 2\n",
        base_config(p, "")
    );
    let app = TestApp::spawn(&toml).await;
    let token = forge::rs256(&forge::claims(&p.idp.issuer));
    for _ in 0..2 {
        assert_eq!(
            app.credentials(&token, json!({"role": "prod-readonly"}))
                .await
                .status(),
            200
        );
    }
    expect_error(
        app.credentials(&token, json!({"role": "prod-readonly"}))
            .await,
        429,
        "rate_limited",
    )
    .await;
    let mut other = forge::claims(&p.idp.issuer);
    other["sub"] = json!("someone-else");
    assert_eq!(
        app.credentials(&forge::rs256(&other), json!({"role": "prod-readonly"}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let _ = peers_or_skip!();
    let (app, _) = app().await;
    let res = app
        .http
        .get(format!("{}/nope", app.url))
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn api_calls_can_be_rate_limited_per_client_ip() {
    let p = peers_or_skip!();
    let toml = format!(
        "{}\n[limits]\nrequests_per_minute_per_ip = 3\n",
        base_config(p, "")
    );
    let app = TestApp::spawn(&toml).await;
    for i in 0..3 {
        let mut c = forge::claims(&p.idp.issuer);
        c["sub"] = json!(format!("user-{i}"));
        assert_eq!(app.roles(&forge::rs256(&c)).await.status(), 200);
    }
    // A new subject does not help: the limit is per address, and applies before verification.
    expect_error(app.roles("junk.junk.junk").await, 429, "rate_limited").await;
}

#[tokio::test]
async fn cors_only_for_configured_origins() {
    let p = peers_or_skip!();
    let toml = base_config(p, "").replacen(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\ncors_origins = [\"https://app.example.com\"]",
        1,
    );
    let cors = TestApp::spawn(&toml).await;
    let preflight = |origin: &'static str| {
        cors.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/credentials", cors.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let evil = preflight("https://evil.example.com").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    // Default config: no origin is allowed at all.
    let (plain, _) = app().await;
    let res = plain
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/credentials", plain.url),
        )
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

/// `azp` must be a string (OIDC Core §2): an array or object naming us was read as absent, so a
/// token with one audience passed whatever `azp` held.
#[tokio::test]
async fn azp_that_is_not_a_string_is_malformed() {
    peers_or_skip!();
    let (app, p) = app().await;
    for azp in [
        json!(["rolegate"]),
        json!({"id": "rolegate"}),
        json!(7),
        json!(null),
    ] {
        let mut c = forge::claims(&p.idp.issuer);
        c["azp"] = azp.clone();
        let res = app
            .credentials(&forge::rs256(&c), json!({"role": "prod-readonly"}))
            .await;
        let body = expect_error(res, 401, "invalid_token").await;
        assert!(
            body["error_description"].as_str().unwrap().contains("azp"),
            "{azp}: {body}"
        );
    }
}
