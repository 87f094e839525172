//! Shared helpers for the integration tests (`crate::common` in every module of `tests/it/`).

pub(crate) mod app;
pub(crate) mod cli;
pub(crate) mod dev_broker;
pub(crate) mod federation;
pub(crate) mod forge;
pub(crate) mod hostile_broker;
pub(crate) mod iam;
pub(crate) mod peers;
pub(crate) mod saml_forge;
pub(crate) mod web;
