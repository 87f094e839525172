//! The admin page's views (`/admin/sessions`, its confirmation step and the outcome), rendered by
//! `templates/admin_*.html`. Pure — no store, no request, the clock's reading passed in — so
//! the escaping tests render them with hostile values in every field.
//!
//! Everything a user, an IdP or a client controls (names, subjects, session names, user agents,
//! reasons) reaches the page only through askama's escaping; links are built here with their
//! query parameters percent-encoded, and escaped again as attributes by the template.

use super::assets::{ASSETS, Assets};
use super::page::Link;
use crate::inventory::IssuedSession;
use crate::revocation::preview::{Preview, PreviewScope, RevokeRights};
use crate::revocation::request::Outcome;
use askama::Template;
use std::collections::BTreeMap;

/// Who is signed in, for the header's sign-out form.
pub(crate) struct Account<'a> {
    pub who: &'a str,
    pub idp: &'a str,
    pub csrf: &'a str,
}

/// An instant: RFC 3339 (the `datetime` and the `title`) and relative to now ("in 42 min").
pub(crate) struct When {
    pub datetime: String,
    pub text: String,
}

pub(crate) fn when(at: i64, now: i64) -> When {
    let datetime = crate::clock::rfc3339_of(at);
    let text = match at - now {
        d if d >= 60 => format!("in {}", span(d)),
        d if d > 0 => "in under a minute".into(),
        d if d > -60 => "just now".into(),
        d => format!("{} ago", span(-d)),
    };
    When { datetime, text }
}

/// "42 min", "1 h", "3 h 5 min", "2 d 4 h": minutes rounded up below an hour.
fn span(secs: i64) -> String {
    let m = (secs + 59) / 60;
    match (m / 1440, (m % 1440) / 60, m % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
    }
    q.finish()
}

fn href(path: &str, pairs: &[(&str, &str)]) -> String {
    match query(pairs) {
        q if q.is_empty() => path.to_string(),
        q => format!("{path}?{q}"),
    }
}

/// The confirmation page of a revocation: `session_id=`, `user=`, `role=` or `all=true`.
pub(crate) fn revoke_href(field: &str, value: &str) -> String {
    href("/admin/sessions/revoke", &[(field, value)])
}

/// The list's filter, as the GET form sends it.
#[derive(Default)]
pub(crate) struct Filter {
    pub user: String,
    pub role: String,
    pub include_revoked: bool,
    /// Latest expiry first (`sort=-expires`); soonest first otherwise.
    pub latest_first: bool,
}

impl Filter {
    pub(crate) fn href(&self, latest_first: bool) -> String {
        let include = if self.include_revoked { "revoked" } else { "" };
        let sort = if latest_first { "-expires" } else { "" };
        href(
            "/admin/sessions",
            &[
                ("user", &self.user),
                ("role", &self.role),
                ("include", include),
                ("sort", sort),
            ],
        )
    }
}

pub(crate) struct Row {
    pub user: String,
    /// `IDP:SUBJECT`.
    pub user_id: String,
    pub alias: String,
    /// "prod · 123456789012", or the account id alone.
    pub account: String,
    pub arn: String,
    pub session_name: String,
    pub source_identity: String,
    /// "browser · console".
    pub client: String,
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    pub issued: When,
    pub expires: When,
    pub reason: Option<String>,
    pub revoked: Option<Revoked>,
    /// Revoke this one, all of this person's, all of this role's: as the caller may.
    pub actions: Vec<Link>,
}

