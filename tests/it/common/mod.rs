//! Shared helpers for the integration tests (`crate::common` in every module of `tests/it/`).

pub mod app;
pub mod cli;
pub mod dev_broker;
pub mod federation;
pub mod forge;
pub mod hostile_broker;
pub mod peers;
pub mod saml_forge;
pub mod web;
