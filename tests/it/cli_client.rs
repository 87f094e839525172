//! The `rolegate` CLI as engineers use it, as child processes against a running broker and moto:
//! `login` (loopback flow; the browser is tests/support/cli_browser.py pressing Allow with a
//! signed-in session), `roles`, `setup --write`, then the real AWS CLI and boto3 calling
//! `rolegate credentials` through `credential_process` (a second call inside the cache window
//! asks the broker nothing), `env`, `exec`, `console --print`, `logout`; twenty concurrent
//! processes causing one refresh and one STS call; and the failures: not signed in, a
//! world-readable or corrupted cache, a revoked sign-in, a broker that is down.

use crate::common;

use common::app::{TestApp, broker_head, peers};
use common::cli::{self, assert_success};
use common::federation::Federation;
use common::hostile_broker::HostileBroker;
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
    federation: Federation,
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
        federation,
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

// --- a hostile broker: what the CLI must refuse whatever the broker says -----------------------

/// `rolegate <args>` against `broker`, with its own HOME and `$HOME/aws-config` as AWS config.
fn against(home: &Path, broker: &HostileBroker, args: &[&str]) -> Command {
    let mut c = cli::rolegate(home);
    c.env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("ROLEGATE_BROKER", &broker.url)
        .current_dir(home)
        .stdin(Stdio::null())
        .args(args);
    c
}

fn offered(alias: &str, account_name: &str) -> serde_json::Value {
    serde_json::json!({"roles": [{
        "alias": alias, "arn": "arn:aws:iam::111122223333:role/ReadOnly",
        "account": "111122223333", "account_name": account_name,
        "actions": ["console", "credentials"], "max_duration_seconds": 3600,
    }]})
}

async fn hostile(answers: &[(&str, serde_json::Value)]) -> (HostileBroker, tempfile::TempDir) {
    let broker = HostileBroker::start(answers).await;
    let home = tempfile::tempdir().unwrap();
    broker.sign_in(home.path());
    (broker, home)
}

/// The attack: an alias with line breaks becomes `[profile rolegate-x]`, then a
/// `credential_process` line of the attacker's choosing, which the AWS CLI runs at the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_alias_with_newline_credential_process_injection() {
    let alias = "x]\ncredential_process = sh -c 'touch PWNED'\n[profile y";
    let (b, home) = hostile(&[("/api/v1/roles", offered(alias, "Prod"))]).await;
    for args in [&["setup"][..], &["setup", "--write"][..]] {
        let out = run(&mut against(home.path(), &b, args));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(r#""x]\ncredential_process = sh -c 'touch PWNED'\n[profile y""#),
            "names the alias, escaped: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "not even a diff: {}", stdout(&out));
    }
    assert!(!home.path().join("aws-config").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_keeps_lost_roles_until_prune_and_never_changes_a_byte_outside_its_block() {
    let two = {
        let mut v = offered("ro", "Prod (EU)");
        let mut admin = v["roles"][0].clone();
        admin["alias"] = "admin".into();
        v["roles"].as_array_mut().unwrap().push(admin);
        v
    };
    let (b, home) = hostile(&[("/api/v1/roles", two)]).await;
    let port: u16 = b.url.rsplit(':').next().unwrap().parse().unwrap();
    let config = home.path().join("aws-config");
    // What the user wrote around the block: CRLF lines, a comment, no final line break.
    let before = "# mine\r\n[default]\r\nregion = eu-west-1\r\n\r\n";
    std::fs::write(&config, before).unwrap();
    let out = run(&mut against(home.path(), &b, &["setup", "--write"]));
    assert_success(&out, "setup --write");
    let after = "\r\n[profile mine]\r\noutput = json";
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(after);
    std::fs::write(&config, &text).unwrap();
    let outside = |t: &str| {
        let start = t.find("# BEGIN rolegate").unwrap();
        let end = t.find("# END rolegate").unwrap();
        let end = end + t[end..].find('\n').unwrap() + 1;
        (t[..start].to_string(), t[end..].to_string())
    };
    // The first write appends the block after a separating blank line; from then on, nothing
    // outside it moves.
    assert_eq!(outside(&text), (format!("{before}\n"), after.to_string()));
    let before = outside(&text).0;

    // The broker now offers only `ro`: `admin`'s profile is kept, and said so.
    drop(b);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let b = HostileBroker::start_on(port, &[("/api/v1/roles", offered("ro", "Prod (EU)"))]).await;
    let out = run(&mut against(home.path(), &b, &["setup", "--write"]));
    assert_success(&out, "setup --write, a role lost");
    assert!(
        stderr(&out).contains("Keeping 1 profiles of roles you no longer have: rolegate-admin"),
        "{}",
        stderr(&out)
    );
    let kept = std::fs::read_to_string(&config).unwrap();
    assert!(kept.contains("[profile rolegate-admin]"));
    assert_eq!(outside(&kept), (before.clone(), after.to_string()));

    // --prune (dry run first: nothing changes), then written.
    let out = run(&mut against(home.path(), &b, &["setup", "--prune"]));
    assert_success(&out, "setup --prune (dry run)");
    assert!(
        stdout(&out).contains("- [profile rolegate-admin]"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), kept);
    let out = run(&mut against(
        home.path(),
        &b,
        &["setup", "--prune", "--write"],
    ));
    assert_success(&out, "setup --prune --write");
    assert!(
        stderr(&out).contains("Removing 1 profiles"),
        "{}",
        stderr(&out)
    );
    let pruned = std::fs::read_to_string(&config).unwrap();
    assert!(!pruned.contains("rolegate-admin") && pruned.contains("[profile rolegate-ro]"));
    assert_eq!(outside(&pruned), (before.clone(), after.to_string()));

    // A name template: the profile is renamed, not duplicated; a bad template changes nothing.
    let out = run(&mut against(
        home.path(),
        &b,
        &["setup", "--write", "--name", "{account}-{role}"],
    ));
    assert_success(&out, "setup --name");
    let named = std::fs::read_to_string(&config).unwrap();
    assert!(named.contains("[profile Prod-EU-ro]") && !named.contains("[profile rolegate-ro]"));
    assert_eq!(outside(&named), (before.clone(), after.to_string()));
    let out = run(&mut against(
        home.path(),
        &b,
        &["setup", "--write", "--name", "{team}-{role}"],
    ));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown placeholder {team}"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), named);
}

/// The attack: the account name is written as a `# …` comment above each profile; a CR or LF
/// in it ends the comment and starts a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_account_name_with_control_characters_config_injection() {
    for name in [
        "Prod\ncredential_process = touch PWNED",
        "Prod\r[profile rolegate-x]\rcredential_process = touch PWNED",
        "Prod\u{0}",
        "Prod\u{85}credential_process = touch PWNED",
    ] {
        let (b, home) = hostile(&[("/api/v1/roles", offered("prod-ro", name))]).await;
        let out = run(&mut against(home.path(), &b, &["setup", "--write"]));
        assert_eq!(out.status.code(), Some(1), "{name:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("\"prod-ro\"") && stderr(&out).contains("control character"),
            "{}",
            stderr(&out)
        );
        assert!(!home.path().join("aws-config").exists(), "{name:?}");
    }
}