/// A session's revocation: by whom (`idp:subject`), when.
pub(crate) struct Revoked {
    pub by: String,
    pub at: When,
    /// The reason the revocation gave.
    pub why: Option<String>,
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// One table row per session, with the revoke links the caller's rights allow.
pub(crate) fn rows(
    sessions: &[IssuedSession],
    now: i64,
    rights: &RevokeRights,
    account_names: &BTreeMap<String, String>,
) -> Vec<Row> {
    sessions
        .iter()
        .map(|s| {
            let user_id = format!("{}:{}", s.idp, s.subject);
            let account = match account_names.get(&s.role_arn) {
                Some(name) => format!("{name} · {}", account_of(&s.role_arn)),
                None => account_of(&s.role_arn).to_string(),
            };
            let mut actions = Vec::new();
            if rights.on_role(&s.role_arn) {
                actions.push(Link {
                    href: revoke_href("session_id", &s.id),
                    label: "Revoke…".into(),
                });
            }
            if rights.everywhere() {
                actions.push(Link {
                    href: revoke_href("user", &user_id),
                    label: "All of this person's…".into(),
                });
            }
            if rights.on_role(&s.role_arn) {
                actions.push(Link {
                    href: revoke_href("role", &s.role_arn),
                    label: "All on this role…".into(),
                });
            }
            Row {
                user: s.display_name.clone(),
                user_id,
                alias: s.role_alias.clone(),
                account,
                arn: s.role_arn.clone(),
                session_name: s.session_name.clone(),
                source_identity: s.source_identity.clone(),
                client: format!("{} · {}", s.client, s.action),
                user_agent: s.user_agent.clone(),
                client_ip: s.client_ip.clone(),
                issued: when(s.issued_at, now),
                expires: when(s.expires_at, now),
                reason: s.reason.clone(),
                revoked: s.revoked_at.map(|at| Revoked {
                    by: s.revoked_by.clone().unwrap_or_else(|| "?".into()),
                    at: when(at, now),
                    why: s.revoked_reason.clone(),
                }),
                actions,
            }
        })
        .collect()
}

/// Whom the list covers.
pub(crate) fn scope_sentence(sees_others: bool) -> String {
    if sees_others {
        "Live AWS sessions you may see: your own, and everyone's on the roles where the policy \
         grants you rolegate:ListSessions."
            .into()
    } else {
        "Your live AWS sessions. Other people's are listed only to those the policy grants \
         rolegate:ListSessions on a role, and no statement grants it to you."
            .into()
    }
}

/// Why the list is empty.
pub(crate) fn empty_sentence(filter: &Filter, sees_others: bool, hidden_revoked: usize) -> String {
    let why = if !filter.user.is_empty() || !filter.role.is_empty() {
        "No live session you may see matches this filter."
    } else if sees_others {
        "No live AWS session: none of your own, and none on the roles you may list."
    } else {
        "You hold no live AWS session (and you see only your own)."
    };
    match hidden_revoked {
        0 => why.to_string(),
        n => format!("{why} {n} revoked not shown: tick Show revoked to see them."),
    }
}

/// `GET /admin/sessions`.
#[derive(Template)]
#[template(path = "admin_sessions.html")]
pub(crate) struct SessionsPage<'a> {
    pub title: &'a str,
    pub assets: &'a Assets,
    pub account: Option<Account<'a>>,
    pub filter: &'a Filter,
    /// Whom the list covers (own only, or others' by policy).
    pub scope: String,
    pub rows: Vec<Row>,
    /// Revoked sessions left out (`include=revoked` shows them).
    pub hidden_revoked: usize,
    /// Why the list is empty (shown only when it is).
    pub empty: String,
    /// A filter the caller may not apply to others: what they see instead.
    pub refused: Option<String>,
    /// The link that reverses the order.
    pub sort: Link,
    /// "End every session…", with `RevokeSessions` on every role.
    pub revoke_all: Option<String>,
}

/// `GET /admin/sessions/revoke`: what will end, the reason, the freeze, the button.
#[derive(Template)]
#[template(path = "admin_revoke.html")]
pub(crate) struct ConfirmPage<'a> {
    pub title: &'a str,
    pub assets: &'a Assets,
    pub account: Option<Account<'a>>,
    /// The session's CSRF token, for the Revoke form.
    pub csrf: &'a str,
    /// The form's hidden target field (`session_id`, `user`, `role`, `all`) and its value.
    pub field: &'static str,
    pub value: String,
    /// The scope, in words.
    pub what: String,
    /// Live sessions, and how many of them are revoked already.
    pub live: usize,
    pub already: usize,
    /// Per role (alias or ARN): how many sessions end there.
    pub roles: Vec<(String, usize)>,
    /// What the people concerned must do to get AWS sessions again.
    pub after: String,
    /// A freeze needs `RevokeSessions` on every role.
    pub may_freeze: bool,
}

