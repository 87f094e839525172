//! The SAML service provider at run time: SP identity and keys, and each SAML IdP's current
//! metadata. Metadata from `metadata_url` is refreshed on a schedule; a failed refresh keeps
//! the last good copy (and counts and logs the failure), and a signing certificate that
//! appears on refresh is logged and counted, since an unexpected one is how a compromised
//! metadata host would show.

use super::metadata::{self, IdpMetadata};
use super::pool::{Expected, Job, VerifierPool};
use crate::clock::Clock;
use crate::config::{Config, IdpKind, MetadataSource, SamlIdpConfig};
use crate::domain::IdpId;
use crate::metrics::Metrics;
use openssl::pkey::{PKey, Private};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Metadata documents larger than this are refused (aggregates belong in a file).
const MAX_METADATA_BYTES: usize = 1 << 20;

/// One configured SAML IdP and its current metadata (swapped whole on refresh).
pub struct SamlIdp {
    /// Its `[[idp]] id`.
    pub id: IdpId,
    /// What pages call it.
    pub display_name: String,
    /// Its settings.
    pub cfg: SamlIdpConfig,
    metadata: RwLock<Arc<IdpMetadata>>,
}

impl SamlIdp {
    /// The current metadata. A reader holds the lock only to clone the `Arc`: a refresh parses
    /// and loads keys before it takes the lock, so verification never waits on a refresh.
    pub fn metadata(&self) -> Arc<IdpMetadata> {
        self.metadata.read().expect("metadata lock").clone()
    }

    /// Swaps in refreshed metadata. Responses already being verified keep the `Arc` they took.
    pub fn replace_metadata(&self, md: IdpMetadata) {
        *self.metadata.write().expect("metadata lock") = Arc::new(md);
    }
}

/// The broker as a SAML service provider, with every SAML IdP it trusts.
pub struct SamlService {
    /// This SP's entity id (the Audience IdPs address).
    pub entity_id: String,
    /// This SP's Assertion Consumer Service URL.
    pub acs_url: String,
    /// Signs AuthnRequests and decrypts EncryptedAssertions; None: neither.
    pub sp_key: Option<PKey<Private>>,
    pub(crate) sp_cert_der: Option<Vec<u8>>,
    /// The SAML IdPs, in configuration order.
    pub idps: Vec<Arc<SamlIdp>>,
    /// Index into `idps` by IdP id and by metadata entity ID, so finding the IdP of a Response
    /// costs the same with 1 IdP or 500. Entity IDs never change after load: a refresh that
    /// names another one is refused.
    by_id: HashMap<String, usize>,
    by_entity_id: HashMap<String, usize>,
    /// Where the ACS verifies: off the async workers, a bounded number at once.
    pub(crate) verifiers: VerifierPool,
}

/// Why the SAML service cannot load; the broker refuses to start with this text.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `saml.sp_key_file` cannot be read.
    #[error("saml.sp_key_file {}: {source}", path.display())]
    SpKeyRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `saml.sp_key_file` is not a PEM private key.
    #[error("saml.sp_key_file {}: not a PEM private key", path.display())]
    SpKeyNotPem {
        /// The file.
        path: PathBuf,
    },
    /// `saml.sp_cert_file` cannot be read.
    #[error("saml.sp_cert_file {}: {source}", path.display())]
    SpCertRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `saml.sp_cert_file` is not a PEM certificate.
    #[error("saml.sp_cert_file {}: not a PEM certificate", path.display())]
    SpCertNotPem {
        /// The file.
        path: PathBuf,
    },
    /// An IdP's metadata cannot be read, fetched or accepted.
    #[error("idp `{idp}`: {source}")]
    Metadata {
        /// The IdP.
        idp: IdpId,
        /// Why.
        source: FetchError,
    },
    /// Two IdPs whose metadata names one entity ID.
    #[error(
        "idp `{idp}`: its metadata names entity ID `{entity_id}`, which is already idp `{first}`'s; \
                     configure each SAML IdP once"
    )]
    DuplicateEntityId {
        /// The later IdP.
        idp: IdpId,
        /// The entity ID both name.
        entity_id: String,
        /// The IdP configured first with it.
        first: IdpId,
    },
}

