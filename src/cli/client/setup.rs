//! `rolegate setup`: one `credential_process` profile in `~/.aws/config` (or
//! `$AWS_CONFIG_FILE`) per role the user may take credentials for, in a block between marker
//! comments that only this command rewrites. A dry run by default: it shows the change.

use super::commands::call;
use super::{Result, fail};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
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

pub fn run(broker: &Url, write: bool, prefix: &str) -> Result<()> {
    let v = call(broker, reqwest::Method::GET, "/api/v1/roles", None)?;
    let roles: Vec<(String, Option<String>)> = v["roles"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            r["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "credentials"))
        })
        .map(|r| {
            let account = r["account"].as_str().unwrap_or_default();
            let name = r["account_name"]
                .as_str()
                .map_or_else(|| account.to_string(), |n| format!("{n} ({account})"));
            (
                r["alias"].as_str().unwrap_or_default().to_string(),
                Some(name),
            )
        })
        .collect();
    let exe = std::env::current_exe()?.display().to_string();
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
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mode = std::fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    let tmp = path.with_extension("rolegate.tmp");
    std::fs::write(&tmp, &next)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, &path)?;
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
}
