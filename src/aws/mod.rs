//! Outbound to AWS: session limits checked before any call (`limits`), then STS (`sts`), in
//! either mode — `assume_role` with the broker's own AWS credentials, or `web_identity` where
//! the broker signs a short JWT per call and holds no AWS keys at all.

pub(crate) mod console;
pub(crate) mod doctor;
pub(crate) mod iam;
pub(crate) mod limits;
pub(crate) mod needs;
pub(crate) mod session_name;
pub(crate) mod sts;
pub(crate) mod trust;

use crate::secret::Secret;
use async_trait::async_trait;
use limits::SessionPlan;
use std::time::SystemTime;

/// Temporary credentials from STS. The secret parts are `Secret`s: a stray `{:?}` shows nothing.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
    pub session_token: Secret<String>,
    pub expiration: SystemTime,
}

/// How an STS call failed, in the terms the caller can act on. Detail goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IssueError {
    #[error("STS AccessDenied")]
    AccessDenied,
    #[error("STS ValidationError: {0}")]
    Validation(String),
    #[error("STS PackedPolicyTooLarge")]
    PackedPolicyTooLarge,
    #[error("STS throttled the broker")]
    Throttled,
    /// No answer in time, or no connection, after the SDK's bounded retries.
    #[error("STS did not answer")]
    Unavailable,
    #[error("STS failed")]
    Upstream,
    #[error("internal error preparing the STS call")]
    Internal,
}

#[async_trait]
pub(crate) trait Issuer: Send + Sync {
    async fn issue(&self, plan: &SessionPlan) -> Result<Credentials, IssueError>;
    /// "assume_role" or "web_identity", for logs and the audit event.
    fn mode(&self) -> &'static str;
    /// Whether the broker's own credentials are role credentials (STS caps chained sessions at 1 h).
    fn chained(&self) -> bool;
}
