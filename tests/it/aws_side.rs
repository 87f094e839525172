//! The AWS side written and checked by the broker: `rolegate aws trust-policy`, `rolegate aws
//! oidc-provider` and `rolegate doctor`, as child processes against a moto of their own (IAM
//! state is per moto, so each test starts one). Roles are created through moto's IAM with the
//! SDK, the broker's principal is a real assumed-role session out of moto's STS, and the
//! doctor reads IAM through `[aws.partitions.aws] iam_endpoint`.

use crate::common::peers::{Moto, free_port};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const ACCOUNT: &str = "123456789012";

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// A config in `mode` with moto as STS and IAM; `roles` are (name, max_duration) and every
/// role is granted to group eng, with session tags for the roles named in `tagged`.
fn config(moto: &str, mode: &str, roles: &[(&str, &str)], tagged: &[&str]) -> String {
    let mut s = format!(
        r#"
[aws]
mode = "{mode}"
role_chaining = "false"

[aws.partitions.aws]
sts_endpoint = "{moto}"
iam_endpoint = "{moto}"

[[idp]]
id = "corp"
kind = "oidc"
issuer = "https://corp.example.com"
client_id = "rolegate"
"#
    );
    if mode == "web_identity" {
        // Nothing listens there: the issuer check must report it, not hang.
        let port = free_port();
        s.push_str(&format!(
            "\n[issuer]\nurl = \"https://127.0.0.1:{port}/rg\"\nsigning_key_file = \"issuer.pem\"\naudience = \"rolegate-prod\"\n"
        ));
    }
    for (name, max) in roles {
        s.push_str(&format!(
            "\n[[role]]\narn = \"{}\"\nmax_duration = \"{max}\"\n",
            role_arn(name)
        ));
    }
    let plain: Vec<String> = roles
        .iter()
        .filter(|(n, _)| !tagged.contains(n))
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    if !plain.is_empty() {
        s.push_str(&format!(
            "\n[[map]]\nidp = \"corp\"\ngroups = [\"eng\"]\nroles = [{}]\n",
            plain.join(", ")
        ));
    }
    if !tagged.is_empty() {
        let t: Vec<String> = tagged.iter().map(|n| format!("\"{n}\"")).collect();
        s.push_str(&format!(
            "\n[[map]]\nidp = \"corp\"\ngroups = [\"eng\"]\nroles = [{}]\ntags = {{ team = \"platform\" }}\n",
            t.join(", ")
        ));
    }
    s
}

/// The config written into `dir` (with an issuer key beside it), and its path.
fn write_config(dir: &Path, toml: &str) -> String {
    write_config_with_key(dir, toml).0
}

fn write_config_with_key(dir: &Path, toml: &str) -> (String, rolegate::token::SigningKey) {
    let key = rolegate::token::SigningKey::generate().unwrap();
    std::fs::write(dir.join("issuer.pem"), key.to_pem()).unwrap();
    let p = dir.join("rolegate.toml");
    std::fs::write(&p, toml).unwrap();
    (p.display().to_string(), key)
}

struct Creds {
    key: String,
    secret: String,
    token: Option<String>,
}

fn static_creds() -> Creds {
    Creds {
        key: "testing".into(),
        secret: "testing".into(),
        token: None,
    }
}

