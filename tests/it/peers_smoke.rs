//! The test peers themselves work: if these fail, every integration test built on them is suspect.
//! They do not use the rolegate library.

use crate::common;

use common::peers::{OidcIdp, Redis, redis_ping};

/// base64url (no padding) decoding, enough to read a JWT segment without extra crates.
fn b64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a' + 26),
            b'0'..=b'9' => u32::from(c - b'0' + 52),
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c:?}"),
        }
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk.iter().fold(0u32, |acc, &c| (acc << 6) | val(c)) << (6 * (4 - chunk.len()));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn jwt_part(token: &str, i: usize) -> serde_json::Value {
    let part = token.split('.').nth(i).expect("JWT segment");
    serde_json::from_slice(&b64url_decode(part)).expect("segment is JSON")
}

/// Form-encodes key/value pairs (reqwest's `form` feature is not enabled in this crate).
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// An STS query-protocol call as the AWS SDK sends it. moto does not check SigV4 signatures; it
/// only reads the credential scope to route the request to STS.
async fn sts_call(url: &str, params: &[(&str, &str)]) -> (u16, String) {
    let resp = client()
        .post(format!("{url}/"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header("x-amz-date", "20260101T000000Z")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/sts/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00",
        )
        .body(form(params))
        .send()
        .await
        .expect("STS request");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[test]
fn base64url_decoder_is_right() {
    assert_eq!(b64url_decode("eyJhIjoxfQ"), br#"{"a":1}"#);
    assert_eq!(b64url_decode("-_8"), [0xfb, 0xff]);
}

#[test]
fn redis_answers_ping_stops_and_restarts_on_the_same_port() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    assert!(redis_ping(redis.port));
    assert_eq!(redis.url, format!("redis://127.0.0.1:{}/0", redis.port));
    redis.stop();
    assert!(!redis_ping(redis.port), "redis still answers after stop()");
    redis.restart();
    assert!(
        redis_ping(redis.port),
        "redis does not answer after restart()"
    );
}

#[tokio::test]
async fn moto_serves_sts_and_the_fault_hook_denies() {
    let Some(moto) = common::peers::Moto::start() else {
        return;
    };
    let api = client()
        .get(format!("{}/moto-api/", moto.url))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    assert_eq!(moto.sts_request_count().await, 0);

    let assume = |role: &'static str| {
        let url = moto.url.clone();
        async move {
            let arn = format!("arn:aws:iam::111122223333:role/{role}");
            let params = [
                ("Action", "AssumeRole"),
                ("Version", "2011-06-15"),
                ("RoleArn", arn.as_str()),
                ("RoleSessionName", "alice"),
            ];
            sts_call(&url, &params).await
        }
    };

    let (status, body) = assume("Dev").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<AssumeRoleResponse"), "{body}");
    assert!(body.contains("assumed-role/Dev/alice"), "{body}");

    let (status, body) = assume("sts-denied-x").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("<Type>Sender</Type>"), "{body}");

    let (status, body) = assume("sts-throttled").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>Throttling</Code>"), "{body}");

    let (status, body) = assume("sts-toolong").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>ValidationError</Code>") && body.contains("MaxSessionDuration"));

    assert_eq!(moto.sts_request_count().await, 4);
    moto.reset_count().await;
    assert_eq!(moto.sts_request_count().await, 0);
}

#[test]
fn oidc_idp_serves_discovery_and_real_id_tokens() {
    let Some(idp) = OidcIdp::start() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let discovery: serde_json::Value = rt.block_on(async {
        let url = format!("{}/.well-known/openid-configuration", idp.issuer);
        client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(discovery["issuer"], idp.issuer.as_str());

    let token = idp.id_token("rolegate", "alice");
    assert_eq!(token.split('.').count(), 3, "not a compact JWT: {token}");
    let (header, claims) = (jwt_part(&token, 0), jwt_part(&token, 1));
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "rsa-1");
    assert_eq!(claims["iss"], idp.issuer.as_str());
    assert_eq!(claims["aud"], "rolegate");
    assert_eq!(claims["groups"], serde_json::json!(["eng", "sre"]));
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);

    let es = idp.id_token_with_nonce("rolegate-es", "mallory", Some("n-1"));
    assert_eq!(jwt_part(&es, 0)["alg"], "ES256");
    assert_eq!(jwt_part(&es, 0)["kid"], "ec-1");
    assert_eq!(jwt_part(&es, 1)["email_verified"], false);
    assert_eq!(jwt_part(&es, 1)["nonce"], "n-1");

    let public = idp.id_token("mobile-app", "carol");
    assert_eq!(jwt_part(&public, 1)["aud"], "mobile-app");
    assert_eq!(jwt_part(&public, 1)["groups"], serde_json::json!([]));

    let jwks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(OidcIdp::private_jwks_path()).unwrap()).unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["d"].is_string())
    );
}
