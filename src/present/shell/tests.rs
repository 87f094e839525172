//! Each shell's quoting against values an STS endpoint could send. The sh form is also run
//! through sh and bash (and fish and PowerShell when installed) and read back byte for byte.

use super::*;
use std::path::Path;
use std::process::Command;

/// Values that break naive quoting. `{dir}` becomes a temporary directory: a value that ran
/// as a command would leave a file there.
const HOSTILE: &[&str] = &[
    "'",
    "it's",
    "''",
    "'; touch {dir}/quote; '",
    "\"",
    "\"; touch {dir}/dquote; \"",
    "a\nb",
    "\n",
    "a\rb",
    "a\r\nb",
    "$(touch {dir}/subst)",
    "`touch {dir}/backtick`",
    "; touch {dir}/semicolon",
    "&& touch {dir}/and",
    "| touch {dir}/pipe",
    "\\",
    "\\\\",
    "a\\'b",
    "\\'; touch {dir}/fish; echo \\'",
    "‘’‚‛",
    "’; touch {dir}/typographic; ’",
    "$HOME ${HOME} $$ $1",
    "* ? [a] ~",
    "!! !-1",
    "#not a comment",
    " leading and trailing ",
    "\t",
    "-e -n --",
    "é 漢 🙂",
    "\u{1b}]52;c;cHduZWQ=\u{7}",
    "",
];

fn hostile(dir: &Path) -> Vec<String> {
    HOSTILE
        .iter()
        .map(|v| v.replace("{dir}", &dir.display().to_string()))
        .collect()
}

fn creds(id: &str, secret: &str, token: &str) -> Credentials {
    Credentials::for_tests(id, secret, token, None)
}

fn one(shell: Shell, value: &str) -> Result<String, Unpresentable> {
    Environment::keys(&creds("ASIA", "s", value)).render(shell)
}

fn last_line(shell: Shell, value: &str) -> String {
    let text = one(shell, value).unwrap();
    text.split_once("AWS_SESSION_TOKEN")
        .map(|(_, rest)| rest.to_string())
        .unwrap()
}

#[test]
fn sh_a_single_quote_in_a_value_closes_escapes_and_reopens_the_quoting() {
    assert_eq!(last_line(Shell::Sh, "it's"), r"='it'\''s'");
    assert_eq!(last_line(Shell::Sh, "$(id)`id`"), "='$(id)`id`'");
    assert_eq!(last_line(Shell::Sh, "a\nb"), "='a\nb'");
    assert_eq!(
        one(Shell::Sh, "t").unwrap(),
        "export AWS_ACCESS_KEY_ID='ASIA'\nexport AWS_SECRET_ACCESS_KEY='s'\nexport AWS_SESSION_TOKEN='t'"
    );
}

#[test]
fn fish_quotes_and_backslashes_are_escaped_by_fishs_own_rules() {
    assert_eq!(last_line(Shell::Fish, "it's"), r" 'it\'s';");
    // sh's `'\''` would leave `\\` for fish to read as one backslash.
    assert_eq!(last_line(Shell::Fish, r"a\\b"), r" 'a\\\\b';");
    assert_eq!(last_line(Shell::Fish, r"\'"), r" '\\\'';");
    assert_eq!(last_line(Shell::Fish, "$(id)`id`;"), " '$(id)`id`;';");
    assert_eq!(
        one(Shell::Fish, "t").unwrap(),
        "set -gx AWS_ACCESS_KEY_ID 'ASIA';\nset -gx AWS_SECRET_ACCESS_KEY 's';\nset -gx AWS_SESSION_TOKEN 't';"
    );
}

#[test]
fn powershell_ascii_and_typographic_single_quotes_are_doubled() {
    assert_eq!(last_line(Shell::PowerShell, "it's"), "='it''s'");
    assert_eq!(last_line(Shell::PowerShell, "‘’‚‛"), "='‘‘’’‚‚‛‛'");
    assert_eq!(
        last_line(Shell::PowerShell, "’; rm x; ’"),
        "='’’; rm x; ’’'"
    );
    // Double quotes, `$(…)`, `$var` and backticks are literal inside single quotes.
    assert_eq!(last_line(Shell::PowerShell, "\"$(x)$y`n"), "='\"$(x)$y`n'");
    assert_eq!(
        one(Shell::PowerShell, "t").unwrap(),
        "$Env:AWS_ACCESS_KEY_ID='ASIA'\n$Env:AWS_SECRET_ACCESS_KEY='s'\n$Env:AWS_SESSION_TOKEN='t'"
    );
}

#[test]
fn powershell_refuses_a_line_break_that_invoke_expression_would_run_as_a_command() {
    for v in ["a\nRemove-Item x", "a\rb", "\r\n"] {
        let e = one(Shell::PowerShell, v).unwrap_err();
        assert_eq!(e.name, "AWS_SESSION_TOKEN");
        assert!(e.to_string().contains("U+000"), "{e}");
        assert!(
            !e.to_string().contains("Remove-Item"),
            "the value is not quoted: {e}"
        );
    }
}

