//! The `rolegate` CLI as engineers use it, as child processes against a running broker and moto:
//! `login` (loopback flow; the browser is tests/support/cli_browser.py pressing Allow with a
//! signed-in session), `roles`, `setup --write`, then the real AWS CLI and boto3 calling
//! `rolegate credentials` through `credential_process` (a second call inside the cache window
//! asks the broker nothing), `env`, `exec`, `console --print`, `logout`; twenty concurrent
//! processes causing one refresh and one STS call; and the failures: not signed in, a
//! world-readable or corrupted cache, a revoked sign-in, a broker that is down.

mod common;

use common::app::{TestApp, broker_head, peers};
use common::cli::{self, assert_success};
use common::federation::Federation;
use common::saml_forge::{SamlForge, corp_idp};
use common::web::saml_sign_in;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PUBLIC: &str = "https://rolegate.example.test";

struct Env {
    app: TestApp,
    forge: SamlForge,
    home: tempfile::TempDir,
    _federation: Federation,
}

async fn env() -> Option<Env> {
    let p = peers()?;
    let forge = SamlForge::new();
    let federation = Federation::start(p.moto.url.clone()).await;
    let toml = format!(
        r#"{head}
{idp}
"#,
        head = broker_head("127.0.0.1:0", PUBLIC, &p.moto.url, Some(&federation.url)),
        idp = corp_idp(common::app::ROLES, &["prod-readonly", "admin"]),
    );
    let (md_name, md) = forge.metadata_file();
    let app = TestApp::spawn_with_files(&toml, &[(md_name, &md)], None, true).await;
    Some(Env {
        app,
        forge,
        home: tempfile::tempdir().unwrap(),
        _federation: federation,
    })
}

