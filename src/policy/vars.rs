//! Policy variables in templated values: `${rolegate:username}`, `${rolegate:claims/dept, 'none'}`
//! (IAM's `${key, 'default'}` form). Substituted values are literal text: a `*` inside a claim
//! never becomes a wildcard, because substitution happens after any pattern is compiled.

use crate::domain::Identity;

/// The value of one variable for this identity, if it has one.
pub fn lookup(identity: &Identity, key: &str) -> Option<String> {
    let key = key.trim();
    let (ns, name) = key.split_once(':')?;
    if !ns.eq_ignore_ascii_case("rolegate") {
        return None;
    }
    if let Some(claim) = name.strip_prefix("claims/") {
        return match identity.claims.get(claim)? {
            serde_json::Value::String(s) => Some(s.clone()),
            v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => Some(v.to_string()),
            _ => None,
        };
    }
    match name.to_ascii_lowercase().as_str() {
        "idp" => Some(identity.idp.to_string()),
        "sub" => Some(identity.subject.clone()),
        "email" => identity.verified_email().map(str::to_string),
        "username" => identity.username.clone(),
        _ => None,
    }
}

/// Replaces every `${…}`. Err(variable) names the first variable with neither a value nor a
/// default. An unterminated `${` is kept as text.
pub fn substitute(template: &str, identity: &Identity) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = &after[..end];
        let (key, default) = match inner.split_once(',') {
            Some((k, d)) => (k, Some(d.trim().trim_matches('\'').to_string())),
            None => (inner, None),
        };
        match lookup(identity, key).or(default) {
            Some(v) => out.push_str(&v),
            None => return Err(key.trim().to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IdpId;

    fn alice() -> Identity {
        Identity {
            idp: IdpId::parse("corp").unwrap(),
            subject: "u1".into(),
            email: Some("a@x".into()),
            email_verified: false,
            username: Some("alice".into()),
            groups: vec![],
            claims: [("dept".to_string(), serde_json::json!("eng*"))]
                .into_iter()
                .collect(),
            mfa: false,
            auth_time: None,
            aud: vec![],
            azp: None,
        }
    }

    #[test]
    fn substitutes_with_defaults_and_literal_values() {
        let a = alice();
        assert_eq!(
            substitute("${rolegate:username}-${rolegate:claims/dept}", &a).unwrap(),
            "alice-eng*"
        );
        assert_eq!(
            substitute("${rolegate:claims/team, 'none'}", &a).unwrap(),
            "none"
        );
        // unverified email is not a value
        assert_eq!(
            substitute("${rolegate:email}", &a).unwrap_err(),
            "rolegate:email"
        );
        assert_eq!(substitute("x${y", &a).unwrap(), "x${y");
    }
}
