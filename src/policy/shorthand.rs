//! The `[[map]]` shorthand — "members of these groups at this IdP may use these roles" —
//! compiled into ordinary policy statements, so both forms are evaluated (and explained, and
//! linted) by the same engine.

use super::condition::{Condition, ConditionError};
use super::document::{Effect, Origin, SessionBlock, Statement};
use super::pattern::{Template, TemplateError};
use crate::config::{MapRule, RoleConfig};

/// Stands in for a file name in explanations and lint: the rule came from the config's `[[map]]`.
pub(crate) const ORIGIN_FILE: &str = "[[map]]";

/// A `[[map]]` rule that does not compile, named by its index.
#[derive(Debug, thiserror::Error)]
#[error("map[{index}]: {problem}")]
pub struct MapRuleError {
    index: usize,
    problem: MapRuleProblem,
}

/// What is wrong with a `[[map]]` rule.
#[derive(Debug, thiserror::Error)]
enum MapRuleProblem {
    /// A role alias no `[[role]]` has.
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    /// A role ARN that is not a valid template.
    #[error(transparent)]
    Arn(TemplateError),
    /// The idp/groups conditions.
    #[error(transparent)]
    Condition(ConditionError),
    /// A session tag's value.
    #[error("tags.{key}: {source}")]
    Tag { key: String, source: TemplateError },
}

pub(crate) fn compile(
    rules: &[MapRule],
    roles: &[RoleConfig],
) -> Result<Vec<Statement>, MapRuleError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| statement(i, rule, roles))
        .collect()
}

fn statement(i: usize, rule: &MapRule, roles: &[RoleConfig]) -> Result<Statement, MapRuleError> {
    let at = |problem| MapRuleError { index: i, problem };
    let resources = rule
        .roles
        .iter()
        .map(|alias| {
            let role = roles
                .iter()
                .find(|r| &r.alias == alias)
                .ok_or_else(|| at(MapRuleProblem::UnknownRole(alias.clone())))?;
            // A role ARN holds no `${`, `*` or `?`: it is matched literally.
            Template::parse(role.arn.as_str()).map_err(|e| at(MapRuleProblem::Arn(e)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let conditions = vec![
        Condition::parse("StringEquals", "rolegate:idp", &[rule.idp.to_string()])
            .map_err(|e| at(MapRuleProblem::Condition(e)))?,
        Condition::parse("ForAnyValue:StringEquals", "rolegate:groups", &rule.groups)
            .map_err(|e| at(MapRuleProblem::Condition(e)))?,
    ];
    let mut tags = Vec::new();
    for (k, v) in &rule.tags {
        tags.push((
            k.clone(),
            Template::parse(v).map_err(|source| {
                at(MapRuleProblem::Tag {
                    key: k.clone(),
                    source,
                })
            })?,
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
        admin_by_pattern_only: false,
        resources,
        not_resource: false,
        conditions,
        session: Some(session),
    })
}
