//! Credentials as a `~/.aws/credentials` profile.
//!
//! That file has no quoting at all, so a value is either written as it is or refused. What
//! its readers do with a line: a line break ends the value, and the next line can set any key
//! (`credential_process` among them, in the same profile); whitespace around a value is
//! stripped (botocore's `RawConfigParser`, the SDKs' own parsers); `#` or `;` after whitespace
//! starts a comment in the Rust and Kotlin SDKs (not in botocore), and after `key = ` that
//! includes the value's first character. Real keys and tokens contain none of these, so any
//! of them is refused: what is written reads back the same in every SDK.

use super::{Credentials, Unpresentable};
use crate::domain::text::{describe, is_profile_name, line_breaking_char};

const FORMAT: &str = "into ~/.aws/credentials";

/// `[profile]` and the three keys, one per line, no newline after the last.
pub(crate) fn profile(c: &Credentials, profile: &str) -> Result<String, Unpresentable> {
    // Aliases are checked at config load (the same rule); checked again, since a `]` or a
    // line break in the section name would add sections and keys.
    if !is_profile_name(profile) {
        return Err(Unpresentable::new(
            FORMAT,
            "the profile name",
            format!("it is not {}", crate::domain::text::PROFILE_NAME_RULE),
        ));
    }
    let mut out = format!("[{profile}]");
    for (key, value) in [
        ("aws_access_key_id", c.access_key_id.as_str()),
        ("aws_secret_access_key", c.secret_access_key.expose()),
        ("aws_session_token", c.session_token.expose()),
    ] {
        check(key, value)?;
        out.push_str(&format!("\n{key} = {value}"));
    }
    Ok(out)
}

/// A value every reader of the file reads back unchanged, or why not.
fn check(key: &str, value: &str) -> Result<(), Unpresentable> {
    let refuse = |problem: String| Err(Unpresentable::new(FORMAT, key, problem));
    if let Some(c) = line_breaking_char(value) {
        return refuse(format!(
            "it contains {}, a control or line-breaking character",
            describe(c)
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_whitespace()) {
        return refuse(format!(
            "it contains whitespace ({}), which readers strip or take as the start of a comment",
            describe(c)
        ));
    }
    if value.starts_with(['#', ';']) {
        return refuse("it starts with `#` or `;`, which starts a comment".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_token(token: &str) -> Result<String, Unpresentable> {
        profile(
            &Credentials::for_tests("ASIA", "s/k+1", token, None),
            "prod-ro",
        )
    }

    #[test]
    fn a_profile_is_written_as_the_aws_cli_shows_it() {
        assert_eq!(
            with_token("tok==").unwrap(),
            "[prod-ro]\naws_access_key_id = ASIA\naws_secret_access_key = s/k+1\naws_session_token = tok=="
        );
    }

    #[test]
    fn a_line_break_that_would_add_a_credential_process_key_is_refused() {
        for v in [
            "x\ncredential_process = touch /tmp/pwned",
            "x\rcredential_process = touch /tmp/pwned",
            "x\u{85}y",
            "x\u{2028}y",
            "x\0y",
            "x\u{1b}[2J",
        ] {
            let e = with_token(v).unwrap_err();
            assert_eq!(e.name, "aws_session_token");
            assert!(e.problem.contains("U+"), "{e}");
            assert!(!e.to_string().contains("pwned"), "never the value: {e}");
        }
    }

    #[test]
    fn whitespace_the_readers_would_strip_or_read_as_a_comment_is_refused() {
        for v in [
            " lead",
            "trail ",
            "in side",
            "x #comment",
            "x ;comment",
            "x\u{a0}y",
        ] {
            assert!(with_token(v).is_err(), "{v:?}");
        }
        for v in ["#at-start", ";at-start"] {
            assert!(
                with_token(v).unwrap_err().problem.contains("comment"),
                "{v}"
            );
        }
    }

    #[test]
    fn quotes_substitutions_and_comment_characters_inside_a_value_are_plain_text() {
        // No reader gives these a meaning: written as they are.
        for v in [
            "it's",
            "\"q\"",
            "$(touch${IFS}x)",
            "`id`",
            "a;b",
            "a#b",
            r"\\",
            "‘’",
            "%(x)s",
        ] {
            assert!(with_token(v).unwrap().ends_with(&format!("= {v}")), "{v}");
        }
    }

    #[test]
    fn a_profile_name_that_would_open_another_section_is_refused() {
        let c = Credentials::for_tests("ASIA", "s", "t", None);
        for name in ["a]\n[default", "a b", "", "a]"] {
            let e = profile(&c, name).unwrap_err();
            assert_eq!(e.name, "the profile name", "{name:?}");
        }
    }
}
