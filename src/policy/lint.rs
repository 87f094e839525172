//! `rolegate policy lint`: IAM traps that load fine but may not mean what their author meant.
//! Each finding names the file, the statement (Sid or index) and the JSON path.

use super::condition::{Base, SetOp};
use super::context::ContextKey;
use super::document::{Effect, Statement};
use super::engine::Engine;
use super::pattern::Part;
use super::shorthand::ORIGIN_FILE;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Warning,
    /// Worth knowing, not a trap: `policy lint` still exits 0.
    Note,
}

/// One lint finding: where, and what may not mean what its author meant.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub(crate) severity: Severity,
    /// The policy file.
    pub file: String,
    /// The statement's Sid or index.
    pub statement: String,
    /// The JSON path in the statement.
    pub path: String,
    /// What the trap is.
    pub message: String,
}

impl Finding {
    /// Whether it is a trap (`policy lint` exits 1) rather than a note.
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(
            f,
            "{sev}: {} [{}] {}: {}",
            self.file, self.statement, self.path, self.message
        )
    }
}

/// Every finding for the loaded policy; empty when nothing looks wrong.
pub fn lint(engine: &Engine) -> Vec<Finding> {
    let mut out = Vec::new();
    let sts = engine.statements();
    for st in sts {
        let finding = |severity, path: String, message: String| Finding {
            severity,
            file: st.origin.file.clone(),
            statement: st
                .origin
                .sid
                .clone()
                .unwrap_or_else(|| format!("#{}", st.origin.index)),
            path: format!("Statement[{}]{path}", st.origin.index),
            message,
        };
        let cond_path =
            |c: &super::condition::Condition| format!(".Condition.{}.{}", c.operator, c.key);
        if st.action_mask == 0 {
            out.push(finding(
                Severity::Warning,
                ".NotAction".into(),
                "excludes every rolegate action: this statement never matches".into(),
            ));
        }
        if st.admin_by_pattern_only {
            out.push(finding(
                Severity::Note,
                ".Action".into(),
                "a wildcard or NotAction grants roles only: rolegate:ListSessions and \
                 rolegate:RevokeSessions (seeing and ending others' sessions) are granted only \
                 by an Allow that names them in full"
                    .into(),
            ));
        }
        if !has_dynamic_resource(st) && engine.roles().iter().all(|r| !covers(engine, st, r)) {
            out.push(finding(
                Severity::Warning,
                ".Resource".into(),
                "names no role of the catalogue ([[role]]): this statement never matches".into(),
            ));
        }
        if st.effect == Effect::Allow && st.origin.file != ORIGIN_FILE {
            let pinned = st.conditions.iter().any(|c| {
                c.key == ContextKey::Idp && !c.negated && !c.if_exists && c.base != Base::Null
            });
            if !pinned {
                out.push(finding(
                    Severity::Warning,
                    ".Condition".into(),
                    "Allow without a rolegate:idp condition: users of every configured IdP can match it".into(),
                ));
            }
        }
        for c in &st.conditions {
            // In a Deny a missing key makes the Deny apply (fails closed); in an Allow it grants.
            if st.effect == Effect::Allow
                && c.negated
                && c.set == SetOp::Single
                && !c.if_exists
                && !c.key.always_present()
            {
                out.push(finding(
                    Severity::Warning,
                    cond_path(c),
                    format!("{} is true when {} is missing: add a Null check or use …IfExists deliberately", c.operator, c.key),
                ));
            }
            if c.set == SetOp::ForAllValues && st.effect == Effect::Allow {
                out.push(finding(
                    Severity::Warning,
                    cond_path(c),
                    format!("ForAllValues is true when {} is empty or missing: pair it with a Null check (\"Null\": {{\"{}\": \"false\"}})", c.key, c.key),
                ));
            }
            if let ContextKey::Claim(name) = &c.key
                && name.eq_ignore_ascii_case("email")
            {
                out.push(finding(
                    Severity::Warning,
                    cond_path(c),
                    "rolegate:claims/email is whatever the IdP sent, verified or not: use rolegate:email, present only when verified".into(),
                ));
            }
            if st.effect == Effect::Deny && c.values.iter().any(|v| v.template.parts.iter().any(|p| matches!(p, Part::Var { key, default: None } if *key != ContextKey::Literal))) {
                out.push(finding(
                    Severity::Warning,
                    cond_path(c),
                    "a variable without a default: when it is missing this Deny does not apply (write ${key, 'default'})".into(),
                ));
            }
        }
        let no_default = |t: &super::pattern::Template| {
            t.parts.iter().any(
                |p| matches!(p, Part::Var { key, default: None } if *key != ContextKey::Literal),
            )
        };
        let element = if st.not_resource {
            ".NotResource"
        } else {
            ".Resource"
        };
        if st.effect == Effect::Deny && !st.not_resource && st.resources.iter().any(no_default) {
            out.push(finding(
                Severity::Warning,
                element.into(),
                "a variable without a default: when it is missing that entry names no role and this Deny does not cover it (the other entries still apply)".into(),
            ));
        }
        if st.effect == Effect::Allow && st.not_resource && st.resources.iter().any(no_default) {
            out.push(finding(
                Severity::Warning,
                element.into(),
                "a variable without a default: when it is missing this Allow applies to no role"
                    .into(),
            ));
        }
        // A role chosen by a value the user can edit at many IdPs (preferred_username, email
        // before verification policies) lets a user rename themselves into someone's role.
        if let Some(key) = st.resources.iter().find_map(user_editable_var) {
            out.push(finding(
                Severity::Warning,
                element.into(),
                format!("the role is chosen by ${{{key}}}, which users can change at many IdPs: key it on rolegate:sub or an admin-controlled claim"),
            ));
        }
        if st.effect == Effect::Allow
            && let Some(deny) = shadowing_deny(engine, st)
        {
            out.push(finding(
                Severity::Warning,
                String::new(),
                format!(
                    "shadowed by the unconditional Deny {}: this Allow never grants anything",
                    deny.origin.label()
                ),
            ));
        }
    }
    out
}

