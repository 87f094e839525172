//! `rolegate setup`: one `credential_process` profile in `~/.aws/config` (or
//! `$AWS_CONFIG_FILE`) per role the user may take credentials for, in a block between marker
//! comments that only this command rewrites ([`block`]). A dry run by default: it shows the
//! change. Profiles of roles the user no longer has stay until `--prune`: a role lost for a day
//! should not take the user's profile (and what they added around it) with it.

mod block;
mod name;

use super::commands::call;
use super::files;
use super::{Result, fail};
use crate::domain::text;
use crate::untrusted::is_loopback_url;
use block::{DevSts, Entry, Existing};
pub(crate) use name::NameTemplate;
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

/// The roles the broker offers for credentials, named by `name` — refused whole if any
/// string would not be read back exactly as written: an alias and a profile name have a strict
/// character set, the account name and id become a comment (no character that ends a line).
/// The broker checks this at config load; the CLI does not take its word for it. `region`
/// (from `--region`) wins over the region the broker names for each role's partition.
fn profiles(
    v: &serde_json::Value,
    name: &NameTemplate,
    region: Option<&str>,
) -> Result<Vec<Entry>> {
    let roles = v["roles"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<Entry> = Vec::new();
    for r in roles.iter().filter(|r| {
        r["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "credentials"))
    }) {
        let alias = r["alias"].as_str().unwrap_or_default();
        let account = r["account"].as_str().unwrap_or_default();
        let account_name = r["account_name"].as_str();
        let profile = text::is_profile_name(alias)
            .then(|| name.render(alias, account_name, account))
            .and_then(std::result::Result::ok)
            .ok_or_else(|| {
                fail(format!(
                    "the broker sent the role alias {alias:?}, which with --name {:?} is not a \
                     safe AWS CLI profile name ({}); nothing was written. Ask the broker's \
                     operator to fix that [[role]] alias, or change --name",
                    name.shown(),
                    text::PROFILE_NAME_RULE
                ))
            })?;
        if let Some(other) = out.iter().find(|e| e.profile == profile) {
            return Err(fail(format!(
                "--name {:?} gives the roles {} and {alias} the same profile name {profile}; \
                 add {{role}} to it. Nothing was written",
                name.shown(),
                other.alias
            )));
        }
        let comment =
            account_name.map_or_else(|| account.to_string(), |n| format!("{n} ({account})"));
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
            profile,
            alias: alias.to_string(),
            comment: Some(comment),
            region,
        });
    }
    Ok(out)
}

/// The profiles in the block now whose role is no longer offered (or whose role line was
/// edited away), except those a new profile replaces by name.
fn stale<'a>(old: &'a [Existing], roles: &[Entry]) -> Vec<&'a Existing> {
    old.iter()
        .filter(|o| {
            !o.alias
                .as_ref()
                .is_some_and(|a| roles.iter().any(|e| &e.alias == a))
                && !roles.iter().any(|e| e.profile == o.profile)
        })
        .collect()
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

/// What `rolegate setup` was asked to do.
pub(crate) struct Options {
    /// Write the change (else show it).
    pub write: bool,
    /// Remove the profiles of roles no longer offered (else keep them as they are).
    pub prune: bool,
    pub name: NameTemplate,
    pub region: Option<String>,
}

