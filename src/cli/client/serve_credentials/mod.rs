//! `rolegate serve-credentials`: the AWS SDKs' container-credentials endpoint, on 127.0.0.1.
//!
//! `GET /role/<alias>` with `Authorization: <token>` answers `{"AccessKeyId",
//! "SecretAccessKey", "Token", "Expiration", "RoleArn"}`, the shape the SDKs read from
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI`. Every answer comes from [`credentials::get`]: the
//! same cache and lock as `rolegate credentials`, so any number of clients (and of servers and
//! `credential_process` calls beside them) cause one STS call per role, renewed 15 minutes
//! before expiry.
//!
//! It listens on loopback only: the SDKs take a plain-http URI only for loopback (and the
//! ECS/EKS link-local addresses), and anything wider would put credentials on the network in
//! clear. The token is 32 random bytes, written to a 0600 file through [`files::write_private`]
//! (the server does not start if that file cannot be created safely) and compared in constant
//! time. [`http`] says who is refused and how; [`registry`] how `rolegate env --server` finds a
//! running server again.

mod http;
pub(crate) mod registry;

use super::{Result, credentials, fail, files};
use crate::present::shell::{Environment, Shell};
use crate::secret::Secret;
use http::Served;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use url::Url;

/// A listening endpoint and its token file, which is deleted when this is dropped (a SIGKILLed
/// server's file is removed by the next `env --server` or `logout`, see [`registry`]).
struct Endpoint {
    listener: Option<TcpListener>,
    port: u16,
    token_file: PathBuf,
    served: Arc<Served>,
}

impl Endpoint {
    /// Listens on 127.0.0.1:`port` (0: a free port) and writes a fresh token to its file.
    fn open(broker: &Url, roles: &[String], port: u16, duration: Option<u64>) -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| fail(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
        let port = listener.local_addr()?.port();
        let token = hex::encode(rand::random::<[u8; 32]>());
        let token_file = registry::token_file(broker, port)?;
        files::write_private(&token_file, token.as_bytes())?;
        Ok(Endpoint {
            listener: Some(listener),
            port,
            token_file,
            served: Arc::new(Served {
                broker: broker.clone(),
                roles: roles.to_vec(),
                duration,
                token: Secret::new(token),
            }),
        })
    }

    fn uri(&self, role: &str) -> String {
        format!("http://127.0.0.1:{}/role/{role}", self.port)
    }

    /// The two variables the SDKs read, for `role`.
    fn exports(&self, role: &str) -> Environment {
        Environment::container(self.uri(role), self.token_file.display().to_string())
    }

    /// Serves until SIGINT or SIGTERM on a runtime of its own.
    fn serve(&mut self) -> Result<()> {
        let listener = self.listener.take().ok_or_else(|| fail("served twice"))?;
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(http::serve(listener, Arc::clone(&self.served)))
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.token_file);
    }
}

/// Checks the sign-in and every role (the same messages as `rolegate credentials`), listens,
/// writes the token file, prints the first role's variables to export on stdout (the others'
/// URIs on stderr), and serves until SIGINT or SIGTERM, then deletes the token file.
pub(crate) fn run(broker: &Url, roles: &[String], port: u16, duration: Option<u64>) -> Result<()> {
    let Some(first) = roles.first() else {
        return Err(fail(
            "name a role to serve: rolegate serve-credentials --role <role>",
        ));
    };
    // Not signed in, or a role not granted: exit now, with the message `credentials` gives.
    for role in roles {
        credentials::get(broker, role, duration)?;
    }
    let mut endpoint = Endpoint::open(broker, roles, port, duration)?;
    println!("{}", endpoint.exports(first).render(Shell::Sh)?);
    for other in roles.iter().skip(1) {
        eprintln!(
            "For {other}: AWS_CONTAINER_CREDENTIALS_FULL_URI={}",
            endpoint.uri(other)
        );
    }
    eprintln!(
        "Serving {} on http://127.0.0.1:{}/role/<role> until interrupted (Ctrl-C); \
         `rolegate env --server <role>` prints the variables again.",
        roles.join(", "),
        endpoint.port
    );
    endpoint.serve()
}

/// `rolegate exec --server`: runs `cmd` with the endpoint's two variables for `role` instead of
/// keys (the child's own children and long builds keep getting fresh credentials), serving on
/// a free loopback port from a thread of this process until the child exits; then deletes the
/// token file. Static keys and profiles in the environment are removed: the SDKs would prefer
/// them to the endpoint.
pub(crate) fn exec(
    broker: &Url,
    role: &str,
    duration: Option<u64>,
    cmd: &[String],
) -> Result<std::process::ExitCode> {
    let (program, args) = cmd
        .split_first()
        .ok_or_else(|| fail("nothing to run: rolegate exec --server <role> -- command args…"))?;
    let c = credentials::get(broker, role, duration)?;
    let mut endpoint = Endpoint::open(broker, &[role.to_string()], 0, duration)?;
    let listener = endpoint
        .listener
        .take()
        .ok_or_else(|| fail("served twice"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The runtime's workers serve; this thread waits for the child.
    let served = Arc::clone(&endpoint.served);
    runtime.spawn(async move {
        if let Err(e) = http::serve(listener, served).await {
            eprintln!("rolegate: the credentials endpoint stopped: {}", e.0);
        }
    });
    let mut child = std::process::Command::new(program);
    child.args(args);
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ] {
        child.env_remove(k);
    }
    child.envs(endpoint.exports(role).for_process()?);
    let preset = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if let Some(r) = c.region.as_deref()
        && !preset("AWS_REGION")
        && !preset("AWS_DEFAULT_REGION")
        && !r.is_empty()
        && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        child.env("AWS_REGION", r).env("AWS_DEFAULT_REGION", r);
    }
    let status = child.status();
    drop(endpoint);
    runtime.shutdown_background();
    let status = status.map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    Ok(std::process::ExitCode::from(
        u8::try_from(status.code().unwrap_or(1).clamp(0, 255)).unwrap_or(u8::MAX),
    ))
}
