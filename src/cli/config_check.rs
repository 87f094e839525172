use crate::config::{Config, IdpKind};
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> ExitCode {
    match Config::load(Some(path), false) {
        Ok(c) => {
            let oidc = c
                .idps
                .iter()
                .filter(|i| matches!(i.kind, IdpKind::Oidc(_)))
                .count();
            println!(
                "{}: OK ({} IdP(s), {} role(s), {} map rule(s), {} store)",
                path.display(),
                oidc,
                c.roles.len(),
                c.maps.len(),
                match c.store {
                    crate::config::StoreConfig::Memory => "memory",
                    crate::config::StoreConfig::Redis { .. } => "redis",
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
