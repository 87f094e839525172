//! Evaluation with IAM's logic ("Policy evaluation logic"): default deny; any matching Deny
//! wins; otherwise any matching Allow grants. A statement matches when its action, its
//! resource and every one of its conditions match.
//!
//! Built once per policy load: statements whose Resource has no variables are resolved
//! against the role catalogue up front, so a decision only looks at the statements that can
//! name the requested role, and conditions (which depend on the identity, never on the role)
//! are evaluated at most once per request when listing every role.

use super::document::{Effect, Statement, action_bit, admin_bit};
use super::pattern::{Tok, literal_prefix, matches};
use super::{Action, AdminAction, Denied, Grant, RequestContext, RoleSummary};
use crate::config::RoleConfig;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The compiled policy: statements indexed by the role they name, evaluated with IAM's logic.
pub struct Engine {
    statements: Vec<Statement>,
    roles: Vec<RoleConfig>,
    /// Catalogue index → statements whose static Resource names that role.
    by_role: Vec<Vec<u32>>,
    /// Statements whose Resource holds variables: checked against every role at request time.
    dynamic: Vec<u32>,
    /// `origin.label()` of each statement, formatted once (grants carry them to the audit log).
    labels: Vec<String>,
    role_index: HashMap<String, usize>,
}

/// IAM's three outcomes: an explicit Deny beats any Allow, and no Allow is a Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// An Allow matched and no Deny did.
    Allow,
    /// A Deny matched.
    ExplicitDeny,
    /// Nothing matched.
    ImplicitDeny,
}

/// A decision with the statements behind it.
pub struct Evaluation {
    /// The outcome.
    pub decision: Decision,
    /// Indexes of the matching Allow statements (empty unless allowed).
    pub allows: Vec<u32>,
    /// Index of the first matching Deny statement, when there is one.
    pub deny: Option<u32>,
}

impl Engine {
    /// Compiles statements against the role catalogue (done once per policy load, not per request).
    pub fn new(statements: Vec<Statement>, roles: Vec<RoleConfig>) -> Engine {
        let mut role_index = HashMap::new();
        let mut by_arn = HashMap::new();
        for (i, r) in roles.iter().enumerate() {
            role_index.insert(r.alias.clone(), i);
            role_index.insert(r.arn.to_string(), i);
            by_arn.insert(r.arn.as_str().to_string(), i);
        }
        // ARNs in order, so a pattern only walks the roles that share its literal prefix
        // (ARN matching is case-sensitive, so the prefix is exact).
        let mut sorted: Vec<(&str, usize)> = roles
            .iter()
            .enumerate()
            .map(|(i, r)| (r.arn.as_str(), i))
            .collect();
        sorted.sort_unstable();
        let mut by_role: Vec<Vec<u32>> = vec![Vec::new(); roles.len()];
        let mut dynamic = Vec::new();
        for (i, st) in statements.iter().enumerate() {
            let i32 = u32::try_from(i).expect("fewer than 2^32 statements");
            if is_dynamic_statement(st) {
                dynamic.push(i32);
                continue;
            }
            let mut add = |r: usize| {
                if by_role[r].last() != Some(&i32) {
                    by_role[r].push(i32);
                }
            };
            if st.not_resource {
                let excluded: Vec<Vec<Tok>> = st
                    .resources
                    .iter()
                    .filter_map(|t| t.as_text())
                    .map(super::pattern::compile)
                    .collect();
                for (r, role) in roles.iter().enumerate() {
                    if !excluded
                        .iter()
                        .any(|p| matches(p, role.arn.as_str(), false))
                    {
                        add(r);
                    }
                }
                continue;
            }
            // Literal ARNs are looked up; only patterns walk the catalogue (once per pattern).
            for text in st.resources.iter().filter_map(|t| t.as_text()) {
                if !text.contains(['*', '?']) {
                    if let Some(&r) = by_arn.get(text) {
                        add(r);
                    }
                    continue;
                }
                let pattern = super::pattern::compile(text);
                let prefix = literal_prefix(&pattern);
                let from = sorted.partition_point(|(arn, _)| *arn < prefix.as_str());
                for &(arn, r) in sorted[from..]
                    .iter()
                    .take_while(|(arn, _)| arn.starts_with(prefix.as_str()))
                {
                    if matches(&pattern, arn, false) {
                        add(r);
                    }
                }
            }
        }
        let labels = statements.iter().map(|s| s.origin.label()).collect();
        Engine {
            labels,
            statements,
            roles,
            by_role,
            dynamic,
            role_index,
        }
    }

    /// Every statement, in load order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The role catalogue.
    pub fn roles(&self) -> &[RoleConfig] {
        &self.roles
    }

    /// A catalogue role by alias or ARN.
    pub fn role(&self, alias_or_arn: &str) -> Option<&RoleConfig> {
        self.role_index.get(alias_or_arn).map(|&i| &self.roles[i])
    }