/// `rolegate <args>` with only `creds` in its environment (no profile, no instance metadata).
fn rolegate(home: &Path, creds: &Creds, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rolegate"));
    crate::common::cli::isolate(&mut c, home);
    c.env("AWS_ACCESS_KEY_ID", &creds.key)
        .env("AWS_SECRET_ACCESS_KEY", &creds.secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(args);
    if let Some(t) = &creds.token {
        c.env("AWS_SESSION_TOKEN", t);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn create_role(iam: &aws_sdk_iam::Client, name: &str, trust: &Value, max_secs: i32) {
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .max_session_duration(max_secs)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {name}: {e:?}"));
}

/// The broker as AWS would see it on EC2/ECS: a role session out of STS (moto's).
async fn broker_session(moto: &str, iam: &aws_sdk_iam::Client) -> Creds {
    create_role(
        iam,
        "rolegate-broker",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        3600,
    )
    .await;
    let conf = aws_sdk_sts::config::Builder::new()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(moto)
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .assume_role()
        .role_arn(role_arn("rolegate-broker"))
        .role_session_name("i-0123456789abcdef0")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    Creds {
        key: c.access_key_id().to_string(),
        secret: c.secret_access_key().to_string(),
        token: Some(c.session_token().to_string()),
    }
}

fn json_out(code: i32, out: &str, err: &str) -> Value {
    serde_json::from_str(out)
        .unwrap_or_else(|e| panic!("exit {code}, not JSON ({e}):\n{out}\n{err}"))
}

fn role_report<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["arn"] == role_arn(name))
        .unwrap_or_else(|| panic!("{name} not in {report}"))
}

fn checks(role: &Value) -> Vec<&str> {
    role["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect()
}

/// The whole loop an operator runs: the trust policy rolegate writes (for the principal STS
/// says the broker is: an assumed-role session becomes its role), applied in IAM, then the
/// doctor reading it back finds nothing.
#[tokio::test]
async fn doctor_passes_roles_set_up_with_the_trust_policy_rolegate_writes() {
    let Some(moto) = Moto::start() else { return };
    let iam = crate::common::iam::client(&moto.url);
    let broker = broker_session(&moto.url, &iam).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &config(
            &moto.url,
            "assume_role",
            &[("ReadOnly", "4h"), ("Tagged", "1h")],
            &["Tagged"],
        ),
    );
    for (name, secs) in [("ReadOnly", 4 * 3600), ("Tagged", 3600)] {
        let (code, out, err) = rolegate(
            dir.path(),
            &broker,
            &["aws", "trust-policy", "--config", &cfg, "--role", name],
        );
        assert_eq!(code, 0, "{err}");
        let policy = json_out(code, &out, &err);
        assert_eq!(
            policy["Statement"][0]["Principal"]["AWS"],
            role_arn("rolegate-broker"),
            "the role, never the session: {policy}"
        );
        let tagged = policy["Statement"][1]["Action"] == "sts:TagSession";
        assert_eq!(tagged, name == "Tagged", "{policy}");
        create_role(&iam, name, &policy, secs).await;
    }
    let (code, out, err) = rolegate(dir.path(), &broker, &["doctor", "--config", &cfg, "--json"]);
    let report = json_out(code, &out, &err);
    assert_eq!(code, 0, "{report:#}\n{err}");
    for name in ["ReadOnly", "Tagged"] {
        let r = role_report(&report, name);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["inline_policy_chars_left"], 10_240);
    }
    let (code, text, _) = rolegate(dir.path(), &broker, &["doctor", "--config", &cfg]);
    assert_eq!(code, 0);
    assert!(text.contains("ok    ReadOnly ("), "{text}");
}

