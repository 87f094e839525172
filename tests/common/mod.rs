//! Shared helpers for the integration tests (`mod common;` in each test file).
// Each test binary compiles its own copy and uses only part of it.
#![allow(dead_code)]

pub mod app;
pub mod cli;
pub mod dev_broker;
pub mod federation;
pub mod forge;
pub mod hostile_broker;
pub mod peers;
pub mod saml_forge;
pub mod web;
