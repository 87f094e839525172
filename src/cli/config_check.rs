use crate::config::{Config, IdpKind};
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> ExitCode {
    let loaded = Config::load(Some(path), false)
        .map_err(|e| e.to_string())
        .and_then(|c| crate::policy::loader::PolicyMapper::load(&c).map(|m| (c, m)));
    match loaded {
        Ok((c, mapper)) => {
            let oidc = c
                .idps
                .iter()
                .filter(|i| matches!(i.kind, IdpKind::Oidc(_)))
                .count();
            println!(
                "{}: OK ({} IdP(s), {} role(s), {} map rule(s), {} policy statement(s), {} store)",
                path.display(),
                oidc,
                c.roles.len(),
                c.maps.len(),
                mapper.engine().statements().len(),
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
