//! Configuration: TOML file → env overrides → `RawConfig` (serde) → validated [`Config`].
//!
//! Validation fails fast and names the key path (`role[2].arn`), so `rolegate config check`
//! tells an operator exactly what to fix. Nothing here is global: the validated `Config` is
//! passed to `startup`, which builds everything else from it.

mod load;
mod raw;
mod validate;

pub(crate) use crate::untrusted::is_loopback_url;

use crate::domain::{IdpId, RoleArn};
use crate::secret::Secret;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// The `--dev` configuration, embedded so the first command works from any directory.
pub(crate) const DEV_CONFIG: &str = include_str!("../../config/dev/rolegate.toml");
pub(crate) const DEV_USERS: &str = include_str!("../../config/dev/users.toml");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the problem is: a key path (`idp[0].issuer`), a file, or an environment variable.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "config error at `{}`: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub aws: AwsConfig,
    pub issuer: Option<IssuerConfig>,
    pub idps: Vec<IdpConfig>,
    pub saml: SamlSpConfig,
    pub roles: Vec<RoleConfig>,
    pub maps: Vec<MapRule>,
    pub limits: Limits,
    pub session: SessionConfig,
    pub cli: CliConfig,
    pub audit: AuditOutput,
    /// The file this came from (None for the embedded dev config): reloads re-read it.
    pub source: Option<PathBuf>,
    /// Policy documents, listed one by one (never a glob: a deleted file must be an error).
    pub(crate) policy_files: Vec<PathBuf>,
    /// Bearer token for admin routes; None disables them.
    pub(crate) admin_token: Option<Secret<String>>,
    /// Bearer token for `/metrics`; None: loopback connections only.
    pub(crate) metrics_token: Option<Secret<String>>,
    /// `serve --dev`: loopback only, generated keys, the built-in dev IdP allowed.
    pub dev: bool,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: String,
    /// None: derived from the bound address at startup (`http://127.0.0.1:<port>`).
    pub public_url: Option<Url>,
    /// Proxies whose forwarding header is believed, and which header that is.
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) log_format: LogFormat,
    pub shutdown_timeout: Duration,
}

/// Where the audit stream goes (`[audit] output`; see `crate::audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutput {
    Log,
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct SentinelConfig {
    pub addrs: Vec<String>,
    pub master: String,
}