/// The attack: `setup --write` wrote `<config>.rolegate.tmp`, following links, so a link
/// planted there made it overwrite any file of the user's (then renamed the link into place).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_write_does_not_follow_symlink_planted_at_temp_path() {
    let (b, home) = hostile(&[("/api/v1/roles", offered("prod-ro", "Prod"))]).await;
    let victim = home.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, home.path().join("aws-config.rolegate.tmp")).unwrap();
    let out = run(&mut against(home.path(), &b, &["setup", "--write"]));
    assert_success(&out, "setup --write");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let config = home.path().join("aws-config");
    assert!(std::fs::symlink_metadata(&config).unwrap().is_file());
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("[profile rolegate-prod-ro]")
    );
    assert_eq!(mode(&config), 0o600);
}

/// The attack: another local user who can write ~/.aws (or owns it) swaps the config or
/// plants links between our write and the AWS CLI's read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_aws_dir_others_can_write_swap_attack() {
    let (b, home) = hostile(&[("/api/v1/roles", offered("prod-ro", "Prod"))]).await;
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut c = against(home.path(), &b, &["setup", "--write"]);
    c.env("AWS_CONFIG_FILE", aws.join("config"));
    let out = run(&mut c);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("chmod go-w {}", aws.display())),
        "{}",
        stderr(&out)
    );
    assert!(!aws.join("config").exists());
    // Owned by someone else (only root can arrange that here): refused, saying whose it is.
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    if std::os::unix::fs::chown(&aws, Some(65534), None).is_ok() {
        let out = run(&mut c);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("belongs to uid 65534"),
            "{}",
            stderr(&out)
        );
        std::os::unix::fs::chown(&aws, Some(rustix::process::geteuid().as_raw()), None).unwrap();
    }
    assert_success(&run(&mut c), "setup --write into a private ~/.aws");
}

/// The same for the credential cache: a directory others can write is refused before any
/// credentials are written into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_refuse_cache_dir_others_can_write_swap_attack() {
    let creds = serde_json::json!({
        "Version": 1, "AccessKeyId": "ASIAHOSTILE", "SecretAccessKey": "s", "SessionToken": "t",
        "Expiration": "2099-01-01T00:00:00Z",
    });
    let (b, home) = hostile(&[("/api/v1/credentials", creds)]).await;
    let key = b.url.trim_start_matches("http://").replace(':', "_");
    let cache = home.path().join("cache/rolegate").join(key);
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(&mut against(
        home.path(),
        &b,
        &["credentials", "--role", "r"],
    ));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("chmod go-w"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_success(
        &run(&mut against(
            home.path(),
            &b,
            &["credentials", "--role", "r"],
        )),
        "credentials in a private cache",
    );
}

/// A `$BROWSER` that records its arguments, one per line, into `record`.
fn recording_browser(home: &Path, record: &Path) -> String {
    let script = home.join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    format!("{} --new-tab %s", script.display())
}

