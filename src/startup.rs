//! Builds the application from a validated `Config`: store, IdPs, mapper, issuer, HTTP server.
//!
//! `Application::build` binds first (port 0 works, which is how tests run the broker), so the
//! public URL — and with it the dev IdP's issuer — is known before anything else is built.

use crate::aws::sts::StsIssuer;
use crate::clock::{Clock, SystemClock};
use crate::config::{AwsMode, Config, StoreConfig};
use crate::favourites::Favourites;
use crate::idp::IdpRegistry;
use crate::issue::Issuance;
use crate::metrics::Metrics;
use crate::oauth::CliTokens;
use crate::policy::loader::PolicyMapper;
use crate::rate_limit::RateLimits;
use crate::routes;
use crate::session::Sessions;
use crate::state::AppState;
use crate::store::{Store, memory::MemoryStore, redis::RedisStore};
use crate::telemetry;
use crate::token::SigningKey;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Why the broker refuses to start. Each text is what the operator sees (`rolegate: <text>`),
/// unchanged from when these were strings.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `[server] listen` cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The bound socket's address cannot be read, or the server cannot take the socket.
    #[error("{0}")]
    Socket(std::io::Error),
    /// `--dev` on an address other than loopback: its IdP checks no password.
    #[error("--dev listens on loopback only, not {0}: its IdP checks no password")]
    DevNotLoopback(std::net::SocketAddr),
    /// `http://<bound address>` is not a URL (never, for a socket address).
    #[error("{0}")]
    PublicUrl(url::ParseError),
    /// `[audit] output` cannot be opened.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// The outbound HTTP client cannot be built (TLS roots).
    #[error("HTTP client: {0}")]
    HttpClient(reqwest::Error),
    /// The store cannot be set up.
    #[error("{0}")]
    Store(crate::store::StoreError),
    /// The store's settings break a guarantee (Redis that evicts keys); the store says which.
    #[error("{0}")]
    UnsafeStore(String),
    /// The dev IdP's key, or the broker's signing key, cannot be made or read.
    #[error(transparent)]
    SigningKey(#[from] crate::token::KeyError),
    /// SAML: the SP key pair or an IdP's metadata.
    #[error(transparent)]
    Saml(#[from] crate::idp::saml::service::LoadError),
    /// The STS issuer.
    #[error(transparent)]
    Sts(#[from] crate::aws::sts::StsSetupError),
    /// The policy: `[[map]]` rules and policy files.
    #[error(transparent)]
    Policy(#[from] crate::policy::loader::LoadError),
}

/// The broker, bound and built, not yet serving.
pub struct Application {
    server: Server,
    state: web::Data<AppState>,
    metrics: Arc<Metrics>,
    port: u16,
}

/// Every stage's service, each registered with the app on its own: a handler's arguments
/// name the services it uses and it can reach no other.
#[derive(Clone)]
struct Services {
    issuance: web::Data<Issuance>,
    sessions: web::Data<Sessions>,
    favourites: web::Data<Favourites>,
    inventory: web::Data<crate::inventory::Inventory>,
    revocations: web::Data<crate::revocation::Revocations>,
    revoker: web::Data<crate::revocation::request::Revoker>,
    cli_tokens: web::Data<CliTokens>,
    limits: web::Data<RateLimits>,
    saml_login: web::Data<crate::idp::saml::login::SamlLogin>,
    oidc_login: web::Data<crate::idp::oidc::login::OidcLogin>,
    audit: web::Data<crate::audit::Audit>,
    metrics: web::Data<Metrics>,
    trusted_proxies: web::Data<crate::client_addr::TrustedProxies>,
}

impl Services {
    fn register<T>(&self, app: App<T>) -> App<T>
    where
        T: actix_web::dev::ServiceFactory<
                actix_web::dev::ServiceRequest,
                Config = (),
                Error = actix_web::Error,
                InitError = (),
            >,
    {
        app.app_data(self.issuance.clone())
            .app_data(self.sessions.clone())
            .app_data(self.favourites.clone())
            .app_data(self.inventory.clone())
            .app_data(self.revocations.clone())
            .app_data(self.revoker.clone())
            .app_data(self.cli_tokens.clone())
            .app_data(self.limits.clone())
            .app_data(self.saml_login.clone())
            .app_data(self.oidc_login.clone())
            .app_data(self.audit.clone())
            .app_data(self.metrics.clone())
            .app_data(self.trusted_proxies.clone())
    }
}

impl Application {
    /// Binds `[server] listen`, builds every service and the server, with the system clock.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As `build`, with an injected clock: tests replay old fixtures at their own instant.
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(&config.server.listen).map_err(|source| StartError::Listen {
                addr: config.server.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(StartError::Socket)?;
        if config.dev && !addr.ip().is_loopback() {
            return Err(StartError::DevNotLoopback(addr));
        }
        let public_url = match &config.server.public_url {
            Some(u) => u.clone(),
            None => url::Url::parse(&format!("http://{addr}")).map_err(StartError::PublicUrl)?,
        };
        let metrics = Arc::new(Metrics::new());
        let audit = Arc::new(crate::audit::Audit::open(&config.audit)?);
        let http = reqwest::Client::builder()
            .user_agent(concat!("rolegate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(3))
            .redirect(crate::fetch::redirect_policy())
            .build()
            .map_err(StartError::HttpClient)?;
        let store: Arc<dyn Store> = match &config.store {
            StoreConfig::Memory => Arc::new(MemoryStore::default()),
            StoreConfig::Redis { url, sentinel } => {
                Arc::new(RedisStore::connect(url, sentinel.as_ref()).map_err(StartError::Store)?)
            }
            StoreConfig::RedisCluster { nodes } => {
                let seeds: Vec<String> = nodes
                    .expose()
                    .split(',')
                    .map(|n| n.trim().to_string())
                    .collect();
                Arc::new(RedisStore::connect_cluster(&seeds).map_err(StartError::Store)?)
            }
        };
        refuse_unsafe_store(store.as_ref()).await?;
        let store: Arc<dyn Store> =
            Arc::new(crate::store::metered::Metered::new(store, metrics.clone()));
        let idps = Arc::new(IdpRegistry::build(&config, &public_url, &http)?);
        let saml = Arc::new(
            crate::idp::saml::service::SamlService::load(&config, &public_url, &http, clock.unix())
                .await?,
        );
        let issuer_key = match &config.issuer {
            Some(i) => {
                let key = match &i.signing_key_file {
                    Some(p) => SigningKey::from_pem_file(p)?,
                    None => SigningKey::generate()?,
                };
                let mut previous = Vec::new();
                for p in &i.previous_signing_key_files {
                    previous.push(SigningKey::from_pem_file(p)?);
                }
                Some(Arc::new(key.publishing(previous)))
            }
            None if config.dev => Some(Arc::new(SigningKey::generate()?)),
            None => None,
        };
        let mut issuer_cfg = config.issuer.clone();
        if config.dev && issuer_cfg.is_none() && config.aws.mode == AwsMode::WebIdentity {
            issuer_cfg = Some(crate::config::IssuerConfig {
                url: public_url.clone(),
                signing_key_file: None,
                previous_signing_key_files: Vec::new(),
                audience: "rolegate-dev".into(),
            });
        }
        let issuer = StsIssuer::new(
            &config.aws,
            issuer_cfg.as_ref(),
            issuer_key.clone(),
            metrics.clone(),
            clock.clone(),
        )
        .await?;
        let policy = Arc::new(PolicyMapper::load(&config)?);
        let saml_login = Arc::new(crate::idp::saml::login::SamlLogin::new(
            saml.clone(),
            store.clone(),
            clock.clone(),
        ));
        let oidc_login = Arc::new(crate::idp::oidc::login::OidcLogin::new(
            idps.clone(),
            store.clone(),
            clock.clone(),
            http.clone(),
            metrics.clone(),
            public_url.clone(),
            config.session.lifetime,
        ));
        let limits = Arc::new(RateLimits::new(store.clone()));
        let inventory = Arc::new(crate::inventory::Inventory::new(
            store.clone(),
            clock.clone(),
            policy.clone(),
        ));
        let revocations = Arc::new(crate::revocation::Revocations::new(
            store.clone(),
            clock.clone(),
            config
                .session
                .lifetime
                .max(config.cli.session_lifetime)
                .max(Duration::from_secs(12 * 3600)),
            config.idps.iter().map(|i| i.id.as_str().to_string()),
        ));
        let aws_side = revocation_aws_side(&config, store.clone(), clock.clone()).await;
        let sts: Arc<dyn crate::aws::Issuer> = Arc::new(issuer);
        let services = Services {
            issuance: web::Data::new(Issuance {
                policy: policy.clone(),
                sts,
                limits: limits.clone(),
                metrics: metrics.clone(),
                audit: audit.clone(),
                clock: clock.clone(),
                http: http.clone(),
                public_url: public_url.clone(),
                default_duration: config.aws.default_duration,
                partitions: config.aws.partitions.clone(),
                per_subject_per_minute: config.limits.credentials_per_minute,
                inventory: inventory.clone(),
                revocations: revocations.clone(),
                record_sessions: !bench_without_inventory(&config),
            }),
            sessions: web::Data::new(Sessions::new(
                store.clone(),
                clock.clone(),
                audit.clone(),
                config.session.clone(),
                public_url.scheme() == "http",
                revocations.clone(),
            )),
            favourites: web::Data::new(Favourites::new(store.clone())),
            revoker: web::Data::new(crate::revocation::request::Revoker {
                revocations: revocations.clone(),
                inventory: inventory.clone(),
                policy: policy.clone(),
                audit: audit.clone(),
                aws_side,
            }),
            inventory: web::Data::from(inventory),
            revocations: web::Data::from(revocations.clone()),
            cli_tokens: web::Data::new(CliTokens::new(
                store.clone(),
                clock.clone(),
                audit.clone(),
                metrics.clone(),
                config.cli.clone(),
                revocations.clone(),
            )),
            limits: web::Data::from(limits),
            saml_login: web::Data::from(saml_login),
            oidc_login: web::Data::from(oidc_login),
            audit: web::Data::from(audit),
            metrics: web::Data::from(metrics.clone()),
            trusted_proxies: web::Data::new(config.server.trusted_proxies.clone()),
        };
        let state = web::Data::new(AppState {
            config: Arc::new(config),
            public_url,
            store,
            idps,
            saml,
            http: http.clone(),
            policy,
            broker_key: issuer_key,
            clock,
        });
        let server = {
            let state = state.clone();
            let services = services.clone();
            let cors = state.config.server.cors_origins.clone();
            let dev_idp = state.idps.dev.is_some();
            let shutdown = state.config.server.shutdown_timeout.as_secs();
            let https = state.public_url.scheme() == "https";
            HttpServer::new(move || {
                services
                    .register(App::new().app_data(state.clone()))
                    .wrap(routes::security_headers(https))
                    .wrap(from_fn(telemetry::request_context))
                    .configure(|c| routes::configure(c, &cors, dev_idp))
                    .default_service(web::to(routes::not_found))
            })
            .shutdown_timeout(shutdown)
            .listen(listener)
            .map_err(StartError::Socket)?
            .run()
        };
        Ok(Application {
            server,
            state,
            metrics,
            port: addr.port(),
        })
    }

    /// The port bound (the real one when the config asked for 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the broker calls itself: `[server] public_url`, or `http://<bound address>`.
    pub fn public_url(&self) -> &url::Url {
        &self.state.public_url
    }

    /// Stops the server from elsewhere (tests, signal handling).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The shared state, for tests that drive refreshes and read the configuration.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The broker's counters (tests drive refreshes that record into them).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves until SIGINT/SIGTERM (or `handle().stop()`), finishing in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let keys = tokio::spawn(keep_idp_keys_fresh(
            self.state.clone(),
            self.metrics.clone(),
        ));
        let saml = tokio::spawn(keep_saml_metadata_fresh(
            self.state.clone(),
            self.metrics.clone(),
        ));
        let policy = tokio::spawn(crate::policy::watch::watch(
            self.state.policy.clone(),
            self.metrics.clone(),
        ));
        let result = self.server.await;
        keys.abort();
        saml.abort();
        policy.abort();
        result
    }
}

/// A store whose settings break a guarantee (Redis that evicts keys) refuses the start. A
/// store that cannot be asked yet (Redis down; the broker starts not ready) is checked again
/// by every readiness probe.
async fn refuse_unsafe_store(store: &dyn Store) -> Result<(), StartError> {
    match tokio::time::timeout(Duration::from_secs(2), store.unsafe_setting()).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(problem))) => Err(StartError::UnsafeStore(problem)),
        Ok(Err(_)) | Err(_) => {
            tracing::warn!(
                "the store's settings could not be checked at start; readiness checks them"
            );
            Ok(())
        }
    }
}