#[derive(Debug, Clone)]
pub enum StoreConfig {
    Memory,
    Redis {
        url: Secret<String>,
        /// Redis Sentinel: the master's address comes from these sentinels (`host:port`) and
        /// follows failovers; the host in `url` is then ignored (its password and db are used).
        sentinel: Option<SentinelConfig>,
    },
    /// Redis Cluster: seed node URLs, comma-separated in one secret (they may hold a password).
    RedisCluster {
        nodes: Secret<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsMode {
    AssumeRole,
    WebIdentity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChaining {
    /// Ask STS (GetCallerIdentity) at start whether our credentials are an assumed role.
    Auto,
    Yes,
    No,
}

#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub mode: AwsMode,
    pub default_duration: Duration,
    pub role_chaining: RoleChaining,
    /// Always holds `aws`, `aws-cn` and `aws-us-gov` (defaults filled in).
    pub partitions: BTreeMap<String, Partition>,
    /// None: the SDK's default credential chain. In `--dev` against a loopback STS emulator,
    /// dummy keys, so trying rolegate needs no AWS setup.
    pub(crate) static_credentials: Option<StaticCredentials>,
}

impl Config {
    /// How pages and the CLI name an IdP: its `display_name`, else its id.
    pub(crate) fn idp_display_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.idps
            .iter()
            .find(|i| i.id.as_str() == id)
            .map_or(id, |i| i.display_name.as_str())
    }
}

impl AwsConfig {
    /// The region a partition's sessions are used in (`[aws.partitions.<name>] region`); the
    /// `aws` partition's for a name that is not one (role ARNs are validated at load).
    pub fn region(&self, partition: &str) -> &str {
        self.partitions
            .get(partition)
            .or_else(|| self.partitions.get("aws"))
            .map_or("us-east-1", |p| p.region.as_str())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StaticCredentials {
    pub(crate) access_key_id: Secret<String>,
    pub(crate) secret_access_key: Secret<String>,
}

#[derive(Debug, Clone)]
pub struct Partition {
    pub region: String,
    pub sts_endpoint: Option<Url>,
    pub federation_url: Url,
    pub(crate) console_hosts: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub url: Url,
    /// None only in `--dev`, where a key is generated at start.
    pub signing_key_file: Option<PathBuf>,
    /// Rotated-out keys, published in the JWKS until removed (rotation with overlap).
    pub previous_signing_key_files: Vec<PathBuf>,
    pub audience: String,
}

#[derive(Debug, Clone)]
pub struct IdpConfig {
    pub id: IdpId,
    pub display_name: String,
    pub kind: IdpKind,
    /// Where "also sign out of the IdP" goes after `POST /logout`. For OIDC IdPs without it,
    /// the discovery document's `end_session_endpoint` (RP-Initiated Logout 1.0) is used.
    pub logout_url: Option<Url>,
}

#[derive(Debug, Clone)]
pub enum IdpKind {
    Oidc(Box<OidcIdpConfig>),
    /// The built-in development IdP (`--dev` only). It speaks real OIDC; its issuer is
    /// `<public_url>/dev-idp`, known only once the server is bound.
    Dev(DevIdpConfig),
    /// A SAML 2.0 IdP (browser sign-in only: SAML has no bearer token for the API).
    Saml(Box<SamlIdpConfig>),
}

#[derive(Debug, Clone)]
pub struct SamlIdpConfig {
    pub metadata: MetadataSource,
    /// How often `metadata_url` is fetched again (the last good copy is kept on failure).
    pub metadata_refresh: Duration,
    /// Attribute (Name or FriendlyName) holding group names, one per AttributeValue.
    pub groups_attribute: String,
    /// Also split each group value on commas (IdPs that send one joined value).
    pub groups_split_commas: bool,
    pub email_attribute: String,
    pub username_attribute: String,
    /// AuthnContextClassRef values that mean multi-factor (→ `rolegate:mfa`).
    pub mfa_authn_contexts: Vec<String>,
    /// Whether this IdP's email attribute is authoritative (SAML has no `email_verified`).
    pub trust_email: bool,
    /// Accept unsolicited (IdP-initiated) Responses; RelayState is then never a redirect.
    pub allow_idp_initiated: bool,
    pub insecure_allow_sha1: bool,
    /// Ask the IdP to authenticate again even with a session (AuthnRequest ForceAuthn).
    pub force_authn: bool,
    pub clock_skew: Duration,
}

#[derive(Debug, Clone)]
pub enum MetadataSource {
    File(PathBuf),
    /// HTTPS (or a loopback test IdP).
    Url(Url),
}

impl SamlIdpConfig {
    pub fn new(metadata: MetadataSource) -> Self {
        SamlIdpConfig {
            metadata,
            metadata_refresh: Duration::from_secs(3600),
            groups_attribute: "groups".into(),
            groups_split_commas: false,
            email_attribute: "email".into(),
            username_attribute: "username".into(),
            mfa_authn_contexts: DEFAULT_MFA_AUTHN_CONTEXTS
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            trust_email: false,
            allow_idp_initiated: false,
            insecure_allow_sha1: false,
            force_authn: false,
            clock_skew: Duration::from_secs(60),
        }
    }
}

/// AuthnContextClassRef values IdPs send after a second factor: Entra/ADFS, REFEDS MFA, and
/// the SAML 2.0 authentication-context classes that imply a token or a phone.
pub(crate) const DEFAULT_MFA_AUTHN_CONTEXTS: &[&str] = &[
    "http://schemas.microsoft.com/claims/multipleauthn",
    "https://refeds.org/profile/mfa",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
];

/// `[saml]`: the broker as a SAML service provider.
#[derive(Debug, Clone, Default)]
pub struct SamlSpConfig {
    /// None: `<public_url>/saml/metadata`, known once the server is bound.
    pub entity_id: Option<String>,
    /// PEM key + certificate: signs AuthnRequests and decrypts EncryptedAssertions.
    pub sp_key_file: Option<PathBuf>,
    pub sp_cert_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct OidcIdpConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret<String>>,
    pub audiences: Vec<String>,
    pub groups_claim: String,
    pub username_claim: String,
    pub required_claims: BTreeMap<String, String>,
    pub jwks_file: Option<PathBuf>,
    pub clock_skew: Duration,
    pub mfa_amr_values: Vec<String>,
    pub mfa_acr_values: Vec<String>,
    pub insecure_trust_unverified_email: bool,
}

impl OidcIdpConfig {
    /// An IdP with every optional setting at its default (the values `[[idp]]` gets when the
    /// keys are left out).
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        OidcIdpConfig {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            audiences: vec![],
            groups_claim: "groups".into(),
            username_claim: "preferred_username".into(),
            required_claims: BTreeMap::new(),
            jwks_file: None,
            clock_skew: Duration::from_secs(60),
            mfa_amr_values: DEFAULT_MFA_AMR
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            mfa_acr_values: vec![],
            insecure_trust_unverified_email: false,
        }
    }
}

/// RFC 8176 `amr` values that mean a second factor was used.
pub(crate) const DEFAULT_MFA_AMR: &[&str] = &["mfa", "otp", "hwk", "swk", "sc", "fido"];

#[derive(Debug, Clone)]
pub struct DevIdpConfig {
    pub users: Vec<DevUser>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevUser {
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub mfa: bool,
}

#[derive(Debug, Clone)]
pub struct RoleConfig {
    pub arn: RoleArn,
    pub alias: String,
    pub account_name: Option<String>,
    pub max_duration: Duration,
}

#[derive(Debug, Clone)]
pub struct MapRule {
    pub idp: IdpId,
    pub groups: Vec<String>,
    /// Role aliases, resolved against the catalogue at validation time.
    pub roles: Vec<String>,
    pub max_duration: Option<Duration>,
    pub tags: BTreeMap<String, String>,
    pub transitive_tag_keys: Vec<String>,
}

/// Browser sessions (`[session]`, see `crate::session`).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Absolute: after it the user signs in at the IdP again, however busy the session was.
    pub lifetime: Duration,
    /// A session unused this long ends (a forgotten tab stops being a live key).
    pub idle_timeout: Duration,
}

/// The CLI's sign-in (`rolegate login`): OAuth 2.0 device and loopback flows to broker tokens.
#[derive(Debug, Clone)]
pub struct CliConfig {
    /// RFC 8628 device authorization; off leaves only the loopback (browser on this machine) flow.
    pub device_flow: bool,
    /// RFC 8628 `verification_uri_complete` (the code in the link). Off by default: a link
    /// that carries the code is what a phisher sends; the person types the code either way.
    pub verification_uri_complete: bool,
    /// How long a broker access token lives (refreshed silently by the CLI).
    pub(crate) token_lifetime: Duration,
    /// Absolute lifetime of a sign-in (refresh family): after it, the IdP again.
    pub session_lifetime: Duration,
    /// Wrong user codes a signed-in user may try per minute on `/device`.
    pub user_code_attempts_per_minute: u32,
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Credential issuances per (idp, subject) per minute.
    pub(crate) credentials_per_minute: u32,
    /// Authenticated API calls per client IP per minute; 0 (default) leaves it to the edge
    /// (load balancer/WAF), since carrier NAT puts many app users behind one address.
    pub requests_per_minute_per_ip: u32,
    /// Browser sign-in starts (`/login/{idp}`) per client IP per minute; 0 = off.
    pub logins_per_minute_per_ip: u32,
    /// SAML Responses posted to `/saml/acs` per client IP per minute (each costs signature
    /// verification and maybe RSA decryption); 0 = off.
    pub saml_acs_per_minute_per_ip: u32,
    /// OIDC sign-in callbacks per client IP per minute (each may call the IdP's token
    /// endpoint); 0 = off.
    pub(crate) oidc_callbacks_per_minute_per_ip: u32,
    /// `POST /oauth2/token` requests per client IP per minute (device polling, refreshes,
    /// code redemption — and guesses); 0 = off.
    pub(crate) token_requests_per_minute_per_ip: u32,
}

impl Config {
    /// Loads `path` (or the embedded dev config when `path` is None and `dev` is set) and applies
    /// the process environment's `ROLEGATE_*__*` overrides.
    pub fn load(path: Option<&Path>, dev: bool) -> Result<Config, ConfigError> {
        Self::load_with_env(path, dev, std::env::vars())
    }

