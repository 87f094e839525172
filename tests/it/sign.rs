//! `rolegate sign` for Neptune IAM database authentication, checked against botocore: the same
//! request signed by botocore's `SigV4Auth` / `SigV4QueryAuth` (tests/support/sigv4_botocore.py,
//! at rolegate's X-Amz-Date) must give the same bytes — headers, and the whole presigned URL.

use crate::common::peers::{repo_root, require_peer};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const GREMLIN: &str = "wss://db.cluster-c1a2b3c4d5e6.us-east-1.neptune.amazonaws.com:8182/gremlin";
// Encoded as SigV4 wants it (botocore's serialisers encode so before signing).
const CYPHER: &str = "https://db.cluster-ro-c1a2b3c4d5e6.eu-west-2.neptune.amazonaws.com:8182/openCypher?query=MATCH%20%28n%29%20RETURN%20n%20LIMIT%201";
const SPARQL: &str = "https://i-1.c1a2b3c4d5e6.cn-north-1.neptune.amazonaws.com.cn:8182/sparql";
const KEY: &str = "ASIAEXAMPLEKEYID0001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
// Session tokens carry + / = : the encodings must agree on them too.
const TOKEN: &str = "FwoGZXIvYXdzEJr//////////wEaDG+example/token+with=padding==";

fn botocore_python() -> Option<PathBuf> {
    let py = repo_root().join(".venv/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import botocore.auth"])
        .output()
        .is_ok_and(|o| o.status.success());
    require_peer("botocore (.venv/bin/python with botocore)", ok).then_some(py)
}

/// `rolegate sign` with only these AWS variables set.
fn sign(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_rolegate"));
    crate::common::cli::isolate(&mut c, home.path());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.arg("sign").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn env_with_token() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ]
}