    /// The statements whose action and resource cover (`role`, `action`): the index gives the
    /// static ones, dynamic resources are matched here against patterns resolved once per
    /// request (`resolve_dynamic`). Conditions are the caller's business.
    fn candidates<'s>(
        &'s self,
        r: usize,
        role: &'s RoleConfig,
        bit: u8,
        resolved: &'s [Resolved],
    ) -> impl Iterator<Item = (u32, &'s Statement)> + 's {
        let arn = role.arn.as_str();
        let fixed = self.by_role[r].iter().map(|&i| (i, true));
        let dynamic = self
            .dynamic
            .iter()
            .zip(resolved)
            .map(move |(&i, patterns)| {
                (
                    i,
                    dynamic_resource_matches(&self.statements[at(i)], patterns, arn),
                )
            });
        fixed.chain(dynamic).filter_map(move |(i, resource_ok)| {
            let st = &self.statements[at(i)];
            (resource_ok && st.action_mask & bit != 0).then_some((i, st))
        })
    }

    /// The Resource patterns of each dynamic statement (in `self.dynamic` order) with this
    /// request's variables substituted.
    fn resolve_dynamic(&self, ctx: &RequestContext<'_>) -> Vec<Resolved> {
        self.dynamic
            .iter()
            .map(|&i| resolve(&self.statements[at(i)], ctx))
            .collect()
    }

    /// Action and resource (conditions apart).
    pub fn targets(
        &self,
        st: &Statement,
        role: &RoleConfig,
        action: Action,
        ctx: &RequestContext<'_>,
    ) -> (bool, bool) {
        let action_ok = st.action_mask & action_bit(action) != 0;
        let resource_ok = if is_dynamic_statement(st) {
            dynamic_resource_matches(st, &resolve(st, ctx), role.arn.as_str())
        } else {
            static_resource_matches(st, role.arn.as_str())
        };
        (action_ok, resource_ok)
    }

    /// Evaluates one role and action for `ctx`.
    pub fn evaluate(
        &self,
        ctx: &RequestContext<'_>,
        role: &RoleConfig,
        action: Action,
    ) -> Evaluation {
        self.evaluate_bit(ctx, role, action_bit(action))
    }

    /// Whether the policy allows the administrators' `action` on `role_name` (alias or ARN):
    /// an Allow that names it in full, and no Deny (see [`AdminAction`]).
    pub fn permits(&self, ctx: &RequestContext<'_>, role_name: &str, action: AdminAction) -> bool {
        self.role(role_name).is_some_and(|role| {
            self.evaluate_bit(ctx, role, admin_bit(action)).decision == Decision::Allow
        })
    }

    /// [`Self::evaluate`] for an action's bit in the statements' masks.
    fn evaluate_bit(&self, ctx: &RequestContext<'_>, role: &RoleConfig, bit: u8) -> Evaluation {
        let Some(&r) = self.role_index.get(role.arn.as_str()) else {
            return Evaluation {
                decision: Decision::ImplicitDeny,
                allows: vec![],
                deny: None,
            };
        };
        let resolved = self.resolve_dynamic(ctx);
        let mut allows = Vec::new();
        for (i, st) in self.candidates(r, role, bit, &resolved) {
            if !st.conditions.iter().all(|c| c.holds(ctx)) {
                continue;
            }
            match st.effect {
                Effect::Deny => {
                    return Evaluation {
                        decision: Decision::ExplicitDeny,
                        allows: vec![],
                        deny: Some(i),
                    };
                }
                Effect::Allow => allows.push(i),
            }
        }
        let decision = if allows.is_empty() {
            Decision::ImplicitDeny
        } else {
            Decision::Allow
        };
        Evaluation {
            decision,
            allows,
            deny: None,
        }
    }

    /// A grant, with the session blocks of every matching Allow combined: the smallest
    /// MaxDuration wins, tags merge (a conflicting value is an error), and at most one
    /// statement may set session policies (merging them could widen access).
    pub fn authorize(
        &self,
        ctx: &RequestContext<'_>,
        role_name: &str,
        action: Action,
    ) -> Result<Grant, Denied> {
        let denied = || Denied::NotGranted(role_name.chars().take(128).collect());
        let role = self.role(role_name).ok_or_else(denied)?;
        let ev = self.evaluate(ctx, role, action);
        if ev.decision != Decision::Allow {
            return Err(denied());
        }
        let mut max_duration = role.max_duration;
        let mut tags: BTreeMap<String, (String, String)> = BTreeMap::new(); // lowercase key → (key, value)
        let mut transitive: Vec<String> = Vec::new();
        let mut policy_from: Option<&Statement> = None;
        let mut matched = String::new();
        for &i in &ev.allows {
            let st = &self.statements[at(i)];
            if !matched.is_empty() {
                matched.push(',');
            }
            matched.push_str(&self.labels[at(i)]);
            let Some(s) = &st.session else { continue };
            if let Some(d) = s.max_duration {
                max_duration = max_duration.min(d);
            }
            for (k, template) in &s.tags {
                let v = template
                    .expand(ctx)
                    .ok_or_else(|| Denied::UnresolvedVariable {
                        role: role.alias.clone(),
                        tag: k.clone(),
                        variable: template.raw.clone(),
                    })?;
                match tags.get(&k.to_lowercase()) {
                    Some((_, old)) if *old != v => {
                        return Err(Denied::ConflictingTags {
                            role: role.alias.clone(),
                            tag: k.clone(),
                        });
                    }
                    _ => {
                        tags.insert(k.to_lowercase(), (k.clone(), v));
                    }
                }
            }
            for t in &s.transitive_tag_keys {
                if !transitive.contains(t) {
                    transitive.push(t.clone());
                }
            }
            if !s.policy_arns.is_empty() || s.policy.is_some() {
                if let Some(first) = policy_from {
                    return Err(Denied::ConflictingSessionPolicies {
                        role: role.alias.clone(),
                        first: first.origin.label(),
                        second: st.origin.label(),
                    });
                }
                policy_from = Some(st);
            }
        }
        let session = policy_from.and_then(|st| st.session.as_ref());
        Ok(Grant {
            role: role.clone(),
            action,
            max_duration,
            tags: tags.into_values().collect(),
            transitive_tag_keys: transitive,
            policy_arns: session.map(|s| s.policy_arns.clone()).unwrap_or_default(),
            inline_policy: session.and_then(|s| s.policy.clone()),
            matched,
        })
    }

    /// Every role the caller may use. Conditions are evaluated once per statement.
    pub fn list(&self, ctx: &RequestContext<'_>) -> Vec<RoleSummary> {
        let mut holds: Vec<Option<bool>> = vec![None; self.statements.len()];
        let resolved = self.resolve_dynamic(ctx);
        let mut out = Vec::new();
        for (r, role) in self.roles.iter().enumerate() {
            let mut actions = Vec::new();
            let mut cap: Option<Duration> = None;
            for action in [Action::Console, Action::Credentials] {
                let mut allowed = false;
                let mut denied = false;
                let mut action_cap = role.max_duration;
                for (i, st) in self.candidates(r, role, action_bit(action), &resolved) {
                    let ok = *holds[at(i)]
                        .get_or_insert_with(|| st.conditions.iter().all(|c| c.holds(ctx)));
                    if !ok {
                        continue;
                    }
                    match st.effect {
                        Effect::Deny => denied = true,
                        Effect::Allow => {
                            allowed = true;
                            if let Some(d) = st.session.as_ref().and_then(|s| s.max_duration) {
                                action_cap = action_cap.min(d);
                            }
                        }
                    }
                    if denied {
                        break;
                    }
                }
                if allowed && !denied {
                    actions.push(action);
                    cap = Some(cap.map_or(action_cap, |c: Duration| c.max(action_cap)));
                }
            }
            if let Some(cap) = cap {
                out.push(RoleSummary {
                    alias: role.alias.clone(),
                    arn: role.arn.to_string(),
                    account: role.arn.account().to_string(),
                    account_name: role.account_name.clone(),
                    actions,
                    max_duration_seconds: cap.as_secs(),
                });
            }
        }
        out
    }
}

