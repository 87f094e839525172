//! # rolegate — a federation identity broker for AWS
//!
//! A proof of identity comes in, AWS credentials go out, and in between a policy decides
//! which roles the proof is good for (`docs/ARCHITECTURE.md` draws the pipeline, the trust
//! boundaries and where each check lives). Follow one request through the modules:
//!
//! 1. [`routes`] — the HTTP surfaces. `POST /api/v1/credentials` extracts the bearer token
//!    ([`routes::caller`]); `GET /login/{idp}` ([`routes::login`]) starts a browser sign-in,
//!    and `POST /saml/acs` ([`routes::saml`]) or `GET /oidc/callback/{idp}`
//!    ([`routes::oidc_login`]) finishes it and opens a [`session`]; [`routes::browser`] shows
//!    the role picker ([`routes::picker`], askama templates in `templates/`, [`favourites`] in
//!    the store) and hands out console sign-ins and credentials to that session. Handlers
//!    extract, call and present: the sign-in flows themselves, with every check they make
//!    (pending request or state bound to the browser, verification, replay cache, mix-up,
//!    code exchange), are [`idp::saml::login`] and [`idp::oidc::login`], free of HTTP.
//! 2. [`idp`] — verifiers. [`idp::oidc`] checks an IdP's ID token (signature via
//!    jsonwebtoken, then every claim rule of the security checklist) against keys fetched by
//!    discovery and cached; [`idp::saml`] runs a strict pre-parse, xmlsec signature
//!    verification against the IdP's pinned keys (loaded once; KeyInfo never read) through
//!    `crates/xmlsec-bridge` — the workspace's one crate with `unsafe` — and every Web Browser
//!    SSO profile check.
//!    Both end in the same protocol-neutral [`domain::Identity`].
//! 3. [`policy`] — the mapper: IAM-grammar documents ([`policy::document`]) and the `[[map]]`
//!    shorthand compiled into one [`policy::engine::Engine`], evaluated with IAM's logic.
//!    Given an identity, a role and an action it returns a [`policy::Grant`] (only it can
//!    build one) or says why not — and [`policy::explain`] says so statement by statement.
//! 4. [`aws`] — [`aws::limits`] checks every STS limit and turns the grant into a
//!    `SessionPlan`; [`aws::sts`] calls AssumeRole or AssumeRoleWithWebIdentity.
//!    [`issue::Issuance`] is the single path from identity to credentials that every surface
//!    shares (policy, limits, [`revocation`]s, rate limit, metric, audit event), and records
//!    every session it issues in the [`inventory`] before returning it.
//! 5. [`present`] — the Presenter: [`present::Credentials`] is the one shape of issued
//!    credentials (the API's JSON answer, read back by the CLI), written as credential_process
//!    JSON, shell exports ([`present::shell`]: sh, fish, PowerShell, each with its own
//!    quoting), a `~/.aws/credentials` profile ([`present::ini`]) or the browser's page
//!    ([`present::html`]); a value a format cannot hold is refused, never written half-quoted.
//! 6. [`error`] — the one place where each layer's error becomes an HTTP status and an
//!    OAuth-style `{"error", "error_description", "request_id"}` body.
//!
//! Around them: [`config`] (TOML → validated `Config`, naming the key path of any error),
//! [`startup`] (builds the services — [`issue::Issuance`], [`session::Sessions`],
//! [`oauth::CliTokens`], [`rate_limit::RateLimits`], the sign-in flows — registers each on
//! its own so a handler names the ones it uses, and builds the server; [`state::AppState`] is
//! what remains shared: configuration and read-only views), [`store`] (replay caches and
//! counters: memory or Redis, failing closed), [`telemetry`] (request ids, audit events),
//! [`metrics`], [`token`] (the broker's own signing key), [`clock`] (injected time),
//! [`secret`] (values that never print), [`strict_json`] (JSON with duplicate keys refused,
//! for every document the broker trusts), [`client_addr`] (the client's address behind
//! trusted proxies: what `aws:SourceIp` and per-IP limits see), [`fetch`] (capped, https-only
//! fetches of keys and metadata) and [`untrusted`] (`return_to` and hidden characters in
//! user-supplied URLs).
//!
//! Two builds: the default feature `server` is all of the above and every command;
//! `--no-default-features --features cli` is the engineer's CLI alone ([`cli::client`] and what
//! it shares with the broker: [`present`], [`clock`], [`secret`], [`domain`], [`untrusted`]),
//! with no libxml2, xmlsec, OpenSSL or libclang to build or link.
#![forbid(unsafe_code)]
// The tour above, and the modules' own docs, link the crate-private modules they describe:
// they are for whoever changes the broker, who reads them with
// `cargo doc --document-private-items` (where every link resolves).
#![allow(rustdoc::private_intra_doc_links)]

// The engineer's CLI (`--no-default-features --features cli`) builds the modules below the
// server ones: the client commands and what they share with the broker (the `Credentials`
// type and its formats, time, secrets, the URL checks). Everything else is the broker's.
#[cfg(feature = "server")]
pub(crate) mod audit;
#[cfg(feature = "server")]
pub(crate) mod aws;
#[cfg(feature = "server")]
pub(crate) mod client_addr;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub(crate) mod error;
#[cfg(feature = "server")]
pub(crate) mod favourites;
#[cfg(feature = "server")]
pub(crate) mod fetch;
#[cfg(feature = "server")]
pub mod idp;
#[cfg(feature = "server")]
pub(crate) mod inventory;
#[cfg(feature = "server")]
pub(crate) mod issue;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod policy;
#[cfg(feature = "server")]
pub mod rate_limit;
#[cfg(feature = "server")]
pub(crate) mod revocation;
#[cfg(feature = "server")]
pub mod routes;
#[cfg(feature = "server")]
pub(crate) mod session;
#[cfg(feature = "server")]
pub mod startup;
#[cfg(feature = "server")]
pub mod state;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub(crate) mod strict_json;
#[cfg(feature = "server")]
pub(crate) mod telemetry;
#[cfg(feature = "server")]
pub mod token;

pub mod cli;
pub mod clock;
pub mod domain;
pub(crate) mod oauth;
pub(crate) mod present;
pub mod secret;
pub(crate) mod untrusted;
