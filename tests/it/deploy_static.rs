//! deploy/ checked without docker or a cluster (neither exists in CI): hadolint on the
//! Dockerfile; every Kubernetes manifest against the Kubernetes API schemas plus rolegate's own
//! rules (≥ 2 replicas, probes on /healthz and /readyz, non-root, read-only root, PDB and Service
//! selecting the Deployment's pods, shutdown_timeout below the grace period); compose.yaml's
//! references; and the broker configs they ship through `rolegate config check`, with the
//! Secret's files generated as an operator would.

use crate::common;

use common::peers::{repo_root, require_peer};
use std::path::Path;
use std::process::Command;

fn run(c: &mut Command) -> (bool, String) {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn tool(name: &str) -> Option<std::path::PathBuf> {
    let venv = repo_root().join(".venv/bin").join(name);
    let found = venv.exists();
    require_peer(&format!("{name} (pip, .venv)"), found).then_some(venv)
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let Some(hadolint) = tool("hadolint") else {
        return;
    };
    let (ok, out) = run(Command::new(hadolint).arg(repo_root().join("deploy/Dockerfile")));
    assert!(ok, "hadolint:\n{out}");
}

#[test]
fn kubernetes_manifests_and_compose_pass_their_schemas_and_rules() {
    let dir = repo_root().join("tests/support/deploy-lint");
    let found = dir.join("node_modules/kubernetes-models").is_dir();
    if !require_peer("kubernetes-models (npm, tests/support/deploy-lint)", found) {
        return;
    }
    let (ok, out) = run(Command::new("node")
        .current_dir(&dir)
        .arg("validate.mjs")
        .arg(repo_root()));
    assert!(ok, "deploy-lint:\n{out}");
    assert!(
        out.contains("ok deployment.yaml apps/v1/Deployment"),
        "{out}"
    );
}

fn config_check(config: &Path, envs: &[(&str, &str)]) -> (bool, String) {
    run(Command::new(env!("CARGO_BIN_EXE_rolegate"))
        .args(["config", "check", "--config"])
        .arg(config)
        .envs(envs.iter().copied()))
}

#[test]
fn the_compose_config_is_valid() {
    let (ok, out) = config_check(
        &repo_root().join("deploy/compose/rolegate.toml"),
        &[
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("ROLEGATE_WEB_SECRET", "x"),
        ],
    );
    assert!(ok && out.contains("redis store"), "{out}");
}

#[test]
fn the_kubernetes_configmap_config_is_valid_with_its_secrets() {
    // The ConfigMap's rolegate.toml, next to the files the Secret would mount.
    let yaml =
        std::fs::read_to_string(repo_root().join("deploy/kubernetes/configmap.yaml")).unwrap();
    let toml: String = yaml
        .split("rolegate.toml: |\n")
        .nth(1)
        .expect("rolegate.toml in the ConfigMap")
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(dir.path().join("rolegate.toml"), toml).unwrap();
    std::fs::write(secrets.join("redis-url"), "redis://:pw@127.0.0.1:6379/0").unwrap();
    std::fs::write(secrets.join("metrics-token"), "m".repeat(64)).unwrap();
    let openssl = |args: &[&str]| {
        let (ok, out) = run(Command::new("openssl").current_dir(&secrets).args(args));
        assert!(ok, "openssl {args:?}: {out}");
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "issuer.pem",
    ]);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=rolegate",
        "-keyout",
        "saml-sp.key",
        "-out",
        "saml-sp.crt",
    ]);
    let (ok, out) = config_check(&dir.path().join("rolegate.toml"), &[]);
    assert!(ok, "{out}");
    // And a broken one is caught: the check is not a rubber stamp.
    std::fs::remove_file(secrets.join("issuer.pem")).unwrap();
    let (ok, out) = config_check(&dir.path().join("rolegate.toml"), &[]);
    assert!(!ok && out.contains("issuer"), "{out}");
}
