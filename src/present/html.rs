//! What the browser's credentials page shows: one section per format, to copy or download.
//! The page itself is `templates/credentials.html`, where askama escapes every value for
//! HTML (text and attributes alike); the copy button copies the section's text as the
//! browser decoded it, so what is copied is exactly the text built here.

use super::shell::{Environment, Shell};
use super::{Credentials, Unpresentable};
use base64::Engine;

/// One section of the page.
pub(crate) struct Section {
    /// The element id the copy button names; fixed text, never a value.
    pub id: &'static str,
    pub title: &'static str,
    pub text: String,
    pub download: Option<Download>,
}

/// A file the page offers: a `data:` URL, so nothing is fetched again (and the credentials
/// never sit behind a second URL).
pub(crate) struct Download {
    pub file_name: String,
    /// Base64: nothing in it can end the attribute or the URL.
    pub data_url: String,
}

/// The page's sections for credentials of the role `alias`: sh, PowerShell,
/// `~/.aws/credentials` under the profile `alias`, and credential_process JSON to download as
/// `rolegate-<alias>.json`. Refused when any format cannot hold a value as it is.
pub(crate) fn sections(c: &Credentials, alias: &str) -> Result<Vec<Section>, Unpresentable> {
    let keys = Environment::keys(c);
    let json = c.credential_process_json_pretty()?;
    Ok(vec![
        Section {
            id: "sh",
            title: "Shell (bash, zsh)",
            text: keys.render(Shell::Sh)?,
            download: None,
        },
        Section {
            id: "ps",
            title: "PowerShell",
            text: keys.render(Shell::PowerShell)?,
            download: None,
        },
        Section {
            id: "profile",
            title: "~/.aws/credentials",
            text: super::ini::profile(c, alias)?,
            download: None,
        },
        Section {
            id: "json",
            title: "JSON (credential_process)",
            download: Some(Download {
                file_name: format!("rolegate-{alias}.json"),
                data_url: format!(
                    "data:application/json;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(json.as_bytes())
                ),
            }),
            text: json,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_offers_sh_powershell_a_profile_and_a_json_download() {
        let c = Credentials::for_tests("ASIA", "s", "t", Some("eu-west-1"));
        let s = sections(&c, "prod-ro").unwrap();
        let ids: Vec<_> = s.iter().map(|s| s.id).collect();
        assert_eq!(ids, ["sh", "ps", "profile", "json"]);
        assert!(s[0].text.starts_with("export AWS_ACCESS_KEY_ID='ASIA'\n"));
        assert!(s[1].text.starts_with("$Env:AWS_ACCESS_KEY_ID='ASIA'\n"));
        assert!(
            s[2].text
                .starts_with("[prod-ro]\naws_access_key_id = ASIA\n")
        );
        let d = s[3].download.as_ref().unwrap();
        assert_eq!(d.file_name, "rolegate-prod-ro.json");
        let b64 = d
            .data_url
            .strip_prefix("data:application/json;base64,")
            .unwrap();
        let file = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(file, s[3].text.as_bytes());
        let v: serde_json::Value = serde_json::from_slice(&file).unwrap();
        assert_eq!(v["Version"], 1);
        assert_eq!(v["SessionToken"], "t");
    }

    #[test]
    fn a_value_one_format_cannot_hold_refuses_the_whole_page() {
        // A line break is fine in sh's quotes but not in PowerShell or ~/.aws/credentials:
        // the page shows every format or none, never a partial set that looks complete.
        let c = Credentials::for_tests("ASIA", "s", "t\ncredential_process = x", None);
        let e = sections(&c, "prod-ro").err().unwrap();
        assert_eq!(e.name, "AWS_SESSION_TOKEN");
    }
}
