//! The block `setup` manages in the AWS config: written ([`block`]), read back ([`existing`])
//! and put in place ([`splice`]) without changing one byte outside it.

use url::Url;

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

/// [`word`] read back.
fn unword(s: &str) -> String {
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => s.to_string(),
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
    /// The profile name, from `--name`.
    pub profile: String,
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

/// The block for `roles`, then `kept` (profiles of roles no longer granted, as they were).
pub(crate) fn block(
    broker: &Url,
    exe: &str,
    roles: &[Entry],
    kept: &[&Existing],
    dev_sts: Option<&DevSts>,
) -> String {
    let (begin, end) = markers(broker);
    let mut out = format!("{begin}\n");
    for e in roles {
        if let Some(a) = &e.comment {
            out.push_str(&format!("# {a}\n"));
        }
        out.push_str(&format!(
            "[profile {}]\ncredential_process = {} credentials --broker {} --role {}\n",
            e.profile,
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
    for k in kept {
        out.push_str(&k.text);
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

/// Where this broker's block is in `current`: from the start of its BEGIN line to the end of
/// its END line (with its line break). Another broker's block whose URL merely starts with this
/// one's is not it.
fn block_range(current: &str, broker: &Url) -> Option<(usize, usize)> {
    let (begin, end) = markers(broker);
    let begin_prefix = begin.split(" (managed").next().unwrap_or(&begin);
    let mut offset = 0;
    let mut start = None;
    for line in current.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n').trim_end_matches('\r');
        match start {
            None if bare == begin_prefix || bare.starts_with(&format!("{begin_prefix} (")) => {
                start = Some(offset);
            }
            Some(s) if bare == end => return Some((s, offset + line.len())),
            _ => {}
        }
        offset += line.len();
    }
    None
}

/// `current` with this broker's block replaced by `new` (appended when absent). Every byte
/// outside the block stays as it was: line endings, a missing final line break, other blocks.
pub(crate) fn splice(current: &str, broker: &Url, new: &str) -> String {
    if let Some((start, stop)) = block_range(current, broker) {
        return format!("{}{new}{}", &current[..start], &current[stop..]);
    }
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

/// A profile already in this broker's block.
#[derive(Debug)]
pub(crate) struct Existing {
    pub profile: String,
    /// The role its `credential_process` asks for; `None` when that line was edited away.
    pub alias: Option<String>,
    /// Its lines as they are (comment included), each ending in a line break.
    pub text: String,
}

/// The profiles in this broker's block, in order; the dev `[services]` section is not one.
pub(crate) fn existing(current: &str, broker: &Url) -> Vec<Existing> {
    let Some((start, stop)) = block_range(current, broker) else {
        return Vec::new();
    };
    let inner: Vec<&str> = current[start..stop].lines().skip(1).collect();
    let inner = &inner[..inner.len().saturating_sub(1)];
    inner
        .split(|l| l.trim().is_empty())
        .filter_map(|chunk| {
            let header = chunk.iter().find_map(|l| {
                l.trim()
                    .strip_prefix("[profile ")
                    .and_then(|r| r.strip_suffix(']'))
            })?;
            let alias = chunk.iter().find_map(|l| {
                let l = l.trim();
                l.strip_prefix("credential_process")?;
                l.rsplit_once(" --role ").map(|(_, a)| unword(a.trim()))
            });
            Some(Existing {
                profile: header.trim().to_string(),
                alias,
                text: chunk.iter().map(|l| format!("{l}\n")).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(a: &str) -> Entry {
        Entry {
            profile: format!("rg-{a}"),
            alias: a.into(),
            comment: Some(format!("Acct {a} (1)")),
            region: Some("eu-west-1".into()),
        }
    }

    #[test]
    fn the_managed_block_is_replaced_not_duplicated_and_the_rest_kept() {
        let b = Url::parse("https://rg.example.com").unwrap();
        let one = block(&b, "/usr/bin/rolegate", &[entry("a")], &[], None);
        let mine = "[profile mine]\nregion = eu-west-1\n";
        let first = splice(mine, &b, &one);
        assert!(first.starts_with(mine) && first.contains("[profile rg-a]"));
        let two = block(&b, "/usr/bin/rolegate", &[entry("b")], &[], None);
        let second = splice(&first, &b, &two);
        assert!(second.contains("[profile rg-b]") && !second.contains("[profile rg-a]"));
        assert!(second.starts_with(mine));
        assert_eq!(splice(&second, &b, &two), second, "idempotent");
        assert!(one.contains("credential_process = /usr/bin/rolegate credentials --broker https://rg.example.com/ --role a\nregion = eu-west-1\n"));
        assert_eq!(word("/opt/my tools/rolegate"), "\"/opt/my tools/rolegate\"");
        assert_eq!(
            unword(&word("/opt/my \"x\" \\ tools")),
            "/opt/my \"x\" \\ tools"
        );
    }

    #[test]
    fn bytes_outside_the_block_are_kept_exactly_crlf_and_no_final_newline() {
        let b = Url::parse("https://rg.example.com").unwrap();
        let old = block(&b, "/usr/bin/rolegate", &[entry("a")], &[], None);
        let before = "[default]\r\nregion = us-east-1\r\n\r\n";
        let after = "\r\n[profile x]\r\noutput = json";
        let current = format!("{before}{old}{after}");
        let new = block(&b, "/usr/bin/rolegate", &[entry("b")], &[], None);
        let next = splice(&current, &b, &new);
        assert_eq!(next, format!("{before}{new}{after}"));
    }

    #[test]
    fn another_brokers_block_whose_url_extends_this_one_is_not_touched() {
        let short = Url::parse("https://rg.example.com/").unwrap();
        let long = Url::parse("https://rg.example.com/other").unwrap();
        let theirs = block(&long, "/usr/bin/rolegate", &[entry("theirs")], &[], None);
        let mine = block(&short, "/usr/bin/rolegate", &[entry("mine")], &[], None);
        let next = splice(&theirs, &short, &mine);
        assert!(next.starts_with(&theirs), "{next}");
        assert!(next.ends_with(&mine));
        assert!(existing(&theirs, &short).is_empty());
    }

    #[test]
    fn existing_profiles_are_read_back_with_their_alias_and_text() {
        let b = Url::parse("http://127.0.0.1:8080").unwrap();
        let dev = DevSts {
            section: "rolegate-dev-sts-1".into(),
            endpoint: "http://127.0.0.1:1".into(),
        };
        let mut odd = entry("odd");
        odd.alias = "needs quoting".into();
        let text = block(&b, "/bin/rolegate", &[entry("a"), odd], &[], Some(&dev));
        let found = existing(&text, &b);
        assert_eq!(found.len(), 2, "the [services] section is not a profile");
        assert_eq!(found[0].profile, "rg-a");
        assert_eq!(found[0].alias.as_deref(), Some("a"));
        assert!(found[0].text.starts_with("# Acct a (1)\n[profile rg-a]\n"));
        assert!(found[0].text.ends_with("services = rolegate-dev-sts-1\n"));
        assert_eq!(found[1].alias.as_deref(), Some("needs quoting"));
        // A kept profile is written back as it was.
        let again = block(&b, "/bin/rolegate", &[entry("a")], &[&found[1]], Some(&dev));
        assert_eq!(existing(&again, &b)[1].text, found[1].text);
    }
}