/// Loads every IdP's keys once the server is up (retrying with backoff while an IdP is
/// unreachable), then refreshes hourly so rotations are picked up before any unknown `kid`.
async fn keep_idp_keys_fresh(state: web::Data<AppState>, metrics: Arc<Metrics>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        for (idp, result) in state.idps.refresh_all().await {
            let label = if result.is_ok() { "ok" } else { "error" };
            metrics
                .key_refreshes
                .with_label_values(&[idp.as_str(), label])
                .inc();
            if let Err(e) = result {
                tracing::error!(idp = %idp, error = %e, "could not load the IdP's signing keys; keeping the last good ones");
            }
        }
        let ready = state.idps.oidc().iter().filter(|i| i.is_ready()).count();
        metrics
            .idps_ready
            .set(i64::try_from(ready).unwrap_or(i64::MAX));
        if state.idps.all_ready() {
            backoff = Duration::from_secs(3600);
        } else {
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Refreshes `metadata_url` SAML metadata on its schedule (the last good copy stays on failure).
async fn keep_saml_metadata_fresh(state: web::Data<AppState>, metrics: Arc<Metrics>) {
    let Some(every) = state.saml.refresh_interval() else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        state
            .saml
            .refresh(&state.http, &metrics, state.clock.unix())
            .await;
    }
}

/// Whether a revocation's Deny is written to IAM, and with which keys: `[revocation]`'s, else
/// the broker's own in `assume_role` mode. `web_identity` mode holds no AWS keys, and the
/// `--dev` STS emulator has no IAM: there the Deny is returned to apply.
async fn revocation_aws_side(
    config: &Config,
    store: Arc<dyn crate::store::Store>,
    clock: Arc<dyn Clock>,
) -> crate::revocation::writer::AwsSide {
    use crate::revocation::writer::{AwsSide, IamWriter};
    let r = &config.revocation;
    if !r.write_iam {
        return AwsSide::Print("[revocation] write_iam = false".into());
    }
    let no_iam = config.aws.partitions["aws"].iam_endpoint.is_none();
    if config.dev && no_iam && r.credentials.is_none() {
        return AwsSide::Print("the --dev STS emulator has no IAM".into());
    }
    if r.credentials.is_none() && config.aws.mode == AwsMode::WebIdentity {
        return AwsSide::Print(
            "in web_identity mode the broker holds no AWS keys; give [revocation] keys \
             allowed iam:PutRolePolicy on the catalogue's roles"
                .into(),
        );
    }
    AwsSide::Write(Box::new(
        IamWriter::new(&config.aws, r.credentials.as_ref(), store, clock).await,
    ))
}

/// The inventory benchmark's baseline: `serve --dev` (loopback only, the dev IdP) with
/// `ROLEGATE_BENCH_NO_INVENTORY=1` issues without recording. Outside `--dev` the variable is
/// refused loudly rather than ignored, so it cannot be mistaken for a setting.
fn bench_without_inventory(config: &Config) -> bool {
    let asked = std::env::var_os("ROLEGATE_BENCH_NO_INVENTORY").is_some_and(|v| v == "1");
    if asked && config.dev {
        tracing::warn!(
            "ROLEGATE_BENCH_NO_INVENTORY=1: sessions are NOT recorded (a benchmark baseline; \
             revocation cannot reach what this broker issues)"
        );
    } else if asked {
        tracing::error!(
            "ROLEGATE_BENCH_NO_INVENTORY is a benchmark switch of `serve --dev` only: ignored, \
             every session is recorded"
        );
    }
    asked && config.dev
}
