//! `rolegate config check`: exit 0 for a valid file, 1 with the offending key path otherwise.

use std::process::Command;

fn check(toml: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rolegate.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rolegate"));
    cmd.args(["config", "check", "--config"]).arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GOOD: &str = r#"
[[idp]]
id = "corp"
kind = "oidc"
issuer = "https://corp.example.com"
client_id = "rolegate"

[[role]]
arn = "arn:aws:iam::111122223333:role/ReadOnly"

[[map]]
idp = "corp"
groups = ["eng"]
roles = ["ReadOnly"]
"#;

#[test]
fn the_documented_example_is_valid() {
    let out = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args([
            "config",
            "check",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_valid_config_passes() {
    let (code, stdout, _) = check(GOOD, &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(
            "OK (1 IdP(s), 1 role(s), 1 map rule(s), 1 policy statement(s), memory store)"
        ),
        "{stdout}"
    );
    // The redirect URI to register at each OIDC IdP: its own (against mix-up).
    assert!(
        stdout.contains(
            "idp `corp`: register the redirect URI <server.public_url>/oidc/callback/corp"
        ),
        "{stdout}"
    );
    let with_url = format!("[server]\npublic_url = \"https://aws.example.com\"\n{GOOD}");
    let (code, stdout, _) = check(&with_url, &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("register the redirect URI https://aws.example.com/oidc/callback/corp"),
        "{stdout}"
    );
}

#[test]
fn each_error_names_the_key_to_fix() {
    let cases: Vec<(String, &str)> = vec![
        (
            GOOD.replace(
                "client_id = \"rolegate\"",
                "client_id = \"rolegate\"\nalow_idp_initiated = true",
            ),
            "idp[0].alow_idp_initiated",
        ),
        (
            GOOD.replace("role/ReadOnly\"", "user/ReadOnly\""),
            "role[0].arn",
        ),
        (
            GOOD.replace("roles = [\"ReadOnly\"]", "roles = [\"Missing\"]"),
            "map[0].roles[0]",
        ),
        (
            GOOD.replace("idp = \"corp\"\ngroups", "idp = \"nope\"\ngroups"),
            "map[0].idp",
        ),
        (
            GOOD.replace("https://corp.example.com", "http://corp.example.com"),
            "idp[0].issuer",
        ),
        (
            GOOD.replace(
                "kind = \"oidc\"\nissuer = \"https://corp.example.com\"\nclient_id = \"rolegate\"",
                "kind = \"dev\"",
            ),
            "idp[0].kind",
        ),
        (
            format!("{GOOD}\n[aws]\ndefault_duration = \"13h\"\n"),
            "aws.default_duration",
        ),
        (
            format!("{GOOD}\n[aws]\nmode = \"web_identity\"\n"),
            "issuer",
        ),
        (
            format!("{GOOD}\n[store]\nbackend = \"redis\"\n"),
            "store.redis_url",
        ),
        (
            format!("{GOOD}\n[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n"),
            "server.trusted_proxies[0]",
        ),
        (
            format!("{GOOD}\n[[role]]\narn = \"arn:aws:iam::111122223333:role/ReadOnly\"\n"),
            "role[1]",
        ),
        (
            format!("{GOOD}\n[session]\nlifetime = \"30d\"\n"),
            "session.lifetime",
        ),
        (
            format!("{GOOD}\n[session]\nlifetime = \"1h\"\nidle_timeout = \"2h\"\n"),
            "session.idle_timeout",
        ),
        (
            format!("{GOOD}\n[session]\nidle_timeout = \"forever\"\n"),
            "session.idle_timeout",
        ),
        ("\n[server\n".to_string(), "rolegate.toml:2:8"),
        (
            format!(
                "{GOOD}\n[[idp]]\nid = \"corp2\"\nkind = \"oidc\"\nissuer = \"https://corp.example.com\"\nclient_id = \"x\"\n"
            ),
            "idp[1].issuer",
        ),
        (
            format!(
                "{GOOD}\n[[idp]]\nid = \"corp\"\nkind = \"oidc\"\nissuer = \"https://other.example.com\"\nclient_id = \"x\"\n"
            ),
            "idp[1].id",
        ),
        (
            format!("{GOOD}\n[revocation]\naccess_key_id_env = \"HOME\"\n"),
            "revocation.access_key_id_file",
        ),
        (
            format!(
                "{GOOD}\n[revocation]\nwrite_iam = false\naccess_key_id_env = \"HOME\"\nsecret_access_key_env = \"HOME\"\n"
            ),
            "revocation.write_iam",
        ),
        (
            format!("{GOOD}\n[revocation]\nwrite_iam = \"no\"\n"),
            "revocation.write_iam",
        ),
    ];
    for (toml, path) in cases {
        let (code, _, stderr) = check(&toml, &[]);
        assert_eq!(code, 1, "{path}: {stderr}");
        assert!(
            stderr.contains(&format!("{path}`")),
            "expected `{path}` in: {stderr}"
        );
    }
}

#[test]
fn environment_overrides_apply_and_are_named_when_wrong() {
    let (code, _, stderr) = check(GOOD, &[("ROLEGATE_IDP__0__ISSUER", "not a url")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("`idp[0].issuer`"), "{stderr}");
    let (code, _, stderr) = check(GOOD, &[("ROLEGATE_ROLE__5__ALIAS", "x")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("ROLEGATE_ROLE__5__ALIAS"), "{stderr}");
    let (code, _, stderr) = check(GOOD, &[("ROLEGATE_SERVER__LISTENN", "x")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("server.listenn"), "{stderr}");
    let (code, _, _) = check(
        GOOD,
        &[
            ("ROLEGATE_LIMITS__CREDENTIALS_PER_MINUTE", "5"),
            ("ROLEGATE_BROKER", "http://x"),
        ],
    );
    assert_eq!(code, 0);
}

#[test]
fn secrets_from_env_must_exist_and_are_never_printed() {
    let toml = GOOD.replace(
        "client_id = \"rolegate\"",
        "client_id = \"rolegate\"\nclient_secret_env = \"ROLEGATE_TEST_SECRET_X\"",
    );
    let (code, _, stderr) = check(&toml, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("ROLEGATE_TEST_SECRET_X"), "{stderr}");
    let (code, stdout, stderr) = check(&toml, &[("ROLEGATE_TEST_SECRET_X", "hunter2")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
}

#[test]
fn a_missing_file_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["config", "check", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

/// Every key that belongs to another kind of IdP: a SAML key on an OIDC IdP, an OIDC key on a
/// SAML IdP, and the dev IdP's key on both. Each must be an error naming `idp[0].<key>`, never
/// a setting that is silently ignored.
const OIDC_ONLY: &[(&str, &str)] = &[
    ("issuer", "\"https://corp.example.com\""),
    ("client_id", "\"x\""),
    ("client_secret_file", "\"secret\""),
    ("client_secret_env", "\"X\""),
    ("audiences", "[\"a\"]"),
    ("groups_claim", "\"groups\""),
    ("username_claim", "\"sub\""),
    ("required_claims", "{ a = \"b\" }"),
    ("jwks_file", "\"jwks.json\""),
    ("mfa_amr_values", "[\"mfa\"]"),
    ("mfa_acr_values", "[\"x\"]"),
    ("insecure_trust_unverified_email", "true"),
];
const SAML_ONLY: &[(&str, &str)] = &[
    ("metadata_file", "\"idp.xml\""),
    ("metadata_url", "\"https://idp.example.com/md\""),
    ("metadata_refresh", "\"1h\""),
    ("groups_attribute", "\"groups\""),
    ("groups_split_commas", "true"),
    ("email_attribute", "\"mail\""),
    ("username_attribute", "\"uid\""),
    ("mfa_authn_contexts", "[\"x\"]"),
    ("trust_email", "true"),
    ("allow_idp_initiated", "true"),
    ("insecure_allow_sha1", "true"),
    ("force_authn", "true"),
];
const DEV_ONLY: &[(&str, &str)] = &[("users_file", "\"users.toml\"")];

const SAML_IDP: &str = r#"
[[idp]]
id = "corp"
kind = "saml"
metadata_url = "https://idp.example.com/metadata"
"#;

#[test]
fn attack_key_of_another_idp_kind_is_refused_not_ignored() {
    for (key, value) in SAML_ONLY.iter().chain(DEV_ONLY) {
        let toml = GOOD.replace(
            "client_id = \"rolegate\"",
            &format!("client_id = \"rolegate\"\n{key} = {value}"),
        );
        let (code, _, stderr) = check(&toml, &[]);
        assert_eq!(code, 1, "{key} on an OIDC IdP: {stderr}");
        assert!(
            stderr.contains(&format!("idp[0].{key}`")) && stderr.contains("for kind = \"oidc\""),
            "{key} on an OIDC IdP: {stderr}"
        );
    }
    let saml = GOOD
        .split("[[role]]")
        .nth(1)
        .map(|rest| format!("{SAML_IDP}\n[[role]]{rest}"))
        .unwrap();
    let (code, _, stderr) = check(&saml, &[]);
    assert_eq!(code, 0, "the SAML base config is valid: {stderr}");
    for (key, value) in OIDC_ONLY.iter().chain(DEV_ONLY) {
        let toml = saml.replace(
            "kind = \"saml\"",
            &format!("kind = \"saml\"\n{key} = {value}"),
        );
        let (code, _, stderr) = check(&toml, &[]);
        assert_eq!(code, 1, "{key} on a SAML IdP: {stderr}");
        assert!(
            stderr.contains(&format!("idp[0].{key}`")) && stderr.contains("for kind = \"saml\""),
            "{key} on a SAML IdP: {stderr}"
        );
    }
}

#[test]
fn attack_foreign_key_arriving_by_environment_is_refused() {
    let (code, _, stderr) = check(
        GOOD,
        &[("ROLEGATE_IDP__0__METADATA_URL", "https://evil.example/md")],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("idp[0].metadata_url`"), "{stderr}");
}

#[test]
fn an_idp_without_kind_says_which_kinds_exist() {
    let toml = GOOD.replace("kind = \"oidc\"\n", "");
    let (code, _, stderr) = check(&toml, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("idp[0].kind`") && stderr.contains("\"oidc\" or \"saml\""),
        "{stderr}"
    );
    let toml = GOOD.replace("kind = \"oidc\"", "kind = \"ldap\"");
    let (code, _, stderr) = check(&toml, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("idp[0].kind`") && stderr.contains("ldap"),
        "{stderr}"
    );
}

#[test]
fn attack_redis_url_without_backend_is_not_a_per_process_memory_store() {
    for (store, key) in [
        ("redis_url = \"redis://10.0.0.5:6379/0\"", "store.backend"),
        ("redis_url_env = \"REDIS_URL\"", "store.backend"),
        (
            "sentinels = [\"10.0.0.5:26379\"]\nsentinel_master = \"m\"",
            "store.backend",
        ),
        // Keys of another backend are refused on every backend.
        (
            "backend = \"memory\"\nredis_url = \"redis://10.0.0.5:6379/0\"",
            "store.redis_url",
        ),
        (
            "backend = \"redis_cluster\"\nredis_url = \"redis://a:1\"\nsentinels = [\"s:26379\"]",
            "store.sentinels",
        ),
        (
            "backend = \"redis_cluster\"\nredis_url = \"redis://a:1\"\nsentinel_master = \"m\"",
            "store.sentinel_master",
        ),
        ("backend = \"memcached\"", "store.backend"),
    ] {
        let (code, _, stderr) = check(&format!("{GOOD}\n[store]\n{store}\n"), &[]);
        assert_eq!(code, 1, "{store}: {stderr}");
        assert!(stderr.contains(&format!("{key}`")), "{store}: {stderr}");
    }
    let (code, _, stderr) = check(
        GOOD,
        &[("ROLEGATE_STORE__REDIS_URL", "redis://10.0.0.5:6379/0")],
    );
    assert_eq!(code, 1, "a Redis URL from the environment alone: {stderr}");
    assert!(stderr.contains("store.backend`"), "{stderr}");
    // No [store] at all is the memory store; an explicit one too.
    assert_eq!(check(GOOD, &[]).0, 0);
    assert_eq!(
        check(&format!("{GOOD}\n[store]\nbackend = \"memory\"\n"), &[]).0,
        0
    );
}

/// `rolegate setup` writes each alias as `[profile rolegate-<alias>]` into ~/.aws/config: an
/// alias with a line break would add `credential_process = <command>` to an engineer's file.
#[test]
fn config_check_refuses_alias_with_newline_credential_process_injection() {
    let cases = [
        (
            "alias = \"x]\\ncredential_process = touch /tmp/pwned\\n[profile y\"",
            "role[0].alias",
        ),
        ("alias = \"read only\"", "role[0].alias"),
        ("alias = \"ro\\r\"", "role[0].alias"),
    ];
    for (line, path) in cases {
        let toml = GOOD.replace("role/ReadOnly\"", &format!("role/ReadOnly\"\n{line}"));
        let (code, _, stderr) = check(&toml, &[]);
        assert_eq!(code, 1, "{line}: {stderr}");
        assert!(stderr.contains(&format!("`{path}`")), "{line}: {stderr}");
        assert!(stderr.contains("A-Z a-z 0-9 . _ -"), "{stderr}");
    }
    // The default alias is the role name, which IAM lets hold `+=,@`: say to set one.
    let toml = GOOD.replace("role/ReadOnly\"", "role/Read+Only\"");
    let (code, _, stderr) = check(&toml, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`role[0].alias`") && stderr.contains("set `alias`"),
        "{stderr}"
    );
}

/// Account names are free text (spaces allowed) written as comments into ~/.aws/config: a CR,
/// LF, NUL or any other control character would end the comment and start a key.
#[test]
fn config_check_refuses_account_name_with_control_characters_profile_injection() {
    for (value, shown) in [
        ("Prod\\ncredential_process = touch /tmp/pwned", "U+000A"),
        ("Prod\\r[profile x]", "U+000D"),
        ("Prod\\u0000", "U+0000"),
        ("Prod\\u007f", "U+007F"),
        ("Prod\\u0085", "U+0085"),
        ("Prod\\u2028x", "U+2028"),
    ] {
        let toml = GOOD.replace(
            "role/ReadOnly\"",
            &format!("role/ReadOnly\"\naccount_name = \"{value}\""),
        );
        let (code, _, stderr) = check(&toml, &[]);
        assert_eq!(code, 1, "{value}: {stderr}");
        assert!(
            stderr.contains("`role[0].account_name`") && stderr.contains(shown),
            "{value}: {stderr}"
        );
    }
    let toml = GOOD.replace(
        "role/ReadOnly\"",
        "role/ReadOnly\"\naccount_name = \"Production (EU) – main\"",
    );
    assert_eq!(check(&toml, &[]).0, 0, "spaces and punctuation are fine");
}
