//! Policy documents: IAM's JSON grammar, parsed strictly. Anything IAM would reject, or that
//! rolegate cannot honour, is an error naming the file and JSON path — a typo in a Deny must
//! never load as a statement that silently matches nothing.

use super::condition::Condition;
use super::pattern::{Template, Tok, compile, matches};
use super::{Action, AdminAction};
use serde_json::{Map, Value};
use std::time::Duration;

/// Where a statement came from, for explanations, lint and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file (or `[[map]]`) it was read from.
    pub file: String,
    /// Its index in the file's `Statement` array.
    pub index: usize,
    /// Its `Sid`, when it has one.
    pub sid: Option<String>,
}

impl Origin {
    /// `file#Sid`, or `file#Statement[i]`: how explanations and the audit log name it.
    pub fn label(&self) -> String {
        match &self.sid {
            Some(sid) => format!("{}#{sid}", self.file),
            None => format!("{}#Statement[{}]", self.file, self.index),
        }
    }
}

/// A statement's `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Effect {
    /// Grants, unless a Deny also matches.
    Allow,
    /// Refuses, whatever else matches.
    Deny,
}

/// A statement's `rolegate:Session` block: limits on the sessions it grants.
#[derive(Debug, Clone, Default)]
pub struct SessionBlock {
    /// A session cap below the role's.
    pub max_duration: Option<Duration>,
    /// Session tags, their values templates over the identity (`${rolegate:username}`).
    pub tags: Vec<(String, Template)>,
    /// Which of `tags` carry over to chained sessions.
    pub transitive_tag_keys: Vec<String>,
    /// Managed session policies, by ARN.
    pub policy_arns: Vec<String>,
    /// An inline session policy (JSON text).
    pub policy: Option<String>,
}

/// One parsed policy statement, as the engine evaluates it.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Where it came from.
    pub origin: Origin,
    /// Allow or Deny.
    pub effect: Effect,
    /// Bit 0: rolegate:Console, bit 1: rolegate:Credentials, bit 2: rolegate:ListSessions,
    /// bit 3: rolegate:RevokeSessions — after NotAction is applied (see [`ADMIN_ACTIONS`]).
    pub(crate) action_mask: u8,
    /// An Allow whose wildcard or `NotAction` reaches the administrators' actions by pattern
    /// only, which grants them nothing: `rolegate policy lint` says so.
    pub(crate) admin_by_pattern_only: bool,
    /// The role ARN patterns of `Resource` (or `NotResource`).
    pub resources: Vec<Template>,
    pub(crate) not_resource: bool,
    /// Every condition must hold for the statement to apply.
    pub conditions: Vec<Condition>,
    /// Session limits, for Allow statements.
    pub session: Option<SessionBlock>,
}

/// The action names a policy may use, and what each means.
pub const ACTIONS: [(Action, &str); 2] = [
    (Action::Console, "rolegate:console"),
    (Action::Credentials, "rolegate:credentials"),
];

pub(crate) fn action_bit(a: Action) -> u8 {
    match a {
        Action::Console => 1,
        Action::Credentials => 2,
    }
}

/// The administrators' actions: an Allow grants one only by naming it in full (see
/// [`AdminAction`]).
pub const ADMIN_ACTIONS: [(AdminAction, &str); 2] = [
    (AdminAction::ListSessions, "rolegate:listsessions"),
    (AdminAction::RevokeSessions, "rolegate:revokesessions"),
];

pub(crate) fn admin_bit(a: AdminAction) -> u8 {
    match a {
        AdminAction::ListSessions => 4,
        AdminAction::RevokeSessions => 8,
    }
}

/// The bits `name` (a policy's action string) sets in a statement of `effect`: the access
/// actions it matches, wildcards included; an administrators' action only when named in full,
/// unless the statement is a Deny, whose wildcards cover them too.
fn action_hits(name: &str, effect: Effect) -> u8 {
    let lower = name.to_lowercase();
    let pat: Vec<Tok> = compile(&lower);
    let access: u8 = ACTIONS
        .iter()
        .filter(|(_, n)| matches(&pat, n, false))
        .map(|(act, _)| action_bit(*act))
        .sum();
    let admin: u8 = ADMIN_ACTIONS
        .iter()
        .filter(|(_, n)| *n == lower || (effect == Effect::Deny && matches(&pat, n, false)))
        .map(|(act, _)| admin_bit(*act))
        .sum();
    access | admin
}

/// Why a policy document was refused, naming the file and JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file.
    pub file: String,
    /// JSON path inside the document, e.g. `Statement[1].Condition.StringEquals`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Policy files larger than this are refused.
pub(crate) const MAX_POLICY_BYTES: usize = 1 << 20;

