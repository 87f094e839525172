//! The `[[map]]` shorthand: "members of these groups at this IdP may use these roles".
//! Every rule grants both actions; the role's `max_duration` and the rule's cap apply.

use super::{Action, Denied, Grant, Mapper, RequestContext, RoleSummary, vars};
use crate::config::{Config, MapRule, RoleConfig};
use std::collections::BTreeMap;

pub struct ShorthandMapper {
    roles: Vec<RoleConfig>,
    rules: Vec<MapRule>,
}

impl ShorthandMapper {
    pub fn new(config: &Config) -> Self {
        ShorthandMapper {
            roles: config.roles.clone(),
            rules: config.maps.clone(),
        }
    }

    fn matching<'a>(
        &'a self,
        ctx: &'a RequestContext<'_>,
        alias: &'a str,
    ) -> impl Iterator<Item = (usize, &'a MapRule)> + 'a {
        self.rules.iter().enumerate().filter(move |(_, r)| {
            r.idp == ctx.identity.idp
                && r.groups.iter().any(|g| ctx.identity.groups.contains(g))
                && r.roles.iter().any(|x| x == alias)
        })
    }
}

impl Mapper for ShorthandMapper {
    fn roles(&self, ctx: &RequestContext<'_>) -> Vec<RoleSummary> {
        self.roles
            .iter()
            .filter_map(|role| {
                let cap = self
                    .matching(ctx, &role.alias)
                    .map(|(_, r)| r.max_duration.unwrap_or(role.max_duration))
                    .min()?;
                Some(RoleSummary {
                    alias: role.alias.clone(),
                    arn: role.arn.to_string(),
                    account: role.arn.account().to_string(),
                    account_name: role.account_name.clone(),
                    actions: vec![Action::Console, Action::Credentials],
                    max_duration_seconds: cap.min(role.max_duration).as_secs(),
                })
            })
            .collect()
    }

    fn authorize(
        &self,
        ctx: &RequestContext<'_>,
        role: &str,
        action: Action,
    ) -> Result<Grant, Denied> {
        let denied = || Denied::NotGranted(role.chars().take(128).collect());
        let cfg = self
            .roles
            .iter()
            .find(|r| r.alias == role || r.arn.as_str() == role)
            .ok_or_else(denied)?;
        let rules: Vec<(usize, &MapRule)> = self.matching(ctx, &cfg.alias).collect();
        if rules.is_empty() {
            return Err(denied());
        }
        // Several rules may grant the same role: the strictest duration wins, tags merge and a
        // conflicting value is an error (silently picking one could mislabel the session).
        let mut max_duration = cfg.max_duration;
        let mut tags: BTreeMap<String, String> = BTreeMap::new();
        let mut transitive: Vec<String> = Vec::new();
        for (_, rule) in &rules {
            if let Some(d) = rule.max_duration {
                max_duration = max_duration.min(d);
            }
            for (k, template) in &rule.tags {
                let v = vars::substitute(template, ctx.identity).map_err(|variable| {
                    Denied::UnresolvedVariable {
                        role: cfg.alias.clone(),
                        tag: k.clone(),
                        variable,
                    }
                })?;
                if tags.get(k).is_some_and(|old| *old != v) {
                    return Err(Denied::ConflictingTags {
                        role: cfg.alias.clone(),
                        tag: k.clone(),
                    });
                }
                tags.insert(k.clone(), v);
            }
            for k in &rule.transitive_tag_keys {
                if !transitive.contains(k) {
                    transitive.push(k.clone());
                }
            }
        }
        let matched = rules
            .iter()
            .map(|(i, _)| format!("map[{i}]"))
            .collect::<Vec<_>>()
            .join(",");
        Ok(Grant {
            role: cfg.clone(),
            action,
            max_duration,
            tags: tags.into_iter().collect(),
            transitive_tag_keys: transitive,
            policy_arns: vec![],
            inline_policy: None,
            matched,
        })
    }
}