/// What botocore makes of the same request at `timestamp`.
fn botocore(py: &PathBuf, request: Value) -> Value {
    let mut child = Command::new(py)
        .arg(repo_root().join("tests/support/sigv4_botocore.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn headers(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| {
            let (n, v) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("not a header: {l}"));
            (n.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn headers_are_byte_for_byte_what_botocore_sigv4auth_computes() {
    let Some(py) = botocore_python() else { return };
    for (url, region, token) in [
        (GREMLIN, "us-east-1", true),
        (CYPHER, "eu-west-2", true),
        (SPARQL, "cn-north-1", false),
    ] {
        let mut env = env_with_token();
        if !token {
            env.pop();
        }
        let (code, out, err) = sign(
            &env,
            &[
                "--credentials",
                "env",
                "--service",
                "neptune-db",
                "--url",
                url,
            ],
        );
        assert_eq!(code, 0, "{err}");
        let ours = headers(&out);
        let date = &ours["X-Amz-Date"];
        let theirs = botocore(
            &py,
            json!({"method": "GET", "url": url, "region": region, "service": "neptune-db",
                   "access_key": KEY, "secret_key": SECRET,
                   "token": token.then_some(TOKEN), "timestamp": date, "expires": null}),
        );
        let theirs = theirs["headers"].as_object().unwrap();
        assert_eq!(ours["Authorization"], theirs["Authorization"], "{url}");
        assert_eq!(ours["X-Amz-Date"], theirs["X-Amz-Date"], "{url}");
        assert_eq!(
            ours.get("X-Amz-Security-Token").map(String::as_str),
            theirs.get("X-Amz-Security-Token").and_then(Value::as_str),
            "the session token is sent and signed as botocore does: {url}"
        );
        assert_eq!(
            ours.len(),
            theirs.len() + 1,
            "Host, and botocore's: {ours:?}"
        );
        assert!(ours["Host"].ends_with(":8182"), "{ours:?}");
        let signed = if token {
            "SignedHeaders=host;x-amz-date;x-amz-security-token,"
        } else {
            "SignedHeaders=host;x-amz-date,"
        };
        assert!(ours["Authorization"].contains(signed), "{ours:?}");
        assert!(
            !out.contains(SECRET) && !err.contains(SECRET),
            "never the secret key"
        );
    }
}

#[test]
fn a_presigned_url_is_byte_for_byte_what_botocore_sigv4queryauth_builds() {
    let Some(py) = botocore_python() else { return };
    for url in [GREMLIN, CYPHER] {
        let (code, out, err) = sign(
            &env_with_token(),
            &[
                "--credentials",
                "env",
                "--service",
                "neptune-db",
                "--format",
                "url",
                "--expires",
                "300",
                "--url",
                url,
            ],
        );
        assert_eq!(code, 0, "{err}");
        let ours = out.trim_end();
        let date = ours
            .split("X-Amz-Date=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let region = if url == GREMLIN {
            "us-east-1"
        } else {
            "eu-west-2"
        };
        let theirs = botocore(
            &py,
            json!({"method": "GET", "url": url, "region": region, "service": "neptune-db",
                   "access_key": KEY, "secret_key": SECRET, "token": TOKEN,
                   "timestamp": date, "expires": 300}),
        );
        assert_eq!(ours, theirs["url"].as_str().unwrap());
        assert!(
            ours.starts_with(url),
            "the scheme and query as given: {ours}"
        );
    }
}

#[test]
fn json_format_carries_method_url_and_the_signed_headers() {
    let (code, out, err) = sign(
        &env_with_token(),
        &[
            "--credentials",
            "env",
            "--service",
            "neptune-db",
            "--format",
            "json",
            "--method",
            "post",
            "--url",
            SPARQL,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["url"], SPARQL);
    let h = v["headers"].as_object().unwrap();
    let mut names: Vec<&str> = h.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Authorization",
            "Host",
            "X-Amz-Date",
            "X-Amz-Security-Token"
        ]
    );
    assert!(
        h["Authorization"]
            .as_str()
            .unwrap()
            .contains("/cn-north-1/neptune-db/aws4_request")
    );
}

/// A URL that is not a Neptune endpoint — another host, a look-alike suffix, plain http, a
/// path that is no query language — gets a clear error and nothing on stdout, before any
/// credentials are read (none are set here).
#[test]
fn a_url_that_is_not_a_neptune_endpoint_signs_nothing() {
    for url in [
        "https://example.com:8182/gremlin",
        "https://db.cluster-abc.us-east-1.neptune.amazonaws.com.attacker.example:8182/gremlin",
        "http://db.cluster-abc.us-east-1.neptune.amazonaws.com:8182/gremlin",
        "https://db.cluster-abc.us-east-1.neptune.amazonaws.com:8182/loader",
        "https://sts.us-east-1.amazonaws.com/",
    ] {
        let (code, out, err) = sign(
            &env_with_token(),
            &[
                "--credentials",
                "env",
                "--service",
                "neptune-db",
                "--url",
                url,
            ],
        );
        assert_eq!(code, 1, "{url}: {out}");
        assert!(out.is_empty(), "nothing on stdout: {out}");
        assert!(
            err.contains("Neptune endpoint") || err.contains("the path must be one of"),
            "{url}: {err}"
        );
        assert!(!err.contains(SECRET));
    }
    // Another service, or no credentials in the environment: refused, nothing printed.
    let (code, out, err) = sign(
        &env_with_token(),
        &["--credentials", "env", "--service", "s3", "--url", GREMLIN],
    );
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("only neptune-db"), "{err}");
    let (code, out, err) = sign(
        &[],
        &[
            "--credentials",
            "env",
            "--service",
            "neptune-db",
            "--url",
            GREMLIN,
        ],
    );
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID is not set"), "{err}");
}

/// A query written loosely (`(`, `+` for a space) is printed as it is signed: SigV4's encoding,
/// which is how the server re-encodes what it receives before it checks the signature.
#[test]
fn a_loosely_encoded_query_is_printed_exactly_as_it_is_signed() {
    let loose = CYPHER
        .replace("%28", "(")
        .replace("%29", ")")
        .replace("%20RETURN", "+RETURN");
    let json = |url: &str| {
        let (code, out, err) = sign(
            &env_with_token(),
            &[
                "--credentials",
                "env",
                "--service",
                "neptune-db",
                "--format",
                "json",
                "--url",
                url,
            ],
        );
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let (a, b) = (json(&loose), json(CYPHER));
    assert_eq!(a["url"], CYPHER);
    assert_eq!(b["url"], CYPHER);
    // Same request, same second (or the next): same signature once the dates agree.
    if a["headers"]["X-Amz-Date"] == b["headers"]["X-Amz-Date"] {
        assert_eq!(a["headers"]["Authorization"], b["headers"]["Authorization"]);
    }
}

/// `--role`: the brokered credentials of a signed-in engineer (a real `serve --dev` broker and
/// `rolegate login`), the same ones `rolegate credentials` hands out from its cache; botocore
/// signing with those gives the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_signs_with_the_brokered_credentials() {
    use crate::common::{cli, dev_broker, peers::Moto, web};
    let Some(py) = botocore_python() else { return };
    let Some(moto) = Moto::start() else { return };
    let broker = dev_broker::start(&moto, "127.0.0.1:0");
    let http = web::client();
    dev_broker::wait_ready(&http, &broker).await;
    let home = tempfile::tempdir().unwrap();
    let session = dev_broker::dev_session(&http, &broker, "alice").await;
    let mut login = cli::rolegate(home.path());
    login
        .args(["login", "--broker", broker.url.as_str()])
        .stdin(Stdio::null());
    let out = tokio::task::block_in_place(|| cli::login_through_session(login, &session));
    cli::assert_success(&out, "rolegate login");
    let run = |args: &[&str]| {
        let mut c = cli::rolegate(home.path());
        c.args(args).stdin(Stdio::null());
        tokio::task::block_in_place(|| c.output().unwrap())
    };
    let out = run(&[
        "sign",
        "--role",
        "dev-readonly",
        "--service",
        "neptune-db",
        "--format",
        "json",
        "--url",
        GREMLIN,
    ]);
    cli::assert_success(&out, "rolegate sign --role");
    let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The cached credentials the signature was made with.
    let out = run(&["credentials", "dev-readonly"]);
    cli::assert_success(&out, "rolegate credentials");
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &ours["headers"];
    assert_eq!(h["X-Amz-Security-Token"], creds["SessionToken"]);
    let theirs = botocore(
        &py,
        json!({"method": "GET", "url": GREMLIN, "region": "us-east-1", "service": "neptune-db",
               "access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
               "token": creds["SessionToken"], "timestamp": h["X-Amz-Date"], "expires": null}),
    );
    assert_eq!(h["Authorization"], theirs["headers"]["Authorization"]);
}