pub(crate) fn run(broker: &Url, o: &Options) -> Result<()> {
    let region = o.region.as_deref();
    if let Some(r) = region.filter(|r| !is_region(r)) {
        return Err(fail(format!(
            "--region {r:?} is not a region name, e.g. eu-west-1"
        )));
    }
    let v = call(broker, reqwest::Method::GET, "/api/v1/roles", None)?;
    let roles = profiles(&v, &o.name, region)?;
    let dev_sts = dev_sts(broker, &v);
    let exe = std::env::current_exe()?.display().to_string();
    build_dir_warning(Path::new(&exe)).inspect(|w| eprintln!("{w}"));
    let path = aws_config_path()?;
    let current = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(format!("cannot read {}: {e}", path.display()))),
    };
    let old = block::existing(&current, broker);
    let stale = stale(&old, &roles);
    let kept: &[&Existing] = if o.prune { &[] } else { &stale };
    let next = block::splice(
        &current,
        broker,
        &block::block(broker, &exe, &roles, kept, dev_sts.as_ref()),
    );
    report_stale(&stale, o.prune);
    if next == current {
        eprintln!(
            "{} is up to date ({} profiles).",
            path.display(),
            roles.len() + kept.len()
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
    if !o.write {
        eprintln!(
            "Dry run: {} not changed. Run `rolegate setup --write{}` to apply.",
            path.display(),
            if o.prune { " --prune" } else { "" }
        );
        return Ok(());
    }
    write_config(&path, &next)?;
    eprintln!(
        "Wrote {} profiles to {}: try `aws sts get-caller-identity --profile {}`",
        roles.len(),
        path.display(),
        roles.first().map_or("…", |r| r.profile.as_str())
    );
    Ok(())
}

/// Says which profiles are for roles no longer offered, and what `--prune` does about them.
fn report_stale(stale: &[&Existing], prune: bool) {
    if stale.is_empty() {
        return;
    }
    let names: Vec<&str> = stale.iter().map(|s| s.profile.as_str()).collect();
    if prune {
        eprintln!(
            "Removing {} profiles of roles you no longer have: {}",
            names.len(),
            names.join(", ")
        );
    } else {
        eprintln!(
            "Keeping {} profiles of roles you no longer have: {} (`rolegate setup --prune` \
             removes them)",
            names.len(),
            names.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn rolegate() -> NameTemplate {
        NameTemplate::prefixed("rolegate-")
    }

    fn offered(alias: &str, account_name: &str) -> serde_json::Value {
        serde_json::json!({"roles": [{"alias": alias, "account": "111122223333",
            "account_name": account_name, "actions": ["credentials"]}]})
    }

    #[test]
    fn broker_strings_that_would_add_config_lines_are_refused() {
        let ok = profiles(&offered("prod-ro", "Prod (EU)"), &rolegate(), None).unwrap();
        assert_eq!(ok[0].comment.as_deref(), Some("Prod (EU) (111122223333)"));
        let injected = "x]\ncredential_process = touch /tmp/pwned\n[profile y";
        let e = profiles(&offered(injected, "Prod"), &rolegate(), None).unwrap_err();
        assert!(
            e.0.contains(r#""x]\ncredential_process"#),
            "named, escaped: {}",
            e.0
        );
        for name in ["Prod\rcredential_process = x", "Prod\u{85}", "\u{1b}[2J"] {
            let e = profiles(&offered("prod-ro", name), &rolegate(), None).unwrap_err();
            assert!(e.0.contains("\"prod-ro\"") && e.0.contains("U+"), "{}", e.0);
        }
        let spaced = NameTemplate::prefixed("bad prefix ");
        assert!(profiles(&offered("prod-ro", "Prod"), &spaced, None).is_err());
    }

    #[test]
    fn two_roles_named_alike_by_the_template_are_refused_not_merged() {
        let mut v = offered("ro", "Prod");
        v["roles"].as_array_mut().unwrap().push(
            serde_json::json!({"alias": "admin", "account": "111122223333",
                "account_name": "Prod", "actions": ["credentials"]}),
        );
        let by_account = NameTemplate::parse("{account}").unwrap();
        let e = profiles(&v, &by_account, None).unwrap_err();
        assert!(
            e.0.contains("the roles ro and admin the same profile name Prod"),
            "{}",
            e.0
        );
        let both = NameTemplate::parse("{account}-{role}").unwrap();
        let names: Vec<String> = profiles(&v, &both, None)
            .unwrap()
            .into_iter()
            .map(|e| e.profile)
            .collect();
        assert_eq!(names, ["Prod-ro", "Prod-admin"]);
    }

    #[test]
    fn an_alias_kept_out_of_the_name_is_still_checked_credential_process_injection() {
        let injected = "x]\ncredential_process = touch /tmp/pwned\n[profile y";
        let by_id = NameTemplate::parse("{account_id}").unwrap();
        assert!(profiles(&offered(injected, "Prod"), &by_id, None).is_err());
    }

    #[test]
    fn region_from_the_broker_or_the_flag_and_never_a_config_line() {
        let mut v = offered("prod-ro", "Prod");
        v["roles"][0]["region"] = "us-gov-west-1".into();
        let from_broker = profiles(&v, &rolegate(), None).unwrap();
        assert_eq!(from_broker[0].region.as_deref(), Some("us-gov-west-1"));
        let flag = profiles(&v, &rolegate(), Some("eu-central-1")).unwrap();
        assert_eq!(flag[0].region.as_deref(), Some("eu-central-1"));
        v["roles"][0]["region"] = "us-east-1\ncredential_process = touch /tmp/pwned".into();
        let e = profiles(&v, &rolegate(), None).unwrap_err();
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
        let b = block::block(
            &local,
            "/usr/bin/rolegate",
            &[Entry {
                profile: "rg-a".into(),
                alias: "a".into(),
                comment: None,
                region: None,
            }],
            &[],
            Some(&d),
        );
        assert!(b.contains("services = rolegate-dev-sts-40123\n"), "{b}");
        assert!(
            b.contains("[services rolegate-dev-sts-40123]\nsts =\n  endpoint_url = http://127.0.0.1:40123\n"),
            "{b}"
        );
    }
}
