use crate::config::Config;
use crate::startup::Application;
use crate::telemetry;
use std::path::PathBuf;
use std::process::ExitCode;

pub(super) fn run(config: Option<PathBuf>, dev: bool) -> ExitCode {
    let config = match Config::load(config.as_deref(), dev) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(config.server.log_format);
    // actix's own runtime: under a plain tokio main an unpolled server future makes stop() hang.
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config)
            .await
            .map_err(|e| e.to_string())?;
        print_banner(&app, dev);
        app.run_until_stopped().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rolegate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_banner(app: &Application, dev: bool) {
    let url = app.public_url().as_str().trim_end_matches('/');
    println!("rolegate is listening on {url}  (health: {url}/healthz, readiness: {url}/readyz)");
    if !dev {
        return;
    }
    let roles: Vec<String> = app
        .state()
        .config
        .roles
        .iter()
        .map(|r| r.alias.clone())
        .collect();
    println!(
        r#"
Development mode: memory store, built-in dev IdP (users alice, bob, carol; no password), loopback only.

  In a browser: open {url}/ and sign in as alice (groups eng, sre: both roles), bob (eng) or
  carol (sales: no role). Credentials come from the local STS emulator; Console needs real AWS.
  alice also administers sessions: {url}/admin/sessions lists everyone's and ends them.

  From a terminal (the CLI is this same binary), as an engineer would:
     export PATH="{bin_dir}:$PATH"
     rolegate login --broker {url}        # Allow in the browser; --device prints a code instead
     rolegate status                      # who you are, until when, what is cached
     rolegate credentials dev-readonly    # what the AWS CLI runs as credential_process
     rolegate setup --write               # a profile per role in ~/.aws/config, then:
     aws sts get-caller-identity --profile rolegate-dev-readonly

  Or by hand with curl (roles: {roles}):
     TOKEN=$(curl -s -d grant_type=password -d username=alice -d password=x {url}/dev-idp/token \
       | python3 -c 'import json,sys; print(json.load(sys.stdin)["id_token"])')
     curl -s -H "Authorization: Bearer $TOKEN" {url}/api/v1/roles
     curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
       -d '{{"role":"dev-readonly","duration_seconds":3600}}' {url}/api/v1/credentials
"#,
        roles = roles.join(", "),
        bin_dir = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.display().to_string()))
            .unwrap_or_else(|| "target/debug".into()),
    );
}
