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
//! time. Refusals use the SDKs' error shape, `{"Code", "Message"}`: 401 without the token, 403
//! with a wrong one, from another host or under a `Host` that is not loopback (DNS rebinding),
//! 404 for a role not served, 503 when the broker cannot be reached (the server keeps running).

use super::{Result, credentials, fail, files, profile};
use crate::present::shell::{Environment, Shell};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use url::Url;

/// What one server serves.
struct Served {
    broker: Url,
    roles: Vec<String>,
    duration: Option<u64>,
    token: String,
}

/// Checks the sign-in and every role (the same messages as `rolegate credentials`), listens on
/// 127.0.0.1:`port` (0: a free port), writes the token file, prints the variables to export on
/// stdout, and serves until SIGINT or SIGTERM, then deletes the token file.
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
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .map_err(|e| fail(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let port = listener.local_addr()?.port();
    let token = hex::encode(rand::random::<[u8; 32]>());
    let token_file = token_file(broker, port)?;
    files::write_private(&token_file, token.as_bytes())?;
    let served = Arc::new(Served {
        broker: broker.clone(),
        roles: roles.to_vec(),
        duration,
        token,
    });
    let exports = Environment::container(
        format!("http://127.0.0.1:{port}/role/{first}"),
        token_file.display().to_string(),
    );
    let result = exports
        .render(Shell::Sh)
        .map_err(super::CliError::from)
        .and_then(|lines| {
            println!("{lines}");
            eprintln!(
                "Serving {} on http://127.0.0.1:{port}/role/<role> until interrupted (Ctrl-C).",
                roles.join(", ")
            );
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(serve(listener, served))
        });
    let _ = std::fs::remove_file(&token_file);
    result
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
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| fail(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener.local_addr()?.port();
    let token = hex::encode(rand::random::<[u8; 32]>());
    let token_file = token_file(broker, port)?;
    files::write_private(&token_file, token.as_bytes())?;
    let served = Arc::new(Served {
        broker: broker.clone(),
        roles: vec![role.to_string()],
        duration,
        token,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The runtime's workers serve; this thread waits for the child.
    runtime.spawn(async move {
        if let Err(e) = serve(listener, served).await {
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
    child
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://127.0.0.1:{port}/role/{role}"),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file);
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
    let _ = std::fs::remove_file(&token_file);
    runtime.shutdown_background();
    let status = status.map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    Ok(std::process::ExitCode::from(
        u8::try_from(status.code().unwrap_or(1).clamp(0, 255)).unwrap_or(u8::MAX),
    ))
}

/// `<cache>/serve-credentials-<port>.token`: beside the credentials it guards, 0600 in a 0700
/// directory only the user can change.
fn token_file(broker: &Url, port: u16) -> Result<PathBuf> {
    Ok(profile::cache(broker)?.join(format!("serve-credentials-{port}.token")))
}

async fn serve(listener: std::net::TcpListener, served: Arc<Served>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("rolegate: accepting a connection: {e}");
                        continue;
                    }
                };
                let served = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(req, peer, Arc::clone(&served)));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// A refusal in the SDKs' error shape.
fn refusal(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "Code": code, "Message": message }).to_string();
    respond(status, body)
}

/// What [`route`] refuses, made a [`refusal`] by [`Refusal::response`].
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

impl Refusal {
    fn response(&self) -> Response<Full<Bytes>> {
        refusal(self.status, self.code, &self.message)
    }
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A `Host` naming loopback by address or as `localhost`, any port (a forwarded port may
/// differ from ours); a DNS name that resolves to 127.0.0.1 is a rebinding page's.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Which role a request may have, or its refusal.
fn route(
    req: &Request<Incoming>,
    peer: SocketAddr,
    served: &Served,
) -> std::result::Result<Option<String>, Refusal> {
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    if !peer.ip().is_loopback() || !host.is_some_and(loopback_host) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "only clients on this host, addressing it as 127.0.0.1 or localhost, are served",
        ));
    }
    if req.method() != Method::GET {
        return Err(refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "only GET is served",
        ));
    }
    if req.uri().path() == "/healthz" {
        return Ok(None);
    }
    let Some(given) = req.headers().get(AUTHORIZATION) else {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        ));
    };
    if !bool::from(given.as_bytes().ct_eq(served.token.as_bytes())) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the Authorization token is not this server's",
        ));
    }
    let role = req.uri().path().strip_prefix("/role/").unwrap_or("");
    if !served.roles.iter().any(|r| r == role) {
        return Err(refused(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "not a role this server serves; it serves /role/ followed by one of: {}",
                served.roles.join(", ")
            ),
        ));
    }
    Ok(Some(role.to_string()))
}

async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    served: Arc<Served>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let role = match route(&req, peer, &served) {
        Ok(Some(role)) => role,
        Ok(None) => return Ok(respond(StatusCode::OK, "{\"status\":\"ok\"}".into())),
        Err(r) => return Ok(r.response()),
    };
    // The cache read, the lock and the broker call block: off the async workers.
    let s = Arc::clone(&served);
    let got =
        tokio::task::spawn_blocking(move || credentials::get(&s.broker, &role, s.duration)).await;
    Ok(match got {
        Ok(Ok(c)) => match c.container_json() {
            Ok(body) => respond(StatusCode::OK, body),
            Err(e) => refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &e.to_string(),
            ),
        },
        Ok(Err(e)) => {
            eprintln!("rolegate: {}", e.0);
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "CredentialsUnavailable",
                &e.0,
            )
        }
        Err(_) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "fetching the credentials failed",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn only_loopback_hosts_pass_the_dns_rebinding_check() {
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:1",
            "LOCALHOST",
            "[::1]:80",
            "127.1.2.3:9",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1.nip.io:80",
            "10.0.0.1:80",
            "",
            "[::2]:80",
            "localhost.evil:80",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }
}
