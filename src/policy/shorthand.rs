//! The `[[map]]` shorthand — "members of these groups at this IdP may use these roles" —
//! compiled into ordinary policy statements, so both forms are evaluated (and explained, and
//! linted) by the same engine.

use super::condition::Condition;
use super::document::{Effect, Origin, SessionBlock, Statement};
use super::pattern::Template;
use crate::config::{MapRule, RoleConfig};

/// Stands in for a file name in explanations and lint: the rule came from the config's `[[map]]`.
pub(crate) const ORIGIN_FILE: &str = "[[map]]";

pub(crate) fn compile(rules: &[MapRule], roles: &[RoleConfig]) -> Result<Vec<Statement>, String> {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| statement(i, rule, roles))
        .collect()
}

fn statement(i: usize, rule: &MapRule, roles: &[RoleConfig]) -> Result<Statement, String> {
    let at = |e: String| format!("map[{i}]: {e}");
    let resources = rule
        .roles
        .iter()
        .map(|alias| {
            let role = roles
                .iter()
                .find(|r| &r.alias == alias)
                .ok_or_else(|| at(format!("unknown role `{alias}`")))?;
            // A role ARN holds no `${`, `*` or `?`: it is matched literally.
            Template::parse(role.arn.as_str()).map_err(at)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let conditions = vec![
        Condition::parse("StringEquals", "rolegate:idp", &[rule.idp.to_string()]).map_err(at)?,
        Condition::parse("ForAnyValue:StringEquals", "rolegate:groups", &rule.groups)
            .map_err(at)?,
    ];
    let mut tags = Vec::new();
    for (k, v) in &rule.tags {
        tags.push((
            k.clone(),
            Template::parse(v).map_err(|e| at(format!("tags.{k}: {e}")))?,
        ));
    }
    let session = SessionBlock {
        max_duration: rule.max_duration,
        tags,
        transitive_tag_keys: rule.transitive_tag_keys.clone(),
        policy_arns: vec![],
        policy: None,
    };
    Ok(Statement {
        origin: Origin {
            file: ORIGIN_FILE.into(),
            index: i,
            sid: Some(format!("map{i}")),
        },
        effect: Effect::Allow,
        action_mask: 3,
        resources,
        not_resource: false,
        conditions,
        session: Some(session),
    })
}
