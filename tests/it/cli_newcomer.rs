//! The engineer's first minutes against `rolegate serve --dev`, as the README's quick start
//! walks them, with the real AWS CLI: `login`, `status`, `setup --write`, then
//! `aws sts get-caller-identity --profile …` with nothing but the written profile (its region,
//! and STS pointed at the local emulator the dev broker advertises), `exec`'s region, `login`
//! over a live sign-in, and `logout` keeping the broker.

use crate::common;

use common::cli::{self, assert_success};
use common::dev_broker::{dev_session, start, wait_ready};
use common::peers::Moto;
use serde_json::Value;
use std::process::{Command, Output, Stdio};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_against_serve_dev_works_with_the_real_aws_cli_and_nothing_else() {
    let Some(moto) = Moto::start() else { return };
    let broker = start(&moto, "127.0.0.1:0");
    let http = common::web::client();
    wait_ready(&http, &broker).await;
    let base = broker.url.as_str();
    let home = tempfile::tempdir().unwrap();
    let aws_config = home.path().join("aws-config");
    // Nothing from the developer's machine: no region, no profile, no credentials.
    let isolated = |c: &mut Command| {
        cli::isolate(c, home.path());
        c.env("AWS_CONFIG_FILE", &aws_config)
            .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null());
    };
    let rolegate = |args: &[&str]| {
        let mut c = cli::rolegate(home.path());
        isolated(&mut c);
        c.args(args);
        tokio::task::block_in_place(|| c.output().unwrap())
    };

    // Not signed in yet: status says what to run, exit 1.
    let out = rolegate(&["status", "--broker", base]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("rolegate login"), "{}", stderr(&out));

    let session = dev_session(&http, &broker, "alice").await;
    let mut login = cli::rolegate(home.path());
    isolated(&mut login);
    login.args(["login", "--broker", base]);
    let out = tokio::task::block_in_place(|| cli::login_through_session(login, &session));
    assert_success(&out, "rolegate login");
    assert!(stderr(&out).contains("(12h left)"), "{}", stderr(&out));

    // From here on the broker is remembered: no --broker.
    let out = rolegate(&["status"]);
    assert_success(&out, "rolegate status");
    let text = stderr(&out);
    assert!(
        text.contains("alice") && text.contains("via Development IdP"),
        "{text}"
    );
    assert!(
        text.contains("subject alice") && text.contains("eng, sre"),
        "{text}"
    );
    assert!(text.contains("none cached"), "{text}");

    let out = rolegate(&["setup", "--write"]);
    assert_success(&out, "rolegate setup --write");
    let config = std::fs::read_to_string(&aws_config).unwrap();
    assert!(config.contains("region = us-east-1\n"), "{config}");
    assert!(
        config.contains(&format!("  endpoint_url = {}\n", moto.url)),
        "STS at the advertised emulator: {config}"
    );
    let suggested = stderr(&out);
    assert!(
        suggested.contains("try `aws sts get-caller-identity --profile rolegate-dev-admin`")
            || suggested
                .contains("try `aws sts get-caller-identity --profile rolegate-dev-readonly`"),
        "{suggested}"
    );

    // The roles answer says which roles are starred (the CLI's picker lists those first).
    let out = rolegate(&["roles", "--json"]);
    assert_success(&out, "rolegate roles --json");
    let roles: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        roles["roles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["favourite"] == false && r["region"] == "us-east-1"),
        "{roles}"
    );

    // The command setup suggests, exactly: no --endpoint-url, no region from the environment.
    for profile in ["rolegate-dev-readonly", "rolegate-dev-admin"] {
        let mut aws = Command::new("aws");
        isolated(&mut aws);
        aws.args([
            "sts",
            "get-caller-identity",
            "--profile",
            profile,
            "--output",
            "json",
        ]);
        let out = tokio::task::block_in_place(|| aws.output().unwrap());
        assert_success(
            &out,
            &format!("aws sts get-caller-identity --profile {profile}"),
        );
        let id: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            id["Arn"].as_str().unwrap().contains(":assumed-role/Dev"),
            "{id}"
        );
    }

    // status now lists the cached credentials, with their expiry; --json too.
    let out = rolegate(&["status", "--json"]);
    assert_success(&out, "rolegate status --json");
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["broker"], format!("{base}/"));
    assert_eq!(s["signed_in"]["subject"], "alice");
    assert_eq!(s["signed_in"]["groups"], serde_json::json!(["eng", "sre"]));
    let creds = s["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 2, "{s}");
    assert!(
        creds
            .iter()
            .all(|c| c["valid"] == true && c["expiration"].is_string())
    );
    assert_eq!(creds[0]["role"], "dev-admin");
    let out = rolegate(&["status"]);
    assert!(
        stderr(&out).contains("dev-readonly") && stderr(&out).contains("left)"),
        "{}",
        stderr(&out)
    );

    // exec and env: the role's region unless the user chose one.
    let out = rolegate(&[
        "exec",
        "dev-readonly",
        "--",
        "sh",
        "-c",
        "echo $AWS_REGION $AWS_DEFAULT_REGION",
    ]);
    assert_success(&out, "rolegate exec");
    assert_eq!(stdout(&out).trim(), "us-east-1 us-east-1");
    let mut chosen = cli::rolegate(home.path());
    isolated(&mut chosen);
    chosen.env("AWS_DEFAULT_REGION", "eu-west-1").args([
        "exec",
        "dev-readonly",
        "--",
        "sh",
        "-c",
        "echo ${AWS_REGION:-unset} $AWS_DEFAULT_REGION",
    ]);
    let out = tokio::task::block_in_place(|| chosen.output().unwrap());
    assert_eq!(
        stdout(&out).trim(),
        "unset eu-west-1",
        "the user's choice stands"
    );
    let out = rolegate(&["env", "dev-readonly"]);
    assert!(
        stdout(&out).contains("export AWS_REGION='us-east-1'"),
        "{}",
        stdout(&out)
    );

    // The console cannot open against the STS emulator: the CLI says why, not "try again".
    let out = rolegate(&["console", "dev-admin", "--print"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("serve --dev") && err.contains("emulator") && !err.contains("try again"),
        "{err}"
    );

    // login over a live sign-in, without a terminal to ask on: says so, changes nothing.
    let tokens = home.path().join("config/rolegate/brokers");
    let saved = || {
        std::fs::read_dir(&tokens)
            .unwrap()
            .flatten()
            .map(|f| std::fs::read(f.path()).unwrap())
            .collect::<Vec<_>>()
    };
    let before = saved();
    let out = rolegate(&["login"]);
    assert_success(&out, "rolegate login (already signed in)");
    assert!(
        stderr(&out).contains("Already signed in"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(saved(), before, "the sign-in is untouched");

    // logout ends the sign-in but keeps the broker: status needs no --broker afterwards.
    let out = rolegate(&["logout"]);
    assert_success(&out, "rolegate logout");
    let out = rolegate(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(base), "{}", stderr(&out));
    assert!(stderr(&out).contains("none cached"), "{}", stderr(&out));
}
