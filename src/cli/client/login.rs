//! `rolegate login`: the loopback flow (RFC 8252 §7.3: a browser on this machine comes back
//! to `http://127.0.0.1:<port>/callback` with a code, redeemed with the PKCE verifier) or,
//! with `--device`, the device flow (RFC 8628: a code to confirm in any browser, shown as text
//! and as a QR code, while the CLI polls).

use super::broker::{self, Answer};
use super::files::lock;
use super::profile;
use super::{Result, block_on, fail};
use crate::oauth::CLI_CLIENT_ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use url::Url;

/// How long `login` waits for the browser (or the device approval) before giving up.
const WAIT: Duration = Duration::from_secs(300);

pub(crate) fn run(broker: &Url, device: bool, force: bool) -> Result<()> {
    // A sign-in the broker no longer honours (a restarted dev broker, a revoked token) is no
    // reason to ask: only a live one is.
    if !force
        && let Ok(Some(current)) = super::status::signed_in(broker)
        && !super::status::confirm_new_sign_in(broker, &current)?
    {
        return Ok(());
    }
    let tokens = if device {
        device_flow(broker)?
    } else {
        loopback_flow(broker)?
    };
    let _lock = lock(&profile::cache(broker)?)?;
    let saved = profile::save(broker, &tokens)?;
    broker::remember(broker)?;
    // Old credentials belonged to the previous sign-in (maybe another user): drop them.
    if let Ok(dir) = profile::cache(broker) {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with("creds-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let roles = block_on(broker::api(
        broker,
        &saved.access_token,
        reqwest::Method::GET,
        "/api/v1/roles",
        None,
    ))?;
    let n = match roles {
        Answer::Ok(v) => v["roles"].as_array().map_or(0, Vec::len),
        Answer::Refused(_) => 0,
    };
    eprintln!(
        "Signed in to {broker} {}. {n} role{} available: `rolegate roles`, then `rolegate setup --write` to add them to ~/.aws/config.",
        super::when::until(saved.refresh_expires_at, profile::now()),
        if n == 1 { "" } else { "s" }
    );
    Ok(())
}

fn random_b64(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(v)
}

/// The program and arguments that open `url`: `$BROWSER` (its first `:`-separated entry, split
/// into words, `%s` replaced by the URL or the URL appended), else `open` on macOS, else
/// `xdg-open`. An argument vector, never a shell: no character of the URL is ever interpreted.
fn browser_command(url: &str, browser: Option<&str>, macos: bool) -> (String, Vec<String>) {
    let words: Vec<&str> = browser
        .and_then(|b| b.split(':').next())
        .map(|b| b.split_whitespace().collect())
        .unwrap_or_default();
    let Some((program, rest)) = words.split_first() else {
        let program = if macos { "open" } else { "xdg-open" };
        return (program.to_string(), vec![url.to_string()]);
    };
    let mut args: Vec<String> = rest.iter().map(|w| w.replace("%s", url)).collect();
    if !rest.iter().any(|w| w.contains("%s")) {
        args.push(url.to_string());
    }
    (program.to_string(), args)
}

/// Opens `url` in a browser. Only http(s): a broker's answer must not make this machine open a
/// `file:` path or another app's URL scheme. Failing to start a browser is not an error: the
/// URL is printed too.
pub(crate) fn open(url: &str) -> Result<()> {
    let parsed = super::console_open::web_link(url)?;
    let browser = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let (program, args) = browser_command(
        parsed.as_str(),
        browser.as_deref(),
        cfg!(target_os = "macos"),
    );
    let _ = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    Ok(())
}

fn loopback_flow(broker: &Url) -> Result<Value> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| fail(format!("cannot listen on 127.0.0.1 for the browser: {e}")))?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_b64(16);
    let mut url = broker.join("/oauth2/authorize")?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLI_CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state);
    eprintln!("Opening your browser to sign in. If it does not open, visit:\n\n  {url}\n");
    open(url.as_str())?;
    let code = wait_for_callback(&listener, &state)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CLI_CLIENT_ID),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    match block_on(broker::post_form(broker, "/oauth2/token", &form))? {
        Answer::Ok(t) => Ok(t),
        Answer::Refused(r) => Err(fail(format!("the broker refused the sign-in: {r}"))),
    }
}