    pub fn load_with_env(
        path: Option<&Path>,
        dev: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (text, source) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| ConfigError {
                    path: p.display().to_string(),
                    message: format!("cannot read the config file: {e}"),
                })?,
                p.display().to_string(),
            ),
            None if dev => (DEV_CONFIG.to_string(), "(embedded dev config)".to_string()),
            None => {
                return Err(ConfigError {
                    path: "--config".into(),
                    message: "no config file given; pass --config FILE, or --dev to try rolegate"
                        .into(),
                });
            }
        };
        let mut table = load::parse(&text, &source)?;
        load::apply_env_overrides(&mut table, env)?;
        let raw = load::deserialize(table)?;
        let base = path.and_then(Path::parent).unwrap_or(Path::new("."));
        let mut config = validate::validate(raw, dev, base)?;
        config.source = path.map(Path::to_path_buf);
        Ok(config)
    }

    pub fn role(&self, alias_or_arn: &str) -> Option<&RoleConfig> {
        self.roles
            .iter()
            .find(|r| r.alias == alias_or_arn || r.arn.as_str() == alias_or_arn)
    }
}

/// `"1h"`, `"90m"`, `"3600s"` → Duration, with the key path in the error.
pub(crate) fn parse_duration(path: &str, s: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(s).map_err(|e| ConfigError {
        path: path.to_string(),
        message: format!("`{s}` is not a duration such as \"1h\" or \"900s\": {e}"),
    })
}
