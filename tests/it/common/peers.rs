//! Real test peers for the integration tests: redis-server, moto (STS/IAM, with a fault hook) and an
//! oidc-provider OpenID Provider. Installed by `scripts/install-test-deps`.
//!
//! Why real processes: rolegate's correctness depends on what real peers send (STS error documents,
//! OIDC discovery/JWKS, Redis semantics), so tests talk to the real thing, each on its own free port.
//!
//! Missing peer: outside CI the test prints SKIP and returns; with `CI=true` it panics, so a broken
//! install can never look like a green run (see [`require_peer`]).
//!
//! No leaks: every peer is killed in `Drop`; in addition each one holds a pipe to our process on its
//! stdin and exits at EOF, so even a peer kept in a `static` (never dropped) or a test binary killed
//! by a signal leaves nothing behind. Peer output goes through `eprintln!` from reader threads, which
//! libtest captures per test: quiet when tests pass, shown next to the failure when one fails.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "run `scripts/install-test-deps` (redis-server and xmlsec1 via apt, .venv \
                            with moto and pysaml2, npm ci in tests/support/oidc-idp and \
                            tests/support/samlify-idp)";
/// Confidential clients of the test IdP share this secret (tests/support/oidc-idp/server.mjs).
pub(crate) const OIDC_CLIENT_SECRET: &str = "rolegate-secret";

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port that was free a moment ago (the OS picks it). Peers retry on another one if they lose the race.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Returns whether the test may use the peer. Missing under CI → panic (a skipped suite would let
/// a broken setup pass); missing elsewhere → a SKIP line on stderr and `false`.
pub(crate) fn require_peer(name: &str, found: bool) -> bool {
    if found {
        return true;
    }
    if in_ci() {
        panic!(
            "test peer `{name}` is missing and CI=true, so this fails instead of skipping: {INSTALL_HINT}"
        );
    }
    // Written to the stderr handle directly: eprintln! would be captured and hidden for a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIP: test peer `{name}` not found; {INSTALL_HINT}"
    );
    false
}

/// Runs a command quietly and tells whether it succeeded (used to detect peers).
fn command_works(program: &Path, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------------------------
// One spawned peer process.

struct Proc {
    name: String,
    child: Child,
    /// Closing this pipe (drop) is the peer's signal to exit; see the module docs.
    lifeline: Option<ChildStdin>,
    /// The last lines the peer printed, for panic messages.
    log: Arc<Mutex<VecDeque<String>>>,
    /// Receives the first `READY ...` line from stdout; disconnects when stdout closes (peer died).
    ready: Mutex<Receiver<String>>,
}

fn forward_lines(
    name: String,
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<VecDeque<String>>>,
    ready: Option<Sender<String>>,
) {
    // Spawned from the test's thread, so libtest captures the eprintln! output for that test.
    thread::spawn(move || {
        let mut ready = ready;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("READY ")
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(line.clone());
            }
            eprintln!("[{name}] {line}");
            let mut log = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if log.len() == 60 {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

impl Proc {
    fn spawn(name: String, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}; {INSTALL_HINT}"));
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, ready) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        forward_lines(name.clone(), stdout, log.clone(), Some(tx));
        forward_lines(name.clone(), stderr, log.clone(), None);
        let lifeline = child.stdin.take();
        Proc {
            name,
            child,
            lifeline,
            log,
            ready: Mutex::new(ready),
        }
    }

    fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the `READY <url>` line. Err(reason) if the peer exits first or is too slow.
    fn wait_ready_line(&mut self, timeout: Duration) -> Result<String, String> {
        let ready = self
            .ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv_timeout(timeout);
        match ready {
            Ok(line) => Ok(line["READY ".len()..].trim().to_string()),
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.child.wait();
                Err(format!("{} exited before READY", self.name))
            }
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("{} not READY after {timeout:?}", self.name))
            }
        }
    }

    fn log_tail(&self) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Closes the lifeline (a graceful exit), then kills after a short grace period, and reaps.
    fn shutdown(&mut self) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.has_exited() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a peer on a fresh port, retrying on another port if it dies early (lost port race).