/// One role per mistake; each gets exactly its finding, exit 1, and `--fix-print` the policy.
#[tokio::test]
async fn doctor_names_each_kind_of_broken_role_with_its_fix() {
    let Some(moto) = Moto::start() else { return };
    let iam = crate::common::iam::client(&moto.url);
    let broker_arn = format!("arn:aws:iam::{ACCOUNT}:user/rolegate");
    let ok_trust = |actions: &[&str]| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": broker_arn}, "Action": actions}]})
    };
    let all = ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"];
    create_role(
        &iam,
        "OtherPrincipal",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/someone-else")},
            "Action": all}]}),
        3600,
    )
    .await;
    create_role(
        &iam,
        "Everyone",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": "sts:*"}]}),
        3600,
    )
    .await;
    create_role(
        &iam,
        "NoSourceIdentity",
        &ok_trust(&["sts:AssumeRole", "sts:TagSession"]),
        3600,
    )
    .await;
    create_role(
        &iam,
        "NoTagSession",
        &ok_trust(&["sts:AssumeRole", "sts:SetSourceIdentity"]),
        3600,
    )
    .await;
    create_role(&iam, "ShortSessions", &ok_trust(&all), 3600).await;
    create_role(&iam, "FullInline", &ok_trust(&all), 3600).await;
    let big = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "Action": "s3:*", "Resource": format!("arn:aws:s3:::{}", "b".repeat(9_000))}]});
    iam.put_role_policy()
        .role_name("FullInline")
        .policy_name("legacy")
        .policy_document(big.to_string())
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &config(
            &moto.url,
            "assume_role",
            &[
                ("OtherPrincipal", "1h"),
                ("Everyone", "1h"),
                ("NoSourceIdentity", "1h"),
                ("NoTagSession", "1h"),
                ("ShortSessions", "8h"),
                ("FullInline", "1h"),
                ("Missing", "1h"),
            ],
            &["NoTagSession"],
        ),
    );
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &[
            "doctor",
            "--config",
            &cfg,
            "--json",
            "--fix-print",
            "--broker-principal",
            &broker_arn,
        ],
    );
    let report = json_out(code, &out, &err);
    assert_eq!(code, 1, "{report:#}\n{err}");
    for (name, want) in [
        (
            "OtherPrincipal",
            vec!["trust_principal", "set_source_identity"],
        ),
        ("Everyone", vec!["trust_principal", "set_source_identity"]),
        ("NoSourceIdentity", vec!["set_source_identity"]),
        ("NoTagSession", vec!["tag_session"]),
        ("ShortSessions", vec!["max_session_duration"]),
        ("FullInline", vec!["inline_policy_size"]),
        ("Missing", vec!["role_exists"]),
    ] {
        let r = role_report(&report, name);
        assert_eq!(r["ok"], false, "{r}");
        assert_eq!(checks(r), want, "{name}: {r:#}");
        for f in r["findings"].as_array().unwrap() {
            let fix = f["fix"].as_str().unwrap();
            assert!(!fix.is_empty() && !fix.contains('\n'), "one line: {fix}");
        }
        // --fix-print: the policy to apply comes with every trust finding.
        let trust = want
            .iter()
            .any(|c| *c != "max_session_duration" && *c != "inline_policy_size");
        assert_eq!(r.get("trust_policy").is_some(), trust, "{name}: {r}");
    }
    let short = role_report(&report, "ShortSessions");
    assert!(
        short["findings"][0]["fix"]
            .as_str()
            .unwrap()
            .ends_with("--role-name ShortSessions --max-session-duration 28800"),
        "{short}"
    );
    assert!(
        role_report(&report, "FullInline")["inline_policy_chars_left"]
            .as_u64()
            .unwrap()
            < 2_048
    );
    assert!(!out.contains("testing"), "no credential in the report");
}

/// IAM cannot be reached: exit 2, and the roles it could not read are named.
#[tokio::test]
async fn doctor_with_iam_unreachable_exits_2_naming_the_roles() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let toml = config(
        &moto.url,
        "assume_role",
        &[("ReadOnly", "1h"), ("Admin", "1h")],
        &[],
    )
    .replace(
        &format!("iam_endpoint = \"{}\"", moto.url),
        &format!("iam_endpoint = \"{dead}\""),
    );
    let cfg = write_config(dir.path(), &toml);
    let started = std::time::Instant::now();
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &[
            "doctor",
            "--config",
            &cfg,
            "--json",
            "--broker-principal",
            &format!("arn:aws:iam::{ACCOUNT}:user/rolegate"),
        ],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    for name in ["ReadOnly", "Admin"] {
        assert!(err.contains(&role_arn(name)), "{err}");
        let r = role_report(&json_out(code, &out, &err), name).clone();
        assert_eq!(r["ok"], false);
        assert!(r["error"].as_str().unwrap().contains("iam:GetRole"), "{r}");
    }
}