fn wait_for(path: &Path) -> Option<String> {
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(path)
            && s.ends_with('\n')
        {
            return Some(s);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

/// The attack: the browser was started through `sh -c` (on macOS with the URL pasted between
/// single quotes), so a `'` in a broker's link ended the quoting. Now an argument vector: the
/// browser gets the link as one argument, byte for byte, and no shell ever sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_opens_browser_with_argv_not_shell_quote_injection() {
    let url = "https://signin.aws.amazon.com/a'$(touch${IFS}PWNED)'&b=`touch${IFS}PWNED2`";
    let (b, home) = hostile(&[("/api/v1/console-url", serde_json::json!({ "url": url }))]).await;
    let record = home.path().join("argv");
    let mut c = against(home.path(), &b, &["console", "--role", "r"]);
    c.env("BROWSER", recording_browser(home.path(), &record));
    let out = run(&mut c);
    assert_success(&out, "console");
    let argv = tokio::task::block_in_place(|| wait_for(&record)).expect("the browser ran");
    let parsed = url::Url::parse(url).unwrap();
    assert_eq!(
        argv,
        format!("--new-tab\n{parsed}\n"),
        "one argument, unchanged"
    );
    assert!(!home.path().join("PWNED").exists() && !home.path().join("PWNED2").exists());
}

/// `$BROWSER` as headless Chromium: it loads the link it is given (following redirects) with
/// the arguments it is given (a profile directory among them) and writes the DOM of the page it
/// ends on to `dom`.
fn headless_chromium(home: &Path, dom: &Path) -> Option<String> {
    let exe = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    if !common::peers::require_peer(
        "headless Chromium (apt: chromium)",
        Path::new(&exe).exists(),
    ) {
        return None;
    }
    let script = home.join("chromium-headless");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n'{exe}' --headless=new --no-sandbox --disable-gpu --dump-dom \"$@\" > '{dom}.tmp' 2>/dev/null\nmv '{dom}.tmp' '{dom}'\n",
            dom = dom.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    Some(script.display().to_string())
}

/// Waits for `dom` (written whole by [`headless_chromium`]), then removes it for the next run.
fn page(dom: &Path) -> String {
    for _ in 0..300 {
        if let Ok(s) = std::fs::read_to_string(dom) {
            std::fs::remove_file(dom).unwrap();
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("Chromium wrote no page to {}", dom.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_switch_and_browser_profiles_in_chromium_and_firefox_containers() {
    let Some(e) = env().await else { return };
    e.login("cli-console").await;
    let dom = e.home.path().join("dom.html");
    let Some(chromium) = headless_chromium(e.home.path(), &dom) else {
        return;
    };
    let console = |args: &[&str], browser: &str| {
        let mut c = e.cli(&[&["console", "--role"][..], args].concat());
        c.env("BROWSER", browser);
        let out = run(&mut c);
        assert_success(&out, &format!("console {args:?}"));
    };

    // --switch: AWS's sign-out first, then on to this sign-in, in one link.
    console(&["prod-readonly", "--switch"], &chromium);
    let p = tokio::task::block_in_place(|| page(&dom));
    assert!(
        p.contains(":assumed-role/ReadOnly/corp.cli-console@example.com"),
        "{p}"
    );
    assert_eq!(e.federation.sign_outs(), 1, "signed out on the way");
    let out = run(&mut e.cli(&["console", "--role", "admin", "--switch", "--print"]));
    assert_success(&out, "console --switch --print");
    assert!(
        stdout(&out).starts_with(&format!(
            "{}/oauth?Action=logout&redirect_uri=",
            e.federation.url.trim_end_matches("/federation")
        )),
        "{}",
        stdout(&out)
    );

    // --browser-profile: each role in a Chromium profile of its own, private to the user.
    let profiles = e.home.path().join(".local/share/rolegate/browser-profiles");
    for (role, arn) in [("prod-readonly", "ReadOnly"), ("admin", "Admin")] {
        console(&[role, "--browser-profile"], &chromium);
        let p = tokio::task::block_in_place(|| page(&dom));
        assert!(p.contains(&format!(":assumed-role/{arn}/")), "{role}: {p}");
        let dir = profiles.join(role);
        assert!(
            dir.join("Default").is_dir(),
            "Chromium used {}",
            dir.display()
        );
        assert_eq!(mode(&dir), 0o700, "the role's console cookies are private");
    }
    assert_eq!(e.federation.sign_outs(), 1, "profiles need no sign-out");

    // --container: one ext+container: link, its name and url percent-encoded.
    let record = e.home.path().join("container-args");
    console(
        &["admin", "--container"],
        &recording_browser(e.home.path(), &record),
    );
    let args = tokio::task::block_in_place(|| wait_for(&record)).expect("browser started");
    let link = args.trim_end();
    assert_eq!(args.lines().count(), 1, "{args}");
    let rest = link
        .strip_prefix("ext+container:name=admin&url=")
        .unwrap_or_else(|| panic!("{link}"));
    let inner: String = url::form_urlencoded::parse(format!("u={rest}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    assert!(
        inner.starts_with(&format!("{}?Action=login", e.federation.url)),
        "{inner}"
    );
    let out = run(&mut e.cli(&["console", "--role", "admin", "--container", "--print"]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "--print opens nothing: {}",
        stderr(&out)
    );
}

/// The attack: a broker's "console link" that is a `file:` path or another app's URL scheme;
/// `open`/`xdg-open` would launch whatever it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_refuses_non_web_link_from_broker_app_launch() {
    for url in [
        "file:///System/Applications/Calculator.app",
        "ms-msdt:/id PCWDiagnostic /skip force",
    ] {
        let (b, home) =
            hostile(&[("/api/v1/console-url", serde_json::json!({ "url": url }))]).await;
        let record = home.path().join("argv");
        let mut c = against(home.path(), &b, &["console", "--role", "r"]);
        c.env("BROWSER", recording_browser(home.path(), &record));
        let out = run(&mut c);
        assert_eq!(out.status.code(), Some(1), "{url}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("only http and https"),
            "{}",
            stderr(&out)
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!record.exists(), "{url}: no browser started");
    }
}

/// The attack: `rolegate roles` printed the broker's names raw, so an escape sequence in an
/// account name drove the engineer's terminal (clear the screen, hide lines, OSC 52 clipboard).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_escape_broker_control_sequences_terminal_injection() {
    let name = "Prod\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J";
    let (b, home) = hostile(&[("/api/v1/roles", offered("prod-ro", name))]).await;
    let out = run(&mut against(home.path(), &b, &["roles"]));
    assert_success(&out, "roles");
    assert!(!out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07));
    assert!(
        stdout(&out).contains(r"Prod\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J (111122223333)"),
        "{}",
        stdout(&out)
    );
}

// --- which role: by position, by flag, picked on a terminal, or a helpful refusal ---------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_by_position_refusals_without_a_terminal_and_misspellings_suggest() {
    let Some(e) = env().await else { return };
    let p = peers().unwrap();
    e.login("cli-carol").await;

    // The real AWS CLI, with a profile naming the role by position.
    let profile = format!(
        "[profile positional]\ncredential_process = {} credentials --broker {} prod-readonly\n",
        env!("CARGO_BIN_EXE_rolegate"),
        e.app.url
    );
    std::fs::write(e.home.path().join("aws-config"), profile).unwrap();
    let mut aws = Command::new("aws");
    e.isolate(&mut aws);
    aws.args(["sts", "get-caller-identity", "--output", "json"])
        .args(["--profile", "positional", "--endpoint-url", &p.moto.url]);
    let out = run(&mut aws);
    assert_success(
        &out,
        "aws sts get-caller-identity through `credentials <role>`",
    );
    assert!(
        stdout(&out).contains(":assumed-role/ReadOnly/corp.cli-carol@example.com"),
        "{}",
        stdout(&out)
    );

    // No role and stdin not a terminal: never a prompt, a message and nothing on stdout.
    for (args, usage) in [
        (&["credentials"][..], "rolegate credentials <role>"),
        (&["env"][..], "rolegate env <role>"),
        (&["console", "--print"][..], "rolegate console <role>"),
        (
            &["exec", "--", "true"][..],
            "rolegate exec <role> -- command",
        ),
    ] {
        let out = run(&mut e.cli(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
        assert!(
            stderr(&out).contains(&format!(
                "which role? name one: `{usage}`; `rolegate roles` lists yours"
            )),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    // A misspelt role: the nearest of the user's aliases, and the command that lists them.
    let out = run(&mut e.cli(&["credentials", "prod-redonly"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("no credentials for `prod-redonly`: it is not one of your roles; did you mean `prod-readonly`?")
            && err.contains("`rolegate roles` lists yours")
            && !err.contains("/api/"),
        "{err}"
    );
    let out = run(&mut e.cli(&["console", "--role", "admn", "--print"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did you mean `admin`?"),
        "{}",
        stderr(&out)
    );
    // A role of the catalogue the user may not use, far from theirs: no guess.
    let out = run(&mut e.cli(&["credentials", "sales"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`sales`: it is not one of your roles")
            && !stderr(&out).contains("did you mean"),
        "{}",
        stderr(&out)
    );
    // Named twice, differently.
    let out = run(&mut e.cli(&["credentials", "admin", "--role", "prod-readonly"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("two roles named"), "{}", stderr(&out));

    // Durations in human units, both ways.
    let out = run(&mut e.cli(&["credentials", "admin", "--duration", "4h"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("at most 1h"), "{}", stderr(&out));
    let out = run(&mut e.cli(&["exec", "prod-readonly", "--duration", "4h", "--", "true"]));
    assert_success(&out, "exec with --duration 4h (the role's maximum)");
    let out = run(&mut e.cli(&["roles"]));
    let max = |alias: &str| {
        stdout(&out)
            .lines()
            .find(|l| l.starts_with(&format!("{alias} ")))
            .and_then(|l| l.split_whitespace().last().map(str::to_string))
    };
    assert_eq!(
        max("prod-readonly").as_deref(),
        Some("4h"),
        "{}",
        stdout(&out)
    );
    assert_eq!(max("admin").as_deref(), Some("1h"), "{}", stdout(&out));

    // `env --format zsh` (and bash) write what sh reads.
    let sh = stdout(&run(&mut e.cli(&["env", "prod-readonly"])));
    for shell in ["zsh", "bash"] {
        let out = run(&mut e.cli(&["env", "prod-readonly", "--format", shell]));
        assert_success(&out, shell);
        assert_eq!(stdout(&out), sh, "{shell}");
    }
    assert!(sh.contains("export AWS_SESSION_TOKEN='"), "{sh}");
}

/// A pseudo-terminal: the master side for the test, the slave side for the child's stdin and
/// stderr, 30 rows by 100 columns.
fn pty() -> (std::fs::File, std::fs::File) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    use std::os::unix::fs::OpenOptionsExt;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(name.to_str().unwrap())
        .unwrap();
    let size = rustix::termios::Winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&slave, size).unwrap();
    (std::fs::File::from(master), slave)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_role_on_a_terminal_a_fuzzy_picker_chooses_one() {
    let Some(e) = env().await else { return };
    e.login("cli-dave").await;
    let (mut master, slave) = pty();
    let mut c = e.cli(&["credentials"]);
    c.env("TERM", "xterm")
        .stdin(slave.try_clone().unwrap())
        .stderr(slave)
        .stdout(Stdio::piped());
    let child = c.spawn().unwrap();
    drop(c); // the parent's copies of the slave side: EOF on the master when the child exits
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let mut reader = master.try_clone().unwrap();
    let seen = screen.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let shown = |text: &str| String::from_utf8_lossy(&screen.lock().unwrap()).contains(text);
    let wait_until = |text: &str| {
        for _ in 0..200 {
            if shown(text) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "the picker never showed {text:?}: {}",
            String::from_utf8_lossy(&screen.lock().unwrap())
        );
    };
    tokio::task::block_in_place(|| {
        use std::io::Write;
        // Alias, account name and number, in the broker's order.
        wait_until("prod-readonly  prod (123456789012)");
        wait_until("admin          prod (123456789012)");
        master.write_all(b"adm").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        master.write_all(b"\r").unwrap();
    });
    let out = tokio::task::block_in_place(|| child.wait_with_output().unwrap());
    assert_success(&out, "credentials through the picker");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Version"], 1, "stdout is credential_process JSON only");
    let cached: Vec<String> = std::fs::read_dir(e.broker_dir())
        .unwrap()
        .flatten()
        .map(|f| f.file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        cached.iter().any(|f| f.starts_with("creds-admin-")),
        "typing `adm` chose admin: {cached:?}"
    );
}

// --- serve-credentials: the container-credentials endpoint ---------------------------------------

/// A running `rolegate serve-credentials`, killed when dropped.
struct CredentialServer {
    child: std::process::Child,
    /// AWS_CONTAINER_CREDENTIALS_FULL_URI, as printed.
    uri: String,
    /// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, as printed.
    token_file: PathBuf,
}

impl CredentialServer {
    /// Starts `c` (a `serve-credentials` command) and reads the two exports it prints.
    fn start(mut c: Command) -> Self {
        use std::io::{BufRead, Read};
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut export = |name: &str| -> String {
            let Some(Ok(line)) = lines.next() else {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("serve-credentials printed no {name}: {err}");
            };
            let (k, v) = line.trim_start_matches("export ").split_once('=').unwrap();
            assert_eq!(k, name, "{line}");
            v.trim_matches('\'').to_string()
        };
        let uri = export("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        let token_file = PathBuf::from(export("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
        CredentialServer {
            child,
            uri,
            token_file,
        }
    }

    fn base(&self) -> String {
        let u = url::Url::parse(&self.uri).unwrap();
        format!("http://127.0.0.1:{}", u.port().unwrap())
    }

    /// SIGTERM, as a service manager stops it; waits for the exit.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").arg(&pid).status().unwrap().success());
        tokio::task::block_in_place(|| self.child.wait().unwrap())
    }
}

impl Drop for CredentialServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_credentials_feeds_aws_cli_and_boto3_and_twenty_clients_cause_one_sts_call() {
    let Some(e) = env().await else { return };
    let p = peers().unwrap();
    e.login("cli-serve").await;
    let session = "corp.cli-serve@example.com";
    let sts_before = p.moto.sts_requests_for_session(session).await;
    let server = tokio::task::block_in_place(|| {
        CredentialServer::start(e.cli(&[
            "serve-credentials",
            "--role",
            "prod-readonly",
            "--role",
            "admin",
        ]))
    });
    assert!(
        server.uri.starts_with("http://127.0.0.1:") && server.uri.ends_with("/role/prod-readonly"),
        "{}",
        server.uri
    );
    assert_eq!(mode(&server.token_file), 0o600, "the token file is private");
    let token = std::fs::read_to_string(&server.token_file).unwrap();
    assert_eq!(token.len(), 64);

    // The real AWS CLI and boto3, with the two variables and nothing else.
    let container = |c: &mut Command| {
        e.isolate(c);
        c.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &server.uri)
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &server.token_file);
    };
    let mut aws = Command::new("aws");
    container(&mut aws);
    aws.args([
        "sts",
        "get-caller-identity",
        "--output",
        "json",
        "--endpoint-url",
        &p.moto.url,
    ]);
    let out = run(&mut aws);
    assert_success(
        &out,
        "aws sts get-caller-identity through serve-credentials",
    );
    assert!(
        stdout(&out).contains(":assumed-role/ReadOnly/corp.cli-serve@example.com"),
        "{}",
        stdout(&out)
    );
    let mut py = Command::new("python3");
    container(&mut py);
    py.args([
        "-c",
        "import boto3,sys; print(boto3.client('sts', endpoint_url=sys.argv[1]).get_caller_identity()['Arn'])",
        &p.moto.url,
    ]);
    let out = run(&mut py);
    assert_success(&out, "boto3 through serve-credentials");
    assert!(stdout(&out).contains(":assumed-role/ReadOnly/corp.cli-serve@example.com"));
    // Two roles checked at start, then the cache: two STS calls in all.
    assert_eq!(
        p.moto.sts_requests_for_session(session).await - sts_before,
        2
    );

    // A cold cache and twenty clients at once: one STS call, one answer for all.
    for f in std::fs::read_dir(e.broker_dir()).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("creds-") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    let sts_before = p.moto.sts_requests_for_session(session).await;
    let client = common::web::client();
    let answers = futures_util::future::join_all((0..20).map(|_| {
        client
            .get(&server.uri)
            .header("Authorization", token.as_str())
            .send()
    }))
    .await;
    let mut keys = std::collections::BTreeSet::new();
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), 200);
        let v: serde_json::Value = a.json().await.unwrap();
        for field in ["SecretAccessKey", "Token", "Expiration"] {
            assert!(v[field].is_string(), "{field}: {v}");
        }
        assert!(
            v["RoleArn"].as_str().unwrap().ends_with(":role/ReadOnly"),
            "{v}"
        );
        keys.insert(v["AccessKeyId"].as_str().unwrap().to_string());
    }
    assert_eq!(keys.len(), 1, "all twenty got the same credentials");
    assert_eq!(
        p.moto.sts_requests_for_session(session).await - sts_before,
        1,
        "one STS call"
    );

    // The healthcheck needs no token and tells nothing; with the token it names the roles.
    let h = client
        .get(format!("{}/healthz", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    assert_eq!(h.text().await.unwrap(), r#"{"status":"ok"}"#);
    let h = client
        .get(format!("{}/healthz", server.base()))
        .header("Authorization", "0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.text().await.unwrap(),
        r#"{"status":"ok"}"#,
        "a wrong token"
    );
    let h = client
        .get(format!("{}/healthz", server.base()))
        .header("Authorization", token.as_str())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = h.json().await.unwrap();
    assert_eq!(v["roles"], serde_json::json!(["prod-readonly", "admin"]));

    let token_file = server.token_file.clone();
    let status = server.stop();
    assert!(status.success(), "{status}");
    assert!(!token_file.exists(), "the token file is deleted on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_lists_what_the_cli_was_issued_as_a_table_and_json() {
    let Some(e) = env().await else { return };
    e.login("cli-sessions").await;
    let out = run(&mut e.cli(&["sessions"]));
    assert_success(&out, "sessions before any");
    assert!(
        stderr(&out).contains("No live AWS session"),
        "{}",
        stderr(&out)
    );
    assert_success(
        &run(&mut e.cli(&["credentials", "prod-readonly"])),
        "credentials",
    );
    let out = run(&mut e.cli(&["sessions"]));
    assert_success(&out, "sessions");
    let table = stdout(&out);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("USER") && header.ends_with("ID"),
        "{table}"
    );
    let row = lines.next().unwrap();
    for cell in [
        "corp:cli-sessions@example.com",
        "prod-readonly",
        "cli/credentials",
        "127.0.0.1",
        "ses_",
    ] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    assert!(row.contains(" left)"), "{row}");
    let out = run(&mut e.cli(&["sessions", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["sessions"][0]["client"], "cli");
    assert_eq!(
        v["sessions"][0]["user_agent"]
            .as_str()
            .map(|u| u.starts_with("rolegate-cli/")),
        Some(true)
    );
    // Others' sessions need the policy's rolegate:ListSessions.
    let out = run(&mut e.cli(&["sessions", "--role", "admin"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("rolegate:ListSessions"),
        "{}",
        stderr(&out)
    );
}

/// The cache file of `role` for the default duration, under `dir`.
fn cache_file_of(dir: &Path, role: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|f| f.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with(&format!("creds-{role}-")) && n.ends_with("-default.json")
        })
        .unwrap_or_else(|| panic!("no cache file for {role} in {}", dir.display()))
}

/// Rewrites a cache file's expiry to `now + secs`, as time passing would make it.
fn expire_in(file: &Path, secs: i64) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let at = chrono::Utc::now() + chrono::Duration::seconds(secs);
    v["Expiration"] = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
    std::fs::write(file, v.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_credentials_renews_inside_the_fifteen_minute_margin_and_not_before() {
    let Some(e) = env().await else { return };
    let p = peers().unwrap();
    e.login("cli-serve-renew").await;
    let session = "corp.cli-serve-renew@example.com";
    let server = tokio::task::block_in_place(|| {
        CredentialServer::start(e.cli(&["serve-credentials", "--role", "prod-readonly"]))
    });
    let token = std::fs::read_to_string(&server.token_file).unwrap();
    let client = common::web::client();
    let key = || async {
        let r = client
            .get(&server.uri)
            .header("Authorization", token.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        v["AccessKeyId"].as_str().unwrap().to_string()
    };
    let first = key().await;
    let file = cache_file_of(&e.broker_dir(), "prod-readonly");

    // Twenty minutes left: still served from the cache, STS is not asked.
    expire_in(&file, 20 * 60);
    let before = p.moto.sts_requests_for_session(session).await;
    assert_eq!(key().await, first);
    assert_eq!(p.moto.sts_requests_for_session(session).await, before);

    // Ten minutes left (inside botocore's refresh window): renewed, once, for every client.
    expire_in(&file, 10 * 60);
    let renewed = key().await;
    assert_ne!(renewed, first, "renewed before expiry");
    assert_eq!(key().await, renewed, "and the renewal is cached");
    assert_eq!(p.moto.sts_requests_for_session(session).await, before + 1);

    // Already expired: never served.
    expire_in(&file, -60);
    assert_ne!(key().await, renewed);
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_server_prints_a_running_servers_variables_and_forgets_a_killed_one() {
    let Some(e) = env().await else { return };
    let p = peers().unwrap();
    e.login("cli-env-server").await;
    // None running yet: the error says how to start one.
    let out = run(&mut e.cli(&["env", "--server", "prod-readonly"]));
    assert!(!out.status.success());
    assert!(stdout(&out).is_empty(), "nothing to eval on failure");
    assert!(
        stderr(&out).contains("rolegate serve-credentials --role prod-readonly"),
        "{}",
        stderr(&out)
    );
    let mut server = tokio::task::block_in_place(|| {
        CredentialServer::start(e.cli(&[
            "serve-credentials",
            "--role",
            "prod-readonly",
            "--role",
            "admin",
        ]))
    });
    let out = run(&mut e.cli(&["env", "--server", "prod-readonly"]));
    assert_success(&out, "env --server");
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI='{}'\nexport AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE='{}'",
            server.uri,
            server.token_file.display()
        )
    );
    let out = run(&mut e.cli(&["env", "--server", "admin", "--format", "fish"]));
    assert_success(&out, "env --server --format fish");
    assert!(
        stdout(&out).contains(&format!(
            "set -gx AWS_CONTAINER_CREDENTIALS_FULL_URI '{}/role/admin'",
            server.base()
        )),
        "{}",
        stdout(&out)
    );
    let out = run(&mut e.cli(&["env", "--server", "prod-readonly", "--duration", "1h"]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--duration is the server's"),
        "{}",
        stderr(&out)
    );

    // A role this server does not serve: the error names what runs.
    let out = run(&mut e.cli(&["env", "--server", "other"]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("running now: prod-readonly, admin on port"),
        "{err}"
    );

    // The recipes' forwarded port (ssh -R, a container's own loopback): the Host names another
    // port, the bytes are unchanged, and boto3 is served through it.
    let mut forward = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/tcp_forward.py"
        ))
        .arg(
            url::Url::parse(&server.uri)
                .unwrap()
                .port()
                .unwrap()
                .to_string(),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(forward.stdout.as_mut().unwrap());
        tokio::task::block_in_place(|| r.read_line(&mut port).unwrap());
    }
    let mut py = Command::new("python3");
    e.isolate(&mut py);
    py.env(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("http://127.0.0.1:{}/role/prod-readonly", port.trim()),
    )
    .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &server.token_file)
    .args([
        "-c",
        "import boto3,sys; print(boto3.client('sts', endpoint_url=sys.argv[1]).get_caller_identity()['Arn'])",
        &p.moto.url,
    ]);
    let out = run(&mut py);
    let _ = forward.kill();
    let _ = forward.wait();
    assert_success(&out, "boto3 through a forwarded port");
    assert!(stdout(&out).contains(":assumed-role/ReadOnly/corp.cli-env-server@example.com"));

    // SIGKILL leaves the token file; the next `env --server` finds nothing there and removes it.
    let token_file = server.token_file.clone();
    server.child.kill().unwrap();
    tokio::task::block_in_place(|| server.child.wait().unwrap());
    assert!(token_file.exists());
    let out = run(&mut e.cli(&["env", "--server", "prod-readonly"]));
    assert!(!out.status.success());
    assert!(!stderr(&out).contains("running now"), "{}", stderr(&out));
    assert!(
        !token_file.exists(),
        "a dead server's token file is removed"
    );
}

/// The Rust SDK's own container provider (aws-config), in a process of its own: it reads the
/// two variables from the environment, which a test must not change in its own process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_container_provider_gets_credentials_from_serve_credentials() {
    let Some(e) = env().await else { return };
    let p = peers().unwrap();
    e.login("cli-serve-rust").await;
    let server = tokio::task::block_in_place(|| {
        CredentialServer::start(e.cli(&["serve-credentials", "--role", "prod-readonly"]))
    });
    let mut child = Command::new(std::env::current_exe().unwrap());
    e.isolate(&mut child);
    child
        .args([
            "--exact",
            "cli_client::rust_sdk_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ROLEGATE_TEST_RUST_SDK_STS", &p.moto.url)
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &server.uri)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &server.token_file);
    let out = run(&mut child);
    assert_success(&out, "the Rust SDK's container provider");
    assert!(
        stdout(&out).contains("ARN=arn:aws:sts::")
            && stdout(&out).contains(":assumed-role/ReadOnly/corp.cli-serve-rust@example.com"),
        "{}",
        stdout(&out)
    );
    assert!(server.stop().success());
}

/// Run only by the test above, in its own process with the container variables set.
#[tokio::test]
#[ignore = "the child process of rust_sdk_container_provider_gets_credentials_from_serve_credentials"]
async fn rust_sdk_child() {
    let Ok(sts) = std::env::var("ROLEGATE_TEST_RUST_SDK_STS") else {
        return;
    };
    use aws_config::ecs::EcsCredentialsProvider;
    let provider = EcsCredentialsProvider::builder().build();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(sts)
        .credentials_provider(provider)
        .build();
    let who = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity with the container provider's credentials");
    println!("ARN={}", who.arn().unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_credentials_refuses_missing_or_wrong_token_unknown_role_and_dns_rebinding() {
    let Some(e) = env().await else { return };
    e.login("cli-serve-refusals").await;
    let server = tokio::task::block_in_place(|| {
        CredentialServer::start(e.cli(&["serve-credentials", "--role", "prod-readonly"]))
    });
    let token = std::fs::read_to_string(&server.token_file).unwrap();
    let client = common::web::client();
    let refused = |status: u16, code: &'static str| {
        move |r: reqwest::Response| async move {
            assert_eq!(r.status().as_u16(), status);
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["Code"], code, "{v}");
            assert!(v["Message"].is_string(), "{v}");
            assert!(v.get("SecretAccessKey").is_none() && v.get("Token").is_none());
            v
        }
    };
    // No token.
    let r = client.get(&server.uri).send().await.unwrap();
    refused(401, "Unauthorized")(r).await;
    // A wrong token, and the right one with a byte changed or cut.
    let changed = format!(
        "{}{}",
        &token[..63],
        if token.ends_with('0') { '1' } else { '0' }
    );
    for wrong in ["guess", &token[..63], changed.as_str()] {
        let r = client
            .get(&server.uri)
            .header("Authorization", wrong)
            .send()
            .await
            .unwrap();
        refused(403, "Forbidden")(r).await;
    }
    // A role not served, even one granted: 404 naming what is served.
    for role in ["admin", "sales", "../prod-readonly"] {
        let r = client
            .get(format!("{}/role/{role}", server.base()))
            .header("Authorization", token.as_str())
            .send()
            .await
            .unwrap();
        let v = refused(404, "NotFound")(r).await;
        assert!(
            v["Message"].as_str().unwrap().contains("prod-readonly"),
            "{v}"
        );
    }
    // DNS rebinding: a page's name for 127.0.0.1 in Host, even with the token.
    let r = client
        .get(&server.uri)
        .header("Host", "rebind.attacker.example")
        .header("Authorization", token.as_str())
        .send()
        .await
        .unwrap();
    refused(403, "Forbidden")(r).await;
    // Not GET.
    let r = client
        .post(&server.uri)
        .header("Authorization", token.as_str())
        .send()
        .await
        .unwrap();
    refused(405, "MethodNotAllowed")(r).await;
    // And the server still answers.
    let r = client
        .get(&server.uri)
        .header("Authorization", token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_credentials_refuses_to_start_not_signed_in_role_not_granted_or_port_in_use() {
    let Some(e) = env().await else { return };
    // Not signed in: the message `credentials` gives, at once, nothing on stdout.
    let out = run(&mut e.cli(&["serve-credentials", "--role", "prod-readonly"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("run `rolegate login"),
        "{}",
        stderr(&out)
    );

    e.login("cli-serve-start").await;
    let out = run(&mut e.cli(&[
        "serve-credentials",
        "--role",
        "prod-readonly",
        "--role",
        "sales",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(err.contains("sales"), "{err}");
    assert!(
        err.contains("prod-readonly") && err.contains("admin"),
        "the error names the roles that are granted: {err}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = run(&mut e.cli(&[
        "serve-credentials",
        "--role",
        "prod-readonly",
        "--port",
        &port,
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("cannot listen on 127.0.0.1:"),
        "{}",
        stderr(&out)
    );
    let tokens: Vec<_> = std::fs::read_dir(e.broker_dir())
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".token"))
        .collect();
    assert!(tokens.is_empty(), "no token file left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_credentials_token_file_does_not_follow_planted_symlink_token_theft() {
    let creds = serde_json::json!({
        "Version": 1, "AccessKeyId": "ASIAHOSTILE", "SecretAccessKey": "s", "SessionToken": "t",
        "Expiration": "2099-01-01T00:00:00Z",
    });
    let (b, home) = hostile(&[("/api/v1/credentials", creds)]).await;
    let port = common::peers::free_port();
    // Warm the cache (and its private directory), then plant a symlink where the token goes,
    // pointing at a file others can read.
    assert_success(
        &run(&mut against(
            home.path(),
            &b,
            &["credentials", "--role", "r"],
        )),
        "credentials",
    );
    let key = b.url.trim_start_matches("http://").replace(':', "_");
    let cache = home.path().join("cache/rolegate").join(key);
    let public = home.path().join("public.txt");
    std::fs::write(&public, "nothing").unwrap();
    std::os::unix::fs::symlink(
        &public,
        cache.join(format!("serve-credentials-{port}.token")),
    )
    .unwrap();
    let server = tokio::task::block_in_place(|| {
        CredentialServer::start(against(
            home.path(),
            &b,
            &[
                "serve-credentials",
                "--role",
                "r",
                "--port",
                &port.to_string(),
            ],
        ))
    });
    assert_eq!(std::fs::read_to_string(&public).unwrap(), "nothing");
    let meta = std::fs::symlink_metadata(&server.token_file).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the symlink was replaced, not followed"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&server.token_file).unwrap();
    let r = common::web::client()
        .get(&server.uri)
        .header("Authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["AccessKeyId"], "ASIAHOSTILE");
    assert!(
        v.get("RoleArn").is_none(),
        "no RoleArn when the broker sends none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_server_child_gets_the_endpoint_and_no_static_keys_stale_key_precedence() {
    let Some(e) = env().await else { return };
    let p = peers().unwrap();
    e.login("cli-exec-server").await;
    // Stale keys in the parent's environment would win over the endpoint in every SDK.
    let mut c = e.cli(&[
        "exec",
        "--server",
        "--role",
        "prod-readonly",
        "--",
        "sh",
        "-c",
        "env | grep '^AWS_' | sort; aws sts get-caller-identity --output text --query Arn --endpoint-url \"$1\"",
        "sh",
        &p.moto.url,
    ]);
    c.env("AWS_ACCESS_KEY_ID", "AKIASTALE")
        .env("AWS_SECRET_ACCESS_KEY", "stale")
        .env("AWS_SESSION_TOKEN", "stale")
        .env("AWS_PROFILE", "someone-else");
    let out = run(&mut c);
    assert_success(&out, "rolegate exec --server");
    let env = stdout(&out);
    assert!(
        env.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:"),
        "{env}"
    );
    assert!(
        env.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="),
        "{env}"
    );
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        assert!(
            !env.contains(&format!("{k}=")),
            "{k} reached the child: {env}"
        );
    }
    assert!(
        env.contains(":assumed-role/ReadOnly/corp.cli-exec-server@example.com"),
        "{env}\n{}",
        stderr(&out)
    );
    // The token file lived as long as the child.
    let tokens = std::fs::read_dir(e.broker_dir())
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".token"))
        .count();
    assert_eq!(tokens, 0, "the token file is deleted when the child exits");
    // The child's status passes through.
    let out = run(&mut e.cli(&[
        "exec",
        "--server",
        "--role",
        "prod-readonly",
        "--",
        "sh",
        "-c",
        "exit 7",
    ]));
    assert_eq!(out.status.code(), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_credentials_outlives_a_dead_broker_in_the_sdk_error_shape_and_recovers() {
    let creds = serde_json::json!({
        "Version": 1, "AccessKeyId": "ASIAFIRST", "SecretAccessKey": "s", "SessionToken": "t",
        "Expiration": "2099-01-01T00:00:00Z",
    });
    let (b, home) = hostile(&[("/api/v1/credentials", creds)]).await;
    let server = tokio::task::block_in_place(|| {
        CredentialServer::start(against(
            home.path(),
            &b,
            &["serve-credentials", "--role", "r"],
        ))
    });
    let token = std::fs::read_to_string(&server.token_file).unwrap();
    let client = common::web::client();
    let get = || {
        client
            .get(&server.uri)
            .header("Authorization", token.as_str())
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);

    // The broker goes away and the cached credentials with it (as expiry would take them).
    let key = b.url.trim_start_matches("http://").replace(':', "_");
    let port: u16 = b.url.rsplit(':').next().unwrap().parse().unwrap();
    drop(b);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let cache = home.path().join("cache/rolegate").join(key);
    for f in std::fs::read_dir(&cache).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("creds-") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    for _ in 0..2 {
        let r = get().await.unwrap();
        assert_eq!(r.status(), 503);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["Code"], "CredentialsUnavailable", "{v}");
        let m = v["Message"].as_str().unwrap();
        assert!(m.contains("broker"), "{m}");
        assert!(
            !m.contains(token.as_str()),
            "the token never appears in an error"
        );
    }
    // Still serving.
    let h = client
        .get(format!("{}/healthz", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);

    // The broker is back, at the same address: the next client is served, no restart needed.
    let renewed = serde_json::json!({
        "Version": 1, "AccessKeyId": "ASIASECOND", "SecretAccessKey": "s", "SessionToken": "t",
        "Expiration": "2099-01-01T00:00:00Z",
    });
    let _back = HostileBroker::start_on(port, &[("/api/v1/credentials", renewed)]).await;
    let r = get().await.unwrap();
    assert_eq!(r.status(), 200, "recovered after the outage");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["AccessKeyId"], "ASIASECOND");
    assert!(server.stop().success());
}
