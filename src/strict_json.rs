//! JSON for documents the broker trusts (policy files, inline session policies, the identity
//! a `policy explain` reads), parsed with duplicate keys refused.
//!
//! RFC 8259 §4 leaves duplicate names undefined, and `serde_json::Value` keeps the last one:
//! a policy with two `"Statement"` keys loads without the first, so a Deny written there
//! vanishes while `config check` says OK. Parsers disagree on which duplicate wins (IAM,
//! Python and serde_json each pick differently), so the only safe reading is none: the
//! document is refused, and the error names the key path (`Statement[0].Condition`).
//! Keys are compared after unescaping, so `"Statemen\u0074"` is the same key as `"Statement"`.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// Why a document was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    /// `$` for the whole document, else a path such as `Statement[0].Condition`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Parses `text` as one JSON value, refusing any object that names a key twice.
pub(crate) fn parse(text: &str) -> Result<Value, JsonError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let result = StrictValue {
        at: Path::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (result, duplicate.into_inner()) {
        (_, Some(dup)) => Err(dup),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(JsonError {
            path: "$".into(),
            message: format!("not JSON: {e}"),
        }),
    }
}

/// [`parse`] for a JSON object (a JWT's claims, say), from bytes that must be UTF-8.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|_| JsonError {
        path: "$".into(),
        message: "not UTF-8".into(),
    })?;
    match parse(text)? {
        Value::Object(m) => Ok(m),
        _ => Err(JsonError {
            path: "$".into(),
            message: "not a JSON object".into(),
        }),
    }
}

/// Where a value sits, as a chain of borrowed segments: rendered only for an error, so a
/// document that parses costs no path strings.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => f.write_str(k),
            Path::Key(parent, k) => write!(f, "{parent}.{k}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A `Value` built while remembering where it is, so a duplicate can be reported by path.
struct StrictValue<'a> {
    at: Path<'a>,
    duplicate: &'a RefCell<Option<JsonError>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let child = StrictValue {
                at: Path::Index(&self.at, items.len()),
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(child)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = Path::Key(&self.at, &key);
            if out.contains_key(&key) {
                let message = format!("the key `{key}` appears twice in one object; give it once");
                *self.duplicate.borrow_mut() = Some(JsonError {
                    path: at.to_string(),
                    message: message.clone(),
                });
                return Err(de::Error::custom(message));
            }
            let value = map.next_value_seed(StrictValue {
                at,
                duplicate: self.duplicate,
            })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup_path(text: &str) -> String {
        let e = parse(text).unwrap_err();
        assert!(e.message.contains("appears twice"), "{e}");
        e.path
    }

    #[test]
    fn duplicate_statement_key_dropping_a_deny_is_refused() {
        let doc = r#"{"Version":"2012-10-17",
            "Statement":[{"Effect":"Deny","Action":"rolegate:*","Resource":"*"}],
            "Statement":[{"Effect":"Allow","Action":"rolegate:*","Resource":"*"}]}"#;
        assert_eq!(dup_path(doc), "Statement");
    }

    #[test]
    fn duplicate_condition_key_in_a_statement_is_refused_with_its_path() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Condition":{"Bool":{"a":"true"}},
            "Condition":{}}]}"#;
        assert_eq!(dup_path(doc), "Statement[0].Condition");
    }

    #[test]
    fn duplicate_operator_and_condition_key_are_refused() {
        let op = r#"{"Condition":{"StringEquals":{"a":"1"},"StringEquals":{"b":"2"}}}"#;
        assert_eq!(dup_path(op), "Condition.StringEquals");
        let key = r#"{"Condition":{"StringEquals":{"a":"1","a":"2"}}}"#;
        assert_eq!(dup_path(key), "Condition.StringEquals.a");
    }

    #[test]
    fn escaped_spelling_of_a_key_is_the_same_key() {
        let doc = r#"{"Statement":[],"Statemen\u0074":[]}"#;
        assert_eq!(dup_path(doc), "Statement");
    }

    #[test]
    fn values_round_trip_like_serde_json() {
        let text = r#"{"a":[1,-2,3.5,"x",true,null,{"b":{}}],"c":"\u00e9"}"#;
        let strict = parse(text).unwrap();
        let loose: Value = serde_json::from_str(text).unwrap();
        assert_eq!(strict, loose);
    }

    #[test]
    fn trailing_garbage_and_truncation_are_not_json() {
        for bad in [r#"{"a":1} {"#, r#"{"a":"#, "", "[1,]"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.path, "$", "{bad}: {e}");
            assert!(e.message.starts_with("not JSON"), "{bad}: {e}");
        }
    }

    #[test]
    fn nested_paths_name_indexes_and_keys() {
        let doc = r#"{"a":[{"b":1},{"c":{"d":1,"d":2}}]}"#;
        assert_eq!(dup_path(doc), "a[1].c.d");
        assert_eq!(dup_path(r#"[{"x":1,"x":1}]"#), "[0].x");
    }

    #[test]
    fn objects_only_for_parse_object() {
        assert!(parse_object(br#"{"iss":"a"}"#).is_ok());
        assert_eq!(
            parse_object(b"[1]").unwrap_err().message,
            "not a JSON object"
        );
        assert_eq!(
            parse_object(b"{\"a\":\"\xff\"}").unwrap_err().message,
            "not UTF-8"
        );
        let dup = parse_object(br#"{"iss":"https://evil","iss":"https://corp"}"#).unwrap_err();
        assert_eq!(dup.path, "iss");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        // serde_json's recursion limit (128) holds through this visitor too.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deep).unwrap_err().message.starts_with("not JSON"));
        let objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        assert!(parse(&objects).unwrap_err().message.starts_with("not JSON"));
    }

    #[test]
    fn same_key_in_sibling_objects_is_fine() {
        parse(r#"{"Statement":[{"Effect":"Deny"},{"Effect":"Allow"}]}"#).unwrap();
    }
}
