use crate::config::{Config, IdpKind};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn run(path: &Path) -> ExitCode {
    let loaded = Config::load(Some(path), false)
        .map_err(|e| e.to_string())
        .and_then(|c| saml_metadata(&c).map(|()| c))
        .and_then(|c| crate::policy::loader::PolicyMapper::load(&c).map(|m| (c, m)));
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

/// SAML metadata files are parsed as the server will: a file without a signing certificate
/// (or expired) fails here, not at the first sign-in. `metadata_url` is fetched at start.
fn saml_metadata(c: &Config) -> Result<(), String> {
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
                .and_then(|x| crate::idp::saml::metadata::parse(&x, now))
                .map_err(|e| {
                    format!(
                        "config error at `idp[{i}].metadata_file`: {}: {e}",
                        f.display()
                    )
                })?;
            // The server refuses this too (SamlService::load): the Issuer of a Response must
            // name one IdP.
            if let Some((_, first)) = entity_ids.iter().find(|(e, _)| *e == md.entity_id) {
                return Err(format!(
                    "config error at `idp[{i}].metadata_file`: {}: entity ID `{}` is already \
                     `idp[{first}]`'s; configure each SAML IdP once",
                    f.display(),
                    md.entity_id
                ));
            }
            entity_ids.push((md.entity_id, i));
        }
    }
    Ok(())
}