/// Serves the one redirect the browser makes to us; other requests (favicon) get a 404.
fn wait_for_callback(listener: &TcpListener, state: &str) -> Result<String> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + WAIT;
    loop {
        if Instant::now() > deadline {
            return Err(fail(
                "no answer from the browser within 5 minutes; run `rolegate login` again (or `--device`)",
            ));
        }
        let (mut stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buf = vec![0u8; 8192];
        let mut len = 0;
        while len < buf.len() {
            match stream.read(&mut buf[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..len]);
        let target = head.split_whitespace().nth(1).unwrap_or("");
        let Ok(u) = Url::parse(&format!("http://127.0.0.1{target}")) else {
            continue;
        };
        if u.path() != "/callback" {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            continue;
        }
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        let (status, message, result) = if q.get("state").map(String::as_str) != Some(state) {
            (
                "400 Bad Request",
                "This sign-in did not come from the rolegate login waiting here.",
                None,
            )
        } else if let Some(code) = q.get("code") {
            (
                "200 OK",
                "Signed in. You can close this tab and return to the terminal.",
                Some(Ok(code.clone())),
            )
        } else {
            let e = q.get("error").cloned().unwrap_or_else(|| "no code".into());
            let why = if e == "access_denied" {
                "sign-in cancelled in the browser; run `rolegate login` to try again".to_string()
            } else {
                format!("the sign-in was not completed ({e})")
            };
            (
                "200 OK",
                "Sign-in cancelled. You can close this tab.",
                Some(Err(fail(why))),
            )
        };
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>rolegate</title><p style=\"font:16px system-ui;margin:3rem\">{message}</p>"
        );
        let _ = stream.write_all(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        if let Some(r) = result {
            return r;
        }
    }
}

fn qr(url: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

fn device_flow(broker: &Url) -> Result<Value> {
    let start = block_on(broker::post_form(
        broker,
        "/oauth2/device_authorization",
        &[("client_id", CLI_CLIENT_ID)],
    ))?;
    let d = match start {
        Answer::Ok(d) => d,
        Answer::Refused(r) => return Err(fail(format!("the broker refused: {r}"))),
    };
    // Printed to the terminal: escaped like every broker string (see text::for_terminal).
    let s = |k: &str| crate::domain::text::for_terminal(d[k].as_str().unwrap_or_default());
    let (device_code, user_code) = (s("device_code"), s("user_code"));
    // The broker sends verification_uri_complete only when its operator opted in; either way
    // the page asks the person to type the code below.
    let page = match s("verification_uri_complete") {
        c if c.is_empty() => s("verification_uri"),
        c => c,
    };
    let mut interval = d["interval"].as_u64().unwrap_or(5).max(1);
    let expires = Instant::now() + Duration::from_secs(d["expires_in"].as_u64().unwrap_or(600));
    eprintln!(
        "To sign in, open this page in a browser and type the code {user_code} when it asks:\n\n  {page}\n"
    );
    if let Some(q) = qr(&page) {
        eprintln!("{q}");
    }
    let tty = std::io::stderr().is_terminal();
    if !tty {
        eprintln!("Waiting for approval…");
    }
    let spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let mut frame = 0;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    loop {
        let next_poll = Instant::now() + Duration::from_secs(interval);
        while Instant::now() < next_poll {
            if tty {
                let left = expires.saturating_duration_since(Instant::now()).as_secs();
                eprint!(
                    "\r{} Waiting for approval… {}:{:02} left ",
                    spinner[frame % spinner.len()],
                    left / 60,
                    left % 60
                );
                frame += 1;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLI_CLIENT_ID),
            ("device_code", device_code.as_str()),
        ];
        match rt.block_on(broker::post_form(broker, "/oauth2/token", &form))? {
            Answer::Ok(t) => {
                if tty {
                    eprintln!("\r✓ Approved.                          ");
                }
                return Ok(t);
            }
            Answer::Refused(r) => match r.error.as_str() {
                "authorization_pending" => {}
                // RFC 8628 §3.5: from now on, 5 seconds more between polls.
                "slow_down" => interval += 5,
                "access_denied" => return Err(fail("the request was denied in the browser")),
                "expired_token" => {
                    return Err(fail(
                        "the code expired before it was approved; run `rolegate login --device` again",
                    ));
                }
                _ => return Err(fail(format!("the broker refused the sign-in: {r}"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attack: macOS ran `sh -c "open '<url>'"`, so a `'` in a broker-supplied URL ended
    /// the quoting and the rest ran as shell commands.
    #[test]
    fn browser_opens_with_argv_not_shell_quote_injection() {
        let url = "https://x.example/a'$(touch /tmp/pwned)'&b";
        assert_eq!(
            browser_command(url, None, true),
            ("open".to_string(), vec![url.to_string()])
        );
        assert_eq!(
            browser_command(url, None, false),
            ("xdg-open".to_string(), vec![url.to_string()])
        );
        assert_eq!(
            browser_command(url, Some("python3 /x/b.py --new %s:firefox"), false),
            (
                "python3".to_string(),
                vec!["/x/b.py".to_string(), "--new".to_string(), url.to_string()]
            )
        );
        assert_eq!(
            browser_command(url, Some("firefox"), false),
            ("firefox".to_string(), vec![url.to_string()])
        );
    }

    #[test]
    fn only_web_links_are_opened_app_scheme_launch() {
        for bad in [
            "file:///System/Applications/Calculator.app",
            "ms-msdt:/id PCWDiagnostic",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert!(open(bad).is_err(), "{bad}");
        }
    }
}
