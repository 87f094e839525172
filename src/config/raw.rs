//! The configuration file exactly as written (serde), before any validation. Every struct
//! denies unknown fields: a misspelt `alow_idp_initiated` must be an error, never a default.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub aws: RawAws,
    pub issuer: Option<RawIssuer>,
    #[serde(default)]
    pub idp: Vec<RawIdp>,
    #[serde(default)]
    pub saml: RawSaml,
    #[serde(default)]
    pub role: Vec<RawRole>,
    #[serde(default)]
    pub map: Vec<RawMap>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub session: RawSession,
    #[serde(default)]
    pub cli: RawCli,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub revocation: RawRevocation,
}

/// `[revocation]`: the IAM writer's switch and keys (the same `*_file`/`*_env` keys as `[aws]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRevocation {
    pub write_iam: Option<bool>,
    pub access_key_id_file: Option<PathBuf>,
    pub access_key_id_env: Option<String>,
    pub secret_access_key_file: Option<PathBuf>,
    pub secret_access_key_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    /// Bearer token for `/metrics`; none → `/metrics` answers loopback connections only.
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    /// "log" (default), "stdout" or "file".
    pub output: Option<String>,
    pub file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    pub lifetime: Option<String>,
    pub idle_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCli {
    pub device_flow: Option<bool>,
    pub verification_uri_complete: Option<bool>,
    pub token_lifetime: Option<String>,
    pub session_lifetime: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub user_code_attempts_per_minute: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    /// Bearer token for admin routes (`POST /api/v1/explain`); none → admin routes are off.
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// "x-forwarded-for" (default) or "forwarded" (RFC 7239): the one header they write.
    pub forwarded_header: Option<String>,
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// "pretty" (default) or "json".
    pub log_format: Option<String>,
    pub shutdown_timeout: Option<String>,
}

/// `[store]`, tagged by `backend`: each backend accepts only its own keys, so a `redis_url`
/// without `backend = "redis"` is an error instead of a per-process memory store (every
/// replica would keep its own replay cache). No `[store]` section at all means memory.
#[derive(Debug, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub(super) enum RawStore {
    Memory(RawMemoryStore),
    Redis(RawRedisStore),
    RedisCluster(RawRedisClusterStore),
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore::Memory(RawMemoryStore {})
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMemoryStore {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedisStore {
    pub redis_url: Option<String>,
    /// The URL may hold a password: these keep it out of the file.
    pub redis_url_file: Option<PathBuf>,
    pub redis_url_env: Option<String>,
    /// Redis Sentinel addresses (`host:port`); with `sentinel_master`.
    #[serde(default)]
    pub sentinels: Vec<String>,
    pub sentinel_master: Option<String>,
}

/// Seed nodes, comma-separated, as a secret like `redis_url` (Sentinel does not apply).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedisClusterStore {
    pub redis_url: Option<String>,
    pub redis_url_file: Option<PathBuf>,
    pub redis_url_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAws {
    pub mode: Option<String>,
    pub default_duration: Option<String>,
    /// "auto" (ask STS at start), "true" or "false": are the broker's own credentials role
    /// credentials? Chained sessions are capped at 1 h by STS.
    pub role_chaining: Option<String>,
    #[serde(default)]
    pub partitions: BTreeMap<String, RawPartition>,
    /// Static broker credentials instead of the SDK's default chain (env, profile, IMDS…).
    pub access_key_id_file: Option<PathBuf>,
    pub access_key_id_env: Option<String>,
    pub secret_access_key_file: Option<PathBuf>,
    pub secret_access_key_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPartition {
    pub region: Option<String>,
    pub sts_endpoint: Option<String>,
    pub iam_endpoint: Option<String>,
    pub federation_url: Option<String>,
    pub console_hosts: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIssuer {
    pub url: String,
    pub signing_key_file: Option<PathBuf>,
    /// Keys rotated out: still published in the JWKS, never used to sign.
    #[serde(default)]
    pub previous_signing_key_files: Vec<PathBuf>,
    pub audience: String,
}

/// `[[idp]]`, tagged by `kind`: each kind accepts only its own keys, so an OIDC IdP with
/// `metadata_url` or a SAML IdP with `client_id` is an error, never a silently ignored setting.
/// (`id`, `display_name` and `logout_url` are repeated in each kind: serde cannot combine
/// `flatten` with `deny_unknown_fields`.)
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(super) enum RawIdp {
    Oidc(RawOidcIdp),
    Saml(RawSamlIdp),
    Dev(RawDevIdp),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOidcIdp {
    pub id: String,
    pub display_name: Option<String>,
    pub logout_url: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    pub groups_claim: Option<String>,
    pub username_claim: Option<String>,
    #[serde(default)]
    pub required_claims: BTreeMap<String, String>,
    pub jwks_file: Option<PathBuf>,
    pub clock_skew: Option<String>,
    /// `amr` values that count as multi-factor (RFC 8176); default: mfa, otp, hwk, swk, sc.
    pub mfa_amr_values: Option<Vec<String>>,
    #[serde(default)]
    pub mfa_acr_values: Vec<String>,
    /// For IdPs that never send `email_verified` (e.g. Entra): trust `email` anyway.
    #[serde(default)]
    pub insecure_trust_unverified_email: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSamlIdp {
    pub id: String,
    pub display_name: Option<String>,
    pub logout_url: Option<String>,
    pub metadata_file: Option<PathBuf>,
    pub metadata_url: Option<String>,
    pub metadata_refresh: Option<String>,
    pub groups_attribute: Option<String>,
    #[serde(default)]
    pub groups_split_commas: bool,
    pub email_attribute: Option<String>,
    pub username_attribute: Option<String>,
    pub mfa_authn_contexts: Option<Vec<String>>,
    pub clock_skew: Option<String>,
    #[serde(default)]
    pub trust_email: bool,
    #[serde(default)]
    pub allow_idp_initiated: bool,
    #[serde(default)]
    pub insecure_allow_sha1: bool,
    #[serde(default)]
    pub force_authn: bool,
}

/// The built-in development IdP (`serve --dev` only).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDevIdp {
    pub id: String,
    pub display_name: Option<String>,
    pub logout_url: Option<String>,
    pub users_file: Option<PathBuf>,
}

/// `[saml]`: rolegate as a SAML service provider (shared by every `kind = "saml"` IdP).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSaml {
    pub entity_id: Option<String>,
    pub sp_key_file: Option<PathBuf>,
    pub sp_cert_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    pub arn: String,
    pub alias: Option<String>,
    pub account_name: Option<String>,
    pub max_duration: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMap {
    pub idp: String,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub max_duration: Option<String>,
    /// Session tags; values may use `${rolegate:username}`-style variables.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default, deserialize_with = "number")]
    pub credentials_per_minute: Option<u32>,
    #[serde(default, deserialize_with = "number")]
    pub requests_per_minute_per_ip: Option<u32>,
    #[serde(default, deserialize_with = "number")]
    pub logins_per_minute_per_ip: Option<u32>,
    #[serde(default, deserialize_with = "number")]
    pub saml_acs_per_minute_per_ip: Option<u32>,
    #[serde(default, deserialize_with = "number")]
    pub oidc_callbacks_per_minute_per_ip: Option<u32>,
    #[serde(default, deserialize_with = "number")]
    pub token_requests_per_minute_per_ip: Option<u32>,
}

/// A count written as a TOML integer, or as a string of digits (how env overrides arrive).
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(u32),
        Text(String),
    }
    match N::deserialize(d)? {
        N::Int(n) => Ok(Some(n)),
        N::Text(s) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a whole number"))),
    }
}
