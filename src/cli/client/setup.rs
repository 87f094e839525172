//! `rolegate setup`: one `credential_process` profile in `~/.aws/config` (or
//! `$AWS_CONFIG_FILE`) per role the user may take credentials for, in a block between marker
//! comments that only this command rewrites. A dry run by default: it shows the change.

use super::commands::call;
use super::files;
use super::{Result, fail};
use crate::domain::text;
use crate::untrusted::is_loopback_url;
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

/// One profile `setup` writes: a role the broker offers for credentials.
#[derive(Debug, PartialEq)]
pub(crate) struct Entry {
    pub alias: String,
    /// Account name and id, as a comment above the profile.
    pub comment: Option<String>,
    pub region: Option<String>,
}

/// Where a profile's STS calls go when the broker is a `serve --dev` on this machine: a
/// `[services]` section naming only STS, so every other service still goes to AWS.
pub(crate) struct DevSts {
    pub section: String,
    pub endpoint: String,
}

pub(crate) fn block(
    broker: &Url,
    exe: &str,
    prefix: &str,
    roles: &[Entry],
    dev_sts: Option<&DevSts>,
) -> String {
    let (begin, end) = markers(broker);
    let mut out = format!("{begin}\n");
    for e in roles {
        if let Some(a) = &e.comment {
            out.push_str(&format!("# {a}\n"));
        }
        out.push_str(&format!(
            "[profile {prefix}{}]\ncredential_process = {} credentials --broker {} --role {}\n",
            e.alias,
            word(exe),
            word(broker.as_str()),
            word(&e.alias)
        ));
        if let Some(r) = &e.region {
            out.push_str(&format!("region = {r}\n"));
        }
        if let Some(d) = dev_sts {
            out.push_str(&format!("services = {}\n", d.section));
        }
        out.push('\n');
    }
    if let Some(d) = dev_sts {
        out.push_str(&format!(
            "# STS of the local emulator `rolegate serve --dev` uses; other services go to AWS.\n\
             [services {}]\nsts =\n  endpoint_url = {}\n\n",
            d.section, d.endpoint
        ));
    }
    out.push_str(&format!("{end}\n"));
    out
}

/// The emulator's STS address, when a `serve --dev` broker on this machine advertises one on
/// this machine too. Anything else is ignored: a broker must never be able to send a profile's
/// AWS calls (and the credentials signing them) somewhere else.
pub(crate) fn dev_sts(broker: &Url, roles_answer: &serde_json::Value) -> Option<DevSts> {
    let advertised = roles_answer["dev"]["sts_endpoint"].as_str()?;
    let url = Url::parse(advertised).ok()?;
    let plain = url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none()
        && matches!(url.scheme(), "http" | "https");
    let port = url.port_or_known_default()?;
    if !(plain && is_loopback_url(broker) && is_loopback_url(&url)) {
        eprintln!(
            "rolegate: the broker advertises an STS endpoint ({}) that is not on this machine, \
             or is not served from this machine; it is not written",
            text::for_terminal(advertised)
        );
        return None;
    }
    Some(DevSts {
        section: format!("rolegate-dev-sts-{port}"),
        endpoint: format!("{}://{}:{port}", url.scheme(), url.host_str()?),
    })
}