#[test]
fn nul_is_refused_by_every_shell_and_by_a_process_environment() {
    for shell in [Shell::Sh, Shell::Fish, Shell::PowerShell] {
        let e = one(shell, "secret\0more").unwrap_err();
        assert!(e.to_string().contains("U+0000"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
    let env = Environment::keys(&creds("ASIA", "s\0", "t"));
    let e = env.for_process().unwrap_err();
    assert_eq!(e.name, "AWS_SECRET_ACCESS_KEY");
    assert!(
        Environment::keys(&creds("ASIA", "a\nb'$(x)", "t"))
            .for_process()
            .unwrap()
            .contains(&("AWS_SECRET_ACCESS_KEY", "a\nb'$(x)"))
    );
}

#[test]
fn shell_names_as_people_write_them() {
    for (name, shell) in [
        ("sh", Shell::Sh),
        ("bash", Shell::Sh),
        ("zsh", Shell::Sh),
        ("fish", Shell::Fish),
        ("powershell", Shell::PowerShell),
    ] {
        assert_eq!(Shell::from_name(name), Some(shell));
    }
    assert_eq!(Shell::from_name("csh"), None);
}

#[test]
fn region_and_expiry_are_exported_unless_the_user_chose_a_region() {
    let c = Credentials::for_tests("ASIA", "s", "t", Some("eu-west-1"));
    let all = Environment::session(&c, false);
    assert_eq!(
        all.names(),
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_CREDENTIAL_EXPIRATION",
            "AWS_REGION",
            "AWS_DEFAULT_REGION"
        ]
    );
    assert!(
        all.for_process()
            .unwrap()
            .contains(&("AWS_REGION", "eu-west-1"))
    );
    assert!(
        all.for_process()
            .unwrap()
            .contains(&("AWS_CREDENTIAL_EXPIRATION", "2100-01-01T00:00:00Z"))
    );
    assert_eq!(Environment::session(&c, true).names().len(), 4);
    for odd in ["x'; rm -rf ~", "", "eu west"] {
        let c = Credentials::for_tests("ASIA", "s", "t", Some(odd));
        assert_eq!(Environment::session(&c, false).names().len(), 4, "{odd:?}");
    }
    let c = Credentials::for_tests("ASIA", "s", "t", None);
    assert_eq!(Environment::session(&c, false).names().len(), 4);
}

/// Runs `script` (the rendered exports, then a command printing the three values each followed
/// by NUL) and returns the values; None when `program` is not installed.
fn run(program: &str, args: &[&str], script: &str) -> Option<Vec<String>> {
    let out = match Command::new(program).args(args).arg(script).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        r => r.unwrap(),
    };
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut values: Vec<String> = text.split('\0').map(str::to_string).collect();
    assert_eq!(values.pop().as_deref(), Some(""), "{program}: {text:?}");
    Some(values)
}

/// Renders each hostile value into all three variables, runs the result in a real shell and
/// checks it reads back byte for byte, with no command of the value's run.
fn round_trip(shell: Shell, program: &str, args: &[&str], print: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    for v in hostile(dir.path()) {
        let script = format!(
            "{}\n{print}",
            Environment::keys(&creds(&v, &v, &v)).render(shell).unwrap()
        );
        let Some(read) = run(program, args, &script) else {
            return false;
        };
        assert_eq!(read, [v.clone(), v.clone(), v.clone()], "{program}: {v:?}");
    }
    let ran: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert!(ran.is_empty(), "{program} ran a value: {ran:?}");
    true
}

#[test]
fn sh_command_substitution_backticks_and_quotes_stay_text_in_sh_and_bash() {
    let print =
        r#"printf '%s\0' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN""#;
    assert!(
        round_trip(Shell::Sh, "sh", &["-c"], print),
        "sh is installed"
    );
    assert!(
        round_trip(Shell::Sh, "bash", &["-c"], print),
        "bash is installed"
    );
    // dash is Debian's sh; where sh is bash, run it by name too.
    round_trip(Shell::Sh, "dash", &["-c"], print);
    round_trip(Shell::Sh, "zsh", &["-c"], print);
}

#[test]
fn fish_backslashes_quotes_and_substitutions_stay_text_in_fish_when_installed() {
    let print =
        r#"printf '%s\0' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN""#;
    if !round_trip(Shell::Fish, "fish", &["--no-config", "-c"], print) {
        eprintln!("fish is not installed: its quoting is checked as text only");
    }
}

#[test]
fn powershell_quotes_and_substitutions_stay_text_in_pwsh_when_installed() {
    let dir = tempfile::tempdir().unwrap();
    let print = "foreach ($k in 'AWS_ACCESS_KEY_ID','AWS_SECRET_ACCESS_KEY','AWS_SESSION_TOKEN') \
                 { [Console]::Out.Write([Environment]::GetEnvironmentVariable($k) + [char]0) }";
    for v in hostile(dir.path()) {
        if v.contains(['\r', '\n']) {
            continue; // refused, see above
        }
        let script = format!(
            "{}\n{print}",
            Environment::keys(&creds(&v, &v, &v))
                .render(Shell::PowerShell)
                .unwrap()
        );
        let Some(read) = run(
            "pwsh",
            &["-NoProfile", "-NonInteractive", "-Command"],
            &script,
        ) else {
            eprintln!("pwsh is not installed: its quoting is checked as text only");
            return;
        };
        // An empty value unsets a variable in PowerShell: nothing to compare.
        if !v.is_empty() {
            assert_eq!(read, [v.clone(), v.clone(), v.clone()], "pwsh: {v:?}");
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
