//! Which role a command acts as: the one named (`rolegate credentials prod-readonly` or
//! `--role prod-readonly`), else one picked in a fuzzy finder on a terminal, else a refusal
//! that says how to name one. And when the broker does not know a name, what the user may
//! have meant.
//!
//! The picker draws on stderr and reads the keyboard on stdin: stdout belongs to
//! `credential_process` and `env`. It never opens unless both stdin and stderr are terminals,
//! so an SDK, a pipe or CI never waits on a prompt nobody sees.
//!
//! The picker lists the roles starred in the web picker first (the roles answer's
//! `favourite`), each group in the broker's order.

use super::broker::Refused;
use super::commands::call;
use super::{CliError, Result, fail};
use crate::domain::text::for_terminal;
use serde_json::Value;
use std::io::IsTerminal;
use url::Url;

/// One role of the user's, as the roles answer describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offered {
    pub alias: String,
    pub arn: String,
    pub account: String,
    pub account_name: Option<String>,
    pub actions: Vec<String>,
    /// Starred in the web picker.
    pub favourite: bool,
}

impl Offered {
    /// `prod-readonly   prod (123456789012)`: what the picker shows and filters on.
    fn label(&self, width: usize) -> String {
        let account = match &self.account_name {
            Some(n) => format!("{n} ({})", self.account),
            None => self.account.clone(),
        };
        // The broker's strings reach the terminal escaped (see text::for_terminal).
        let alias = for_terminal(&self.alias);
        format!("{alias:width$}  {}", for_terminal(&account))
    }
}

pub(crate) fn offered(v: &Value) -> Vec<Offered> {
    let s = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    v["roles"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| Offered {
            alias: s(r, "alias"),
            arn: s(r, "arn"),
            account: s(r, "account"),
            account_name: r["account_name"].as_str().map(str::to_string),
            actions: r["actions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            favourite: r["favourite"] == true,
        })
        .collect()
}

fn roles(broker: &Url) -> Result<Vec<Offered>> {
    Ok(offered(&call(
        broker,
        reqwest::Method::GET,
        "/api/v1/roles",
        None,
    )?))
}

/// The role to act as. `positional` and `flag` are the two ways of naming it (the same name
/// twice is fine); `usage` is how to name one, e.g. `rolegate credentials <role>`; `action`
/// (`credentials` or `console`) is what the picker's roles must allow.
pub(crate) fn choose(
    broker: &Url,
    positional: Option<&str>,
    flag: Option<&str>,
    usage: &str,
    action: &str,
) -> Result<String> {
    match named(positional, flag)? {
        Some(role) => Ok(role),
        None if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
            let mine: Vec<Offered> = roles(broker)?
                .into_iter()
                .filter(|r| r.actions.iter().any(|a| a == action))
                .collect();
            if mine.is_empty() {
                return Err(fail(format!(
                    "none of your roles on {broker} allows {action}; `rolegate roles` lists yours"
                )));
            }
            pick(&favourites_first(mine))
        }
        None => Err(not_named(usage)),
    }
}

/// The role named on the command line, if any; two different names are an error.
pub(crate) fn named(positional: Option<&str>, flag: Option<&str>) -> Result<Option<String>> {
    match (positional, flag) {
        (Some(p), Some(f)) if p != f => Err(fail(format!(
            "two roles named: `{p}` and `--role {f}`; name one (either way)"
        ))),
        (Some(r), _) | (None, Some(r)) => Ok(Some(r.to_string())),
        (None, None) => Ok(None),
    }
}

fn not_named(usage: &str) -> CliError {
    fail(format!(
        "which role? name one: `{usage}`; `rolegate roles` lists yours"
    ))
}

/// Starred roles first; the broker's order within each group (a stable sort).
fn favourites_first(mut roles: Vec<Offered>) -> Vec<Offered> {
    roles.sort_by_key(|r| !r.favourite);
    roles
}

