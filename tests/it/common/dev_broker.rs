//! `rolegate serve --dev` as the README's first command runs it: the real binary in a child
//! process on a kernel-chosen loopback port, its stdout (banner) and stderr (logs) kept in files.

use super::peers::Moto;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Broker {
    pub child: std::process::Child,
    pub url: String,
    dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(moto: &Moto, listen: &str) -> Broker {
    start_with(moto, listen, &[])
}

pub(crate) fn start_with(moto: &Moto, listen: &str, env: &[(&str, String)]) -> Broker {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["serve", "--dev"])
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .env("ROLEGATE_SERVER__LISTEN", listen)
        .env("ROLEGATE_SERVER__LOG_FORMAT", "json")
        .env("ROLEGATE_AWS__PARTITIONS__AWS__STS_ENDPOINT", &moto.url)
        .env("RUST_LOG", "info")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut b = Broker {
        child,
        url: String::new(),
        dir,
    };
    // Port 0: the kernel picks a free port (no race with other tests); the banner says which.
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.url.is_empty() {
        let out = b.read("stdout");
        if let Some(rest) = out.split("listening on ").nth(1) {
            b.url = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        assert!(Instant::now() < deadline, "no banner\n{}", b.read("stderr"));
        std::thread::sleep(Duration::from_millis(20));
    }
    b
}

impl Broker {
    pub(crate) fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

pub(crate) async fn wait_ready(http: &reqwest::Client, b: &Broker) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{}/readyz", b.url)).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "dev broker not ready\nstdout:\n{}\nstderr:\n{}",
        b.read("stdout"),
        b.read("stderr")
    );
}

/// A browser session cookie for `user` on a dev broker, signed in the way a browser is: the
/// broker's OIDC code flow against the built-in dev IdP, the user's choice posted back.
pub(crate) async fn dev_session(http: &reqwest::Client, b: &Broker, user: &str) -> String {
    let start = super::web::get(&b.url, "/login/dev", None).await;
    let pending = super::web::cookie_pair(&start, "rolegate_oidc_pending").unwrap();
    let authorize = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("username".into(), user.into()));
    let chosen = http
        .post(format!("{}/dev-idp/authorize", b.url))
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = chosen.headers()["location"].to_str().unwrap().to_string();
    let done = http
        .get(&callback)
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    super::web::cookie_pair(&done, "rolegate_session").expect("a session after the dev IdP")
}

/// The dev IdP's password grant for `user` (any password), as the banner's curl line sends it.
pub(crate) async fn password_grant(
    http: &reqwest::Client,
    b: &Broker,
    user: &str,
) -> reqwest::Response {
    http.post(format!("{}/dev-idp/token", b.url))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap()
}
