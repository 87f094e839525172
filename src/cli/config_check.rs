use crate::config::{Config, IdpKind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(super) fn run(path: &Path) -> ExitCode {
    let loaded = Config::load(Some(path), false)
        .map_err(|e| e.to_string())
        .and_then(|c| saml_metadata(&c).map_err(|e| e.to_string()).map(|()| c))
        .and_then(|c| {
            crate::policy::loader::PolicyMapper::load(&c)
                .map_err(|e| e.to_string())
                .map(|m| (c, m))
        });
    match loaded {
        Ok((c, mapper)) => {
            let oidc = c
                .idps
                .iter()
                .filter(|i| matches!(i.kind, IdpKind::Oidc(_) | IdpKind::Saml(_)))
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
                    crate::config::StoreConfig::RedisCluster { .. } => "redis cluster",
                }
            );
            print_redirect_uris(&c);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// What to register at each OIDC IdP: its own redirect URI (one per IdP, against mix-up).
fn print_redirect_uris(c: &Config) {
    for idp in &c.idps {
        if !matches!(idp.kind, IdpKind::Oidc(_)) {
            continue;
        }
        let uri = match &c.server.public_url {
            Some(u) => crate::idp::oidc::login::redirect_uri(u, idp.id.as_str()),
            None => format!("<server.public_url>/oidc/callback/{}", idp.id),
        };
        println!("  idp `{}`: register the redirect URI {uri}", idp.id);
    }
}

/// A SAML `metadata_file` the server would refuse, named by its config key.
#[derive(Debug, thiserror::Error)]
enum MetadataFileError {
    /// Unreadable, or refused by the metadata parser (its text, or the I/O error's).
    #[error("config error at `idp[{index}].metadata_file`: {}: {reason}", path.display())]
    Refused {
        index: usize,
        path: PathBuf,
        reason: String,
    },
    /// Its entity ID is already an earlier IdP's.
    #[error(
        "config error at `idp[{index}].metadata_file`: {}: entity ID `{entity_id}` is already \
                     `idp[{first}]`'s; configure each SAML IdP once",
        path.display()
    )]
    DuplicateEntityId {
        index: usize,
        path: PathBuf,
        entity_id: String,
        first: usize,
    },
}

/// SAML metadata files are parsed as the server will: a file without a signing certificate
/// (or expired) fails here, not at the first sign-in. `metadata_url` is fetched at start.
fn saml_metadata(c: &Config) -> Result<(), MetadataFileError> {
    use crate::config::MetadataSource;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(crate::clock::secs)
        .unwrap_or_default();
    let mut entity_ids: Vec<(String, usize)> = Vec::new();
    for (i, idp) in c.idps.iter().enumerate() {
        if let IdpKind::Saml(s) = &idp.kind
            && let MetadataSource::File(f) = &s.metadata
        {
            let md = std::fs::read_to_string(f)
                .map_err(|e| e.to_string())
                .and_then(|x| crate::idp::saml::metadata::parse(&x, now).map_err(|e| e.to_string()))
                .map_err(|reason| MetadataFileError::Refused {
                    index: i,
                    path: f.clone(),
                    reason,
                })?;
            // The server refuses this too (SamlService::load): the Issuer of a Response must
            // name one IdP.
            if let Some((_, first)) = entity_ids.iter().find(|(e, _)| *e == md.entity_id) {
                return Err(MetadataFileError::DuplicateEntityId {
                    index: i,
                    path: f.clone(),
                    entity_id: md.entity_id,
                    first: *first,
                });
            }
            entity_ids.push((md.entity_id, i));
        }
    }
    Ok(())
}
