//! A stand-in for the AWS console federation endpoint (`/federation`), which moto does not
//! emulate and nothing else does: the one hand-written double in the suite, so it checks what it
//! is given like AWS would. `getSigninToken` accepts a session only if moto's GetCallerIdentity
//! accepts its credentials (and a SessionDuration in 900..=43200); `login` accepts each
//! SigninToken once, within 15 minutes, and shows a "console" page naming the assumed role.
//! `/oauth?Action=logout&redirect_uri=…` is AWS's console sign-out: it counts the sign-out and
//! redirects, but only to its own `/federation` (AWS redirects only to its own domains).

use actix_web::{App, HttpResponse, HttpServer, web};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Tokens(HashMap<String, (String, Instant)>);

pub(crate) struct Federation {
    pub url: String,
    handle: actix_web::dev::ServerHandle,
    sign_outs: Arc<AtomicUsize>,
}

impl Federation {
    pub(crate) async fn start(sts_url: String) -> Federation {
        let tokens = Arc::new(Mutex::new(Tokens::default()));
        let sign_outs = Arc::new(AtomicUsize::new(0));
        let counted = sign_outs.clone();
        let server = HttpServer::new(move || {
            let tokens = tokens.clone();
            let sts = sts_url.clone();
            let counted = counted.clone();
            App::new()
                .route(
                    "/federation",
                    web::get().to(move |q: web::Query<HashMap<String, String>>| {
                        let tokens = tokens.clone();
                        let sts = sts.clone();
                        async move { handle(&sts, &tokens, &q).await }
                    }),
                )
                .route(
                    "/oauth",
                    web::get().to(
                        move |req: actix_web::HttpRequest,
                              q: web::Query<HashMap<String, String>>| {
                            let counted = counted.clone();
                            async move { sign_out(&req, &q, &counted) }
                        },
                    ),
                )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Federation {
            url: format!("http://127.0.0.1:{port}/federation"),
            handle,
            sign_outs,
        }
    }

    /// How many console sign-outs the double has seen.
    pub(crate) fn sign_outs(&self) -> usize {
        self.sign_outs.load(Ordering::SeqCst)
    }
}

/// AWS's console sign-out: `Action=logout`, then on to `redirect_uri` on its own host only.
fn sign_out(
    req: &actix_web::HttpRequest,
    q: &HashMap<String, String>,
    counted: &AtomicUsize,
) -> HttpResponse {
    if q.get("Action").map(String::as_str) != Some("logout") {
        return HttpResponse::BadRequest().body("unknown Action");
    }
    let own = format!("http://{}/federation?", req.connection_info().host());
    match q.get("redirect_uri") {
        Some(next) if next.starts_with(&own) => {
            counted.fetch_add(1, Ordering::SeqCst);
            HttpResponse::Found()
                .insert_header(("Location", next.as_str()))
                .finish()
        }
        _ => HttpResponse::BadRequest().body("redirect_uri must be this host's /federation"),
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn handle(sts: &str, tokens: &Mutex<Tokens>, q: &HashMap<String, String>) -> HttpResponse {
    match q.get("Action").map(String::as_str) {
        Some("getSigninToken") => {
            if let Some(d) = q.get("SessionDuration") {
                match d.parse::<u64>() {
                    Ok(900..=43_200) => {}
                    _ => return HttpResponse::BadRequest().body("SessionDuration out of range"),
                }
            }
            let Some(session) = q
                .get("Session")
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            else {
                return HttpResponse::BadRequest().body("no Session JSON");
            };
            let (Some(id), Some(key), Some(tok)) = (
                session["sessionId"].as_str(),
                session["sessionKey"].as_str(),
                session["sessionToken"].as_str(),
            ) else {
                return HttpResponse::BadRequest()
                    .body("Session lacks sessionId/sessionKey/sessionToken");
            };
            let Some(arn) = arn_of(sts, id, key, tok)
                .await
                .filter(|a| a.contains(":assumed-role/"))
            else {
                return HttpResponse::Forbidden()
                    .body("STS does not accept these role credentials");
            };
            let token = hex::encode(rand::random::<[u8; 24]>());
            tokens
                .lock()
                .unwrap()
                .0
                .insert(token.clone(), (arn, Instant::now()));
            HttpResponse::Ok().json(serde_json::json!({ "SigninToken": token }))
        }
        Some("login") => {
            let (Some(token), Some(dest), Some(_issuer)) =
                (q.get("SigninToken"), q.get("Destination"), q.get("Issuer"))
            else {
                return HttpResponse::BadRequest()
                    .body("login needs SigninToken, Destination, Issuer");
            };
            let Some((arn, at)) = tokens.lock().unwrap().0.remove(token) else {
                return HttpResponse::Forbidden().body("unknown or used SigninToken");
            };
            if at.elapsed() > Duration::from_secs(15 * 60) {
                return HttpResponse::Forbidden().body("expired SigninToken");
            }
            HttpResponse::Ok().content_type("text/html").body(format!(
                "<h1>AWS console (test double)</h1><p id=role>{arn}</p><p id=destination>{dest}</p>"
            ))
        }
        _ => HttpResponse::BadRequest().body("unknown Action"),
    }
}

/// GetCallerIdentity with the session's credentials, against moto; None if STS refuses them.
async fn arn_of(sts: &str, id: &str, key: &str, token: &str) -> Option<String> {
    let c = aws_sdk_sts::config::Credentials::new(id, key, Some(token.to_string()), None, "double");
    let conf = aws_sdk_sts::config::Builder::new()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .credentials_provider(c)
        .endpoint_url(sts)
        .build();
    let out = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .ok()?;
    out.arn().map(str::to_string)
}