fn start_on_free_port(
    what: &str,
    start: impl Fn(u16) -> (Proc, Result<String, String>),
) -> (Proc, u16, String) {
    let mut last_err = String::new();
    for _ in 0..3 {
        let port = free_port();
        let (mut proc, ready) = start(port);
        match ready {
            Ok(url) => return (proc, port, url),
            Err(e) => {
                let exited = proc.has_exited();
                last_err = format!("{e}\n--- {what} output ---\n{}", proc.log_tail());
                if !exited {
                    break; // alive but not ready: another port will not help
                }
            }
        }
    }
    panic!("could not start {what}: {last_err}");
}

// ---------------------------------------------------------------------------------------------
// Redis

pub(crate) struct Redis {
    pub port: u16,
    /// `redis://127.0.0.1:PORT/0`
    pub url: String,
    proc: Option<Proc>,
}

/// Sends PING over a plain TCP connection and expects `+PONG`.
pub(crate) fn redis_ping(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Redis {
    /// A throwaway redis-server (no RDB, no AOF) on a free port, or None when it is not installed
    /// outside CI.
    pub(crate) fn start() -> Option<Redis> {
        Self::start_with(&Self::throwaway())
    }

    /// Loopback only, nothing persisted.
    fn throwaway() -> Vec<String> {
        ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    }

    /// A redis-server on a free port with `args` (e.g. `--replicaof 127.0.0.1 6379`, or a
    /// sentinel config file and `--sentinel`) instead of the throwaway defaults.
    pub(crate) fn start_with(args: &[String]) -> Option<Redis> {
        let found = command_works(Path::new("redis-server"), &["--version"]);
        if !require_peer("redis-server", found) {
            return None;
        }
        let (proc, port, url) = start_on_free_port("redis-server", |port| {
            let mut all = args.to_vec();
            all.extend(["--port".to_string(), port.to_string()]);
            let mut proc = Self::spawn_args(port, &all);
            let ready = Self::wait_ready(&mut proc, port);
            (proc, ready)
        });
        Some(Redis {
            port,
            url,
            proc: Some(proc),
        })
    }

    fn spawn(port: u16) -> Proc {
        let mut args = Self::throwaway();
        args.extend(["--port".to_string(), port.to_string()]);
        Self::spawn_args(port, &args)
    }

    fn spawn_args(port: u16, args: &[String]) -> Proc {
        // redis-server cannot watch its stdin, so a tiny sh supervisor does: it stops redis at EOF
        // on the lifeline (our process gone or Drop) and exits only once redis has exited.
        let mut cmd = Command::new("sh");
        // Even with `--save ""` a replica writes the RDB of its full sync into its working
        // directory: keep that out of the repository (a dump.rdb was once committed that way).
        let dir =
            std::env::temp_dir().join(format!("rolegate-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis working directory");
        cmd.current_dir(&dir);
        cmd.args([
            "-c",
            // fd 3: a background job's stdin would otherwise be /dev/null (POSIX, no job control).
            r#"exec 3<&0 </dev/null; redis-server "$@" 3<&- & r=$!
               (cat <&3 >/dev/null; kill "$r" 2>/dev/null) &
               exec 3<&-; wait "$r""#,
            "sh",
        ]);
        cmd.args(args);
        Proc::spawn(format!("redis:{port}"), cmd)
    }

    fn wait_ready(proc: &mut Proc, port: u16) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if redis_ping(port) {
                return Ok(format!("redis://127.0.0.1:{port}/0"));
            }
            if proc.has_exited() {
                return Err(format!("redis-server on port {port} exited"));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "redis-server on port {port} did not answer PING within 5s"
        ))
    }

    /// Stops the server and waits until it is gone (its port refuses connections afterwards).
    pub(crate) fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.shutdown();
        }
    }

    /// Starts it again on the SAME port (empty: nothing was persisted), e.g. to test reconnects.
    pub(crate) fn restart(&mut self) {
        self.stop();
        let mut proc = Self::spawn(self.port);
        if let Err(e) = Self::wait_ready(&mut proc, self.port) {
            panic!("redis restart failed: {e}\n{}", proc.log_tail());
        }
        self.proc = Some(proc);
    }
}