/// The confirmation page's view of a preview.
pub(crate) fn confirm<'a>(account: Account<'a>, preview: &Preview) -> ConfirmPage<'a> {
    let (field, value, what, after) = match &preview.scope {
        PreviewScope::UserOnRole(s) => (
            "session_id",
            s.id.clone(),
            format!(
                "Session {} of {} ({}:{}) on {}. Ending it ends every live session of this \
                 person on this role.",
                s.session_name, s.display_name, s.idp, s.subject, s.role_alias
            ),
            format!(
                "{} must sign in at their identity provider again before rolegate issues them \
                 anything more on {}; their other roles are not affected.",
                s.display_name, s.role_alias
            ),
        ),
        PreviewScope::User(idp, subject) => (
            "user",
            format!("{idp}:{subject}"),
            format!("Every session of {idp}:{subject}, on every role."),
            format!(
                "{idp}:{subject} must sign in at their identity provider again before rolegate \
                 issues them anything more; their browser sessions and CLI sign-ins from before \
                 now end at their next use."
            ),
        ),
        PreviewScope::Idp(idp) => (
            "idp",
            idp.clone(),
            format!("Every session of everyone the identity provider {idp} vouched for."),
            format!(
                "Everyone who signed in through {idp} must sign in again before rolegate issues \
                 them anything more; their browser sessions and CLI sign-ins from before now end \
                 at their next use."
            ),
        ),
        PreviewScope::Role(arn) => (
            "role",
            arn.clone(),
            format!("Every session of the role {arn}, whoever holds it."),
            "Everyone who holds it must sign in at their identity provider again before \
             rolegate issues them this role again."
                .to_string(),
        ),
        PreviewScope::All => (
            "all",
            "true".into(),
            "Every session rolegate issued, on every role, for everyone.".into(),
            "Everyone must sign in at their identity provider again before rolegate issues \
             anything more; every browser session and CLI sign-in from before now ends at its \
             next use — this one, yours, included."
                .into(),
        ),
    };
    let mut roles: BTreeMap<String, usize> = BTreeMap::new();
    for s in &preview.sessions {
        *roles.entry(s.role_alias.clone()).or_default() += 1;
    }
    ConfirmPage {
        title: "End AWS sessions",
        assets: &ASSETS,
        csrf: account.csrf,
        account: Some(account),
        field,
        value,
        what,
        live: preview.sessions.len(),
        already: preview
            .sessions
            .iter()
            .filter(|s| s.revoked_at.is_some())
            .count(),
        roles: roles.into_iter().collect(),
        after,
        may_freeze: preview.may_freeze,
    }
}

/// One role's AWS side after a revocation.
pub(crate) struct RoleResult {
    pub arn: String,
    pub written: bool,
    /// When IAM accepted the policy (RFC 3339).
    pub written_at: Option<String>,
    pub error: Option<String>,
    /// The inline policy `rolegate-revocations`, pretty-printed.
    pub policy: String,
}

/// `POST /admin/sessions/revoke`: what ended, and per role the AWS side.
#[derive(Template)]
#[template(path = "admin_revoked.html")]
pub(crate) struct OutcomePage<'a> {
    pub title: &'a str,
    pub assets: &'a Assets,
    /// None when the revocation ended the caller's own browser session.
    pub account: Option<Account<'a>>,
    pub revoked: usize,
    pub revoked_at: String,
    pub frozen_until: Option<String>,
    pub reason: &'a str,
    pub roles: Vec<RoleResult>,
}

