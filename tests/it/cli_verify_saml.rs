//! `rolegate verify saml`, black box: every fixture in tests/fixtures/saml (one per attack,
//! really signed by xmlsec1, see its README) gets the answer cases.json lists, at its instant
//! (an injected clock, never a looser verifier). Replay needs the server's replay cache and is
//! tested at the ACS (tests/it/saml_acs.rs).

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SP: &str = "https://rolegate.example.test/saml/metadata";
const ACS: &str = "https://rolegate.example.test/saml/acs";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saml")
}

fn manifest(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (python3 tests/fixtures/saml/generate.py)",
            path.display()
        )
    });
    serde_json::from_str::<Value>(&text)
        .expect("manifest is JSON")
        .as_array()
        .expect("manifest is an array")
        .clone()
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[String], input: &[u8]) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["verify", "saml"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rolegate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn s<'a>(case: &'a Value, key: &str) -> Option<&'a str> {
    case.get(key).and_then(Value::as_str)
}

/// Runs one manifest entry; returns a failure description, if any.
fn check(base: &Path, case: &Value, sp: &str, acs: &str) -> Option<String> {
    let name = s(case, "name").expect("name");
    let file = base.join(s(case, "file").expect("file"));
    let input = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut args = vec![
        "--idp-metadata".to_string(),
        base.join(s(case, "metadata").unwrap_or("idp-metadata.xml"))
            .display()
            .to_string(),
        "--sp-entity-id".into(),
        s(case, "sp_entity_id").unwrap_or(sp).into(),
        "--acs-url".into(),
        s(case, "acs_url").unwrap_or(acs).into(),
        "--now".into(),
        s(case, "now").expect("now").into(),
    ];
    if let Some(id) = s(case, "request_id") {
        args.extend(["--request-id".into(), id.into()]);
    }
    if case.get("allow_sha1").and_then(Value::as_bool) == Some(true) {
        args.push("--allow-sha1".into());
    }
    if let Some(key) = s(case, "sp_key") {
        args.extend(["--sp-key".into(), base.join(key).display().to_string()]);
    }
    if case.get("groups_split_commas").and_then(Value::as_bool) == Some(true)
        || name.contains("comma")
    {
        args.push("--groups-split-commas".into());
    }
    let out = run(&args, &input);
    // xmlsec's own error lines (`func=…:file=…`) and libxml2's (`C14N error : …`) never reach
    // stderr raw: the verifier logs them as one structured event.
    if out.stderr.contains("func=") || out.stderr.contains(" error : ") {
        return Some(format!(
            "{name}: xmlsec or libxml2 wrote to stderr: {}",
            out.stderr.trim()
        ));
    }
    match s(case, "expect") {
        Some("accept") => {
            if out.code != 0 {
                return Some(format!(
                    "{name}: expected accept, got exit {} {}",
                    out.code,
                    out.stdout.trim()
                ));
            }
            let identity: Value = serde_json::from_str(&out.stdout).expect("identity JSON");
            if let Some(subject) = s(case, "subject")
                && identity["subject"] != subject
            {
                return Some(format!(
                    "{name}: subject {} != {subject}",
                    identity["subject"]
                ));
            }
            if let Some(mfa) = case.get("mfa")
                && &identity["mfa"] != mfa
            {
                return Some(format!("{name}: mfa {} != {mfa}", identity["mfa"]));
            }
            if let Some(groups) = case.get("groups")
                && &identity["groups"] != groups
            {
                return Some(format!("{name}: groups {} != {groups}", identity["groups"]));
            }
            None
        }
        Some("reject") => {
            let errors: Vec<&str> = case["error"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if out.code != 1 {
                return Some(format!(
                    "{name}: expected reject {errors:?}, got exit {} {} {}",
                    out.code,
                    out.stdout.trim(),
                    out.stderr.trim()
                ));
            }
            let v: Value = serde_json::from_str(&out.stdout).expect("error JSON");
            let code = v["error"].as_str().unwrap_or_default();
            (!errors.contains(&code)).then(|| {
                format!(
                    "{name}: rejected with `{code}` ({}), expected one of {errors:?}",
                    v["error_description"]
                )
            })
        }
        other => panic!("{name}: expect is {other:?}"),
    }
}

fn run_manifest(base: &Path, manifest_file: &str) {
    let cases = manifest(&base.join(manifest_file));
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        let only_replay = case["error"]
            .as_array()
            .is_some_and(|e| e.len() == 1 && e[0] == "replay");
        if only_replay {
            continue;
        }
        // An outcome rolegate cannot reach today: not run as a failure, but printed on every run
        // (straight to stderr, past the test harness's capture) so nobody forgets it.
        if let Some(cause) = s(case, "known_failure") {
            let name = s(case, "name").expect("name");
            let now = match check(base, case, SP, ACS) {
                Some(_) => "still fails",
                None => "now passes: drop its known_failure",
            };
            let _ = writeln!(std::io::stderr(), "KNOWN FAILURE {name} ({now}): {cause}");
            continue;
        }
        ran += 1;
        failures.extend(check(base, case, SP, ACS));
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_attack_fixture_gets_its_listed_answer() {
    run_manifest(&dir(), "cases.json");
}

/// Other libraries' published Responses (tests/fixtures/saml-realworld), at their own instant.
#[test]
fn real_world_responses_get_their_listed_answer() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saml-realworld");
    run_manifest(&base, "manifest.json");
}

fn valid_args(now: &str) -> Vec<String> {
    [
        "--idp-metadata",
        &dir().join("idp-metadata.xml").display().to_string(),
        "--sp-entity-id",
        SP,
        "--acs-url",
        ACS,
        "--request-id",
        "_req-7f3c1a2b9d",
        "--now",
        now,
    ]
    .iter()
    .map(std::string::ToString::to_string)
    .collect()
}

#[test]
fn the_clock_is_injected_and_bounds_validity() {
    let xml = std::fs::read(dir().join("valid.xml")).expect("valid.xml");
    assert_eq!(run(&valid_args("2026-11-22T12:00:00Z"), &xml).code, 0);
    // Past NotOnOrAfter (now + 300 s) plus 60 s skew.
    let late = run(&valid_args("2026-11-22T12:06:01Z"), &xml);
    assert_eq!(late.code, 1, "{}", late.stdout);
    assert!(late.stdout.contains("\"expired\"") || late.stdout.contains("issue_instant"));
    // Before IssueInstant (now - 10 s) minus skew.
    let early = run(&valid_args("2026-11-22T11:58:00Z"), &xml);
    assert_eq!(early.code, 1, "{}", early.stdout);
    // Today's wall clock is years away from the fixture: refused.
    let now = run(&valid_args("2030-01-01T00:00:00Z"), &xml);
    assert_eq!(now.code, 1);
}

#[test]
fn base64_and_xml_input_are_both_accepted_and_garbage_is_a_clear_rejection() {
    let xml = std::fs::read_to_string(dir().join("valid.xml")).expect("valid.xml");
    let b64 = base64_encode(xml.as_bytes());
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned() + "\r\n")
        .collect();
    assert_eq!(
        run(&valid_args("2026-11-22T12:00:00Z"), wrapped.as_bytes()).code,
        0
    );
    for junk in [&b"%%%not base64%%%"[..], b"", b"<notsaml/>"] {
        let out = run(&valid_args("2026-11-22T12:00:00Z"), junk);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(out.stdout.contains("\"malformed\""), "{}", out.stdout);
    }
}

#[test]
fn usage_errors_exit_2() {
    let xml = std::fs::read(dir().join("valid.xml")).expect("valid.xml");
    let mut args = valid_args("yesterday");
    assert_eq!(run(&args, &xml).code, 2);
    args = valid_args("2026-11-22T12:00:00Z");
    args[1] = dir()
        .join("idp-metadata-nosigning.xml")
        .display()
        .to_string();
    let out = run(&args, &xml);
    assert_eq!(
        out.code, 2,
        "metadata without a signing cert must be refused"
    );
    assert!(out.stderr.contains("signing certificate"), "{}", out.stderr);
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
