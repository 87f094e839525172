//! The `rolegate` CLI as a child process, walled off from the developer's own profiles: only
//! PATH is inherited, and HOME and the XDG dirs point into the test's temp dir, so a test never
//! reads or overwrites a real sign-in or credential cache.

use super::peers::repo_root;
use std::path::Path;
use std::process::{Command, Output};

/// Clears `c`'s environment down to PATH and points HOME and the XDG dirs under `home`.
pub(crate) fn isolate(c: &mut Command, home: &Path) {
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"));
}

/// `rolegate` with `home` as its home (see `isolate`).
pub(crate) fn rolegate(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rolegate"));
    isolate(&mut c, home);
    c
}

/// Runs `login` (a `rolegate login` command) with tests/support/cli_browser.py as the
/// browser: it opens the loopback flow's page with the browser session `cookie` and presses
/// Allow, as the person would.
pub(crate) fn login_through_session(mut login: Command, cookie: &str) -> Output {
    let script = repo_root().join("tests/support/cli_browser.py");
    login
        .env("BROWSER", format!("python3 {} %s", script.display()))
        .env("CLI_BROWSER_COOKIE", cookie)
        .output()
        .unwrap()
}

pub(crate) fn assert_success(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
