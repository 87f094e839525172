//! How `rolegate console` opens a role's sign-in link, for working in several accounts at
//! once: in the default browser ([`Opener::Default`]), in a Firefox container per role
//! ([`Opener::Container`]) or in a browser profile per role ([`Opener::Profile`]), and with
//! `--switch` after signing out of the console session the browser holds ([`switching`]).
//!
//! Containers and profiles keep each role's console cookies apart, so two roles stay signed in
//! side by side. A browser holds one console session per cookie jar: a second sign-in there is
//! refused or shows the old session, which is what `--switch` ends first.
//!
//! As for every link the CLI opens: http(s) only, and an argument vector, never a shell.

use super::{Result, fail, files};
use std::path::PathBuf;
use url::Url;

/// Where the console opens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Opener {
    /// `$BROWSER`, else the system's default browser.
    Default,
    /// A Firefox container named after the role (the "Open external links in a container"
    /// extension's `ext+container:` links).
    Container,
    /// A browser profile per role under `$XDG_DATA_HOME/rolegate/browser-profiles/`.
    Profile,
}

/// The link the broker sent, refused unless it is a web link.
pub(crate) fn web_link(link: &str) -> Result<Url> {
    // The link itself carries a sign-in token: errors name its scheme only.
    let parsed = Url::parse(link).map_err(|_| fail("not opening the link: it is not a URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(fail(format!(
            "not opening a `{}:` link: only http and https links are opened",
            parsed.scheme()
        )));
    }
    Ok(parsed)
}

/// AWS's sign-out on the federation endpoint's own host, going on to `link` (as aws-vault's
/// `--auto-logout` does): `https://signin.aws.amazon.com/oauth?Action=logout&redirect_uri=…`.
pub(crate) fn switching(link: &Url) -> Url {
    let mut out = link.clone();
    out.set_path("/oauth");
    out.set_fragment(None);
    out.query_pairs_mut()
        .clear()
        .append_pair("Action", "logout")
        .append_pair("redirect_uri", link.as_str());
    out
}

/// `ext+container:name=<name>&url=<link>`, each part percent-encoded: a name cannot add
/// parameters (`&url=` of its own).
pub(crate) fn container_link(name: &str, link: &Url) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "ext+container:name={}&url={}",
        enc(name),
        enc(link.as_str())
    )
}

/// The directory of `role`'s browser profile: `$XDG_DATA_HOME/rolegate/browser-profiles/<role>`
/// (default `~/.local/share/…`), 0700: it holds the role's console cookies.
fn profile_dir(role: &str) -> Result<PathBuf> {
    let data = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").ok_or_else(|| fail("HOME is not set"))?)
            .join(".local/share"),
    };
    let safe: String = role
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let dir = data.join("rolegate/browser-profiles").join(safe);
    files::private_dir(&dir)?;
    Ok(dir)
}

/// `$BROWSER`'s program (its first `:`-separated entry's first word), if set.
fn browser_env() -> Option<String> {
    let b = std::env::var("BROWSER").ok()?;
    b.split(':')
        .next()?
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// The first of `names` on `PATH`.
fn on_path(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
            .map(|p| p.display().to_string())
    })
}

const CHROMIUM_FAMILY: &[&str] = &[
    "google-chrome",
    "google-chrome-stable",
    "chromium",
    "chromium-browser",
    "microsoft-edge",
    "brave-browser",
];

/// The program and arguments that open `link` as `how` says, for `role`.
fn command(link: &Url, role: &str, how: Opener) -> Result<(String, Vec<String>)> {
    let macos = cfg!(target_os = "macos");
    match how {
        Opener::Default => Err(fail("the default browser is opened by login::open")),
        Opener::Container => {
            let target = container_link(role, link);
            Ok(match browser_env() {
                Some(b) => (b, vec![target]),
                None if macos => ("open".into(), vec!["-a".into(), "Firefox".into(), target]),
                None => ("firefox".into(), vec![target]),
            })
        }
        Opener::Profile => {
            let dir = profile_dir(role)?.display().to_string();
            let program = browser_env()
                .or_else(|| on_path(CHROMIUM_FAMILY))
                .or_else(|| on_path(&["firefox"]));
            let program = match program {
                Some(p) => p,
                None if macos => {
                    let args = ["-na", "Google Chrome", "--args"].map(str::to_string);
                    let mut args = args.to_vec();
                    args.extend(chromium_args(&dir, link));
                    return Ok(("open".into(), args));
                }
                None => {
                    return Err(fail(format!(
                        "no browser for --browser-profile: none of {} or firefox is on PATH; set \
                         BROWSER to one",
                        CHROMIUM_FAMILY.join(", ")
                    )));
                }
            };
            let firefox = std::path::Path::new(&program)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("firefox"));
            let args = if firefox {
                vec![
                    "-profile".into(),
                    dir,
                    "-no-remote".into(),
                    link.as_str().into(),
                ]
            } else {
                chromium_args(&dir, link)
            };
            Ok((program, args))
        }
    }
}

fn chromium_args(dir: &str, link: &Url) -> Vec<String> {
    vec![
        format!("--user-data-dir={dir}"),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        link.as_str().into(),
    ]
}

/// Opens `link` for `role` as `how` says (after signing out first when `switch`).
pub(crate) fn open(link: &str, role: &str, how: Opener, switch: bool) -> Result<()> {
    let mut link = web_link(link)?;
    if switch {
        link = switching(&link);
    }
    if how == Opener::Default {
        return super::login::open(link.as_str());
    }
    let (program, args) = command(&link, role, how)?;
    std::process::Command::new(&program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot start {program}: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_signs_out_on_the_federation_host_then_goes_on_to_the_link() {
        let link = Url::parse(
            "https://signin.aws.amazon.com/federation?Action=login&Issuer=x&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&SigninToken=t",
        )
        .unwrap();
        let s = switching(&link);
        assert_eq!(s.host_str(), Some("signin.aws.amazon.com"));
        assert_eq!(s.path(), "/oauth");
        let q: Vec<(String, String)> = s.query_pairs().into_owned().collect();
        assert_eq!(q[0], ("Action".into(), "logout".into()));
        assert_eq!(q[1], ("redirect_uri".into(), link.to_string()));
        let gov = Url::parse("https://signin.amazonaws-us-gov.com/federation?a=b").unwrap();
        assert!(
            switching(&gov).as_str().starts_with(
                "https://signin.amazonaws-us-gov.com/oauth?Action=logout&redirect_uri="
            )
        );
    }

    #[test]
    fn a_container_name_cannot_add_parameters_url_injection() {
        let link = Url::parse("https://signin.aws.amazon.com/federation?a=1&b=2").unwrap();
        let c = container_link("prod&url=https://evil.example", &link);
        assert_eq!(
            c,
            "ext+container:name=prod%26url%3Dhttps%3A%2F%2Fevil.example&url=https%3A%2F%2Fsignin.aws.amazon.com%2Ffederation%3Fa%3D1%26b%3D2"
        );
        assert_eq!(c.matches("&url=").count(), 1);
    }

    #[test]
    fn only_web_links_are_opened() {
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ext+container:name=x",
            "x",
        ] {
            assert!(web_link(bad).is_err(), "{bad}");
        }
        assert!(web_link("https://signin.aws.amazon.com/federation").is_ok());
    }
}
