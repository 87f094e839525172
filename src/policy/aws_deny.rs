//! The engine's IAM grammar applied to a document AWS will evaluate: the Deny-only inline
//! policy a revocation writes (`aws:TokenIssueTime`, `aws:SourceIdentity`). The broker proves
//! with it that a Deny ends exactly the sessions it should before writing it — moto stores a
//! policy but does not evaluate its conditions, and AWS only would, minutes later.

use crate::policy::condition::Condition;
use crate::policy::context::ContextKey;
use crate::policy::{AwsSessionKeys, RequestContext};
use serde_json::Value;
use std::time::SystemTime;

/// IAM's evaluation of a Deny-only document for one session, through the policy engine's
/// condition operators: denied when any Deny statement's conditions all hold (a statement
/// without conditions denies outright). `Action` and `Resource` are taken as `*`: the
/// revocation module writes nothing else and refuses any other statement. A key other than
/// those two, or a value that is not a string, makes its condition false.
pub fn denies(document: &Value, issued: SystemTime, source_identity: &str) -> bool {
    // AWS's evaluation knows no broker identity: the conditions read only the session's keys.
    let identity = crate::domain::Identity::new(
        crate::domain::IdpId::parse("aws").expect("a valid IdP id"),
        "aws-session",
    );
    let ctx = RequestContext {
        identity: &identity,
        client: crate::domain::ClientKind::Api,
        source_ip: None,
        now: issued,
        aws_session: Some(AwsSessionKeys {
            token_issue_time: issued,
            source_identity,
        }),
    };
    let Some(statements) = document.get("Statement").and_then(Value::as_array) else {
        return false;
    };
    statements.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Deny")
            && s.get("Condition")
                .map_or(Some(&serde_json::Map::new()), Value::as_object)
                .is_some_and(|blocks| {
                    blocks.iter().all(|(operator, block)| {
                        block.as_object().is_some_and(|keys| {
                            keys.iter().all(|(key, values)| {
                                holds(operator, key, values, &ctx).unwrap_or(false)
                            })
                        })
                    })
                })
    })
}

fn holds(operator: &str, key: &str, values: &Value, ctx: &RequestContext<'_>) -> Option<bool> {
    let key = ContextKey::parse_aws_session(key)?;
    let values: Vec<String> = match values {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    Some(
        Condition::parse_keyed(operator, key, &values)
            .ok()?
            .holds(ctx),
    )
}