// Drop of `proc` stops redis; nothing else to do.

// ---------------------------------------------------------------------------------------------
// moto (STS/IAM) with the fault hook of tests/support/moto_faults.py

pub(crate) struct Moto {
    /// `http://127.0.0.1:PORT`: use as the STS/IAM endpoint URL.
    pub url: String,
    /// Held for its `Drop`, which stops moto.
    _proc: Proc,
}

/// The Python that can import moto: `.venv/bin/python`, else `python3` on PATH. Checked once.
fn moto_python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = repo_root().join(".venv/bin/python");
            [venv, PathBuf::from("python3")]
                .into_iter()
                .find(|py| command_works(py, &["-c", "import moto, flask, flask_cors"]))
        })
        .clone()
}

fn http() -> reqwest::Client {
    // no_proxy: a proxy from the environment must never see loopback test traffic.
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

impl Moto {
    /// STS requests for roles named `sts-denied*` / `sts-throttled*` / `sts-toolong*` get the real
    /// STS errors (moto itself accepts everything); all else is plain moto.
    pub(crate) fn start() -> Option<Moto> {
        let python = moto_python();
        if !require_peer("moto (.venv/bin/python with moto)", python.is_some()) {
            return None;
        }
        let python = python.expect("checked above");
        let script = repo_root().join("tests/support/moto_faults.py");
        let (proc, _port, url) = start_on_free_port("moto", |port| {
            let mut cmd = Command::new(&python);
            cmd.arg(&script)
                .args(["--port", &port.to_string(), "--exit-with-stdin"]);
            let mut proc = Proc::spawn(format!("moto:{port}"), cmd);
            let ready = proc.wait_ready_line(Duration::from_secs(30));
            (proc, ready)
        });
        Some(Moto { url, _proc: proc })
    }

    /// STS Action requests (any STS operation, faulted or not) seen since start or `reset_count`.
    pub(crate) async fn sts_request_count(&self) -> u64 {
        let resp = http()
            .get(format!("{}/_faults/count", self.url))
            .send()
            .await
            .expect("GET /_faults/count");
        let body: serde_json::Value = resp.json().await.expect("count JSON");
        body["sts_requests"]
            .as_u64()
            .expect("sts_requests is a number")
    }

    /// STS calls made with this RoleSessionName (isolates tests that share one moto).
    pub(crate) async fn sts_requests_for_session(&self, session: &str) -> u64 {
        let resp = http()
            .get(format!("{}/_faults/count", self.url))
            .send()
            .await
            .expect("GET /_faults/count");
        let body: serde_json::Value = resp.json().await.expect("count JSON");
        body["by_session"][session].as_u64().unwrap_or(0)
    }

    pub(crate) async fn reset_count(&self) {
        let resp = http()
            .post(format!("{}/_faults/reset", self.url))
            .send()
            .await
            .expect("POST /_faults/reset");
        assert!(resp.status().is_success(), "reset: {}", resp.status());
    }

    /// The last AssumeRoleWithWebIdentity call with this RoleSessionName:
    /// `{"token": "<jwt>", "params": {...}}`.
    pub(crate) async fn last_web_identity(&self, session: &str) -> serde_json::Value {
        let resp = http()
            .get(format!(
                "{}/_faults/last_web_identity?session={session}",
                self.url
            ))
            .send()
            .await
            .expect("GET /_faults/last_web_identity");
        resp.json().await.expect("last_web_identity JSON")
    }
}

// ---------------------------------------------------------------------------------------------
// OpenID Provider (npm oidc-provider, tests/support/oidc-idp)

pub(crate) struct OidcIdp {
    /// `http://127.0.0.1:PORT`, the exact `iss` of its tokens.
    pub issuer: String,
    proc: Proc,
}

fn idp_dir() -> PathBuf {
    repo_root().join("tests/support/oidc-idp")
}

impl OidcIdp {
    /// Clients `rolegate` (RS256), `rolegate-es` (ES256), `mobile-app` (public); users alice, bob,
    /// carol, mallory (see tests/support/oidc-idp/README.md).
    pub(crate) fn start() -> Option<OidcIdp> {
        Self::start_with_redirect_uris(&[])
    }

    /// As `start`, with extra redirect URIs registered on every client (e.g. rolegate's callback).
    pub(crate) fn start_with_redirect_uris(redirect_uris: &[&str]) -> Option<OidcIdp> {
        let found = command_works(Path::new("node"), &["--version"])
            && idp_dir().join("node_modules/oidc-provider").is_dir();
        if !require_peer(
            "oidc-provider (node + tests/support/oidc-idp/node_modules)",
            found,
        ) {
            return None;
        }
        let (proc, _port, issuer) = start_on_free_port("oidc-idp", |port| {
            let mut cmd = Command::new("node");
            cmd.current_dir(idp_dir()).args([
                "server.mjs",
                "--port",
                &port.to_string(),
                "--exit-with-stdin",
            ]);
            for uri in redirect_uris {
                cmd.args(["--redirect-uri", uri]);
            }
            let mut proc = Proc::spawn(format!("oidc-idp:{port}"), cmd);
            let ready = proc.wait_ready_line(Duration::from_secs(15));
            (proc, ready)
        });
        Some(OidcIdp { issuer, proc })
    }

    /// A real ID token for `user` from `client`, obtained through the full code flow.
    pub(crate) fn id_token(&self, client: &str, user: &str) -> String {
        self.id_token_with_nonce(client, user, None)
    }

    pub(crate) fn id_token_with_nonce(
        &self,
        client: &str,
        user: &str,
        nonce: Option<&str>,
    ) -> String {
        let mut cmd = Command::new("node");
        cmd.current_dir(idp_dir()).args([
            "get-token.mjs",
            "--issuer",
            &self.issuer,
            "--client",
            client,
            "--user",
            user,
        ]);
        if client != "mobile-app" {
            cmd.args(["--secret", OIDC_CLIENT_SECRET]);
        }
        if let Some(nonce) = nonce {
            cmd.args(["--nonce", nonce]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run get-token.mjs: {e}"));
        assert!(
            out.status.success(),
            "get-token.mjs --client {client} --user {user} failed ({}): {}\n--- IdP output ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.proc.log_tail()
        );
        String::from_utf8(out.stdout)
            .expect("token is UTF-8")
            .trim()
            .to_string()
    }

    /// Signs `user` in for an authorization request someone else built (the broker's browser
    /// login): returns the IdP's final redirect, i.e. the redirect_uri with `code` and `state`.
    pub(crate) fn authorize(&self, authorize_url: &str, user: &str) -> String {
        let out = Command::new("node")
            .current_dir(idp_dir())
            .args([
                "get-token.mjs",
                "--issuer",
                &self.issuer,
                "--client",
                "unused",
                "--user",
                user,
                "--authorize-url",
                authorize_url,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run get-token.mjs: {e}"));
        assert!(
            out.status.success(),
            "get-token.mjs --authorize-url failed ({}): {}\n--- IdP output ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.proc.log_tail()
        );
        String::from_utf8(out.stdout)
            .expect("UTF-8")
            .trim()
            .to_string()
    }

    /// The IdP's private JWK set (`rsa-1` RS256, `ec-1` ES256; test-only keys), so tests can forge
    /// tokens that carry the IdP's real signature over claims the IdP never issued.
    pub(crate) fn private_jwks_path() -> PathBuf {
        idp_dir().join("keys.json")
    }
}

// ---------------------------------------------------------------------------------------------
// A real SAML 2.0 IdP (samlify, tests/support/samlify-idp).

pub(crate) struct SamlIdp {
    /// `http://127.0.0.1:PORT`; metadata at `/metadata`, SSO at `/sso`.
    pub url: String,
    /// Held for its `Drop`, which stops the IdP.
    _proc: Proc,
}

impl SamlIdp {
    /// Users alice (eng, sre, MFA), bob (contractors), carol (no groups); passwords
    /// `<name>-pw` (tests/support/samlify-idp/users.json).
    pub(crate) fn start(sp_entity_id: &str, acs_url: &str) -> Option<SamlIdp> {
        let dir = repo_root().join("tests/support/samlify-idp");
        let found = command_works(Path::new("node"), &["--version"])
            && dir.join("node_modules/samlify").is_dir();
        if !require_peer(
            "samlify SAML IdP (node + tests/support/samlify-idp/node_modules)",
            found,
        ) {
            return None;
        }
        let (proc, _port, url) = start_on_free_port("saml-idp", |port| {
            let mut cmd = Command::new("node");
            cmd.current_dir(&dir).args([
                "server.mjs",
                "--port",
                &port.to_string(),
                "--sp-entity-id",
                sp_entity_id,
                "--acs-url",
                acs_url,
                "--exit-with-stdin",
            ]);
            let mut proc = Proc::spawn(format!("saml-idp:{port}"), cmd);
            let ready = proc.wait_ready_line(Duration::from_secs(15));
            (proc, ready)
        });
        Some(SamlIdp { url, _proc: proc })
    }

    pub(crate) fn metadata_url(&self) -> String {
        format!("{}/metadata", self.url)
    }
}

// ---------------------------------------------------------------------------------------------
// A second real SAML 2.0 IdP (pysaml2's Server, tests/support/pysaml2-idp).

pub(crate) struct Pysaml2Idp {
    /// `http://127.0.0.1:PORT`; metadata at `/metadata`, SSO at `/sso`.
    pub url: String,
    proc: Proc,
}

/// `.venv/bin/python` if it imports pysaml2 and the `xmlsec1` command pysaml2 drives runs.
fn pysaml2_python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = repo_root().join(".venv/bin/python");
            (command_works(Path::new("xmlsec1"), &["--version"])
                && command_works(&venv, &["-c", "import saml2.server"]))
            .then_some(venv)
        })
        .clone()
}

impl Pysaml2Idp {
    /// Users alice (eng, sre, MFA), bob (contractors), carol (no groups), signed in by name
    /// (tests/support/pysaml2-idp/users.json). Fresh signing and rogue key pairs per start.
    pub(crate) fn start() -> Option<Pysaml2Idp> {
        let python = pysaml2_python();
        if !require_peer(
            "pysaml2 SAML IdP (.venv/bin/python with pysaml2, and xmlsec1)",
            python.is_some(),
        ) {
            return None;
        }
        let python = python.expect("checked above");
        let script = repo_root().join("tests/support/pysaml2-idp/server.py");
        let (proc, _port, url) = start_on_free_port("pysaml2-idp", |port| {
            let mut cmd = Command::new(&python);
            cmd.arg(&script)
                .args(["--port", &port.to_string(), "--exit-with-stdin"]);
            let mut proc = Proc::spawn(format!("pysaml2-idp:{port}"), cmd);
            let ready = proc.wait_ready_line(Duration::from_secs(30));
            (proc, ready)
        });
        Some(Pysaml2Idp { url, proc })
    }

    pub(crate) fn metadata_url(&self) -> String {
        format!("{}/metadata", self.url)
    }

    /// Has the IdP load the SP's metadata from `url` (pysaml2's remote metadata loader): the
    /// broker's port is known only after it started, which needs this IdP's metadata first.
    pub(crate) async fn load_sp_metadata(&self, url: &str) {
        let r = http()
            .post(format!("{}/sp-metadata", self.url))
            .form(&[("url", url)])
            .send()
            .await
            .expect("POST /sp-metadata");
        let status = r.status();
        assert!(
            status.is_success(),
            "pysaml2 IdP could not load {url}: {status} {}\n--- IdP output ---\n{}",
            r.text().await.unwrap_or_default(),
            self.proc.log_tail()
        );
    }

    /// The IdP's recent output, for assertion messages.
    pub(crate) fn log_tail(&self) -> String {
        self.proc.log_tail()
    }
}