/// A dynamic statement's Resource patterns for one request, entry by entry; None for an entry
/// whose variable cannot be resolved.
type Resolved = Vec<Option<Vec<Tok>>>;

fn resolve(st: &Statement, ctx: &RequestContext<'_>) -> Resolved {
    st.resources.iter().map(|r| r.pattern(ctx)).collect()
}

/// Each entry is judged on its own, as IAM does: an entry whose variable cannot be resolved
/// matches nothing, and the statement's other entries still apply — so a Deny listing
/// `role/Admin` beside `role/x-${rolegate:claims/team}` still covers `role/Admin` for a user
/// without a team. In a NotResource an unresolved entry must never widen access: a Deny then
/// excludes nothing on its account (it covers more), and an Allow applies to nothing.
fn dynamic_resource_matches(st: &Statement, patterns: &Resolved, arn: &str) -> bool {
    let hit = patterns.iter().flatten().any(|p| matches(p, arn, false));
    if !st.not_resource {
        return hit;
    }
    let unresolved = patterns.iter().any(Option::is_none);
    if unresolved && st.effect == Effect::Allow {
        return false;
    }
    !hit
}

/// Resources that need the request (variables, escapes) to be matched.
fn is_dynamic_statement(st: &Statement) -> bool {
    st.resources.iter().any(|r| r.as_text().is_none())
}

fn static_resource_matches(st: &Statement, arn: &str) -> bool {
    let hit = st.resources.iter().any(|r| {
        r.as_text()
            .is_some_and(|t| t == "*" || matches(&super::pattern::compile(t), arn, false))
    });
    hit != st.not_resource
}

/// A statement index as stored in the role index (u32, half a usize) back to a slice index.
fn at(i: u32) -> usize {
    usize::try_from(i).expect("a u32 fits a usize on every target rolegate builds for")
}
