//! The employee's daily journey in a real browser: headless Debian Chromium, driven by
//! playwright-core (tests/support/browser/journey.mjs), signs in through a real SAML IdP
//! (samlify) and through a real OIDC provider (oidc-provider), searches the picker, stars a
//! role, takes 15-minute credentials (copied and downloaded; checked here against moto), opens
//! the console (the federation double checks the session with moto and names the role), signs
//! out, and finds that Back and a replayed POST give nothing. Screenshots of the picker at
//! desktop and phone width land in `target/test-artifacts/browser/`.

use crate::common;

use common::app::{ACCOUNT_ROLES, TestApp, broker_head, caller_identity_arn};
use common::cli;
use common::dev_broker;
use common::federation::Federation;
use common::peers::{Moto, OidcIdp, SamlIdp, free_port, repo_root, require_peer};
use std::path::PathBuf;
use std::process::Command;

pub(crate) fn chromium() -> Option<PathBuf> {
    let exe = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    let driver = repo_root().join("tests/support/browser/node_modules/playwright-core");
    let found = exe.exists() && driver.is_dir();
    require_peer(
        "headless Chromium (apt: chromium) + playwright-core (tests/support/browser)",
        found,
    )
    .then_some(exe)
}

pub(crate) fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("test-artifacts/browser")
}

struct Stack {
    app: TestApp,
    moto: Moto,
    _saml: SamlIdp,
    _oidc: OidcIdp,
    _federation: Federation,
}

async fn stack() -> Option<Stack> {
    chromium()?;
    let moto = Moto::start()?;
    // The browser must reach the broker at its public URL: a fixed loopback port.
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let saml = SamlIdp::start(
        &format!("{public}/saml/metadata"),
        &format!("{public}/saml/acs"),
    )?;
    let oidc = OidcIdp::start_with_redirect_uris(&[&format!("{public}/oidc/callback/web")])?;
    let federation = Federation::start(moto.url.clone()).await;
    let toml = format!(
        r#"{head}
[[idp]]
id = "corp"
kind = "saml"
display_name = "Corporate SSO"
metadata_url = "{metadata}"
trust_email = true
logout_url = "{saml_url}/logout"

[[idp]]
id = "web"
kind = "oidc"
display_name = "Example OIDC"
issuer = "{issuer}"
client_id = "rolegate"
client_secret_file = "client-secret"

{ACCOUNT_ROLES}

[[map]]
idp = "corp"
groups = ["eng"]
roles = ["prod-readonly", "dev-readonly", "dev-admin", "sandbox-poweruser"]

[[map]]
idp = "corp"
groups = ["sre"]
roles = ["prod-admin"]

[[map]]
idp = "web"
groups = ["eng"]
roles = ["prod-readonly", "dev-readonly"]
"#,
        head = broker_head(
            &format!("127.0.0.1:{port}"),
            &public,
            &moto.url,
            Some(&federation.url)
        ),
        metadata = saml.metadata_url(),
        saml_url = saml.url,
        issuer = oidc.issuer,
    );
    let app = TestApp::spawn_with_files(
        &toml,
        &[("client-secret", common::peers::OIDC_CLIENT_SECRET)],
        None,
        true,
    )
    .await;
    assert_eq!(app.url, public);
    Some(Stack {
        app,
        moto,
        _saml: saml,
        _oidc: oidc,
        _federation: federation,
    })
}

/// Runs the journey; returns its JSON lines (each step's facts).
fn journey(
    app: &TestApp,
    scenario: &str,
    idp_label: &str,
    password: &str,
    search: &str,
) -> Vec<serde_json::Value> {
    #[rustfmt::skip]
    let args = [
        "--broker", &app.url, "--scenario", scenario, "--idp-label", idp_label,
        "--user", "alice", "--password", password, "--search", search,
    ];
    run_script("journey.mjs", &args)
}

