//! A broker that lies: the attacker of the CLI's own threat model (a compromised or spoofed
//! broker, or an operator's typo the broker let through). It answers each path with a fixed
//! JSON body, whatever is asked, so a test can hand `rolegate` exactly the hostile strings an
//! attack needs. Not a stand-in for rolegate: the real broker refuses these strings at config
//! load (tests/it/cli_config.rs); this is how the CLI's second check is proven.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub(crate) struct HostileBroker {
    pub url: String,
    handle: actix_web::dev::ServerHandle,
}

impl HostileBroker {
    /// Serves `answers` (path → JSON body, status 200) on a loopback port; 404 elsewhere.
    pub(crate) async fn start(answers: &[(&str, Value)]) -> HostileBroker {
        Self::start_on(0, answers).await
    }

    /// [`HostileBroker::start`] on a given port (0: a free one): a broker back after an outage.
    pub(crate) async fn start_on(port: u16, answers: &[(&str, Value)]) -> HostileBroker {
        let answers: Arc<HashMap<String, Value>> = Arc::new(
            answers
                .iter()
                .map(|(p, v)| (p.to_string(), v.clone()))
                .collect(),
        );
        let server = HttpServer::new(move || {
            let answers = answers.clone();
            App::new().default_service(web::to(move |req: HttpRequest| {
                let answers = answers.clone();
                async move {
                    match answers.get(req.path()) {
                        Some(v) => HttpResponse::Ok().json(v),
                        None => HttpResponse::NotFound().finish(),
                    }
                }
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", port))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        HostileBroker {
            url: format!("http://127.0.0.1:{port}"),
            handle,
        }
    }

    /// Saves a sign-in to this broker under `home` (as `rolegate login` would), so client
    /// commands call it without a login flow.
    pub(crate) fn sign_in(&self, home: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let key = self.url.trim_start_matches("http://").replace(':', "_");
        let dir = home.join("config/rolegate/brokers");
        std::fs::create_dir_all(&dir).unwrap();
        for d in [
            home.join("config"),
            home.join("config/rolegate"),
            dir.clone(),
        ] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let far = 4_000_000_000i64;
        let profile = serde_json::json!({
            "broker": format!("{}/", self.url),
            "access_token": "rgat_hostile",
            "access_expires_at": far,
            "refresh_token": "rgrt_hostile",
            "refresh_expires_at": far,
        });
        let file = dir.join(format!("{key}.json"));
        std::fs::write(&file, profile.to_string()).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

impl Drop for HostileBroker {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
