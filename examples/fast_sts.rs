//! A minimal STS stand-in for load tests: any POST gets a canned, valid `AssumeRoleResponse`
//! (or a `GetCallerIdentityResponse` for `Action=GetCallerIdentity`), with no signature
//! checks and no state, so `scripts/bench/http_load.sh` measures the broker, not an emulator.
//!
//! ```sh
//! cargo run --release --example fast_sts -- --port 9911 [--workers 1]
//! ```
//! `--port 0` picks a free port; the bound address is printed on the first line of stdout.

use actix_web::http::Method;
use actix_web::http::header::ContentType;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::time::{Duration, SystemTime};

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

fn assume_role() -> String {
    let expiration =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
    format!(
        "<AssumeRoleResponse xmlns=\"{NS}\"><AssumeRoleResult>\
         <Credentials><AccessKeyId>ASIAFASTSTSBENCH0001</AccessKeyId>\
         <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYFASTSTSKEY</SecretAccessKey>\
         <SessionToken>FwoGZXIvYXdzEFASTSTSBENCHSESSIONTOKEN//////////wEaDFASTSTS</SessionToken>\
         <Expiration>{expiration}</Expiration></Credentials>\
         <AssumedRoleUser><AssumedRoleId>AROAFASTSTSBENCH0001:s</AssumedRoleId>\
         <Arn>arn:aws:sts::123456789012:assumed-role/R/s</Arn></AssumedRoleUser>\
         </AssumeRoleResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata>\
         </AssumeRoleResponse>"
    )
}

fn caller_identity() -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NS}\"><GetCallerIdentityResult>\
         <Arn>arn:aws:iam::123456789012:user/bench</Arn><UserId>AIDAFASTSTSBENCH0001</UserId>\
         <Account>123456789012</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>x</RequestId></ResponseMetadata>\
         </GetCallerIdentityResponse>"
    )
}

async fn sts(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if req.method() != Method::POST {
        return HttpResponse::MethodNotAllowed().finish();
    }
    let is_caller_identity = body
        .split(|b| *b == b'&')
        .any(|kv| kv == b"Action=GetCallerIdentity");
    let xml = if is_caller_identity {
        caller_identity()
    } else {
        assume_role()
    };
    HttpResponse::Ok()
        .content_type(ContentType::xml())
        .body(xml)
}

fn usage() -> ! {
    eprintln!("usage: fast_sts --port PORT [--workers N]");
    std::process::exit(2)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let (mut port, mut workers) = (None::<u16>, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--port" => port = Some(value.parse().unwrap_or_else(|_| usage())),
            "--workers" => workers = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let port = port.unwrap_or_else(|| usage());
    let server = HttpServer::new(|| App::new().default_service(web::to(sts)))
        .workers(workers)
        .bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        println!("fast_sts listening on {addr}");
    }
    server.run().await
}