/// Why an IdP's metadata could not be loaded (at start, or by a refresh, which logs it).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The `metadata_file` cannot be read.
    #[error("cannot read metadata {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `metadata_url` fetch failed.
    #[error(transparent)]
    Get(#[from] crate::fetch::FetchError),
    /// The `metadata_url` document is not UTF-8.
    #[error("metadata {url} is not UTF-8")]
    NotUtf8 {
        /// The URL.
        url: url::Url,
    },
    /// The metadata is refused.
    #[error(transparent)]
    Parse(#[from] metadata::MetadataError),
}

impl SamlService {
    /// Loads the SP keys and every SAML IdP's metadata; any failure refuses the start (an IdP
    /// without pinned certificates must never serve).
    pub async fn load(
        config: &Config,
        public_url: &url::Url,
        http: &reqwest::Client,
        now: i64,
    ) -> Result<SamlService, LoadError> {
        let base = public_url.as_str().trim_end_matches('/');
        let entity_id = config
            .saml
            .entity_id
            .clone()
            .unwrap_or_else(|| format!("{base}/saml/metadata"));
        let acs_url = format!("{base}/saml/acs");
        let (sp_key, sp_cert_der) = match (&config.saml.sp_key_file, &config.saml.sp_cert_file) {
            (Some(k), Some(c)) => {
                let pem = std::fs::read(k).map_err(|source| LoadError::SpKeyRead {
                    path: k.clone(),
                    source,
                })?;
                let key = PKey::private_key_from_pem(&pem)
                    .map_err(|_| LoadError::SpKeyNotPem { path: k.clone() })?;
                let pem = std::fs::read(c).map_err(|source| LoadError::SpCertRead {
                    path: c.clone(),
                    source,
                })?;
                let cert = openssl::x509::X509::from_pem(&pem)
                    .and_then(|x| x.to_der())
                    .map_err(|_| LoadError::SpCertNotPem { path: c.clone() })?;
                (Some(key), Some(cert))
            }
            _ => (None, None),
        };
        let mut idps: Vec<Arc<SamlIdp>> = Vec::new();
        let mut by_id = HashMap::new();
        let mut by_entity_id: HashMap<String, usize> = HashMap::new();
        for idp in &config.idps {
            let IdpKind::Saml(cfg) = &idp.kind else {
                continue;
            };
            let md =
                fetch(&cfg.metadata, http, now)
                    .await
                    .map_err(|source| LoadError::Metadata {
                        idp: idp.id.clone(),
                        source,
                    })?;
            // Two IdPs with one entity ID would make the Issuer of an unsolicited Response name
            // either of them: the second could never sign in that way, and which policy applied
            // would depend on the order of the config.
            if let Some(&first) = by_entity_id.get(&md.entity_id) {
                return Err(LoadError::DuplicateEntityId {
                    idp: idp.id.clone(),
                    entity_id: md.entity_id,
                    first: idps[first].id.clone(),
                });
            }
            tracing::info!(idp = %idp.id, entity_id = %md.entity_id,
                signing_certs = ?md.fingerprints, "SAML IdP metadata loaded");
            by_id.insert(idp.id.as_str().to_string(), idps.len());
            by_entity_id.insert(md.entity_id.clone(), idps.len());
            idps.push(Arc::new(SamlIdp {
                id: idp.id.clone(),
                display_name: idp.display_name.clone(),
                cfg: (**cfg).clone(),
                metadata: RwLock::new(Arc::new(md)),
            }));
        }
        Ok(SamlService {
            entity_id,
            acs_url,
            sp_key,
            sp_cert_der,
            idps,
            by_id,
            by_entity_id,
            verifiers: VerifierPool::per_core(),
        })
    }

    /// An IdP by its `[[idp]] id`.
    pub fn idp(&self, id: &str) -> Option<&Arc<SamlIdp>> {
        self.by_id.get(id).map(|&i| &self.idps[i])
    }

    /// The verification of one posted Response against `idp`'s current metadata, owned so that
    /// it can run on [`Self::verifiers`].
    pub fn job(
        &self,
        idp: &SamlIdp,
        xml: String,
        expected: Expected,
        clock: Arc<dyn Clock>,
    ) -> Job {
        Job {
            xml,
            sp_entity_id: self.entity_id.clone(),
            acs_url: self.acs_url.clone(),
            decryption_key: self.sp_key.clone(),
            metadata: idp.metadata(),
            allow_sha1: idp.cfg.insecure_allow_sha1,
            clock_skew: idp.cfg.clock_skew,
            expected,
            clock,
        }
    }

    /// The IdP whose entity ID a Response's Issuer names (IdP-initiated sign-in only; the
    /// signature is then checked against that IdP's certificates and nobody else's).
    pub fn idp_by_entity_id(&self, entity_id: &str) -> Option<&Arc<SamlIdp>> {
        self.by_entity_id.get(entity_id).map(|&i| &self.idps[i])
    }

    /// One refresh pass over every `metadata_url` IdP whose interval has passed.
    pub async fn refresh(&self, http: &reqwest::Client, metrics: &Metrics, now: i64) {
        for idp in &self.idps {
            if !matches!(idp.cfg.metadata, MetadataSource::Url(_)) {
                continue;
            }
            match fetch(&idp.cfg.metadata, http, now).await {
                Ok(md) => {
                    let old = idp.metadata();
                    for (fp, _) in md.fingerprints.iter().zip(&md.certs) {
                        if !old.fingerprints.contains(fp) {
                            tracing::warn!(idp = %idp.id, fingerprint = %fp,
                                "a new SAML signing certificate appeared in the IdP's metadata");
                            metrics
                                .saml_metadata_refreshes
                                .with_label_values(&[idp.id.as_str(), "new_cert"])
                                .inc();
                        }
                    }
                    if md.entity_id != old.entity_id {
                        tracing::error!(idp = %idp.id, "refreshed metadata names another entity ID; keeping the last good metadata");
                        metrics
                            .saml_metadata_refreshes
                            .with_label_values(&[idp.id.as_str(), "error"])
                            .inc();
                        continue;
                    }
                    idp.replace_metadata(md);
                    metrics
                        .saml_metadata_refreshes
                        .with_label_values(&[idp.id.as_str(), "ok"])
                        .inc();
                }
                Err(e) => {
                    tracing::error!(idp = %idp.id, error = %e, "SAML metadata refresh failed; keeping the last good metadata");
                    metrics
                        .saml_metadata_refreshes
                        .with_label_values(&[idp.id.as_str(), "error"])
                        .inc();
                }
            }
        }
    }

    /// The shortest refresh interval among URL-sourced IdPs.
    pub(crate) fn refresh_interval(&self) -> Option<Duration> {
        self.idps
            .iter()
            .filter(|i| matches!(i.cfg.metadata, MetadataSource::Url(_)))
            .map(|i| i.cfg.metadata_refresh)
            .min()
    }
}

async fn fetch(
    source: &MetadataSource,
    http: &reqwest::Client,
    now: i64,
) -> Result<IdpMetadata, FetchError> {
    let xml = match source {
        MetadataSource::File(f) => {
            std::fs::read_to_string(f).map_err(|source| FetchError::Read {
                path: f.clone(),
                source,
            })?
        }
        MetadataSource::Url(u) => {
            let bytes = crate::fetch::get_capped(
                http,
                u.as_str(),
                MAX_METADATA_BYTES,
                Duration::from_secs(10),
            )
            .await?;
            String::from_utf8(bytes).map_err(|_| FetchError::NotUtf8 { url: u.clone() })?
        }
    };
    Ok(metadata::parse(&xml, now)?)
}
