//! `rolegate verify jwt`, black box: every fixture in tests/fixtures/jwt (one per attack, really
//! signed, see its README) gets the answer listed in expected.json; plus the injected clock,
//! stdin handling, `--nonce` and usage errors (exit 2).

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NOW: &str = "2026-11-22T12:00:00Z";
const ISSUER: &str = "https://idp.rolegate.test";
const AUDIENCE: &str = "rolegate";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt")
}

fn expected() -> Value {
    let path = dir().join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run node tests/fixtures/jwt/generate.mjs)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("expected.json is JSON")
}

fn fixture(name: &str) -> String {
    let path = dir().join(format!("{name}.jwt"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `rolegate verify jwt` with the fixtures' JWKS, issuer and audience plus `extra`.
fn run(stdin: &str, extra: &[&str]) -> Out {
    run_with(stdin, &dir().join("jwks.json"), AUDIENCE, extra)
}

fn run_with(stdin: &str, jwks: &Path, audience: &str, extra: &[&str]) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["verify", "jwt", "--jwks"])
        .arg(jwks)
        .args(["--issuer", ISSUER, "--audience", audience])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rolegate");
    // The process may exit (usage error) before reading stdin: a broken pipe is fine then.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("wait for rolegate");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Checks one accepted run; returns the problems found (empty when fine).
fn accepted(what: &str, out: &Out) -> Vec<String> {
    let mut problems = Vec::new();
    if out.code != 0 {
        problems.push(format!(
            "{what}: expected exit 0, got {} with stdout {:?} stderr {:?}",
            out.code, out.stdout, out.stderr
        ));
        return problems;
    }
    let Ok(id) = serde_json::from_str::<Value>(&out.stdout) else {
        problems.push(format!("{what}: stdout is not JSON: {:?}", out.stdout));
        return problems;
    };
    if id["subject"] != "fixture-alice" {
        problems.push(format!("{what}: subject is {}", id["subject"]));
    }
    if id["groups"] != serde_json::json!(["eng"]) {
        problems.push(format!("{what}: groups are {}", id["groups"]));
    }
    if id["idp"].as_str().is_none_or(str::is_empty) {
        problems.push(format!("{what}: no idp in {id}"));
    }
    problems
}

/// Checks one rejected run; returns the problems found (empty when fine).
fn rejected(what: &str, out: &Out, reason: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if out.code != 1 {
        problems.push(format!(
            "{what}: expected exit 1 ({reason}), got {} with stdout {:?} stderr {:?}",
            out.code, out.stdout, out.stderr
        ));
        return problems;
    }
    let Ok(body) = serde_json::from_str::<Value>(&out.stdout) else {
        problems.push(format!("{what}: stdout is not JSON: {:?}", out.stdout));
        return problems;
    };
    if body["error"] != reason {
        problems.push(format!(
            "{what}: expected error {reason:?}, got {} ({})",
            body["error"], body["error_description"]
        ));
    }
    if body["error_description"].as_str().is_none_or(str::is_empty) {
        problems.push(format!("{what}: no error_description in {body}"));
    }
    let keys: Vec<&String> = body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    if keys.len() != 2 {
        problems.push(format!(
            "{what}: expected only error and error_description, got {keys:?}"
        ));
    }
    problems
}

fn assert_ok(what: &str, out: &Out) {
    let problems = accepted(what, out);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn assert_rejected(what: &str, out: &Out, reason: &str) {
    let problems = rejected(what, out, reason);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn assert_usage_error(what: &str, out: &Out) {
    assert_eq!(
        out.code, 2,
        "{what}: expected exit 2 (usage), got {} with stdout {:?} stderr {:?}",
        out.code, out.stdout, out.stderr
    );
    assert!(
        !out.stderr.trim().is_empty(),
        "{what}: a usage error says why on stderr"
    );
    assert!(
        !out.stdout.contains("\"error\""),
        "{what}: a usage error is not a verdict: {:?}",
        out.stdout
    );
}

#[test]
fn expected_json_describes_the_fixed_world() {
    let e = expected();
    assert_eq!(e["now"], NOW);
    assert_eq!(e["now_unix"], 1_795_348_800);
    assert_eq!(e["issuer"], ISSUER);
    assert_eq!(e["audience"], AUDIENCE);
    let fixtures = e["fixtures"].as_object().expect("fixtures object");
    assert!(fixtures.len() >= 29, "only {} fixtures", fixtures.len());
    for (name, f) in fixtures {
        assert!(f["expect"].is_string(), "{name}: no expect");
        assert!(
            f["why"].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: no why"
        );
    }
}

#[test]
fn every_fixture_gets_its_expected_answer() {
    let e = expected();
    let fixtures = e["fixtures"].as_object().expect("fixtures object");
    let mut problems = Vec::new();
    let mut checked = 0;
    for (name, f) in fixtures {
        if f["cli"] == false {
            continue; // needs the server's listed audiences; the CLI takes a single --audience
        }
        let expect = f["expect"].as_str().expect("expect is a string");
        let what = format!("fixture {name} ({})", f["why"].as_str().unwrap_or(""));
        let out = run(&fixture(name), &["--now", NOW]);
        if expect == "ok" {
            problems.extend(accepted(&what, &out));
        } else {
            problems.extend(rejected(&what, &out, expect));
        }
        checked += 1;
    }
    assert!(checked >= 28, "only {checked} fixtures ran");
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_jwt_file_is_listed_in_expected_json() {
    let e = expected();
    let fixtures = e["fixtures"].as_object().expect("fixtures object");
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(dir()).expect("fixture dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|x| x == "jwt") {
            let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
            if !fixtures.contains_key(name) {
                orphans.push(name.to_string());
            }
        }
    }
    assert!(
        orphans.is_empty(),
        "*.jwt files not in expected.json: {orphans:?}"
    );
    for name in fixtures.keys() {
        assert!(
            dir().join(format!("{name}.jwt")).is_file(),
            "expected.json lists {name} but {name}.jwt is missing"
        );
    }
}

#[test]
fn fixtures_are_single_line_compact_tokens() {
    for name in expected()["fixtures"].as_object().expect("fixtures").keys() {
        let t = fixture(name);
        assert!(
            !t.is_empty() && t.trim() == t && !t.contains('\n'),
            "fixture {name}: one line, no surrounding whitespace"
        );
    }
}

#[test]
fn the_jwks_holds_only_public_keys() {
    let text = std::fs::read_to_string(dir().join("jwks.json")).expect("jwks.json");
    let jwks: Value = serde_json::from_str(&text).expect("JSON");
    let keys = jwks["keys"].as_array().expect("keys");
    let kids: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids, ["rsa-1", "ec-1"]);
    for k in keys {
        assert_eq!(k["use"], "sig", "{k}");
        assert!(k["alg"].is_string(), "{k}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(private).is_none(), "jwks.json leaks `{private}`: {k}");
        }
    }
}

#[test]
fn the_injected_clock_decides_not_the_system_clock() {
    let token = fixture("valid-rs256");
    assert_ok("valid-rs256 at NOW", &run(&token, &["--now", NOW]));
    assert_rejected(
        "valid-rs256 one day later",
        &run(&token, &["--now", "2026-11-23T12:00:00Z"]),
        "expired",
    );
    // Issued 60 s before NOW: an hour earlier it was not issued yet.
    assert_rejected(
        "valid-rs256 an hour before it was issued",
        &run(&token, &["--now", "2026-11-22T11:00:00Z"]),
        "iat_in_future",
    );
}

#[test]
fn clock_skew_is_configurable_up_to_300s() {
    // exp 120 s ago: expired at the default 60 s, accepted with 300 s.
    assert_rejected(
        "expired, default skew",
        &run(&fixture("expired"), &["--now", NOW]),
        "expired",
    );
    assert_ok(
        "expired, --clock-skew 300s",
        &run(&fixture("expired"), &["--now", NOW, "--clock-skew", "300s"]),
    );
    // exp 30 s ago: accepted at the default 60 s, expired without skew.
    assert_rejected(
        "valid-exp-within-skew, --clock-skew 0s",
        &run(
            &fixture("valid-exp-within-skew"),
            &["--now", NOW, "--clock-skew", "0s"],
        ),
        "expired",
    );
}

#[test]
fn surrounding_whitespace_on_stdin_is_ignored() {
    let token = fixture("valid-rs256");
    for wrapped in [
        format!("{token}\n"),
        format!("\n\n  {token}  \n\n"),
        format!("\t{token}\r\n"),
    ] {
        assert_ok(
            &format!("valid-rs256 as {:?}…", &wrapped[..wrapped.len().min(8)]),
            &run(&wrapped, &["--now", NOW]),
        );
    }
}

#[test]
fn whitespace_inside_the_token_is_not_ignored() {
    // Only the ends are trimmed: a line break inside the header segment breaks its base64url.
    let token = fixture("valid-rs256");
    let (head, rest) = token.split_at(20);
    assert_rejected(
        "valid-rs256 with a line break inside the header",
        &run(&format!("{head}\n{rest}"), &["--now", NOW]),
        "malformed",
    );
}

#[test]
fn nonce_is_compared_when_given() {
    let with = fixture("valid-with-nonce");
    assert_ok(
        "valid-with-nonce, matching --nonce",
        &run(&with, &["--now", NOW, "--nonce", "n-0S6_WzA2Mj"]),
    );
    assert_rejected(
        "valid-with-nonce, other --nonce",
        &run(&with, &["--now", NOW, "--nonce", "n-attacker"]),
        "nonce_mismatch",
    );
    assert_rejected(
        "valid-rs256 (no nonce claim), --nonce given",
        &run(
            &fixture("valid-rs256"),
            &["--now", NOW, "--nonce", "n-0S6_WzA2Mj"],
        ),
        "nonce_mismatch",
    );
}

#[test]
fn a_different_audience_rejects_what_ours_accepts() {
    let jwks = dir().join("jwks.json");
    assert_rejected(
        "valid-rs256 for --audience mobile-app",
        &run_with(
            &fixture("valid-rs256"),
            &jwks,
            "mobile-app",
            &["--now", NOW],
        ),
        "wrong_aud",
    );
    // The server-only fixture names mobile-app; with that as the single audience it is fine.
    assert_ok(
        "valid-listed-audience for --audience mobile-app",
        &run_with(
            &fixture("valid-listed-audience"),
            &jwks,
            "mobile-app",
            &["--now", NOW],
        ),
    );
}

#[test]
fn usage_errors_exit_2() {
    let token = fixture("valid-rs256");
    assert_usage_error("missing --now", &run(&token, &[]));
    assert_usage_error(
        "unparsable --now",
        &run(&token, &["--now", "yesterday at noon"]),
    );
    assert_usage_error(
        "--clock-skew 10m",
        &run(&token, &["--now", NOW, "--clock-skew", "10m"]),
    );
    let missing = dir().join("no-such-jwks.json");
    assert!(!missing.exists());
    assert_usage_error(
        "nonexistent --jwks file",
        &run_with(&token, &missing, AUDIENCE, &["--now", NOW]),
    );
}
