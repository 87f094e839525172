//! The Presenter: the last stage of the pipeline, where issued credentials become text a
//! person or a program reads. Every surface goes through it: the API answers with
//! [`Credentials`] as JSON, the CLI reads that same type back and prints it as
//! credential_process JSON or shell exports, the browser shows it in every format at once.
//!
//! Each format lives in its own file and owns its quoting: [`shell`] (sh, fish, PowerShell),
//! [`ini`] (`~/.aws/credentials`), [`html`] (the browser's credentials page). The values come
//! from STS, and the region from config: none of them is trusted to be base64-ish. A value a
//! format cannot hold as it is (a line break in `~/.aws/credentials`, a NUL anywhere) is
//! refused with [`Unpresentable`], never written changed or half-quoted.

mod credentials;
// The browser's formats: the broker's alone.
#[cfg(feature = "server")]
pub(crate) mod html;
#[cfg(feature = "server")]
pub(crate) mod ini;
pub(crate) mod shell;

pub(crate) use credentials::Credentials;

/// A value one format cannot hold faithfully. The message names the value and what is wrong
/// with it, never the value itself: it may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} cannot be written {format}: {problem}")]
pub(crate) struct Unpresentable {
    /// The format, as a phrase: "for PowerShell", "into ~/.aws/credentials".
    pub(crate) format: &'static str,
    /// The value's name in that format: `AWS_SESSION_TOKEN`, `aws_session_token`.
    pub(crate) name: String,
    /// What is wrong, e.g. "it contains U+000A".
    pub(crate) problem: String,
}

impl Unpresentable {
    fn new(format: &'static str, name: &str, problem: impl Into<String>) -> Self {
        Unpresentable {
            format,
            name: name.to_string(),
            problem: problem.into(),
        }
    }
}