pub(crate) fn outcome<'a>(
    account: Option<Account<'a>>,
    o: &Outcome,
    reason: &'a str,
) -> OutcomePage<'a> {
    OutcomePage {
        title: "Sessions ended",
        assets: &ASSETS,
        account,
        revoked: o.revoked,
        revoked_at: o.revoked_at.clone(),
        frozen_until: o.frozen_until.clone(),
        reason,
        roles: o
            .roles
            .iter()
            .map(|r| RoleResult {
                arn: r.arn.clone(),
                written: r.written,
                written_at: r.written_at.clone(),
                error: r.error.clone(),
                policy: serde_json::to_string_pretty(&r.policy).unwrap_or_default(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::request::RoleOutcome;

    /// Closes an element, an attribute and a `<pre>`, then opens a script and an image.
    const HOSTILE: &str = r#"</pre></td><script>alert(1)</script>"><img src=x onerror=alert(2)>'"#;

    fn hostile_session(arn: &str) -> IssuedSession {
        IssuedSession {
            id: format!("ses_{HOSTILE}"),
            idp: HOSTILE.into(),
            subject: HOSTILE.into(),
            display_name: HOSTILE.into(),
            role_arn: arn.into(),
            role_alias: HOSTILE.into(),
            session_name: HOSTILE.into(),
            source_identity: HOSTILE.into(),
            issued_at: 1_796_641_089,
            expires_at: 1_796_644_689,
            client: HOSTILE.into(),
            action: HOSTILE.into(),
            client_ip: Some(HOSTILE.into()),
            user_agent: Some(HOSTILE.into()),
            request_id: Some(HOSTILE.into()),
            matched: HOSTILE.into(),
            reason: Some(HOSTILE.into()),
            revoked_at: Some(1_796_641_189),
            revoked_by: Some(HOSTILE.into()),
            revoked_reason: Some(HOSTILE.into()),
        }
    }

    /// Nothing the attacker wrote became markup: no script or image element, no attribute
    /// closed early; and the text is there, escaped.
    fn assert_inert(html: &str) {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            !html.contains("onerror=alert(2)>"),
            "an attribute closed early: {html}"
        );
        assert!(!html.contains("</pre></td>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
    }

    fn account() -> Account<'static> {
        Account {
            who: HOSTILE,
            idp: HOSTILE,
            csrf: "c5rf",
        }
    }

    #[test]
    fn hostile_names_subjects_session_names_agents_and_reasons_in_the_list_stay_text() {
        let arn = "arn:aws:iam::123456789012:role/Admin";
        let sessions = [hostile_session(arn), hostile_session(HOSTILE)];
        let names = BTreeMap::from([(arn.to_string(), HOSTILE.to_string())]);
        let rights = RevokeRights::for_tests(&[arn, HOSTILE], true);
        let filter = Filter {
            user: HOSTILE.into(),
            role: HOSTILE.into(),
            include_revoked: true,
            latest_first: false,
        };
        let rows = rows(&sessions, 1_796_641_089, &rights, &names);
        assert_eq!(rows[0].actions.len(), 3, "revoke one, the person, the role");
        let html = SessionsPage {
            title: "AWS sessions",
            assets: &ASSETS,
            account: Some(account()),
            filter: &filter,
            scope: HOSTILE.into(),
            rows,
            hidden_revoked: 0,
            empty: HOSTILE.into(),
            refused: Some(HOSTILE.into()),
            sort: Link {
                href: filter.href(true),
                label: HOSTILE.into(),
            },
            revoke_all: Some(revoke_href("all", "true")),
        }
        .render()
        .unwrap();
        assert_inert(&html);
        // Links carry the hostile values percent-encoded (then escaped as attributes).
        assert!(
            html.contains("/admin/sessions/revoke?session_id=ses_%3C%2Fpre%3E"),
            "{html}"
        );
        assert!(html.contains("in 1 h"), "{html}");
    }

    #[test]
    fn a_hostile_target_on_the_confirmation_page_stays_text() {
        let s = hostile_session(HOSTILE);
        for scope in [
            PreviewScope::UserOnRole(Box::new(s.clone())),
            PreviewScope::User(HOSTILE.into(), HOSTILE.into()),
            PreviewScope::Role(HOSTILE.into()),
        ] {
            let preview = Preview {
                scope,
                sessions: vec![s.clone()],
                may_freeze: true,
            };
            let html = confirm(account(), &preview).render().unwrap();
            assert_inert(&html);
            assert!(html.contains(r#"name="csrf" value="c5rf""#), "{html}");
        }
    }

    #[test]
    fn a_hostile_reason_error_and_policy_in_the_outcome_stay_text() {
        let o = Outcome {
            revoked: 2,
            revoked_at: HOSTILE.into(),
            frozen_until: Some(HOSTILE.into()),
            roles: vec![RoleOutcome {
                arn: HOSTILE.into(),
                written: false,
                written_at: None,
                error: Some(HOSTILE.into()),
                policy: serde_json::json!({ "Sid": HOSTILE }),
            }],
        };
        let html = outcome(Some(account()), &o, HOSTILE).render().unwrap();
        assert_inert(&html);
        assert!(
            html.contains("<pre tabindex=\"0\">{"),
            "the policy in a <pre>: {html}"
        );
    }

    #[test]
    fn instants_read_relative_to_now() {
        let at = |d: i64| when(1_796_641_089 + d, 1_796_641_089).text;
        assert_eq!(at(42 * 60), "in 42 min");
        assert_eq!(at(41 * 60 + 1), "in 42 min", "rounded up");
        assert_eq!(at(3600), "in 1 h");
        assert_eq!(at(3 * 3600 + 5 * 60), "in 3 h 5 min");
        assert_eq!(at(30), "in under a minute");
        assert_eq!(at(-10), "just now");
        assert_eq!(at(-12 * 60), "12 min ago");
        assert_eq!(at(-(2 * 86_400 + 4 * 3600)), "2 d 4 h ago");
        assert_eq!(
            when(1_796_641_089, 0).datetime,
            "2026-12-07T10:58:09Z",
            "RFC 3339 in the title"
        );
    }

    #[test]
    fn links_carry_their_values_percent_encoded() {
        assert_eq!(
            revoke_href("user", "web:a&b=c d"),
            "/admin/sessions/revoke?user=web%3Aa%26b%3Dc+d"
        );
        let f = Filter {
            user: "web:alice".into(),
            include_revoked: true,
            ..Filter::default()
        };
        assert_eq!(
            f.href(true),
            "/admin/sessions?user=web%3Aalice&include=revoked&sort=-expires"
        );
        assert_eq!(Filter::default().href(false), "/admin/sessions");
    }
}
