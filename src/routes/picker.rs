//! The role picker's view: the roles a user may use, grouped by AWS account (favourites first),
//! filtered by a search query, each with the session lengths its grant allows. Pure — no
//! store, no request — so the benchmark measures exactly what the page costs to build.
//!
//! The page is one form with a single CSRF token: each role's buttons name the role and their
//! row in their `formaction` (`/console/<alias>?r=<n>`), and `r` picks that row's `m<n>`
//! session length in minutes. Per-row forms would repeat the token 200 times for a 200-role user and blow the
//! page-weight budget (100 KB, `scripts/bench/picker.sh`).

use super::assets::{ASSETS, Assets};
use crate::policy::{Action, RoleSummary};
use askama::Template;
use std::collections::{BTreeMap, BTreeSet};

/// Session lengths offered, bounded by each role's grant. STS's floor is 15 minutes.
const CHOICES: [(u64, &str); 7] = [
    (900, "15m"),
    (1800, "30m"),
    (3600, "1h"),
    (7200, "2h"),
    (14_400, "4h"),
    (28_800, "8h"),
    (43_200, "12h"),
];
const DEFAULT_SECONDS: u64 = 3600;

/// The role picker (`GET /`), rendered by `templates/picker.html`.
#[derive(Template)]
#[template(path = "picker.html")]
pub struct PickerPage<'a> {
    pub(crate) title: &'a str,
    pub(crate) assets: &'a Assets,
    pub(crate) who: &'a str,
    pub(crate) idp: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) query: &'a str,
    pub(crate) destination: Option<&'a str>,
    pub(crate) groups: Vec<Group>,
    pub(crate) shown: usize,
    pub(crate) total: usize,
    /// Set by the page handler (the view stays pure): who the IdP says the user is, shown
    /// when no role is granted so they can send it to an administrator.
    pub(crate) no_role: Option<NoRole>,
    /// When the browser session ends.
    pub(crate) session_ends: Option<super::page::Expiry>,
}

/// The identity facts a user without roles sends to an administrator. Untrusted text (from the
/// IdP), escaped by the template like everything else.
pub(crate) struct NoRole {
    pub(crate) idp_id: String,
    pub(crate) subject: String,
    pub(crate) groups: Vec<String>,
}

pub(crate) struct Group {
    pub(crate) title: String,
    pub(crate) account: String,
    pub(crate) favourites: bool,
    pub(crate) rows: Vec<Row>,
}

pub(crate) struct Row {
    /// Unique on the page: names this row's duration field.
    pub(crate) key: usize,
    pub(crate) alias: String,
    /// The alias as a URL path segment.
    pub(crate) href: String,
    pub(crate) context: String,
    pub(crate) console: bool,
    pub(crate) credentials: bool,
    pub(crate) favourite: bool,
    pub(crate) durations: Vec<Choice>,
}

pub(crate) struct Choice {
    pub(crate) seconds: u64,
    /// What the form sends (`m<row>`): minutes are shorter than seconds, 200 times over.
    pub(crate) minutes: u64,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

/// What the picker is built from.
pub struct Input<'a> {
    /// The signed-in user's display name.
    pub who: &'a str,
    /// The IdP's display name.
    pub idp: &'a str,
    /// The session's CSRF token, carried by every form.
    pub csrf: &'a str,
    /// The search, as typed (whitespace-separated terms, all must match).
    pub query: &'a str,
    /// Where the console should open (`?destination=`), carried through.
    pub destination: Option<&'a str>,
    /// The roles the policy lets the user see.
    pub roles: &'a [RoleSummary],
    /// The user's starred role aliases.
    pub favourites: &'a BTreeSet<String>,
}

/// The session lengths a role offers: the standard steps up to its maximum, plus the maximum
/// itself when it falls between steps.
pub(crate) fn durations(max_seconds: u64) -> Vec<Choice> {
    let mut out: Vec<Choice> = CHOICES
        .iter()
        .filter(|(s, _)| *s <= max_seconds)
        .map(|(s, l)| Choice {
            seconds: *s,
            minutes: s / 60,
            label: (*l).to_string(),
            selected: false,
        })
        .collect();
    // The grant's own maximum, to the minute (what the form can express).
    let max = max_seconds / 60 * 60;
    if out.last().is_none_or(|c| c.seconds < max) && max >= 900 {
        out.push(Choice {
            seconds: max,
            minutes: max / 60,
            label: humanize(max),
            selected: false,
        });
    }
    let default = DEFAULT_SECONDS.min(max_seconds);
    if let Some(c) = out.iter_mut().rev().find(|c| c.seconds <= default) {
        c.selected = true;
    } else if let Some(c) = out.first_mut() {
        c.selected = true;
    }
    out
}

