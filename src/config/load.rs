//! From text to `RawConfig`: parse TOML, apply `ROLEGATE_<SECTION>__<KEY>` overrides, then
//! deserialize while tracking the key path, so every error names what to fix (`idp[1].issuer`).

use super::ConfigError;
use super::raw::RawConfig;
use toml::{Table, Value};

pub(super) const ENV_PREFIX: &str = "ROLEGATE_";

pub(super) fn parse(text: &str, source: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| {
        // Point at line:column, as an editor would.
        let at = e.span().map_or(String::new(), |s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!(":{line}:{col}")
        });
        ConfigError {
            path: format!("{source}{at}"),
            message: format!("not valid TOML: {}", e.message()),
        }
    })
}

/// Applies every `ROLEGATE_A__B__C=value` from `vars`. A single `_` stays inside a key name
/// (`DEFAULT_DURATION`); `__` separates levels; a number selects an element of an array of
/// tables (`ROLEGATE_IDP__0__CLIENT_ID`). Variables without `__` (such as `ROLEGATE_BROKER`,
/// read by the CLI) are not overrides.
pub(super) fn apply_env_overrides(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        set_path(table, &path, &raw).map_err(|e| ConfigError {
            path: format!("{name} (environment)"),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// Why an override variable names no place in the file (the message of its `ConfigError`).
#[derive(Debug, thiserror::Error)]
enum BadOverride {
    #[error("empty key")]
    EmptyKey,
    #[error("`{0}` indexes an array the file does not have")]
    NoArray(String),
    #[error("`{0}` is an array: add an index, e.g. {0}__0")]
    NoIndex(String),
    #[error("index {index} of `{seg}` is out of range (the file has {len})")]
    OutOfRange {
        seg: String,
        index: usize,
        len: usize,
    },
    #[error("`{0}` is not a table")]
    NotTable(String),
}

fn set_path(table: &mut Table, path: &[String], raw: &str) -> Result<(), BadOverride> {
    let (last, parents) = path.split_last().ok_or(BadOverride::EmptyKey)?;
    let mut cur: &mut Table = table;
    let mut segs = parents.iter();
    while let Some(seg) = segs.next() {
        if seg.parse::<usize>().is_ok() {
            return Err(BadOverride::NoArray(seg.clone()));
        }
        let next = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        cur = match next {
            Value::Table(t) => t,
            Value::Array(a) => {
                let len = a.len();
                let i: usize = segs
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| BadOverride::NoIndex(seg.clone()))?;
                a.get_mut(i).and_then(Value::as_table_mut).ok_or_else(|| {
                    BadOverride::OutOfRange {
                        seg: seg.clone(),
                        index: i,
                        len,
                    }
                })?
            }
            _ => return Err(BadOverride::NotTable(seg.clone())),
        };
    }
    let v = env_value(raw, cur.get(last));
    cur.insert(last.clone(), v);
    Ok(())
}

/// The type of the value being replaced wins; otherwise booleans, numbers, arrays and inline
/// tables are read as TOML and anything else is a string (so `127.0.0.1:8080` needs no quotes,
/// and a numeric client id stays a string). Numeric settings accept strings of digits.
fn env_value(raw: &str, existing: Option<&Value>) -> Value {
    let as_toml = || {
        format!("v = {raw}")
            .parse::<Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
    };
    match existing {
        Some(Value::String(_)) => Value::String(raw.to_string()),
        Some(_) => as_toml().unwrap_or_else(|| Value::String(raw.to_string())),
        None => match as_toml() {
            Some(v @ (Value::Boolean(_) | Value::Array(_) | Value::Table(_))) => v,
            _ => Value::String(raw.to_string()),
        },
    }
}

pub(super) fn deserialize(table: Table) -> Result<RawConfig, ConfigError> {
    let tags = Tags::of(&table);
    let value = Value::Table(table);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        // toml appends its own location on a second line; the path above says it better.
        let message = e
            .into_inner()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let (path, message) = tags.locate(path, message);
        ConfigError {
            path: if path == "." {
                "(top level)".into()
            } else {
                path
            },
            message,
        }
    })
}

/// The tags of the sections that are serde enums (`[[idp]] kind`, `[store] backend`).
/// serde buffers a tagged section before choosing its variant, so its errors stop at the
/// section (`idp[0]`); these put the key back into the path and say which kind refused it.
struct Tags {
    idp_kinds: Vec<Option<String>>,
}

impl Tags {
    fn of(table: &Table) -> Tags {
        let idp_kinds = table
            .get("idp")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|t| t.get("kind").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Tags { idp_kinds }
    }

    fn locate(&self, path: String, message: String) -> (String, String) {
        let (tag, what) = if path == "store" {
            ("backend", "backend".to_string())
        } else if let Some(i) = path
            .strip_prefix("idp[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<usize>().ok())
        {
            let kind = self.idp_kinds.get(i).cloned().flatten();
            ("kind", format!("kind = \"{}\"", kind.unwrap_or_default()))
        } else {
            return (path, message);
        };
        if let Some(rest) = message.strip_prefix("unknown field `")
            && let Some((field, expected)) = rest.split_once('`')
        {
            return (
                format!("{path}.{field}"),
                format!(
                    "unknown field `{field}` for {what} (each takes only its own keys){expected}"
                ),
            );
        }
        if message.starts_with(&format!("missing field `{tag}`")) {
            let choices = if tag == "kind" {
                "\"oidc\" or \"saml\""
            } else {
                "\"memory\", \"redis\" or \"redis_cluster\""
            };
            return (
                format!("{path}.{tag}"),
                format!("missing: say which {tag} this section configures ({choices})"),
            );
        }
        if message.starts_with("unknown variant") {
            return (format!("{path}.{tag}"), message);
        }
        (path, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn overrides_nested_and_indexed_keys() {
        let mut t = parse(
            "[server]\nlisten = \"x\"\n[[idp]]\nid = \"a\"\nkind = \"oidc\"\n",
            "f",
        )
        .unwrap();
        apply_env_overrides(
            &mut t,
            vars(&[
                ("ROLEGATE_SERVER__LISTEN", "127.0.0.1:9"),
                ("ROLEGATE_IDP__0__CLIENT_ID", "1234"),
                ("ROLEGATE_AWS__PARTITIONS__AWS__STS_ENDPOINT", "http://h:1"),
                ("ROLEGATE_LIMITS__CREDENTIALS_PER_MINUTE", "5"),
                ("ROLEGATE_BROKER", "ignored"),
            ]),
        )
        .unwrap();
        let raw = deserialize(t).unwrap();
        assert_eq!(raw.server.listen.as_deref(), Some("127.0.0.1:9"));
        let super::super::raw::RawIdp::Oidc(idp) = &raw.idp[0] else {
            panic!("an oidc IdP")
        };
        assert_eq!(idp.client_id.as_deref(), Some("1234"));
        assert_eq!(
            raw.aws.partitions["aws"].sts_endpoint.as_deref(),
            Some("http://h:1")
        );
        assert_eq!(raw.limits.credentials_per_minute, Some(5));
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let t = parse("[[idp]]\nid = \"a\"\nkind = \"oidc\"\nalow = true\n", "f").unwrap();
        let e = deserialize(t).unwrap_err();
        assert_eq!(e.path, "idp[0].alow");
        assert!(e.message.contains("unknown field `alow`"), "{}", e.message);
        let mut t = parse("", "f").unwrap();
        let e = apply_env_overrides(&mut t, vars(&[("ROLEGATE_IDP__3__ID", "x")])).unwrap_err();
        assert!(e.path.contains("ROLEGATE_IDP__3__ID"));
    }
}
