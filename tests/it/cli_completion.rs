//! `rolegate completion <shell>` and `rolegate man`: generated from the command tree, no broker
//! needed. bash and fish load their scripts and complete a command from a prefix, zsh parses its
//! own (`zsh -n`; driving zsh's completion needs a terminal), groff renders the page; a shell it
//! does not know and a directory it cannot write into fail with a message. PowerShell is not in
//! Debian: its script is generated and checked for its registration only.

use crate::common::cli::{assert_success, rolegate};
use crate::common::peers::require_peer;
use std::process::{Command, Output};

fn run(args: &[&str], home: &std::path::Path) -> Output {
    rolegate(home).args(args).output().unwrap()
}

#[test]
fn completion_scripts_are_generated_for_each_shell_and_bash_and_fish_complete_with_them() {
    let home = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef rolegate"),
        ("fish", "complete -c rolegate"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = run(&["completion", shell], home.path());
        assert_success(&out, &format!("rolegate completion {shell}"));
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {script}");
        // The client commands are completed, in both builds.
        for c in ["credentials", "login", "completion"] {
            assert!(script.contains(c), "{shell} does not complete `{c}`");
        }
        let file = home.path().join(format!("rolegate.{shell}"));
        std::fs::write(&file, &script).unwrap();
        // Each shell that is installed loads the script and completes `rolegate ser`.
        let completes = |program: &str, code: String| {
            if !require_peer(&format!("{program} (apt: {program})"), on_path(program)) {
                return None;
            }
            let out = Command::new(program).arg("-c").arg(code).output().unwrap();
            assert_success(&out, &format!("{program} loading the completion script"));
            Some(String::from_utf8(out.stdout).unwrap())
        };
        let f = file.display();
        let offered = match shell {
            "bash" => completes(
                "bash",
                format!(
                    "source '{f}'; COMP_WORDS=(rolegate ser); COMP_CWORD=1; \
                     _rolegate rolegate ser rolegate; printf '%s\\n' \"${{COMPREPLY[@]}}\""
                ),
            ),
            "fish" => completes("fish", format!("source '{f}'; complete -C 'rolegate ser'")),
            "zsh" => {
                if require_peer("zsh (apt: zsh)", on_path("zsh")) {
                    let check = Command::new("zsh").arg("-n").arg(&file).output().unwrap();
                    assert_success(&check, "zsh -n on the completion script");
                }
                None
            }
            _ => None,
        };
        if let Some(offered) = offered {
            assert!(
                offered.lines().any(|l| l.starts_with("serve-credentials")),
                "{shell} completes `rolegate ser` to: {offered}"
            );
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

#[test]
fn completion_for_an_unknown_shell_is_refused_naming_the_shells() {
    let home = tempfile::tempdir().unwrap();
    let out = run(&["completion", "csh"], home.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bash") && err.contains("powershell"), "{err}");
}

#[test]
fn man_page_renders_with_groff_and_out_dir_writes_one_page_per_command() {
    let home = tempfile::tempdir().unwrap();
    let out = run(&["man"], home.path());
    assert_success(&out, "rolegate man");
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH rolegate 1"),
        "{page}"
    );
    let file = home.path().join("rolegate.1");
    std::fs::write(&file, &page).unwrap();
    let rendered = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output()
        .unwrap();
    assert_success(&rendered, "groff -man");
    assert!(
        rendered.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );

    let dir = home.path().join("man1");
    std::fs::create_dir(&dir).unwrap();
    let out = run(&["man", "--out-dir", dir.to_str().unwrap()], home.path());
    assert_success(&out, "rolegate man --out-dir");
    for page in ["rolegate.1", "rolegate-login.1", "rolegate-credentials.1"] {
        assert!(dir.join(page).is_file(), "{page} not written");
    }
}

#[test]
fn man_out_dir_that_is_a_file_fails_with_a_message_not_a_panic() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = run(&["man", "--out-dir", file.to_str().unwrap()], home.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot write the manual pages into"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