/// web_identity: a trust policy that pins only the audience lets every token of the issuer
/// open the role — the doctor says so; the one rolegate writes passes; an issuer that cannot
/// be fetched is its own finding.
#[tokio::test]
async fn doctor_in_web_identity_mode_finds_audience_only_trust_and_an_unreachable_issuer() {
    let Some(moto) = Moto::start() else { return };
    let iam = crate::common::iam::client(&moto.url);
    let dir = tempfile::tempdir().unwrap();
    let toml = config(
        &moto.url,
        "web_identity",
        &[("Pinned", "1h"), ("AudienceOnly", "1h")],
        &[],
    );
    let cfg = write_config(dir.path(), &toml);
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &["aws", "trust-policy", "--config", &cfg, "--role", "Pinned"],
    );
    assert_eq!(code, 0, "{err}");
    let pinned = json_out(code, &out, &err);
    let conditions = &pinned["Statement"][0]["Condition"];
    let host_path = pinned["Statement"][0]["Principal"]["Federated"]
        .as_str()
        .unwrap()
        .split_once(":oidc-provider/")
        .unwrap()
        .1
        .to_string();
    assert!(
        host_path.starts_with("127.0.0.1:") && host_path.ends_with("/rg"),
        "{host_path}"
    );
    assert_eq!(
        conditions["StringEquals"][format!("{host_path}:sub")],
        role_arn("Pinned")
    );
    assert_eq!(
        conditions["StringEquals"][format!("{host_path}:aud")],
        "rolegate-prod"
    );
    assert_eq!(conditions["Bool"]["sts:RoleAuthorizedByIdp"], "true");
    create_role(&iam, "Pinned", &pinned, 3600).await;
    // Without the provider STS refuses every token: the doctor says so first, for every role.
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &["doctor", "--config", &cfg, "--json"],
    );
    let report = json_out(code, &out, &err);
    assert_eq!(
        checks(role_report(&report, "Pinned")),
        ["oidc_provider"],
        "{report:#}"
    );
    iam.create_open_id_connect_provider()
        .url(format!("https://{host_path}"))
        .client_id_list("rolegate-prod")
        .send()
        .await
        .unwrap();
    let mut audience_only = pinned.clone();
    let c = &mut audience_only["Statement"][0]["Condition"];
    c["StringEquals"]
        .as_object_mut()
        .unwrap()
        .remove(&format!("{host_path}:sub"));
    c.as_object_mut().unwrap().remove("Bool");
    create_role(&iam, "AudienceOnly", &audience_only, 3600).await;

    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &["doctor", "--config", &cfg, "--json"],
    );
    let report = json_out(code, &out, &err);
    assert_eq!(code, 1, "{report:#}\n{err}");
    assert_eq!(role_report(&report, "Pinned")["ok"], true, "{report:#}");
    assert_eq!(
        checks(role_report(&report, "AudienceOnly")),
        ["sub_aud_pinned", "roles_claim_required"]
    );
    assert_eq!(report["issuer"]["ok"], false);
    assert_eq!(report["issuer"]["findings"][0]["check"], "issuer_discovery");

    // The provider to register for that issuer.
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &["aws", "oidc-provider", "--config", &cfg],
    );
    assert_eq!(code, 0, "{err}");
    let p = json_out(code, &out, &err);
    assert_eq!(p["Url"], format!("https://{host_path}"));
    assert_eq!(p["ClientIDList"], json!(["rolegate-prod"]));
}

#[test]
fn trust_policy_for_a_role_not_in_the_catalogue_is_refused_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &config(
            "http://127.0.0.1:9",
            "web_identity",
            &[("ReadOnly", "1h")],
            &[],
        ),
    );
    for role in ["Admin", "arn:aws:iam::123456789012:role/Admin"] {
        let (code, out, err) = rolegate(
            dir.path(),
            &static_creds(),
            &["aws", "trust-policy", "--config", &cfg, "--role", role],
        );
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("not in the catalogue"), "{err}");
    }
}

