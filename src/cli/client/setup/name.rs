//! `--name`: how a role becomes a profile name, e.g. `{account}-{role}`.
//!
//! The alias is the broker's and is checked, never changed (a role's profile name must say
//! which role it is). The account name is free text at the broker ("Prod (EU)"), so `{account}`
//! is its slug: characters a profile name cannot hold become `-`. Whatever the template, the
//! result must be a safe profile name; two roles rendering to one name are refused.

use super::super::{Result, fail};
use crate::domain::text;

/// A parsed `--name` template.
#[derive(Debug, Clone)]
pub(crate) struct NameTemplate(Vec<Part>);

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Role,
    Account,
    AccountId,
}

const PLACEHOLDERS: &str = "{role}, {account} (the account's name, else its id), {account_id}";

impl NameTemplate {
    /// `--prefix P`, the older spelling of `--name 'P{role}'`.
    pub(crate) fn prefixed(prefix: &str) -> Self {
        NameTemplate(vec![Part::Text(prefix.to_string()), Part::Role])
    }

    /// Reads a template; unknown placeholders and unbalanced braces are refused.
    pub(crate) fn parse(template: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if rest[..open].contains('}') {
                break;
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').ok_or_else(|| {
                fail(format!(
                    "--name {template:?} has a `{{` without `}}`; placeholders: {PLACEHOLDERS}"
                ))
            })? + open;
            parts.push(match &rest[open + 1..close] {
                "role" => Part::Role,
                "account" => Part::Account,
                "account_id" => Part::AccountId,
                other => {
                    return Err(fail(format!(
                        "--name {template:?}: unknown placeholder {{{other}}}; use {PLACEHOLDERS}"
                    )));
                }
            });
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(fail(format!(
                "--name {template:?} has a `}}` without `{{`; placeholders: {PLACEHOLDERS}"
            )));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if parts.is_empty() {
            return Err(fail("--name is empty; e.g. --name '{account}-{role}'"));
        }
        Ok(NameTemplate(parts))
    }

    /// The profile name for a role; `Err` holds the name when it is not a safe profile name.
    pub(crate) fn render(
        &self,
        alias: &str,
        account_name: Option<&str>,
        account_id: &str,
    ) -> std::result::Result<String, String> {
        let account = account_name
            .map(slug)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| slug(account_id));
        let name: String = self
            .0
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Role => alias,
                Part::Account => account.as_str(),
                Part::AccountId => account_id,
            })
            .collect();
        if text::is_profile_name(&name) {
            Ok(name)
        } else {
            Err(name)
        }
    }

    /// The template as typed, for messages.
    pub(crate) fn shown(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Role => "{role}",
                Part::Account => "{account}",
                Part::AccountId => "{account_id}",
            })
            .collect()
    }
}

/// `Prod (EU)` → `Prod-EU`: profile-name characters kept, runs of others one `-`, none at
/// either end.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_and_account_names_become_slugs() {
        let t = NameTemplate::parse("{account}-{role}").unwrap();
        assert_eq!(
            t.render("admin", Some("Prod (EU)"), "111122223333")
                .as_deref(),
            Ok("Prod-EU-admin")
        );
        assert_eq!(
            t.render("admin", None, "111122223333").as_deref(),
            Ok("111122223333-admin")
        );
        assert_eq!(
            t.render("admin", Some("()"), "111122223333").as_deref(),
            Ok("111122223333-admin"),
            "a name with nothing usable falls back to the id"
        );
        let t = NameTemplate::parse("aws.{account_id}.{role}").unwrap();
        assert_eq!(t.render("ro", Some("x"), "1").as_deref(), Ok("aws.1.ro"));
        assert_eq!(
            NameTemplate::prefixed("rolegate-").shown(),
            "rolegate-{role}"
        );
    }

    #[test]
    fn a_template_or_alias_that_would_break_the_config_is_refused_config_injection() {
        for bad in ["{role", "{rol}", "x}{role}", "", "{role}}"] {
            assert!(NameTemplate::parse(bad).is_err(), "{bad:?}");
        }
        let t = NameTemplate::parse("{role}").unwrap();
        assert!(
            t.render("x]\ncredential_process = touch /tmp/p", None, "1")
                .is_err()
        );
        let spaced = NameTemplate::parse("my {role}").unwrap();
        assert_eq!(spaced.render("ro", None, "1"), Err("my ro".into()));
        let long = NameTemplate::parse(&"x".repeat(70)).unwrap();
        assert!(long.render("ro", None, "1").is_err(), "over 64 characters");
    }
}
