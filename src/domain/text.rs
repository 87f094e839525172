//! Strings that end up in files other programs parse: the AWS CLI's `~/.aws/config` (written by
//! `rolegate setup`) reads role aliases as profile names and account names as comments. A line
//! break in either adds any key, and `credential_process = <command>` runs a command at the
//! next AWS call. The broker checks these at config load and the CLI again before it writes,
//! so neither has to trust the other.

/// A profile name the AWS CLI reads back exactly: 1–64 of `A-Z a-z 0-9 . _ -`.
pub(crate) fn is_profile_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(crate) const PROFILE_NAME_RULE: &str = "1-64 characters of A-Z a-z 0-9 . _ -";

/// The first character that could end or disguise a line: C0 controls (CR, LF and NUL among
/// them), DEL, C1 controls (NEL), and the Unicode line and paragraph separators.
pub(crate) fn line_breaking_char(s: &str) -> Option<char> {
    s.chars().find(|&c| breaks_lines(c))
}

fn breaks_lines(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `s` safe to print on a terminal: every character [`line_breaking_char`] would name (ESC
/// among them, which starts the sequences that move the cursor, retitle the window or write
/// the clipboard) is shown escaped, like `\u{1b}`.
pub(crate) fn for_terminal(s: &str) -> String {
    s.chars()
        .map(|c| {
            if breaks_lines(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `U+000A`: how an error names a character without printing it.
pub(crate) fn describe(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_and_line_breaks() {
        for ok in ["prod-readonly", "a", "x.y_z-1", &"a".repeat(64)] {
            assert!(is_profile_name(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a\nb",
            "a]",
            "a=b",
            "a+b",
            "é",
            "a/b",
            &"a".repeat(65),
        ] {
            assert!(!is_profile_name(bad), "{bad:?}");
        }
        assert_eq!(line_breaking_char("Prod (EU) – 1"), None);
        for (s, c) in [
            ("a\nb", '\n'),
            ("a\rb", '\r'),
            ("a\0", '\0'),
            ("\u{7f}", '\u{7f}'),
            ("\u{85}", '\u{85}'),
            ("\u{9b}x", '\u{9b}'),
            ("a\u{2028}", '\u{2028}'),
            ("\t", '\t'),
        ] {
            assert_eq!(line_breaking_char(s), Some(c), "{s:?}");
        }
        assert_eq!(describe('\n'), "U+000A");
        assert_eq!(for_terminal("Prod \u{1b}[2J (EU)"), "Prod \\u{1b}[2J (EU)");
    }

    /// The attack: a broker's strings printed raw let it drive the engineer's terminal (clear
    /// the screen, hide text, set the clipboard through OSC 52).
    #[test]
    fn terminal_output_escapes_control_sequences_terminal_injection() {
        let hostile = "a\u{1b}]52;c;ZXZpbA==\u{7}b\u{9b}2Jc\rd";
        let shown = for_terminal(hostile);
        assert!(line_breaking_char(&shown).is_none(), "{shown}");
        assert!(shown.starts_with("a\\u{1b}]52;c;"), "{shown}");
    }
}
