//! Every integration test, as one test binary: each module below was its own `tests/*.rs` binary,
//! and each of those linked the whole crate and its dependencies again (33 binaries, 1.4 GB of
//! disk and a link each in a fresh build). One binary links once.
//!
//! Run one module, or one test, by its path:
//!
//! ```sh
//! cargo test --test it saml_acs::
//! cargo test --test it saml_acs::sha1_signature_digest_beside_an_oaep_method_is_refused -- --exact
//! ```
//!
//! All modules share one process, so nothing here may change process-wide state (environment,
//! current directory, signal dispositions, a global tracing subscriber): a child process gets its
//! environment through `Command::env`, and each broker writes into its own temporary directory.
//! The real peers in `common::app::peers()` (moto as STS, the test OpenID Provider) are started
//! once for the whole run and shared by every module; a test that counts STS calls counts them
//! for its own session name (`Moto::sts_requests_for_session`) or starts a moto of its own.
//! Fixtures stay in `tests/fixtures/` and the peers' sources in `tests/support/`.

mod common;

mod admin_sessions;
mod audit;
mod aws_cfn;
mod aws_side;
mod broker_with_redis;
mod browser;
mod cli_client;
mod cli_completion;
mod cli_config;
mod cli_newcomer;
mod cli_policy;
mod cli_verify_jwt;
mod cli_verify_saml;
mod client_ip;
mod console;
mod deploy_static;
mod dev_mode;
mod fixtures_over_http;
mod hardening;
mod inventory;
mod key_rotation;
mod oauth;
mod oidc_login;
mod peers_smoke;
mod picker;
mod policy_live;
mod policy_properties;
mod policy_table;
mod redis_sentinel;
mod replicas;
mod revocation;
mod revocation_iam;
mod revocation_journeys;
mod saml_acs;
mod saml_metadata;
mod saml_pysaml2;
mod saml_real_idp;
mod sign;
mod store_contract;
mod sts_faults;
mod token_exchange;
mod web_identity;