fn pick(roles: &[Offered]) -> Result<String> {
    use dialoguer::FuzzySelect;
    use dialoguer::console::Term;
    let width = roles
        .iter()
        .map(|r| for_terminal(&r.alias).chars().count())
        .max()
        .unwrap_or(0);
    let labels: Vec<String> = roles.iter().map(|r| r.label(width)).collect();
    let chosen = FuzzySelect::new()
        .with_prompt("Role (type to filter, ↑↓ to move, Enter to choose, Esc to cancel)")
        .items(&labels)
        .default(0)
        .max_length(15)
        .interact_on_opt(&Term::stderr())
        .map_err(|e| fail(format!("the role picker failed: {e}")))?;
    match chosen {
        Some(i) => Ok(roles[i].alias.clone()),
        None => Err(fail("no role chosen")),
    }
}

/// The alias among `aliases` nearest to `wanted` by edit distance (ignoring case), when it is
/// near enough to be a slip of the keyboard: at most one edit per four characters, at most
/// three. The broker's first wins a tie.
pub(crate) fn nearest<'a>(
    wanted: &str,
    aliases: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = wanted.to_lowercase();
    let allowed = (wanted.chars().count() / 4).clamp(1, 3);
    aliases
        .into_iter()
        .map(|a| (strsim::levenshtein(&wanted, &a.to_lowercase()), a))
        .filter(|(d, _)| *d > 0 && *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// The CLI's message for a refusal of `role` for `action`: `what` says what was asked
/// ("no credentials for"). A role the user does not have (the broker says unknown or not
/// granted, alike) is named with the nearest alias of theirs and `rolegate roles`; other
/// refusals keep the broker's words. Only ever on the error path: it asks the broker for the
/// user's roles.
pub(crate) fn refused(broker: &Url, role: &str, action: &str, what: &str, r: &Refused) -> CliError {
    let prefix = format!("{what} `{role}`");
    if r.error != "access_denied" && r.error != "unknown_role" {
        return fail(format!("{prefix}: {}", r.description));
    }
    let Ok(mine) = roles(broker) else {
        return fail(format!(
            "{prefix}: it is not one of your roles, or not for {action}; `rolegate roles` lists yours"
        ));
    };
    explain(role, action, &mine).map_or_else(
        || fail(format!("{prefix}: {}", without_routes(&r.description))),
        |why| fail(format!("{prefix}: {why}")),
    )
}

/// Why `role` is refused, if the user's roles say so: not theirs (with a suggestion), or
/// theirs but not for `action`. None when it is theirs for `action` (a policy detail: the
/// broker's words say which).
fn explain(role: &str, action: &str, mine: &[Offered]) -> Option<String> {
    if let Some(r) = mine.iter().find(|r| r.alias == role || r.arn == role) {
        if r.actions.iter().any(|a| a == action) {
            return None;
        }
        return Some(format!(
            "it is one of your roles, but not for {action} (it allows: {}); `rolegate roles` lists yours",
            r.actions.join(", ")
        ));
    }
    let hint = nearest(role, mine.iter().map(|r| r.alias.as_str()))
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default();
    // A short list is named outright; a long one is what `rolegate roles` is for.
    let usable: Vec<&str> = mine
        .iter()
        .filter(|r| r.actions.iter().any(|a| a == action))
        .map(|r| r.alias.as_str())
        .collect();
    let yours = match usable.len() {
        0 => format!("you have no role for {action}; `rolegate roles` lists yours"),
        1..=8 => format!(
            "yours for {action}: {}; `rolegate roles` lists yours",
            usable.join(", ")
        ),
        n => format!("`rolegate roles` lists yours ({n} for {action})"),
    };
    Some(format!("it is not one of your roles{hint}\n{yours}"))
}

/// The broker's description with its HTTP route replaced by the command that shows the same.
fn without_routes(description: &str) -> String {
    description.replace("GET /api/v1/roles", "`rolegate roles`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mine() -> Vec<Offered> {
        offered(&serde_json::json!({"roles": [
            {"alias": "prod-readonly", "arn": "arn:aws:iam::111122223333:role/ReadOnly",
             "account": "111122223333", "account_name": "prod", "actions": ["console", "credentials"]},
            {"alias": "dev-readonly", "arn": "arn:aws:iam::444455556666:role/ReadOnly",
             "account": "444455556666", "actions": ["credentials"]},
            {"alias": "admin", "arn": "arn:aws:iam::111122223333:role/Admin",
             "account": "111122223333", "account_name": "prod", "actions": ["console"]},
        ]}))
    }

    #[test]
    fn starred_roles_come_first_in_the_broker_s_order() {
        let mut roles = mine();
        roles[2].favourite = true;
        roles[1].favourite = true;
        let order: Vec<String> = favourites_first(roles)
            .into_iter()
            .map(|r| r.alias)
            .collect();
        assert_eq!(order, ["dev-readonly", "admin", "prod-readonly"]);
        let parsed = offered(&serde_json::json!({"roles": [
            {"alias": "a", "favourite": true}, {"alias": "b", "favourite": "yes"}, {"alias": "c"}]}));
        let stars: Vec<bool> = parsed.iter().map(|r| r.favourite).collect();
        assert_eq!(stars, [true, false, false], "only a JSON true counts");
    }

    #[test]
    fn misspelt_role_suggests_nearest_alias() {
        let aliases = ["prod-readonly", "dev-readonly", "admin"];
        assert_eq!(nearest("dev-redonly", aliases), Some("dev-readonly"));
        assert_eq!(nearest("Dev-ReadOnlu", aliases), Some("dev-readonly"));
        assert_eq!(nearest("prd-readonl", aliases), Some("prod-readonly"));
        assert_eq!(nearest("admn", aliases), Some("admin"));
        let why = explain("dev-redonly", "credentials", &mine()).unwrap();
        assert!(why.contains("did you mean `dev-readonly`?"), "{why}");
        assert!(why.contains("`rolegate roles` lists yours"), "{why}");
        assert!(
            !why.contains("/api/"),
            "a command, never an HTTP route: {why}"
        );
    }

    #[test]
    fn far_off_role_suggests_nothing() {
        let aliases = ["prod-readonly", "dev-readonly", "admin"];
        for far in ["sales", "billing-admin", "x", "readonly", ""] {
            assert_eq!(nearest(far, aliases), None, "{far}");
        }
        let why = explain("sales", "credentials", &mine()).unwrap();
        assert!(!why.contains("did you mean"), "{why}");
        assert!(why.contains("not one of your roles"), "{why}");
        assert!(
            why.contains("yours for credentials: prod-readonly, dev-readonly;"),
            "the roles that are granted, for that action: {why}"
        );
    }

    #[test]
    fn a_role_of_yours_refused_for_this_action_says_what_it_allows() {
        let why = explain("admin", "credentials", &mine()).unwrap();
        assert!(
            why.contains("not for credentials (it allows: console)"),
            "{why}"
        );
        // Granted for the action (by alias or ARN): the broker's words explain the refusal.
        assert_eq!(explain("prod-readonly", "console", &mine()), None);
        let arn = "arn:aws:iam::444455556666:role/ReadOnly";
        assert_eq!(explain(arn, "credentials", &mine()), None);
        assert_eq!(
            without_routes(
                "you may not use role `x` (unknown or not granted to you); GET /api/v1/roles lists the roles you may use"
            ),
            "you may not use role `x` (unknown or not granted to you); `rolegate roles` lists the roles you may use"
        );
    }

    #[test]
    fn a_role_named_twice_must_be_the_same_name() {
        assert_eq!(named(Some("a"), None).unwrap().as_deref(), Some("a"));
        assert_eq!(named(None, Some("a")).unwrap().as_deref(), Some("a"));
        assert_eq!(named(Some("a"), Some("a")).unwrap().as_deref(), Some("a"));
        assert_eq!(named(None, None).unwrap(), None);
        let e = named(Some("a"), Some("b")).unwrap_err();
        assert!(e.0.contains("`a` and `--role b`"), "{}", e.0);
        let e = not_named("rolegate credentials <role>");
        assert_eq!(
            e.0,
            "which role? name one: `rolegate credentials <role>`; `rolegate roles` lists yours"
        );
    }

    #[test]
    fn picker_labels_show_alias_account_name_and_number_escaped() {
        let roles = mine();
        assert_eq!(roles[0].label(13), "prod-readonly  prod (111122223333)");
        assert_eq!(roles[1].label(13), "dev-readonly   444455556666");
        let mut hostile = roles[0].clone();
        hostile.account_name = Some("Prod\u{1b}[2J".into());
        assert!(!hostile.label(0).contains('\u{1b}'));
    }
}
