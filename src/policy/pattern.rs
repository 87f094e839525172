//! Templated values (`${rolegate:username}`, `${rolegate:claims/dept, 'none'}`) and IAM
//! wildcard matching (`*` any run, `?` one character).
//!
//! A template is split into text and variables when the policy loads. Wildcards are only ever
//! read from the policy's own text: a substituted value is literal, so a claim holding `*`
//! matches only a `*` (IAM: "policy variables … are treated as literal strings").

use super::context::{ContextKey, ContextKeyError, Values};
use crate::policy::RequestContext;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Var {
        key: ContextKey,
        default: Option<String>,
    },
}

/// A templated value that does not parse; each text names the value as written.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// `${` without its `}`.
    #[error("`{raw}`: unterminated `${{`")]
    Unterminated {
        /// The value as written.
        raw: String,
    },
    /// `${key, default}` with the default not in single quotes.
    #[error("`{raw}`: a default is written in single quotes: ${{key, 'value'}}")]
    UnquotedDefault {
        /// The value as written.
        raw: String,
    },
    /// The variable's key is unknown.
    #[error(transparent)]
    Key(#[from] ContextKeyError),
    /// A multivalued key used as a variable.
    #[error("`{raw}`: `{key}` has several values and cannot be a variable")]
    Multivalued {
        /// The value as written.
        raw: String,
        /// The key.
        key: ContextKey,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
    /// The value as written, for explanations.
    pub raw: String,
}

impl Template {
    /// Parses `${…}` variables; `$` not followed by `{` is text. IAM's escapes `${*}`, `${?}`
    /// and `${$}` stand for a literal `*`, `?` and `$`.
    pub fn parse(raw: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = raw;
        while let Some(i) = rest.find("${") {
            text.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after.find('}').ok_or_else(|| TemplateError::Unterminated {
                raw: raw.to_string(),
            })?;
            let inner = &after[..end];
            match inner {
                "*" | "?" | "$" => {
                    // A literal: record it so no wildcard reading applies.
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Var {
                        key: ContextKey::Literal,
                        default: Some(inner.to_string()),
                    });
                }
                _ => {
                    let (key, default) = match inner.split_once(',') {
                        Some((k, d)) => {
                            let d = d.trim();
                            let quoted = d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'');
                            if !quoted {
                                return Err(TemplateError::UnquotedDefault {
                                    raw: raw.to_string(),
                                });
                            }
                            (k.trim(), Some(d[1..d.len() - 1].to_string()))
                        }
                        None => (inner.trim(), None),
                    };
                    let key = ContextKey::parse(key)?;
                    if key.is_multivalued() {
                        return Err(TemplateError::Multivalued {
                            raw: raw.to_string(),
                            key,
                        });
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Var { key, default });
                }
            }
            rest = &after[end + 1..];
        }
        text.push_str(rest);
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            parts,
            raw: raw.to_string(),
        })
    }

    pub fn has_vars(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Var { key, .. } if *key != ContextKey::Literal))
    }

    /// The plain text, when there are no variables.
    pub fn as_text(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Substitutes every variable; None if one has neither a value nor a default (IAM: the
    /// comparison then cannot match).
    pub fn expand(&self, ctx: &RequestContext<'_>) -> Option<String> {
        if let Some(t) = self.as_text() {
            return Some(t.to_string());
        }
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var { key, default } => out.push_str(&var(key, default, ctx)?),
            }
        }
        Some(out)
    }

    /// A wildcard pattern: `*`/`?` from the policy's text, variables literal.
    pub fn pattern(&self, ctx: &RequestContext<'_>) -> Option<Vec<Tok>> {
        let mut toks = Vec::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => toks.extend(t.chars().map(|c| match c {
                    '*' => Tok::Star,
                    '?' => Tok::One,
                    c => Tok::Lit(c),
                })),
                Part::Var { key, default } => {
                    toks.extend(var(key, default, ctx)?.chars().map(Tok::Lit));
                }
            }
        }
        Some(toks)
    }
}

fn var(key: &ContextKey, default: &Option<String>, ctx: &RequestContext<'_>) -> Option<String> {
    if *key == ContextKey::Literal {
        return default.clone();
    }
    match key.values(ctx) {
        Values::One(v) => Some(v.into_owned()),
        _ => default.clone(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Lit(char),
    Star,
    One,
}

/// Wildcard match over characters; `fold` compares case-insensitively (actions).
/// Greedy with one backtrack point: linear for the patterns policies use.
pub(crate) fn matches(toks: &[Tok], s: &str, fold: bool) -> bool {
    // ARNs are ASCII: match on the bytes instead of collecting characters (this runs once
    // per role and pattern when a policy loads, and per role for `${…}` resources).
    if s.is_ascii() {
        match_slice(toks, s.as_bytes(), |b| char::from(*b), fold)
    } else {
        let chars: Vec<char> = s.chars().collect();
        match_slice(toks, &chars, |c| *c, fold)
    }
}

fn match_slice<T>(toks: &[Tok], s: &[T], at: impl Fn(&T) -> char, fold: bool) -> bool {
    let eq = |a: char, b: char| {
        if fold {
            a == b || a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let (mut p, mut i) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                backtrack = Some((p, i));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                i += 1;
            }
            Some(Tok::Lit(c)) if eq(*c, at(&s[i])) => {
                p += 1;
                i += 1;
            }
            _ => match backtrack {
                Some((bp, bi)) => {
                    p = bp + 1;
                    i = bi + 1;
                    backtrack = Some((bp, bi + 1));
                }
                None => return false,
            },
        }
    }
    toks[p.min(toks.len())..].iter().all(|t| *t == Tok::Star)
}

/// The text every match of `toks` starts with (up to the first wildcard).
pub(crate) fn literal_prefix(toks: &[Tok]) -> String {
    toks.iter()
        .map_while(|t| match t {
            Tok::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// A pattern from plain text (no variables).
pub(crate) fn compile(text: &str) -> Vec<Tok> {
    text.chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let m = |p: &str, s: &str| matches(&compile(p), s, false);
        assert!(m("*", ""));
        assert!(m("eng-*", "eng-"));
        assert!(m("eng-*", "eng-prod"));
        assert!(!m("eng-*", "Eng-prod"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c", "xxaxxbxxcxx"));
        assert!(m(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::111122223333:role/x"
        ));
        assert!(matches(&compile("rolegate:c*"), "ROLEGATE:Console", true));
        assert!(m("é?", "éü"));
        assert!(!m("e?", "éü"));
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            literal_prefix(&compile("arn:aws:iam::*:role/x")),
            "arn:aws:iam::"
        );
        assert_eq!(literal_prefix(&compile("a?c")), "a");
        assert_eq!(literal_prefix(&compile("*")), "");
        assert_eq!(literal_prefix(&compile("abc")), "abc");
    }

    #[test]
    fn templates() {
        let t =
            Template::parse("team/${rolegate:username}/${rolegate:claims/dept, 'none'}").unwrap();
        assert_eq!(t.parts.len(), 4);
        assert!(t.has_vars());
        assert!(
            Template::parse("${rolegate:groups}").is_err(),
            "multivalued keys are not variables"
        );
        assert!(Template::parse("${rolegate:nope}").is_err());
        assert!(Template::parse("${rolegate:username, none}").is_err());
        assert!(Template::parse("${rolegate:username").is_err());
        assert_eq!(Template::parse("a$b").unwrap().as_text(), Some("a$b"));
        assert!(!Template::parse("a${*}b").unwrap().has_vars());
    }
}