/// A broker principal of the `aws` partition can never be trusted by an aws-cn or aws-us-gov
/// role: refused, naming both partitions, before anything is printed.
#[test]
fn trust_policy_partition_mismatch_for_aws_cn_and_aws_us_gov_is_refused() {
    // Nothing is asked of STS or IAM before the refusal: no endpoint needs to answer.
    let moto_url = "http://127.0.0.1:9";
    let principal = format!("arn:aws:iam::{ACCOUNT}:role/rolegate-broker");
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}\n[aws.partitions.aws-cn]\nsts_endpoint = \"{m}\"\n\n[aws.partitions.aws-us-gov]\nsts_endpoint = \"{m}\"\n\n[[role]]\narn = \"arn:aws-cn:iam::{ACCOUNT}:role/China\"\n\n[[role]]\narn = \"arn:aws-us-gov:iam::{ACCOUNT}:role/GovCloud\"\n",
        config(moto_url, "assume_role", &[("ReadOnly", "1h")], &[]),
        m = moto_url
    );
    let cfg = write_config(dir.path(), &toml);
    for (role, partition) in [("China", "aws-cn"), ("GovCloud", "aws-us-gov")] {
        let (code, out, err) = rolegate(
            dir.path(),
            &static_creds(),
            &[
                "aws",
                "trust-policy",
                "--config",
                &cfg,
                "--role",
                role,
                "--broker-principal",
                &principal,
            ],
        );
        assert_eq!(code, 2, "{out}{err}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("partition mismatch") && err.contains(&format!("`{partition}`")),
            "{err}"
        );
    }
    // The doctor cannot check them either: exit 2, naming them.
    let (code, _, err) = rolegate(
        dir.path(),
        &static_creds(),
        &["doctor", "--config", &cfg, "--broker-principal", &principal],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("arn:aws-cn:iam::{ACCOUNT}:role/China")),
        "{err}"
    );
}

#[test]
fn an_issuer_that_is_not_https_is_refused_by_trust_policy_and_oidc_provider() {
    let dir = tempfile::tempdir().unwrap();
    let toml = config(
        "http://127.0.0.1:9",
        "web_identity",
        &[("ReadOnly", "1h")],
        &[],
    );
    let toml = regex_free_http(&toml);
    let cfg = write_config(dir.path(), &toml);
    for args in [
        &[
            "aws",
            "trust-policy",
            "--config",
            &cfg,
            "--role",
            "ReadOnly",
        ][..],
        &["aws", "oidc-provider", "--config", &cfg],
    ] {
        let (code, out, err) = rolegate(dir.path(), &static_creds(), args);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(err.contains("issuer.url") && err.contains("https"), "{err}");
    }
}

/// `url = "https://…"` → `url = "http://…"`.
fn regex_free_http(toml: &str) -> String {
    toml.replace("url = \"https://127.0.0.1", "url = \"http://127.0.0.1")
}

