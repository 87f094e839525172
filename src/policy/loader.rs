//! The live policy: `[[map]]` rules plus the listed policy files, compiled into one engine.
//!
//! A reload builds a complete new engine and swaps it in with one pointer store, so no request
//! ever sees a half-loaded policy. If any listed file is missing or invalid the old engine
//! stays and the failure is kept for /readyz, the log and the metrics: a deleted or broken
//! Deny must never silently widen access.

use super::document::{ParseError, Statement, parse_document};
use super::engine::Engine;
use super::{Action, AdminAction, Denied, Grant, Mapper, RequestContext, RoleSummary, shorthand};
use crate::config::{Config, MapRule, RoleConfig};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The live policy: the [`Mapper`] the broker uses, reloaded whole or not at all.
pub struct PolicyMapper {
    /// The main config file, when there is one: a reload re-reads its `[[role]]`, `[[map]]` and
    /// `[policy] files` too (the rest of it needs a restart), with the process environment's
    /// overrides applied as at start.
    source: Option<(PathBuf, bool)>,
    inputs: RwLock<Inputs>,
    current: RwLock<Arc<Engine>>,
    status: Mutex<PolicyStatus>,
}

/// What the policy is built from.
#[derive(Clone)]
struct Inputs {
    files: Vec<PathBuf>,
    rules: Vec<MapRule>,
    roles: Vec<RoleConfig>,
}

/// What is loaded now, for `/admin/policy` and the reload metrics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyStatus {
    /// Statements in the live policy.
    pub statements: usize,
    /// Policy files in the live policy.
    pub files: usize,
    /// When the live policy was loaded (RFC 3339).
    pub(crate) loaded_at: String,
    /// The last reload's failure, while the previous policy stays live.
    pub error: Option<String>,
}

/// Why the policy cannot be (re)loaded: the broker refuses to start, or a reload keeps the
/// old policy. Each text names its file (and JSON path) or `map[i]`.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A `[[map]]` rule.
    #[error(transparent)]
    MapRule(#[from] shorthand::MapRuleError),
    /// A policy file cannot be read.
    #[error("{name}: cannot read the policy file: {source}")]
    ReadFile {
        /// The file, as displayed.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// A policy file does not parse.
    #[error(transparent)]
    Document(#[from] ParseError),
    /// The main config file does not validate (a reload re-reads it; so do the `policy`
    /// commands).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Reads and parses every listed file; the first failure names its file and JSON path.
pub(crate) fn load_statements(
    files: &[PathBuf],
    rules: &[MapRule],
    roles: &[RoleConfig],
) -> Result<Vec<Statement>, LoadError> {
    let mut statements = shorthand::compile(rules, roles)?;
    for f in files {
        let name = f.display().to_string();
        let text = std::fs::read_to_string(f).map_err(|source| LoadError::ReadFile {
            name: name.clone(),
            source,
        })?;
        statements.extend(parse_document(&name, &text)?);
    }
    Ok(statements)
}

impl PolicyMapper {
    /// The first load: any error stops the broker from starting.
    pub fn load(config: &Config) -> Result<Self, LoadError> {
        let mut statements = load_statements(&config.policy_files, &config.maps, &config.roles)?;
        // The embedded dev config (it has no file to reload) brings its own administrators.
        if config.dev && config.source.is_none() {
            statements.extend(parse_document(
                "config/dev/policy.json (embedded)",
                crate::config::DEV_POLICY,
            )?);
        }
        let status = PolicyStatus {
            statements: statements.len(),
            files: config.policy_files.len(),
            loaded_at: crate::clock::rfc3339(SystemTime::now()),
            error: None,
        };
        Ok(PolicyMapper {
            source: config.source.clone().map(|p| (p, config.dev)),
            inputs: RwLock::new(Inputs {
                files: config.policy_files.clone(),
                rules: config.maps.clone(),
                roles: config.roles.clone(),
            }),
            current: RwLock::new(Arc::new(Engine::new(statements, config.roles.clone()))),
            status: Mutex::new(status),
        })
    }

    /// Every file the policy comes from, the main config file included: the watcher polls them.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = self
            .inputs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .files
            .clone();
        files.extend(self.source.as_ref().map(|(p, _)| p.clone()));
        files
    }

    /// The live engine; a reload swaps it, callers keep the one they took.
    pub fn engine(&self) -> Arc<Engine> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The live policy's counts and the last reload's outcome.
    pub fn status(&self) -> PolicyStatus {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads every file. On success the new policy is live; on failure the old one stays.
    pub fn reload(&self) -> Result<usize, LoadError> {
        // The main file first: if it no longer validates, nothing changes.
        let inputs = match &self.source {
            Some((path, dev)) => match Config::load(Some(path), *dev) {
                Ok(c) => Inputs {
                    files: c.policy_files,
                    rules: c.maps,
                    roles: c.roles,
                },
                Err(e) => {
                    self.status
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .error = Some(e.to_string());
                    return Err(e.into());
                }
            },
            None => self
                .inputs
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        };
        let result = load_statements(&inputs.files, &inputs.rules, &inputs.roles);
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(statements) => {
                let n = statements.len();
                let engine = Arc::new(Engine::new(statements, inputs.roles.clone()));
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = engine;
                let files = inputs.files.len();
                *self
                    .inputs
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = inputs;
                *status = PolicyStatus {
                    statements: n,
                    files,
                    loaded_at: crate::clock::rfc3339(SystemTime::now()),
                    error: None,
                };
                Ok(n)
            }
            Err(e) => {
                status.error = Some(e.to_string());
                Err(e)
            }
        }
    }
}

impl Mapper for PolicyMapper {
    fn roles(&self, ctx: &RequestContext<'_>) -> Vec<RoleSummary> {
        self.engine().list(ctx)
    }

    fn authorize(
        &self,
        ctx: &RequestContext<'_>,
        role: &str,
        action: Action,
    ) -> Result<Grant, Denied> {
        self.engine().authorize(ctx, role, action)
    }

    fn permits(&self, ctx: &RequestContext<'_>, role: &str, action: AdminAction) -> bool {
        self.engine().permits(ctx, role, action)
    }
}
