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
/// The `--dev` policy document, embedded with the dev config: the dev users in `sre` (alice)
/// may list and end sessions, so `/admin/sessions` and `rolegate sessions revoke` can be tried.
pub(crate) const DEV_POLICY: &str = include_str!("../../config/dev/policy.json");

/// Why a configuration was refused; `rolegate config check` prints it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the problem is: a key path (`idp[0].issuer`), a file, or an environment variable.
    pub path: String,
    /// What is wrong there, in words an operator can act on.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "config error at `{}`: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration: everything the broker is built from, checked once at load.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[store]`: where replay caches, sessions and counters live.
    pub store: StoreConfig,
    /// `[aws]`.
    pub aws: AwsConfig,
    /// `[issuer]`: the broker's own tokens (the CLI's and web identity); None turns them off.
    pub issuer: Option<IssuerConfig>,
    /// `[[idp]]`, in file order.
    pub idps: Vec<IdpConfig>,
    /// `[saml]`: the broker as a SAML service provider.
    pub saml: SamlSpConfig,
    /// `[[role]]`: the role catalogue every policy and `[[map]]` names roles from.
    pub roles: Vec<RoleConfig>,
    /// `[[map]]`: the shorthand rules, compiled into the policy with the documents.
    pub maps: Vec<MapRule>,
    /// `[limits]`.
    pub limits: Limits,
    /// `[session]`.
    pub session: SessionConfig,
    /// `[cli]`.
    pub cli: CliConfig,
    /// `[audit] output`.
    pub audit: AuditOutput,
    /// `[revocation]`: how a revocation's Deny reaches IAM.
    pub revocation: RevocationConfig,
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

/// `[server]`: how the broker listens and what it tells clients about itself.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to bind, `host:port`.
    pub listen: String,
    /// None: derived from the bound address at startup (`http://127.0.0.1:<port>`).
    pub public_url: Option<Url>,
    /// Proxies whose forwarding header is believed, and which header that is.
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) log_format: LogFormat,
    /// How long in-flight requests get to finish on SIGTERM before the server stops.
    pub shutdown_timeout: Duration,
}

/// Where the audit stream goes (`[audit] output`; see `crate::audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutput {
    /// Audit events as `tracing` events, in the server's log.
    Log,
    /// One JSON object per line on stdout, apart from the log.
    Stdout,
    /// Appended to this file, one JSON object per line.
    File(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Pretty,
    Json,
}

/// Redis Sentinel: which sentinels to ask, and the master name they know.
#[derive(Debug, Clone)]
pub struct SentinelConfig {
    /// Sentinel addresses, `host:port`.
    pub addrs: Vec<String>,
    /// The master's name as the sentinels know it.
    pub master: String,
}

/// `[store]`: in memory (one replica only) or Redis, shared by every replica.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// In this process: replay caches and counters are not shared with other replicas.
    Memory,
    /// One Redis server (or a Sentinel-managed master).
    Redis {
        /// `redis://` or `rediss://` URL; a secret, since it may hold the password.
        url: Secret<String>,
        /// Redis Sentinel: the master's address comes from these sentinels (`host:port`) and
        /// follows failovers; the host in `url` is then ignored (its password and db are used).
        sentinel: Option<SentinelConfig>,
    },
    /// Redis Cluster: seed node URLs, comma-separated in one secret (they may hold a password).
    RedisCluster {
        /// The seed nodes.
        nodes: Secret<String>,
    },
}

/// `[aws] mode`: how the broker obtains credentials from STS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsMode {
    /// AssumeRole with the broker's own AWS credentials.
    AssumeRole,
    /// AssumeRoleWithWebIdentity with a token the broker signs: it needs no AWS credentials.
    WebIdentity,
}

/// `[aws] role_chaining`: whether the broker's credentials are themselves an assumed role, which caps sessions at one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChaining {
    /// Ask STS (GetCallerIdentity) at start whether our credentials are an assumed role.
    Auto,
    /// They are: sessions are capped at one hour.
    Yes,
    /// They are not: a role's own maximum applies.
    No,
}