/// Parses one policy document (`file` names it in errors); every statement or none.
pub fn parse_document(file: &str, text: &str) -> Result<Vec<Statement>, ParseError> {
    let err = |path: &str, message: String| ParseError {
        file: file.to_string(),
        path: path.to_string(),
        message,
    };
    if text.len() > MAX_POLICY_BYTES {
        return Err(err("$", format!("larger than {MAX_POLICY_BYTES} bytes")));
    }
    // Duplicate keys are refused: serde_json would keep the last `Statement` or `Condition`
    // and silently drop a Deny written in the first.
    let doc = crate::strict_json::parse(text).map_err(|e| err(&e.path, e.message))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| err("$", "a policy document is a JSON object".into()))?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
            return Err(err(
                k,
                "unknown top-level element (expected Version, Id, Statement)".into(),
            ));
        }
    }
    // Policy variables exist only in version 2012-10-17; older documents treat `${…}` as text.
    if obj.get("Version").and_then(Value::as_str) != Some("2012-10-17") {
        return Err(err("Version", "must be \"2012-10-17\"".into()));
    }
    let list: Vec<&Value> = match obj.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => {
            return Err(err(
                "Statement",
                "must be an object or a list of objects".into(),
            ));
        }
    };
    let mut out: Vec<Statement> = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let base = format!("Statement[{i}]");
        let st = statement(file, i, v).map_err(|(p, m)| err(&format!("{base}{p}"), m))?;
        if let Some(sid) = &st.origin.sid
            && out.iter().any(|o| o.origin.sid.as_deref() == Some(sid))
        {
            return Err(err(
                &format!("{base}.Sid"),
                format!("Sid `{sid}` is used twice in this document"),
            ));
        }
        out.push(st);
    }
    Ok(out)
}

type StResult<T> = Result<T, (String, String)>;

fn at<T>(path: &str, message: impl Into<String>) -> StResult<T> {
    Err((path.to_string(), message.into()))
}

fn statement(file: &str, index: usize, v: &Value) -> StResult<Statement> {
    let Some(o) = v.as_object() else {
        return at("", "a statement is a JSON object");
    };
    for k in o.keys() {
        match k.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
            | "Condition" | "Session" => {}
            "Principal" | "NotPrincipal" => {
                return at(
                    &format!(".{k}"),
                    "rolegate policies have no Principal: the identity is the principal",
                );
            }
            _ => return at(&format!(".{k}"), "unknown statement element"),
        }
    }
    let sid = match o.get("Sid") {
        None => None,
        Some(Value::String(s)) if s.chars().all(|c| c.is_ascii_alphanumeric()) => Some(s.clone()),
        Some(_) => return at(".Sid", "a Sid is a string of letters and digits"),
    };
    let effect = match o.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return at(".Effect", "must be \"Allow\" or \"Deny\""),
    };
    let (action_key, not_action) = one_of(o, "Action", "NotAction")?;
    let mut mask = 0u8;
    let mut admin_by_pattern = not_action && effect == Effect::Allow;
    for (j, a) in strings(&o[action_key], &format!(".{action_key}"))?
        .iter()
        .enumerate()
    {
        // NotAction's names exclude: there a Deny's wildcard may name what it leaves out.
        let hits = action_hits(a, if not_action { Effect::Deny } else { effect });
        if hits == 0 {
            return at(
                &format!(".{action_key}[{j}]"),
                format!(
                    "`{a}` names no rolegate action (rolegate:Console, rolegate:Credentials, \
                     rolegate:*; rolegate:ListSessions and rolegate:RevokeSessions only in full)"
                ),
            );
        }
        mask |= hits;
        admin_by_pattern |=
            effect == Effect::Allow && action_hits(a, Effect::Deny) & 12 != hits & 12;
    }
    if not_action {
        // What NotAction leaves: for an Allow the access actions only, for a Deny everything.
        let all = if effect == Effect::Deny { 15 } else { 3 };
        mask = !mask & all;
    }
    let (resource_key, not_resource) = one_of(o, "Resource", "NotResource")?;
    let mut resources = Vec::new();
    for (j, r) in strings(&o[resource_key], &format!(".{resource_key}"))?
        .iter()
        .enumerate()
    {
        let t =
            Template::parse(r).or_else(|e| at(&format!(".{resource_key}[{j}]"), e.to_string()))?;
        if r != "*" && !r.starts_with("arn:") {
            return at(
                &format!(".{resource_key}[{j}]"),
                format!("`{r}` is neither `*` nor an IAM role ARN pattern"),
            );
        }
        resources.push(t);
    }
    let conditions = match o.get("Condition") {
        None => Vec::new(),
        Some(c) => conditions(c)?,
    };
    let session = match o.get("Session") {
        None => None,
        Some(_) if effect == Effect::Deny => {
            return at(".Session", "a Session block belongs on Allow statements");
        }
        Some(s) => Some(session(s)?),
    };
    Ok(Statement {
        origin: Origin {
            file: file.to_string(),
            index,
            sid,
        },
        effect,
        action_mask: mask,
        admin_by_pattern_only: admin_by_pattern && mask & 12 == 0,
        resources,
        not_resource,
        conditions,
        session,
    })
}