/// An AWS region name as written into a profile: letters, digits and dashes only.
fn is_region(r: &str) -> bool {
    !r.is_empty() && r.len() <= 32 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `current` with this broker's block replaced by `new` (appended when absent).
pub(crate) fn splice(current: &str, broker: &Url, new: &str) -> String {
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

/// The roles the broker offers for credentials — refused whole if any
/// string would not be read back exactly as written: an alias is a profile name (a strict
/// character set), the account name and id a comment (no character that ends a line). The
/// broker checks this at config load; the CLI does not take its word for it. `region` (from
/// `--region`) wins over the region the broker names for each role's partition.
fn profiles(v: &serde_json::Value, prefix: &str, region: Option<&str>) -> Result<Vec<Entry>> {
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
        let region = match region.or(r["region"].as_str()) {
            Some(reg) if is_region(reg) => Some(reg.to_string()),
            Some(reg) => {
                return Err(fail(format!(
                    "the region {:?} for role {alias:?} is not a region name (letters, digits \
                     and dashes); nothing was written",
                    text::for_terminal(reg)
                )));
            }
            None => None,
        };
        out.push(Entry {
            alias: alias.to_string(),
            comment: Some(comment),
            region,
        });
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
    files::check_shared_dir(dir)?;
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
    let parts: Vec<_> = exe
        .components()
        .map(std::path::Component::as_os_str)
        .collect();
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

pub(crate) fn run(broker: &Url, write: bool, prefix: &str, region: Option<&str>) -> Result<()> {
    if let Some(r) = region.filter(|r| !is_region(r)) {
        return Err(fail(format!(
            "--region {r:?} is not a region name, e.g. eu-west-1"
        )));
    }
    let v = call(broker, reqwest::Method::GET, "/api/v1/roles", None)?;
    let roles = profiles(&v, prefix, region)?;
    let dev_sts = dev_sts(broker, &v);
    let exe = std::env::current_exe()?.display().to_string();
    build_dir_warning(Path::new(&exe)).inspect(|w| eprintln!("{w}"));
    let path = aws_config_path()?;
    let current = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(format!("cannot read {}: {e}", path.display()))),
    };
    let next = splice(
        &current,
        broker,
        &block(broker, &exe, prefix, &roles, dev_sts.as_ref()),
    );
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
        roles.first().map_or("…", |r| r.alias.as_str())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_managed_block_is_replaced_not_duplicated_and_the_rest_kept() {
        let b = Url::parse("https://rg.example.com").unwrap();
        let entry = |a: &str| Entry {
            alias: a.into(),
            comment: None,
            region: Some("eu-west-1".into()),
        };
        let one = block(&b, "/usr/bin/rolegate", "rg-", &[entry("a")], None);
        let mine = "[profile mine]\nregion = eu-west-1\n";
        let first = splice(mine, &b, &one);
        assert!(first.starts_with(mine) && first.contains("[profile rg-a]"));
        let two = block(&b, "/usr/bin/rolegate", "rg-", &[entry("b")], None);
        let second = splice(&first, &b, &two);
        assert!(second.contains("[profile rg-b]") && !second.contains("[profile rg-a]"));
        assert!(second.starts_with(mine));
        assert_eq!(splice(&second, &b, &two), second, "idempotent");
        assert!(one.contains("credential_process = /usr/bin/rolegate credentials --broker https://rg.example.com/ --role a\nregion = eu-west-1\n"));
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
        let ok = profiles(&offered("prod-ro", "Prod (EU)"), "rolegate-", None).unwrap();
        assert_eq!(ok[0].comment.as_deref(), Some("Prod (EU) (111122223333)"));
        let injected = "x]\ncredential_process = touch /tmp/pwned\n[profile y";
        let e = profiles(&offered(injected, "Prod"), "rolegate-", None).unwrap_err();
        assert!(
            e.0.contains(r#""x]\ncredential_process"#),
            "named, escaped: {}",
            e.0
        );
        for name in ["Prod\rcredential_process = x", "Prod\u{85}", "\u{1b}[2J"] {
            let e = profiles(&offered("prod-ro", name), "rolegate-", None).unwrap_err();
            assert!(e.0.contains("\"prod-ro\"") && e.0.contains("U+"), "{}", e.0);
        }
        assert!(profiles(&offered("prod-ro", "Prod"), "bad prefix ", None).is_err());
    }

    #[test]
    fn region_from_the_broker_or_the_flag_and_never_a_config_line() {
        let mut v = offered("prod-ro", "Prod");
        v["roles"][0]["region"] = "us-gov-west-1".into();
        let from_broker = profiles(&v, "rolegate-", None).unwrap();
        assert_eq!(from_broker[0].region.as_deref(), Some("us-gov-west-1"));
        let flag = profiles(&v, "rolegate-", Some("eu-central-1")).unwrap();
        assert_eq!(flag[0].region.as_deref(), Some("eu-central-1"));
        v["roles"][0]["region"] = "us-east-1\ncredential_process = touch /tmp/pwned".into();
        let e = profiles(&v, "rolegate-", None).unwrap_err();
        assert!(e.0.contains("not a region name"), "{}", e.0);
    }

    fn advertising(sts: &str) -> serde_json::Value {
        serde_json::json!({"roles": [], "dev": {"sts_endpoint": sts}})
    }

    #[test]
    fn dev_sts_endpoint_only_from_a_loopback_broker_to_a_loopback_address_redirect_attack() {
        let local = Url::parse("http://127.0.0.1:8080").unwrap();
        let d = dev_sts(&local, &advertising("http://127.0.0.1:40123")).unwrap();
        assert_eq!(d.endpoint, "http://127.0.0.1:40123");
        assert_eq!(d.section, "rolegate-dev-sts-40123");
        let remote = Url::parse("https://rolegate.example.com").unwrap();
        assert!(dev_sts(&remote, &advertising("http://127.0.0.1:40123")).is_none());
        for elsewhere in [
            "http://attacker.example:80",
            "http://10.0.0.8:4566",
            "http://127.0.0.1.attacker.example:4566",
            "http://user:pw@127.0.0.1:4566",
            "http://127.0.0.1:4566/x?y",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(
                dev_sts(&local, &advertising(elsewhere)).is_none(),
                "{elsewhere}"
            );
        }
        assert!(dev_sts(&local, &serde_json::json!({"roles": []})).is_none());
        let b = block(
            &local,
            "/usr/bin/rolegate",
            "rg-",
            &[Entry {
                alias: "a".into(),
                comment: None,
                region: None,
            }],
            Some(&d),
        );
        assert!(b.contains("services = rolegate-dev-sts-40123\n"), "{b}");
        assert!(
            b.contains("[services rolegate-dev-sts-40123]\nsts =\n  endpoint_url = http://127.0.0.1:40123\n"),
            "{b}"
        );
    }
}