/// `rolegate:username` or `rolegate:email` inside a Resource template, by name.
fn user_editable_var(t: &super::pattern::Template) -> Option<&'static str> {
    t.parts.iter().find_map(|p| match p {
        Part::Var {
            key: ContextKey::Username,
            ..
        } => Some("rolegate:username"),
        Part::Var {
            key: ContextKey::Email,
            ..
        } => Some("rolegate:email"),
        _ => None,
    })
}

fn has_dynamic_resource(st: &Statement) -> bool {
    st.resources.iter().any(|r| r.as_text().is_none())
}

fn covers(engine: &Engine, st: &Statement, role: &crate::config::RoleConfig) -> bool {
    let id =
        crate::domain::Identity::new(crate::domain::IdpId::parse("lint").expect("static id"), "");
    let ctx = super::RequestContext {
        aws_session: None,
        identity: &id,
        client: crate::domain::ClientKind::Api,
        source_ip: None,
        now: std::time::UNIX_EPOCH,
    };
    [super::Action::Console, super::Action::Credentials]
        .iter()
        .any(|a| engine.targets(st, role, *a, &ctx).1)
}

/// An unconditional Deny that covers every (role, action) the Allow could grant.
fn shadowing_deny<'a>(engine: &'a Engine, allow: &Statement) -> Option<&'a Statement> {
    if has_dynamic_resource(allow) {
        return None;
    }
    let allow_roles: Vec<_> = engine
        .roles()
        .iter()
        .filter(|r| covers(engine, allow, r))
        .collect();
    if allow_roles.is_empty() {
        return None;
    }
    engine.statements().iter().find(|d| {
        d.effect == Effect::Deny
            && d.conditions.is_empty()
            && !has_dynamic_resource(d)
            && allow.action_mask & !d.action_mask == 0
            && allow_roles.iter().all(|r| covers(engine, d, r))
    })
}