fn one_of<'a>(o: &Map<String, Value>, a: &'a str, not_a: &'a str) -> StResult<(&'a str, bool)> {
    match (o.contains_key(a), o.contains_key(not_a)) {
        (true, false) => Ok((a, false)),
        (false, true) => Ok((not_a, true)),
        (true, true) => at(&format!(".{a}"), format!("give {a} or {not_a}, not both")),
        (false, false) => at(
            &format!(".{a}"),
            format!("a statement needs {a} or {not_a}"),
        ),
    }
}

/// A string or a non-empty list of strings.
fn strings(v: &Value, path: &str) -> StResult<Vec<String>> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| (format!("{path}[{i}]"), "must be a string".to_string()))
            })
            .collect(),
        _ => at(path, "must be a string or a non-empty list of strings"),
    }
}

/// Condition values may be strings, numbers or booleans (IAM accepts all three).
fn scalars(v: &Value, path: &str) -> StResult<Vec<String>> {
    let one = |x: &Value| match x {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                one(x).ok_or_else(|| {
                    (
                        format!("{path}[{i}]"),
                        "must be a string, number or boolean".to_string(),
                    )
                })
            })
            .collect(),
        x => one(x).map(|s| vec![s]).ok_or_else(|| {
            (
                path.to_string(),
                "must be a string, number, boolean or a list of them".to_string(),
            )
        }),
    }
}

fn conditions(v: &Value) -> StResult<Vec<Condition>> {
    let Some(ops) = v.as_object() else {
        return at(".Condition", "must be an object of operators");
    };
    let mut out = Vec::new();
    for (op, block) in ops {
        let path = format!(".Condition.{op}");
        let Some(keys) = block.as_object() else {
            return at(&path, "must be an object of condition keys");
        };
        if keys.is_empty() {
            return at(&path, "names no condition key");
        }
        for (key, values) in keys {
            let kpath = format!("{path}.{key}");
            let vals = scalars(values, &kpath)?;
            out.push(Condition::parse(op, key, &vals).or_else(|e| at(&kpath, e.to_string()))?);
        }
    }
    Ok(out)
}

fn session(v: &Value) -> StResult<SessionBlock> {
    let Some(o) = v.as_object() else {
        return at(".Session", "must be an object");
    };
    let mut s = SessionBlock::default();
    for (k, val) in o {
        let path = format!(".Session.{k}");
        match k.as_str() {
            "MaxDuration" => {
                let d = match val {
                    Value::Number(n) => n.as_u64().map(Duration::from_secs),
                    Value::String(t) => humantime::parse_duration(t).ok(),
                    _ => None,
                };
                match d {
                    Some(d) if (900..=43_200).contains(&d.as_secs()) => s.max_duration = Some(d),
                    _ => {
                        return at(
                            &path,
                            "a duration between 900 and 43200 seconds (\"1h\" or 3600)",
                        );
                    }
                }
            }
            "Tags" => {
                let Some(tags) = val.as_object() else {
                    return at(&path, "must be an object of tag keys to values");
                };
                for (tk, tv) in tags {
                    let Some(tv) = tv.as_str() else {
                        return at(&format!("{path}.{tk}"), "a tag value is a string");
                    };
                    let t = Template::parse(tv)
                        .or_else(|e| at(&format!("{path}.{tk}"), e.to_string()))?;
                    s.tags.push((tk.clone(), t));
                }
            }
            "TransitiveTagKeys" => {
                s.transitive_tag_keys = strings(val, &path)?;
                for t in &s.transitive_tag_keys {
                    if !o
                        .get("Tags")
                        .and_then(Value::as_object)
                        .is_some_and(|m| m.contains_key(t))
                    {
                        return at(&path, format!("`{t}` is not one of this block's Tags"));
                    }
                }
            }
            "PolicyArns" => {
                s.policy_arns = strings(val, &path)?;
                if let Some(bad) = s.policy_arns.iter().find(|a| !a.starts_with("arn:")) {
                    return at(&path, format!("`{bad}` is not a managed policy ARN"));
                }
            }
            "Policy" => {
                let text = match val {
                    Value::Object(_) => val.to_string(),
                    // Parsed strictly too: the text goes to STS re-serialised from this value,
                    // so a duplicate key would lose its first statement on the way.
                    Value::String(t) => crate::strict_json::parse(t)
                        .map(|v| v.to_string())
                        .or_else(|e| at(&format!("{path}:{}", e.path), e.message))?,
                    _ => return at(&path, "an inline session policy (JSON object)"),
                };
                s.policy = Some(text);
            }
            _ => {
                return at(
                    &path,
                    "unknown Session element (MaxDuration, Tags, TransitiveTagKeys, PolicyArns, Policy)",
                );
            }
        }
    }
    Ok(s)
}