fn humanize(s: u64) -> String {
    match (s / 3600, (s % 3600) / 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

fn account_title(r: &RoleSummary) -> String {
    r.account_name.clone().unwrap_or_else(|| r.account.clone())
}

/// What a query matches against: every whitespace-separated term must occur (ASCII case
/// folded) in the alias, the role name, the account name or the account number.
fn matches(terms: &[String], r: &RoleSummary) -> bool {
    if terms.is_empty() {
        return true;
    }
    let hay = format!(
        "{} {} {} {}",
        r.alias,
        role_name(&r.arn),
        r.account_name.as_deref().unwrap_or(""),
        r.account
    )
    .to_ascii_lowercase();
    terms.iter().all(|t| hay.contains(t.as_str()))
}

fn role_name(arn: &str) -> &str {
    arn.split_once(":role/").map_or(arn, |(_, n)| n)
}

fn path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The page's view: matching roles, favourites first, then by account.
pub fn build<'a>(input: &Input<'a>) -> PickerPage<'a> {
    let terms: Vec<String> = input
        .query
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let shown: Vec<&RoleSummary> = input.roles.iter().filter(|r| matches(&terms, r)).collect();
    let mut rows = Rows {
        key: 0,
        favourites: input.favourites,
    };
    let mut groups: Vec<Group> = favourites_group(&shown, &mut rows).into_iter().collect();
    groups.extend(account_groups(&shown, &mut rows));
    PickerPage {
        title: "Your AWS roles",
        assets: &ASSETS,
        who: input.who,
        idp: input.idp,
        csrf: input.csrf,
        query: input.query,
        destination: input.destination,
        groups,
        shown: shown.len(),
        total: input.roles.len(),
        no_role: None,
        session_ends: None,
    }
}

/// Makes the page's rows, numbering them in page order (the duration fields' names).
struct Rows<'a> {
    key: usize,
    favourites: &'a BTreeSet<String>,
}

impl Rows<'_> {
    fn row(&mut self, r: &RoleSummary, context: String) -> Row {
        self.key += 1;
        Row {
            key: self.key,
            alias: r.alias.clone(),
            href: path_segment(&r.alias),
            context,
            console: r.actions.contains(&Action::Console),
            credentials: r.actions.contains(&Action::Credentials),
            favourite: self.favourites.contains(&r.alias),
            durations: durations(r.max_duration_seconds),
        }
    }
}

/// The starred roles first, each named with its account.
fn favourites_group(shown: &[&RoleSummary], rows: &mut Rows<'_>) -> Option<Group> {
    let favs: Vec<Row> = shown
        .iter()
        .filter(|r| rows.favourites.contains(&r.alias))
        .map(|r| rows.row(r, format!("{} · {}", role_name(&r.arn), account_title(r))))
        .collect();
    (!favs.is_empty()).then(|| Group {
        title: "Favourites".into(),
        account: String::new(),
        favourites: true,
        rows: favs,
    })
}

/// Named accounts by name, then unnamed ones by number; roles by alias within each.
fn account_groups(shown: &[&RoleSummary], rows: &mut Rows<'_>) -> Vec<Group> {
    let mut by_account: BTreeMap<(bool, String, String), Vec<&RoleSummary>> = BTreeMap::new();
    for r in shown {
        by_account
            .entry((
                r.account_name.is_none(),
                account_title(r).to_lowercase(),
                r.account.clone(),
            ))
            .or_default()
            .push(r);
    }
    let mut groups = Vec::new();
    for ((_, _, account), mut roles) in by_account {
        roles.sort_by(|a, b| a.alias.cmp(&b.alias));
        let title = account_title(roles[0]);
        let group_rows = roles
            .iter()
            .map(|r| rows.row(r, role_name(&r.arn).to_string()))
            .collect();
        groups.push(Group {
            account: if title == account {
                String::new()
            } else {
                account
            },
            title,
            favourites: false,
            rows: group_rows,
        });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_stop_at_the_grant_and_include_it() {
        let secs = |m| durations(m).iter().map(|c| c.seconds).collect::<Vec<_>>();
        assert_eq!(secs(3600), [900, 1800, 3600]);
        assert_eq!(secs(5400), [900, 1800, 3600, 5400]);
        assert_eq!(secs(43_200).len(), 7);
        assert_eq!(durations(5400)[3].label, "1h30m");
        let selected = |m| {
            durations(m)
                .into_iter()
                .find(|c| c.selected)
                .unwrap()
                .seconds
        };
        assert_eq!(selected(43_200), 3600);
        assert_eq!(selected(1800), 1800);
        assert_eq!(selected(900), 900);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("a b&c%"), "a%20b%26c%25");
        assert_eq!(path_segment("prod-admin"), "prod-admin");
    }
}
