//! The endpoint's HTTP side: who is served ([`route`]) and what they get ([`answer`]).
//!
//! Refusals use the SDKs' error shape, `{"Code", "Message"}`: 401 without the token, 403 with
//! a wrong one, from another host or under a `Host` that is not loopback (DNS rebinding), 404
//! for a role not served, 503 when the broker cannot be reached (the server keeps running and
//! answers again once the broker is back). `GET /healthz` needs no token and says only "ok";
//! with the token it also names the roles served, which is how `rolegate env --server` finds
//! this server again.

use super::super::{Result, credentials};
use crate::secret::Secret;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use url::Url;

/// What one server serves.
pub(super) struct Served {
    pub broker: Url,
    pub roles: Vec<String>,
    pub duration: Option<u64>,
    /// What `Authorization` must be: the content of the token file.
    pub token: Secret<String>,
}

/// Serves `listener` until SIGINT or SIGTERM.
pub(super) async fn serve(listener: std::net::TcpListener, served: Arc<Served>) -> Result<()> {
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

/// What a request that passed the checks asks for.
enum Route {
    /// `GET /healthz`; the roles are named only to a client holding the token.
    Health { authorized: bool },
    /// `GET /role/<alias>` for a role served, with the token.
    Role(String),
}

/// What a request may have, or its refusal.
fn route(
    req: &Request<Incoming>,
    peer: SocketAddr,
    served: &Served,
) -> std::result::Result<Route, Refusal> {
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
    let given = req.headers().get(AUTHORIZATION);
    let authorized = given.is_some_and(|g| served.token.ct_eq(g.as_bytes()));
    if req.uri().path() == "/healthz" {
        return Ok(Route::Health { authorized });
    }
    if given.is_none() {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "no Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        ));
    };
    if !authorized {
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
    Ok(Route::Role(role.to_string()))
}

async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    served: Arc<Served>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let role = match route(&req, peer, &served) {
        Ok(Route::Role(role)) => role,
        Ok(Route::Health { authorized }) => {
            let body = if authorized {
                serde_json::json!({ "status": "ok", "roles": served.roles })
            } else {
                serde_json::json!({ "status": "ok" })
            };
            return Ok(respond(StatusCode::OK, body.to_string()));
        }
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