/// `[aws]`: STS, partitions and session defaults.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// How credentials are obtained.
    pub mode: AwsMode,
    /// The session duration when a request names none (capped by the role and by chaining).
    pub default_duration: Duration,
    /// Whether sessions are role chaining (one hour at most).
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

/// `[revocation]`: whether and with which keys the broker writes a revocation's Deny to IAM.
#[derive(Debug, Clone)]
pub struct RevocationConfig {
    /// `write_iam` (default true): false ends sessions on the broker's side only and returns
    /// each role's Deny to apply by hand.
    pub write_iam: bool,
    /// Keys for the IAM writes; None: the broker's own (`[aws]`'s, else the SDK's default
    /// chain) in `assume_role` mode, and no IAM writes in `web_identity` mode.
    pub(crate) credentials: Option<StaticCredentials>,
}

/// `[aws.partitions.<name>]`: where a partition's STS and console are.
#[derive(Debug, Clone)]
pub struct Partition {
    /// The region its sessions are used in (and the regional STS endpoint's).
    pub region: String,
    /// An STS endpoint to use instead of the SDK's (an emulator, a VPC endpoint).
    pub sts_endpoint: Option<Url>,
    /// An IAM endpoint to use instead of the SDK's (an emulator, a VPC endpoint): for
    /// `rolegate doctor` and the revocation writer.
    pub iam_endpoint: Option<Url>,
    /// The federation endpoint console sign-in URLs are made with.
    pub federation_url: Url,
    pub(crate) console_hosts: Vec<String>,
}

/// `[issuer]`: the broker as a token issuer (its JWKS and its own tokens).
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The issuer URL (`iss`) of every token the broker signs.
    pub url: Url,
    /// None only in `--dev`, where a key is generated at start.
    pub signing_key_file: Option<PathBuf>,
    /// Rotated-out keys, published in the JWKS until removed (rotation with overlap).
    pub previous_signing_key_files: Vec<PathBuf>,
    /// The `aud` of web identity tokens, as the IAM OIDC provider expects it.
    pub audience: String,
}

/// One `[[idp]]`: an identity provider people sign in with.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    /// The id policies, URLs and audit events name it by.
    pub id: IdpId,
    /// What pages show (its id when not configured).
    pub display_name: String,
    /// The protocol and its settings.
    pub kind: IdpKind,
    /// Where "also sign out of the IdP" goes after `POST /logout`. For OIDC IdPs without it,
    /// the discovery document's `end_session_endpoint` (RP-Initiated Logout 1.0) is used.
    pub logout_url: Option<Url>,
}

/// Which protocol an IdP speaks, with that protocol's settings.
#[derive(Debug, Clone)]
pub enum IdpKind {
    /// An OpenID Connect IdP: bearer ID tokens for the API, and browser sign-in.
    Oidc(Box<OidcIdpConfig>),
    /// The built-in development IdP (`--dev` only). It speaks real OIDC; its issuer is
    /// `<public_url>/dev-idp`, known only once the server is bound.
    Dev(DevIdpConfig),
    /// A SAML 2.0 IdP (browser sign-in only: SAML has no bearer token for the API).
    Saml(Box<SamlIdpConfig>),
}

/// A SAML IdP's settings (`kind = "saml"`).
#[derive(Debug, Clone)]
pub struct SamlIdpConfig {
    /// Where the IdP's metadata (its signing certificates, SSO URL) comes from.
    pub metadata: MetadataSource,
    /// How often `metadata_url` is fetched again (the last good copy is kept on failure).
    pub metadata_refresh: Duration,
    /// Attribute (Name or FriendlyName) holding group names, one per AttributeValue.
    pub groups_attribute: String,
    /// Also split each group value on commas (IdPs that send one joined value).
    pub groups_split_commas: bool,
    /// Attribute holding the email address.
    pub email_attribute: String,
    /// Attribute holding the username (else the NameID).
    pub username_attribute: String,
    /// AuthnContextClassRef values that mean multi-factor (→ `rolegate:mfa`).
    pub mfa_authn_contexts: Vec<String>,
    /// Whether this IdP's email attribute is authoritative (SAML has no `email_verified`).
    pub trust_email: bool,
    /// Accept unsolicited (IdP-initiated) Responses; RelayState is then never a redirect.
    pub allow_idp_initiated: bool,
    /// Accept RSA-SHA1 signatures and SHA-1 digests: only for IdPs that cannot do better.
    pub insecure_allow_sha1: bool,
    /// Ask the IdP to authenticate again even with a session (AuthnRequest ForceAuthn).
    pub force_authn: bool,
    /// Tolerance for the IdP's clock in NotBefore/NotOnOrAfter checks.
    pub clock_skew: Duration,
}

