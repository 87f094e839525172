//! `rolegate setup`: one `credential_process` profile in `~/.aws/config` (or
//! `$AWS_CONFIG_FILE`) per role the user may take credentials for, in a block between marker
//! comments that only this command rewrites. A dry run by default: it shows the change.

use super::commands::call;
use super::files;
use super::{Result, fail};
use crate::domain::text;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use url::Url;

fn aws_config_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("AWS_CONFIG_FILE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| fail("HOME is not set"))?;
    Ok(PathBuf::from(home).join(".aws").join("config"))
}

/// The shell-word form the AWS CLI's credential_process parser accepts.
fn word(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-:".contains(&b))
    {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn markers(broker: &Url) -> (String, String) {
    (
        format!("# BEGIN rolegate {broker} (managed by `rolegate setup`; edits here are replaced)"),
        format!("# END rolegate {broker}"),
    )
}

pub fn block(broker: &Url, exe: &str, prefix: &str, roles: &[(String, Option<String>)]) -> String {
    let (begin, end) = markers(broker);
    let mut out = format!("{begin}\n");
    for (alias, account) in roles {
        if let Some(a) = account {
            out.push_str(&format!("# {a}\n"));
        }
        out.push_str(&format!(
            "[profile {prefix}{alias}]\ncredential_process = {} credentials --broker {} --role {}\n\n",
            word(exe),
            word(broker.as_str()),
            word(alias)
        ));
    }
    out.push_str(&format!("{end}\n"));
    out
}

/// `current` with this broker's block replaced by `new` (appended when absent).
pub fn splice(current: &str, broker: &Url, new: &str) -> String {
    let (begin, end) = markers(broker);
    let begin_prefix = begin.split(" (managed").next().unwrap_or(&begin);
    let lines: Vec<&str> = current.lines().collect();
    let start = lines.iter().position(|l| l.starts_with(begin_prefix));
    let stop = start.and_then(|s| lines[s..].iter().position(|l| *l == end).map(|e| s + e));
    match (start, stop) {
        (Some(s), Some(e)) => {
            let mut out = lines[..s].join("\n");
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(new);
            let rest = lines[e + 1..].join("\n");
            if !rest.is_empty() {
                out.push_str(&rest);
                out.push('\n');
            }
            out
        }
        _ => {
            let mut out = current.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(new);
            out
        }
    }
}

/// The roles the broker offers for credentials, as (alias, comment) — refused whole if any
/// string would not be read back exactly as written: an alias is a profile name (a strict
/// character set), the account name and id a comment (no character that ends a line). The
/// broker checks this at config load; the CLI does not take its word for it.
fn profiles(v: &serde_json::Value, prefix: &str) -> Result<Vec<(String, Option<String>)>> {
    let roles = v["roles"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for r in roles.iter().filter(|r| {
        r["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "credentials"))
    }) {
        let alias = r["alias"].as_str().unwrap_or_default();
        if !text::is_profile_name(&format!("{prefix}{alias}")) {
            return Err(fail(format!(
                "the broker sent the role alias {alias:?} (with --prefix {prefix:?}), which is \
                 not a safe AWS CLI profile name ({}); nothing was written. Ask the broker's \
                 operator to fix that [[role]] alias",
                text::PROFILE_NAME_RULE
            )));
        }
        let account = r["account"].as_str().unwrap_or_default();
        let comment = r["account_name"]
            .as_str()
            .map_or_else(|| account.to_string(), |n| format!("{n} ({account})"));
        if let Some(c) = text::line_breaking_char(&comment) {
            return Err(fail(format!(
                "the broker sent an account name or id for role {alias:?} with the control \
                 character {} ({comment:?}); it would add lines to the AWS config, so nothing \
                 was written. Ask the broker's operator to fix that account_name",
                text::describe(c)
            )));
        }
        out.push((alias.to_string(), Some(comment)));
    }
    Ok(out)
}

/// Replaces the AWS config through a fresh temporary (see [`files::replace`]), keeping its
/// mode, in a directory only this user can change.
fn write_config(path: &Path, next: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    }
    files::check_dir(dir)?;
    let mode = match std::fs::symlink_metadata(path) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0o600,
        Err(e) => return Err(fail(format!("cannot read {}: {e}", path.display()))),
    };
    // Never more open than it was; never writable by others.
    files::replace(path, next.as_bytes(), mode & !0o022)
}

/// The warning for profiles that would point into a cargo build directory (a `target`
/// component followed by `debug` or `release`): `cargo clean` or another checkout breaks them.
fn build_dir_warning(exe: &Path) -> Option<String> {
    let parts: Vec<_> = exe.components().map(|c| c.as_os_str()).collect();
    let target = parts.iter().position(|c| *c == "target")?;
    parts[target + 1..]
        .iter()
        .any(|c| *c == "debug" || *c == "release")
        .then(|| {
            format!(
                "rolegate: warning: {} is in a build directory, and the profiles run it by that \
                 path: they break when the build directory is cleaned. Install the CLI first \
                 (`cargo install --path . --locked` in the rolegate checkout), then run \
                 `rolegate setup` again with the installed binary.",
                exe.display()
            )
        })
}

pub fn run(broker: &Url, write: bool, prefix: &str) -> Result<()> {
    let v = call(broker, reqwest::Method::GET, "/api/v1/roles", None)?;
    let roles = profiles(&v, prefix)?;
    let exe = std::env::current_exe()?.display().to_string();
    build_dir_warning(Path::new(&exe)).inspect(|w| eprintln!("{w}"));
    let path = aws_config_path()?;
    let current = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(format!("cannot read {}: {e}", path.display()))),
    };
    let next = splice(&current, broker, &block(broker, &exe, prefix, &roles));
    if next == current {
        eprintln!(
            "{} is up to date ({} profiles).",
            path.display(),
            roles.len()
        );
        return Ok(());
    }
    // A line diff of the managed block is what a reviewer needs to see.
    let old: std::collections::BTreeSet<&str> = current.lines().collect();
    let new: std::collections::BTreeSet<&str> = next.lines().collect();
    for l in current.lines().filter(|l| !new.contains(l)) {
        println!("- {l}");
    }
    for l in next.lines().filter(|l| !old.contains(l)) {
        println!("+ {l}");
    }
    if !write {
        eprintln!(
            "Dry run: {} not changed. Run `rolegate setup --write` to apply.",
            path.display()
        );
        return Ok(());
    }
    write_config(&path, &next)?;
    eprintln!(
        "Wrote {} profiles to {}: try `aws sts get-caller-identity --profile {prefix}{}`",
        roles.len(),
        path.display(),
        roles.first().map_or("…", |r| r.0.as_str())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_managed_block_is_replaced_not_duplicated_and_the_rest_kept() {
        let b = Url::parse("https://rg.example.com").unwrap();
        let one = block(&b, "/usr/bin/rolegate", "rg-", &[("a".into(), None)]);
        let mine = "[profile mine]\nregion = eu-west-1\n";
        let first = splice(mine, &b, &one);
        assert!(first.starts_with(mine) && first.contains("[profile rg-a]"));
        let two = block(&b, "/usr/bin/rolegate", "rg-", &[("b".into(), None)]);
        let second = splice(&first, &b, &two);
        assert!(second.contains("[profile rg-b]") && !second.contains("[profile rg-a]"));
        assert!(second.starts_with(mine));
        assert_eq!(splice(&second, &b, &two), second, "idempotent");
        assert!(one.contains("credential_process = /usr/bin/rolegate credentials --broker https://rg.example.com/ --role a"));
        assert_eq!(word("/opt/my tools/rolegate"), "\"/opt/my tools/rolegate\"");
    }

    #[test]
    fn a_binary_in_a_build_directory_is_warned_about() {
        for exe in [
            "/home/me/rolegate/target/debug/rolegate",
            "/src/target/x86_64-unknown-linux-gnu/release/rolegate",
        ] {
            let w = build_dir_warning(Path::new(exe)).unwrap();
            assert!(
                w.contains(exe) && w.contains("cargo install --path . --locked"),
                "{w}"
            );
            assert!(!w.contains("  "), "one space between words: {w}");
        }
        for exe in [
            "/home/me/.cargo/bin/rolegate",
            "/usr/local/bin/rolegate",
            "/target/rolegate",
        ] {
            assert_eq!(build_dir_warning(Path::new(exe)), None, "{exe}");
        }
    }

    fn offered(alias: &str, account_name: &str) -> serde_json::Value {
        serde_json::json!({"roles": [{"alias": alias, "account": "111122223333",
            "account_name": account_name, "actions": ["credentials"]}]})
    }

    #[test]
    fn broker_strings_that_would_add_config_lines_are_refused() {
        let ok = profiles(&offered("prod-ro", "Prod (EU)"), "rolegate-").unwrap();
        assert_eq!(ok[0].1.as_deref(), Some("Prod (EU) (111122223333)"));
        let injected = "x]\ncredential_process = touch /tmp/pwned\n[profile y";
        let e = profiles(&offered(injected, "Prod"), "rolegate-").unwrap_err();
        assert!(
            e.0.contains(r#""x]\ncredential_process"#),
            "named, escaped: {}",
            e.0
        );
        for name in ["Prod\rcredential_process = x", "Prod\u{85}", "\u{1b}[2J"] {
            let e = profiles(&offered("prod-ro", name), "rolegate-").unwrap_err();
            assert!(e.0.contains("\"prod-ro\"") && e.0.contains("U+"), "{}", e.0);
        }
        assert!(profiles(&offered("prod-ro", "Prod"), "bad prefix ").is_err());
    }
}