/// The token for the roles-claim check against real STS (deploy/aws/README.md) is one the
/// broker would sign: its issuer key, the role in `sub` and in the roles claim, 5 minutes.
#[test]
fn web_identity_token_for_the_roles_claim_check_is_signed_as_the_broker_signs() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, key) = write_config_with_key(
        dir.path(),
        &config(
            "http://127.0.0.1:9",
            "web_identity",
            &[("ReadOnly", "1h")],
            &[],
        ),
    );
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &[
            "aws",
            "web-identity-token",
            "--config",
            &cfg,
            "--role",
            "ReadOnly",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let token = out.trim();
    let keys = rolegate::idp::oidc::keys::KeySet::from_jwks_json(key.jwks().to_string().as_bytes())
        .unwrap();
    let header = rolegate::idp::oidc::verify::parse_header(token).unwrap();
    assert!(
        keys.find(header.kid.as_deref(), header.alg).is_some(),
        "signed by the issuer key"
    );
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], role_arn("ReadOnly"));
    assert_eq!(claims["https://aws.amazon.com/roles"], role_arn("ReadOnly"));
    assert_eq!(claims["aud"], "rolegate-prod");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    // Only for catalogue roles, and only in web_identity mode.
    let (code, out, _) = rolegate(
        dir.path(),
        &static_creds(),
        &[
            "aws",
            "web-identity-token",
            "--config",
            &cfg,
            "--role",
            "Admin",
        ],
    );
    assert_eq!((code, out.as_str()), (2, ""));
    let cfg = write_config(
        dir.path(),
        &config(
            "http://127.0.0.1:9",
            "assume_role",
            &[("ReadOnly", "1h")],
            &[],
        ),
    );
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &[
            "aws",
            "web-identity-token",
            "--config",
            &cfg,
            "--role",
            "ReadOnly",
        ],
    );
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
}

/// `[aws.partitions.<p>] iam_endpoint` is validated like `sts_endpoint`: a value that is no
/// http(s) URL stops `config check` (and every command) naming the key, from the file or the
/// environment (`ROLEGATE_AWS__PARTITIONS__AWS__IAM_ENDPOINT`).
#[test]
fn an_iam_endpoint_that_is_not_a_url_is_named_by_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &config(
            "http://127.0.0.1:9",
            "assume_role",
            &[("ReadOnly", "1h")],
            &[],
        )
        .replace(
            "iam_endpoint = \"http://127.0.0.1:9\"",
            "iam_endpoint = \"ftp://iam\"",
        ),
    );
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &["config", "check", "--config", &cfg],
    );
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("aws.partitions.aws.iam_endpoint"), "{err}");
    let cfg = write_config(
        dir.path(),
        &config(
            "http://127.0.0.1:9",
            "assume_role",
            &[("ReadOnly", "1h")],
            &[],
        ),
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_rolegate"));
    crate::common::cli::isolate(&mut c, dir.path());
    let out = c
        .env("ROLEGATE_AWS__PARTITIONS__AWS__IAM_ENDPOINT", "not a url")
        .args(["doctor", "--config", &cfg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aws.partitions.aws.iam_endpoint"), "{err}");
}

/// deploy/aws's JSON trust policies are what `rolegate aws trust-policy` writes for
/// config/example.toml's `prod-readonly` (its grants set the `team` and `user` tags), in both
/// modes: documentation that cannot drift from the generator.
#[test]
fn the_shipped_trust_policies_are_what_rolegate_writes_for_the_example() {
    let root = crate::common::peers::repo_root();
    let shipped = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(root.join("deploy/aws").join(name)).unwrap())
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(root.join("config/example.toml"))
        .unwrap()
        .replace(
            "files = [\"policy/example.json\"]",
            &format!(
                "files = [\"{}\"]",
                root.join("config/policy/example.json").display()
            ),
        );
    let assume = write_config(dir.path(), &example);
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &[
            "aws",
            "trust-policy",
            "--config",
            &assume,
            "--role",
            "prod-readonly",
            "--broker-principal",
            "arn:aws:iam::111122223333:role/rolegate-broker",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json_out(code, &out, &err),
        shipped("trust-policy-assume-role.json")
    );
    let web = example.replacen("mode = \"assume_role\"", "mode = \"web_identity\"", 1)
        + "\n[issuer]\nurl = \"https://idp.example.com/rolegate\"\nsigning_key_file = \"issuer.pem\"\naudience = \"rolegate-prod\"\n";
    let web = write_config(dir.path(), &web);
    let (code, out, err) = rolegate(
        dir.path(),
        &static_creds(),
        &[
            "aws",
            "trust-policy",
            "--config",
            &web,
            "--role",
            "prod-readonly",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json_out(code, &out, &err),
        shipped("trust-policy-web-identity.json")
    );
}