/// Where a SAML IdP's metadata is read from.
#[derive(Debug, Clone)]
pub enum MetadataSource {
    /// A file, read at start (and on reload).
    File(PathBuf),
    /// HTTPS (or a loopback test IdP).
    Url(Url),
}

impl SamlIdpConfig {
    /// An IdP with every optional setting at its default (the values `[[idp]]` gets when the keys are left out).
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
    /// The certificate of `sp_key_file`, published in the SP metadata.
    pub sp_cert_file: Option<PathBuf>,
}

/// An OIDC IdP's settings (`kind = "oidc"`).
#[derive(Debug, Clone)]
pub struct OidcIdpConfig {
    /// The issuer (`iss`), also where discovery starts.
    pub issuer: String,
    /// The broker's client id at the IdP: an accepted audience, and the browser sign-in's client.
    pub client_id: String,
    /// For the browser sign-in's code exchange; None for a public client (PKCE only).
    pub client_secret: Option<Secret<String>>,
    /// Other accepted `aud` values (the app clients whose tokens the API takes).
    pub audiences: Vec<String>,
    /// Claim holding the groups (a string or an array of strings).
    pub groups_claim: String,
    /// Claim holding the username.
    pub username_claim: String,
    /// Claims a token must carry with exactly these values (e.g. a tenant id).
    pub required_claims: BTreeMap<String, String>,
    /// Keys from a file instead of discovery (offline, or an IdP without discovery).
    pub jwks_file: Option<PathBuf>,
    /// Tolerance for the IdP's clock in `exp`/`nbf`/`iat` checks.
    pub clock_skew: Duration,
    /// `amr` values that mean multi-factor (→ `rolegate:mfa`).
    pub mfa_amr_values: Vec<String>,
    /// `acr` values that mean multi-factor.
    pub mfa_acr_values: Vec<String>,
    /// Take `email` without `email_verified: true`: only for IdPs that never send it and verify every address.
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

/// The built-in dev IdP's settings.
#[derive(Debug, Clone)]
pub struct DevIdpConfig {
    /// The people it signs in, without a password.
    pub users: Vec<DevUser>,
}

/// One person of the dev IdP (`config/dev/users.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevUser {
    /// Their username claim.
    pub username: String,
    /// Their display name.
    pub name: Option<String>,
    /// Their email address (sent as verified).
    pub email: Option<String>,
    /// Their groups claim.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Whether their sign-in counts as multi-factor.
    #[serde(default)]
    pub mfa: bool,
}

/// One `[[role]]`: an AWS role the broker can hand out.
#[derive(Debug, Clone)]
pub struct RoleConfig {
    /// The role's ARN.
    pub arn: RoleArn,
    /// The short name people pick it by (`rolegate credentials <alias>`).
    pub alias: String,
    /// A human name for its account, shown in the picker.
    pub account_name: Option<String>,
    /// The longest session allowed for it (at most the role's own maximum in IAM).
    pub max_duration: Duration,
}

/// One `[[map]]`: IdP groups granted roles, the shorthand for a policy statement.
#[derive(Debug, Clone)]
pub struct MapRule {
    /// The IdP whose identities it applies to.
    pub idp: IdpId,
    /// Any of these groups matches.
    pub groups: Vec<String>,
    /// Role aliases, resolved against the catalogue at validation time.
    pub roles: Vec<String>,
    /// A session cap below the role's.
    pub max_duration: Option<Duration>,
    /// Session tags set on the granted sessions.
    pub tags: BTreeMap<String, String>,
    /// Which of `tags` carry over to chained sessions.
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

/// `[limits]`: rate limits, per person and per client address.
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

    /// [`Config::load`] with the environment given instead of the process's (tests).
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

    /// A catalogue role by alias or by ARN.
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