impl Env {
    /// `rolegate <args>` with this test's own HOME, XDG dirs and AWS config, nothing inherited
    /// that could reach real AWS.
    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rolegate"));
        self.isolate(&mut c);
        c.args(args);
        c
    }

    fn isolate(&self, c: &mut Command) {
        let h = self.home.path();
        cli::isolate(c, h);
        c.env("AWS_CONFIG_FILE", h.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", h.join("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("ROLEGATE_BROKER", &self.app.url)
            .stdin(Stdio::null());
    }

    fn broker_dir(&self) -> PathBuf {
        let key = self.app.url.trim_start_matches("http://").replace(':', "_");
        self.home.path().join("cache/rolegate").join(key)
    }

    async fn login(&self, user: &str) {
        let cookie = saml_sign_in(&self.app.url, &self.forge, user, &["eng"]).await;
        let login = self.cli(&["login"]);
        let out = tokio::task::block_in_place(|| cli::login_through_session(login, &cookie));
        assert_success(&out, "rolegate login");
        assert!(stderr(&out).contains("Signed in to"), "{}", stderr(&out));
    }

    /// Changes the saved sign-in the way time or another machine would.
    fn edit_profile(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let brokers = self.home.path().join("config/rolegate/brokers");
        let file = std::fs::read_dir(&brokers)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut profile: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        f(&mut profile);
        std::fs::write(&file, serde_json::to_vec(&profile).unwrap()).unwrap();
    }

    async fn credential_posts(&self) -> u64 {
        let m = self.app.metrics().await;
        m.lines()
            .filter(|l| {
                l.starts_with("rolegate_http_requests_total{")
                    && l.contains("route=\"/api/v1/credentials\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn run(c: &mut Command) -> Output {
    tokio::task::block_in_place(|| c.output().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_and_boto3_get_credentials_through_credential_process() {
    let Some(e) = env().await else { return };
    let p = peers().unwrap();
    e.login("cli-alice").await;
    let tokens = e.home.path().join("config/rolegate/brokers");
    let profile = std::fs::read_dir(&tokens)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&profile), 0o600, "tokens are private");
    assert_eq!(mode(&tokens), 0o700);

    let out = run(&mut e.cli(&["roles"]));
    assert_success(&out, "rolegate roles");
    assert!(stdout(&out).contains("prod-readonly") && stdout(&out).contains("ROLE"));

    // setup: a dry run shows the change and writes nothing; --write writes it.
    let out = run(&mut e.cli(&["setup"]));
    assert_success(&out, "rolegate setup");
    assert!(stdout(&out).contains("+ [profile rolegate-prod-readonly]"));
    assert!(!e.home.path().join("aws-config").exists());
    let out = run(&mut e.cli(&["setup", "--write"]));
    assert_success(&out, "rolegate setup --write");
    let config = std::fs::read_to_string(e.home.path().join("aws-config")).unwrap();
    assert!(config.contains("credential_process = "), "{config}");

    // The real AWS CLI, with nothing but the profile rolegate wrote.
    let aws = |args: &[&str]| {
        let mut c = Command::new("aws");
        e.isolate(&mut c);
        c.args(args).args([
            "--profile",
            "rolegate-prod-readonly",
            "--endpoint-url",
            &p.moto.url,
        ]);
        run(&mut c)
    };
    let before = e.credential_posts().await;
    let out = aws(&["sts", "get-caller-identity", "--output", "json"]);
    assert_success(&out, "aws sts get-caller-identity");
    assert!(
        stdout(&out).contains(":assumed-role/ReadOnly/corp.cli-alice@example.com"),
        "{}",
        stdout(&out)
    );
    assert_eq!(e.credential_posts().await, before + 1);
    // Inside the cache window the broker is not asked again, whichever tool asks.
    let out = aws(&["s3api", "create-bucket", "--bucket", "rolegate-cli-test"]);
    assert_success(&out, "aws s3api create-bucket");
    let out = aws(&[
        "s3api",
        "list-buckets",
        "--query",
        "Buckets[].Name",
        "--output",
        "text",
    ]);
    assert!(stdout(&out).contains("rolegate-cli-test"));
    let mut py = Command::new("python3");
    e.isolate(&mut py);
    py.args([
        "-c",
        "import boto3,sys; s=boto3.Session(profile_name='rolegate-prod-readonly'); \
         print(s.client('sts', endpoint_url=sys.argv[1]).get_caller_identity()['Arn'])",
        &p.moto.url,
    ]);
    let out = run(&mut py);
    assert_success(&out, "boto3");
    assert!(stdout(&out).contains(":assumed-role/ReadOnly/corp.cli-alice@example.com"));
    assert_eq!(
        e.credential_posts().await,
        before + 1,
        "served from the cache"
    );
    let cached: Vec<_> = std::fs::read_dir(e.broker_dir())
        .unwrap()
        .flatten()
        .collect();
    assert!(cached.iter().all(|f| mode(&f.path()) == 0o600));

    // env and exec: the same credentials, in the child's environment only.
    let out = run(&mut e.cli(&["env", "--role", "prod-readonly", "--format", "fish"]));
    assert!(stdout(&out).contains("set -gx AWS_SESSION_TOKEN '"));
    let out = run(&mut e.cli(&[
        "exec",
        "--role",
        "prod-readonly",
        "--",
        "sh",
        "-c",
        "test -n \"$AWS_SECRET_ACCESS_KEY\" && exit 7",
    ]));
    assert_eq!(out.status.code(), Some(7), "exit status passed through");

    let out = run(&mut e.cli(&["console", "--role", "prod-readonly", "--print"]));
    assert_success(&out, "rolegate console --print");
    assert!(stdout(&out).contains("Action=login"), "{}", stdout(&out));

    // Credentials for a role not granted: a message, nothing on stdout.
    let out = run(&mut e.cli(&["credentials", "--role", "sales"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty() && stderr(&out).contains("no credentials for `sales`"));

    // logout revokes at the broker and deletes everything local.
    let out = run(&mut e.cli(&["logout"]));
    assert_success(&out, "rolegate logout");
    assert!(std::fs::read_dir(&tokens).unwrap().next().is_none());
    let out = run(&mut e.cli(&["credentials", "--role", "prod-readonly"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("not signed in"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_processes_cause_one_refresh_and_one_sts_call() {
    let Some(e) = env().await else { return };
    let p = peers().unwrap();
    e.login("cli-crowd").await;
    // Make the access token look expired, so every process wants a refresh too.
    e.edit_profile(|p| p["access_expires_at"] = 0.into());

    let sts_before = p
        .moto
        .sts_requests_for_session("corp.cli-crowd@example.com")
        .await;
    let children: Vec<_> = (0..20)
        .map(|_| {
            e.cli(&["credentials", "--role", "prod-readonly"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = tokio::task::block_in_place(|| {
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    });
    let keys: std::collections::BTreeSet<String> = outputs
        .iter()
        .map(|o| {
            assert_success(o, "concurrent rolegate credentials");
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["Version"], 1);
            v["AccessKeyId"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(keys.len(), 1, "all twenty got the same credentials");
    assert_eq!(
        p.moto
            .sts_requests_for_session("corp.cli-crowd@example.com")
            .await
            - sts_before,
        1,
        "one STS call"
    );
    let m = e.app.metrics().await;
    assert!(
        m.contains("rolegate_oauth_events_total{event=\"token_refresh_token\"} 1"),
        "one refresh: {m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cache_files_revoked_sign_ins_and_a_dead_broker_fail_clearly() {
    let Some(e) = env().await else { return };
    e.login("cli-bob").await;
    let out = run(&mut e.cli(&["credentials", "--role", "prod-readonly"]));
    assert_success(&out, "credentials");
    let cache = std::fs::read_dir(e.broker_dir())
        .unwrap()
        .flatten()
        .find(|f| f.file_name().to_string_lossy().starts_with("creds-"))
        .unwrap()
        .path();

    // Readable by others: refused, with what to do.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&mut e.cli(&["credentials", "--role", "prod-readonly"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("readable by other users"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(&cache).unwrap();

    // Corrupted: said so, replaced by fresh credentials.
    let out = run(&mut e.cli(&["credentials", "--role", "prod-readonly"]));
    assert_success(&out, "credentials");
    std::fs::write(&cache, b"{not json").unwrap();
    let out = run(&mut e.cli(&["credentials", "--role", "prod-readonly"]));
    assert_success(&out, "credentials over a corrupted cache");
    assert!(stderr(&out).contains("corrupted"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["SessionToken"].is_string());

    // Revoked elsewhere (logout on another machine): the next refresh says sign in again.
    let mut refresh_token = String::new();
    e.edit_profile(|p| {
        refresh_token = p["refresh_token"].as_str().unwrap().to_string();
        p["access_expires_at"] = 0.into();
    });
    let r = common::web::client()
        .post(format!("{}/oauth2/revoke", e.app.url))
        .form(&[
            ("client_id", "rolegate-cli"),
            ("token", refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = run(&mut e.cli(&["credentials", "--role", "admin"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("run `rolegate login"),
        "{}",
        stderr(&out)
    );

    // A broker that is down: a clear message and a non-zero exit, quickly.
    let dead = format!("http://127.0.0.1:{}", common::peers::free_port());
    let out = run(&mut e.cli(&["login", "--device", "--broker", &dead]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot reach the broker"),
        "{}",
        stderr(&out)
    );
    // And no broker at all: what to pass.
    let mut c = e.cli(&["roles"]);
    c.env_remove("ROLEGATE_BROKER");
    let out = run(&mut c);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--broker"), "{}", stderr(&out));
    let out = run(&mut e.cli(&["roles", "--broker", "http://example.com"]));
    assert!(stderr(&out).contains("must be https"), "{}", stderr(&out));
}
