//! "Why can't I see role X?": the decision for one identity, role and action, with every
//! statement considered and, for each that did not match, the first thing that failed.

use super::document::{Effect, Statement};
use super::engine::{Decision, Engine};
use super::{Action, RequestContext};
use crate::config::RoleConfig;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub decision: Decision,
    pub role: String,
    pub action: Action,
    pub statements: Vec<StatementResult>,
}

#[derive(Debug, Serialize)]
pub struct StatementResult {
    pub source: String,
    pub file: String,
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    pub matched: bool,
    /// For a statement that did not match: the first failing part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

pub fn explain(
    engine: &Engine,
    ctx: &RequestContext<'_>,
    role: &RoleConfig,
    action: Action,
) -> Explanation {
    let decision = engine.evaluate(ctx, role, action).decision;
    let statements = engine
        .statements()
        .iter()
        .map(|st| {
            let failed = first_failure(engine, st, ctx, role, action);
            StatementResult {
                source: st.origin.label(),
                file: st.origin.file.clone(),
                index: st.origin.index,
                sid: st.origin.sid.clone(),
                effect: st.effect,
                matched: failed.is_none(),
                failed,
            }
        })
        .collect();
    Explanation {
        decision,
        role: role.arn.to_string(),
        action,
        statements,
    }
}

fn first_failure(
    engine: &Engine,
    st: &Statement,
    ctx: &RequestContext<'_>,
    role: &RoleConfig,
    action: Action,
) -> Option<String> {
    let (action_ok, resource_ok) = engine.targets(st, role, action, ctx);
    let action_name = match action {
        Action::Console => "rolegate:Console",
        Action::Credentials => "rolegate:Credentials",
    };
    if !action_ok {
        return Some(format!(
            "action {action_name} is not covered by this statement"
        ));
    }
    if !resource_ok {
        return Some(format!(
            "resource {} is not covered by this statement",
            role.arn
        ));
    }
    let c = st.conditions.iter().find(|c| !c.holds(ctx))?;
    let wanted: Vec<&str> = c.values.iter().map(|v| v.template.raw.as_str()).collect();
    let has: Vec<String> = c.request_values(ctx).iter().map(str::to_string).collect();
    let has = if has.is_empty() {
        "no value".to_string()
    } else {
        format!("{has:?}")
    };
    Some(format!(
        "condition {} on {} failed: the request has {has}, the policy wants {wanted:?}",
        c.operator, c.key
    ))
}
