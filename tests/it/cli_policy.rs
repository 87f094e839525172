//! `rolegate policy explain` / `lint` as an operator runs them, with output snapshots
//! (tests/fixtures/policy/snapshots; UPDATE_SNAPSHOTS=1 rewrites them), and SIGHUP reloads on
//! the real binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rolegate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn snapshot(name: &str, actual: &str) {
    let path = root().join("tests/fixtures/policy/snapshots").join(name);
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "snapshot {name} differs (UPDATE_SNAPSHOTS=1 to accept)"
    );
}

fn identity(dir: &Path, name: &str, json: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, json).unwrap();
    p.display().to_string()
}

#[test]
fn explain_answers_allow_implicit_and_explicit_deny_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let alice = identity(
        dir.path(),
        "alice.json",
        r#"{"idp":"okta","subject":"00u1","username":"alice","groups":["eng"],"claims":{"team":"platform"},"now":"2026-11-22T12:00:00Z"}"#,
    );
    let sre = identity(
        dir.path(),
        "sre.json",
        r#"{"idp":"okta","subject":"00u2","username":"sam","groups":["sre"],"mfa":true,"source_ip":"198.51.100.7"}"#,
    );
    let bob = identity(
        dir.path(),
        "bob.json",
        r#"{"idp":"okta","subject":"00u3","groups":["sales"]}"#,
    );
    let cfg = "config/example.toml";

    let (code, out, _) = rolegate(&[
        "policy",
        "explain",
        "--config",
        cfg,
        "--identity",
        &alice,
        "--role",
        "prod-readonly",
        "--action",
        "console",
    ]);
    assert_eq!(code, 0);
    snapshot("explain-allow.json", &out);

    let (code, out, _) = rolegate(&[
        "policy",
        "explain",
        "--config",
        cfg,
        "--identity",
        &bob,
        "--role",
        "prod-readonly",
        "--action",
        "credentials",
    ]);
    assert_eq!(code, 1);
    snapshot("explain-implicit-deny.json", &out);

    let (code, out, _) = rolegate(&[
        "policy",
        "explain",
        "--config",
        cfg,
        "--identity",
        &sre,
        "--role",
        "prod-admin",
        "--action",
        "console",
    ]);
    assert_eq!(code, 1);
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["decision"], "explicit_deny");
    snapshot("explain-explicit-deny.json", &out);
    // The same SRE from inside the network is allowed.
    let inside = identity(
        dir.path(),
        "inside.json",
        r#"{"idp":"okta","subject":"00u2","groups":["sre"],"source_ip":"10.1.2.3"}"#,
    );
    assert_eq!(
        rolegate(&[
            "policy",
            "explain",
            "--config",
            cfg,
            "--identity",
            &inside,
            "--role",
            "prod-admin",
            "--action",
            "console"
        ])
        .0,
        0
    );
}

#[test]
fn explain_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let ok = identity(dir.path(), "ok.json", r#"{"idp":"okta","subject":"s"}"#);
    let bad = identity(
        dir.path(),
        "bad.json",
        r#"{"idp":"okta","subject":"s","grups":[]}"#,
    );
    let cfg = "config/example.toml";
    for (args, says) in [
        (
            vec!["--identity", &ok, "--role", "nope", "--action", "console"],
            "not in the catalogue",
        ),
        (
            vec![
                "--identity",
                &bad,
                "--role",
                "prod-readonly",
                "--action",
                "console",
            ],
            "grups",
        ),
        (
            vec![
                "--identity",
                "/nonexistent.json",
                "--role",
                "prod-readonly",
                "--action",
                "console",
            ],
            "nonexistent",
        ),
    ] {
        let mut all = vec!["policy", "explain", "--config", cfg];
        all.extend(args);
        let (code, _, err) = rolegate(&all);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says), "{err}");
    }
    let (code, _, _) = rolegate(&[
        "policy",
        "explain",
        "--config",
        cfg,
        "--identity",
        &ok,
        "--role",
        "prod-readonly",
        "--action",
        "delete",
    ]);
    assert_eq!(code, 2, "clap usage error");
}

fn lint_config(dir: &Path, policy: &Path) -> String {
    let cfg = dir.join("rolegate.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[idp]]
id = "okta"
kind = "oidc"
issuer = "https://example.okta.com"
client_id = "x"
[[role]]
arn = "arn:aws:iam::111122223333:role/ReadOnly"
[[role]]
arn = "arn:aws:iam::111122223333:role/Admin"
[policy]
files = ["{}"]
"#,
            policy.display()
        ),
    )
    .unwrap();
    cfg.display().to_string()
}

#[test]
fn lint_names_each_trap_with_file_statement_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = lint_config(
        dir.path(),
        &root().join("tests/fixtures/policy/lint/traps.json"),
    );
    let (code, out, err) = rolegate(&["policy", "lint", "--config", &cfg]);
    assert_eq!(code, 1, "{err}");
    let normalized = out.replace(&root().display().to_string(), "<repo>");
    snapshot("lint-traps.txt", &normalized);
    for (sid, says) in [
        ("AnyIdp", "without a rolegate:idp condition"),
        (
            "NotContractor",
            "is true when rolegate:claims/employment is missing",
        ),
        (
            "AllGroupsReadOnly",
            "ForAllValues is true when rolegate:groups is empty",
        ),
        ("Ghost", "names no role of the catalogue"),
        (
            "AdminForAdmins",
            "rolegate:claims/email is whatever the IdP sent",
        ),
        ("AdminForAdmins", "shadowed by the unconditional Deny"),
        ("DenyOthersSandbox", "a variable without a default"),
        ("Ghost", "note: "),
        (
            "Ghost",
            "rolegate:RevokeSessions (seeing and ending others' sessions) are granted only by an Allow that names them in full",
        ),
    ] {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("[{sid}]")) && l.contains(says)),
            "{sid}: {says}\n{out}"
        );
    }
    // The example policy has no trap; its sandbox statement's `rolegate:*` is a note (exit 0).
    let (code, out, _) = rolegate(&["policy", "lint", "--config", "config/example.toml"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warning:"), "{out}");
}

#[test]
fn lint_of_a_file_that_does_not_load_names_file_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.json");
    std::fs::write(&policy, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rolegate:Consol","Resource":"*"}]}"#).unwrap();
    let cfg = lint_config(dir.path(), &policy);
    let (code, _, err) = rolegate(&["policy", "lint", "--config", &cfg]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.json")
            && err.contains("Statement[0].Action[0]")
            && err.contains("rolegate:Consol"),
        "{err}"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_not_with_a_panic() {
    // `rolegate … | head`: the reader is gone before the first line is written.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["policy", "lint", "--config", "config/example.toml"])
        .current_dir(root())
        .env("RUST_BACKTRACE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}