/// Runs a script of tests/support/browser with `args` and `--artifacts`; returns its JSON lines.
pub(crate) fn run_script(script: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new("node")
        .current_dir(repo_root().join("tests/support/browser"))
        .arg(script)
        .args(args)
        .arg("--artifacts")
        .arg(artifacts())
        .output()
        .unwrap_or_else(|e| panic!("run node {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "browser script {script} {args:?} failed ({}); screenshots in {}\n--- steps ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        artifacts().display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub(crate) fn step<'a>(lines: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {lines:?}"))
}

/// Runs a `rolegate credentials` command and returns the ARN moto says its answer is for.
async fn cli_credentials_arn(mut credentials: Command, moto: &Moto) -> String {
    let out = tokio::task::block_in_place(|| credentials.output().unwrap());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    caller_identity_arn(&moto.url, &creds).await
}

async fn assert_real_credentials(lines: &[serde_json::Value], moto: &Moto) {
    let creds = lines
        .iter()
        .find_map(|l| l.get("credentials"))
        .expect("the journey downloaded credentials");
    let arn = caller_identity_arn(&moto.url, creds).await;
    assert!(arn.contains(":assumed-role/"), "{arn}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_sign_in_search_credentials_console_and_sign_out_in_chromium() {
    let Some(s) = stack().await else { return };
    let app = &s.app;
    let lines = tokio::task::block_in_place(|| {
        journey(app, "saml", "Corporate SSO", "alice-pw", "readonly")
    });

    // alice (eng, sre) sees her five roles, grouped by account name, the ungranted one absent.
    let picker = step(&lines, "picker");
    assert_eq!(
        picker["headings"],
        serde_json::json!(["dev 444455556666", "prod 111122223333", "777788889999"])
    );
    let rows: Vec<&str> = picker["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "dev-admin",
            "dev-readonly",
            "prod-admin",
            "prod-readonly",
            "sandbox-poweruser"
        ]
    );
    assert_eq!(picker["count"], "5 of 5 roles");
    assert_eq!(step(&lines, "search")["count"], "2 of 5 roles");
    assert_eq!(
        step(&lines, "favourite")["favourites"],
        serde_json::json!(["dev-readonly"])
    );
    // dev-readonly allows 90 min: the standard steps below it, then 90 min (values in minutes).
    assert_eq!(
        step(&lines, "credentials")["options"],
        serde_json::json!([15, 30, 60, 90])
    );
    assert_real_credentials(&lines, &s.moto).await;
    assert!(
        step(&lines, "console")["assumed"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/DevAdmin/"),
        "{lines:?}"
    );
    assert!(
        step(&lines, "logout")["idp_logout"]
            .as_str()
            .unwrap()
            .ends_with("/logout")
    );
    assert_eq!(step(&lines, "replay")["status"], 303);
    for shot in ["saml-picker-desktop.png", "saml-picker-phone.png"] {
        assert!(artifacts().join(shot).is_file(), "screenshot {shot}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_and_idp_logout_in_chromium() {
    let Some(s) = stack().await else { return };
    let app = &s.app;
    // oidc-provider's dev interaction takes any password.
    let lines = tokio::task::block_in_place(|| journey(app, "oidc", "Example OIDC", "x", "prod"));
    let rows = &step(&lines, "picker")["rows"];
    assert_eq!(rows, &serde_json::json!(["dev-readonly", "prod-readonly"]));
    assert_real_credentials(&lines, &s.moto).await;
    let logout = step(&lines, "logout")["idp_logout"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        logout.contains("client_id=rolegate"),
        "RP-Initiated Logout link: {logout}"
    );
    step(&lines, "idp-logout");
}

/// `rolegate login --device` in a child process; a person (Chromium) opens the printed URL,
/// signs in at the SAML IdP and approves; the CLI, polling, gets its tokens and then
/// credentials that moto accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_device_login_is_approved_in_chromium() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let Some(s) = stack().await else { return };
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let mut c = cli::rolegate(home.path());
        c.args(args)
            .args(["--broker", &s.app.url])
            .stdin(Stdio::null());
        c
    };
    let mut login = cli(&["login", "--device"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = login.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The code in the terminal is what the person types: the URL no longer carries it
    // ([cli] verification_uri_complete is off by default).
    let mut printed = Vec::new();
    let mut code_in_terminal = None;
    let url = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("no verification URL from the CLI: {printed:?}"));
        if let Some(c) = line.split("type the code ").nth(1) {
            code_in_terminal = c.split_whitespace().next().map(str::to_string);
        }
        if let Some(u) = line.split_whitespace().find(|w| w.ends_with("/device")) {
            break u.to_string();
        }
        printed.push(line);
    };
    assert!(url.starts_with(&s.app.url), "{url}");
    let code_in_terminal = code_in_terminal.expect("the CLI printed the code");

    let out = tokio::task::block_in_place(|| {
        Command::new("node")
            .current_dir(repo_root().join("tests/support/browser"))
            .args([
                "device.mjs",
                "--url",
                &url,
                "--user",
                "alice",
                "--password",
                "alice-pw",
                "--code",
                &code_in_terminal,
            ])
            .args(["--idp-label", "Corporate SSO", "--artifacts"])
            .arg(artifacts())
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "approval in Chromium failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        seen["code"], code_in_terminal,
        "the page showed the code the person typed"
    );
    assert_eq!(seen["from"], "127.0.0.1", "and where the request came from");

    let status = tokio::task::block_in_place(|| login.wait().unwrap());
    assert!(status.success(), "rolegate login --device: {status}");
    // iter(), not try_iter(): the reader thread may not have forwarded the last lines yet; it
    // ends (dropping the sender) at EOF, which follows the exit.
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.iter().any(|l| l.contains("Signed in to")), "{rest:?}");
    let arn = cli_credentials_arn(cli(&["credentials", "--role", "prod-readonly"]), &s.moto).await;
    assert!(arn.contains(":assumed-role/ReadOnly/"), "{arn}");
}

/// The README's first command in a real browser: `rolegate serve --dev` (the binary, its
/// embedded config) → "Development IdP" → a user button → the picker → credentials that the
/// STS emulator accepts. The page a new user sees first is tested as they would see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_dev_sign_in_to_credentials_in_chromium() {
    if chromium().is_none() {
        return;
    }
    let Some(moto) = Moto::start() else { return };
    let broker = dev_broker::start(&moto, "127.0.0.1:0");
    dev_broker::wait_ready(&common::web::client(), &broker).await;
    let lines = tokio::task::block_in_place(|| run_script("dev.mjs", &["--broker", &broker.url]));
    let users = step(&lines, "dev-idp")["users"].to_string();
    assert!(
        users.contains("Alice Example") && users.contains("Carol Example"),
        "{users}"
    );
    assert_eq!(
        step(&lines, "picker")["rows"],
        serde_json::json!(["dev-admin", "dev-readonly"])
    );
    step(&lines, "done");
    assert_real_credentials(&lines, &moto).await;
}

/// `rolegate login` (the loopback flow, the README's first CLI command) in real Chromium on
/// `serve --dev`: sign in at the dev IdP, press Allow, and the browser is redirected to the
/// CLI's listener (the authorization page's CSP `form-action` names exactly that loopback
/// origin), the CLI finishes and `credentials` works against the STS emulator. Pressing Cancel
/// ends the CLI at once with "sign-in cancelled". (An HTTP client ignores CSP: only a browser
/// shows that these buttons work.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_loopback_login_allow_and_cancel_in_chromium() {
    if chromium().is_none() {
        return;
    }
    let Some(moto) = Moto::start() else { return };
    let broker = dev_broker::start(&moto, "127.0.0.1:0");
    dev_broker::wait_ready(&common::web::client(), &broker).await;
    let home = tempfile::tempdir().unwrap();
    let script = repo_root().join("tests/support/browser/loopback.mjs");
    let login = |decision: &str| {
        let out = home.path().join(format!("browser-{decision}.jsonl"));
        let mut c = cli::rolegate(home.path());
        c.args(["login", "--broker", &broker.url])
            .env("BROWSER", format!("node {} %s", script.display()))
            .env("LOOPBACK_DECISION", decision)
            .env("LOOPBACK_OUT", &out)
            .env("LOOPBACK_ARTIFACTS", artifacts())
            .stdin(std::process::Stdio::null());
        let started = std::time::Instant::now();
        let result = tokio::task::block_in_place(|| c.output().unwrap());
        let took = started.elapsed();
        // The CLI ends as soon as its listener has the answer; the browser reports a moment
        // later, once it has shown the listener's page.
        let mut seen = String::new();
        for _ in 0..150 {
            seen = std::fs::read_to_string(&out).unwrap_or_default();
            if !seen.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        (result, seen, took)
    };

    let (cancel, seen, took) = login("cancel");
    let stderr = String::from_utf8_lossy(&cancel.stderr);
    assert!(!cancel.status.success(), "{stderr}");
    assert!(stderr.contains("sign-in cancelled"), "{stderr}\n{seen}");
    assert!(seen.contains("Sign-in cancelled"), "{seen}");
    assert!(
        took < std::time::Duration::from_secs(60),
        "the CLI ended at once, not after its 5-minute wait: {took:?}"
    );

    let (allow, seen, _) = login("allow");
    let stderr = String::from_utf8_lossy(&allow.stderr);
    assert!(allow.status.success(), "{stderr}\n{seen}");
    assert!(seen.contains("Signed in. You can close this tab"), "{seen}");
    assert!(seen.contains(r#""csp":[]"#), "no CSP violation: {seen}");
    let mut credentials = cli::rolegate(home.path());
    credentials.args([
        "credentials",
        "--broker",
        &broker.url,
        "--role",
        "dev-readonly",
    ]);
    let arn = cli_credentials_arn(credentials, &moto).await;
    assert!(arn.contains(":assumed-role/DevReadOnly/"), "{arn}");
}

/// The pages at 1280 and 390 px on the journeys' broker (two IdPs): expiries rewritten to
/// local time with the time left (the UTC instant in `<time datetime>`), accounts open on a
/// desktop and collapsed on a phone, the whole search placeholder, no sideways scrolling, the
/// no-role page (IdP, subject, groups; no search box), the HTML 404 (JSON when asked and under
/// `/api/`), the favicon, and no console error or CSP report anywhere. Screenshots:
/// `pages-saml-*-{1280,390}.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_at_desktop_and_phone_width_in_chromium() {
    let Some(s) = stack().await else { return };
    let url = s.app.url.clone();
    let lines = tokio::task::block_in_place(|| {
        run_script("pages.mjs", &["--broker", &url, "--scenario", "saml"])
    });
    let creds = step(&lines, "credentials-1280");
    assert!(
        creds["time"]["datetime"].as_str().unwrap().ends_with('Z'),
        "{creds}"
    );
    assert!(
        creds["sentence"].as_str().unwrap().contains("min left."),
        "{creds}"
    );
    assert_eq!(step(&lines, "404-1280")["status"], 404);
    assert_eq!(step(&lines, "404-1280")["error"], "not_found");
    assert_eq!(
        step(&lines, "roles-390")["open"],
        serde_json::json!([false, false, false])
    );
    let facts = step(&lines, "no-role-390")["facts"].to_string();
    assert!(
        facts.contains("bob@example.com") && facts.contains("contractors"),
        "{facts}"
    );
    step(&lines, "done");
    for what in ["roles", "credentials", "404", "no-role"] {
        for width in [1280, 390] {
            let shot = format!("pages-saml-{what}-{width}.png");
            assert!(artifacts().join(&shot).is_file(), "screenshot {shot}");
        }
    }
}

/// `serve --dev` has one IdP: `/` goes straight to it — but not after a sign-out (Back, or `/`
/// again) nor after a Cancel at the IdP, whose pages link to it instead; the Console button
/// says why the console cannot open against the STS emulator; a user without roles sees what
/// to send an administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_dev_single_idp_sign_out_cancel_and_console_in_chromium() {
    if chromium().is_none() {
        return;
    }
    let Some(moto) = Moto::start() else { return };
    let broker = dev_broker::start(&moto, "127.0.0.1:0");
    dev_broker::wait_ready(&common::web::client(), &broker).await;
    let lines = tokio::task::block_in_place(|| {
        run_script("pages.mjs", &["--broker", &broker.url, "--scenario", "dev"])
    });
    assert_eq!(
        step(&lines, "single-idp")["open"],
        serde_json::json!([true])
    );
    let why = step(&lines, "dev-console")["message"].to_string();
    assert!(why.contains("https://signin.aws.amazon.com"), "{why}");
    assert_eq!(step(&lines, "sign-out")["again"], "/login/dev");
    assert_eq!(step(&lines, "cancel")["again"], "/login/dev");
    step(&lines, "no-role");
    step(&lines, "done");
    for shot in ["pages-dev-console-1280.png", "pages-dev-console-390.png"] {
        assert!(artifacts().join(shot).is_file(), "screenshot {shot}");
    }
}
