//! The audit stream: one JSON object per decision that gave or refused AWS access — every
//! issuance (credentials or console), every refusal by the policy, every refused SAML
//! Response, and every CLI sign-in revoked for refresh-token reuse — with the request id,
//! never a secret.
//!
//! Where it goes (`[audit] output`): `log` (default) writes it as a `rolegate::audit` event in
//! the log stream; `stdout` or `file` write bare JSON lines there instead, so a log shipper
//! can route the audit trail apart from diagnostics and `RUST_LOG` can never filter it away.
//! A file is opened for append at start (a start-up error if it cannot be); each line is one
//! `write` call, so concurrent events never interleave.

use crate::config::AuditOutput;
use crate::telemetry::current_request_id;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Mutex;

/// The audit file cannot be opened; the broker refuses to start with this text. `pub` (in a
/// crate-private module) because `startup::StartError` carries it.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit file {}: {source}", path.display())]
pub struct AuditError {
    path: std::path::PathBuf,
    source: std::io::Error,
}

pub(crate) enum Audit {
    Log,
    Lines(Mutex<Box<dyn Write + Send>>),
}

impl Audit {
    pub(crate) fn open(output: &AuditOutput) -> Result<Audit, AuditError> {
        Ok(match output {
            AuditOutput::Log => Audit::Log,
            AuditOutput::Stdout => Audit::Lines(Mutex::new(Box::new(std::io::stdout()))),
            AuditOutput::File(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o640)
                    .open(path)
                    .map_err(|source| AuditError {
                        path: path.clone(),
                        source,
                    })?;
                Audit::Lines(Mutex::new(Box::new(f)))
            }
        })
    }

    pub(crate) fn issued(&self, e: &Issued<'_>) {
        match self {
            Audit::Log => tracing::info!(
                target: "rolegate::audit",
                event = "credentials_issued",
                idp = e.idp,
                subject = e.subject,
                role = e.role,
                session_name = e.session_name,
                source_identity = e.source_identity,
                duration_secs = e.duration_secs,
                client = e.client,
                client_ip = e.client_ip,
                matched = e.matched,
                mode = e.mode,
                action = e.action,
                "issued credentials"
            ),
            Audit::Lines(out) => line(out, "credentials_issued", e),
        }
    }

    pub(crate) fn denied(&self, e: &Denied<'_>) {
        match self {
            Audit::Log => tracing::info!(
                target: "rolegate::audit",
                event = "access_denied",
                idp = e.idp,
                subject = e.subject,
                role = e.role,
                action = e.action,
                client = e.client,
                client_ip = e.client_ip,
                reason = e.reason,
                "refused by the policy"
            ),
            Audit::Lines(out) => line(out, "access_denied", e),
        }
    }
}

impl Audit {
    /// A SAML Response the ACS refused: the reason code only (the code the error page shows;
    /// never the Response, its plaintext or the detail of a decryption failure).
    pub(crate) fn saml_refused(&self, e: &SamlRefused<'_>) {
        match self {
            Audit::Log => tracing::info!(
                target: "rolegate::audit",
                event = "saml_refused",
                reason = e.reason,
                client_ip = e.client_ip,
                "refused a SAML Response"
            ),
            Audit::Lines(out) => line(out, "saml_refused", e),
        }
    }
}

impl Audit {
    /// A browser sign-in that opened a session (SAML or OIDC).
    pub(crate) fn signed_in(&self, e: &SignedIn<'_>) {
        match self {
            Audit::Log => tracing::info!(
                target: "rolegate::audit",
                event = "sign_in",
                idp = e.idp,
                subject = e.subject,
                protocol = e.protocol,
                groups = e.groups,
                client_ip = e.client_ip,
                session_ends = e.session_ends,
                "signed in"
            ),
            Audit::Lines(out) => line(out, "sign_in", e),
        }
    }

    /// An OIDC authorization response the callback refused: the reason code only.
    pub(crate) fn oidc_refused(&self, e: &OidcRefused<'_>) {
        match self {
            Audit::Log => tracing::info!(
                target: "rolegate::audit",
                event = "oidc_refused",
                idp = e.idp,
                reason = e.reason,
                client_ip = e.client_ip,
                "refused an OIDC sign-in"
            ),
            Audit::Lines(out) => line(out, "oidc_refused", e),
        }
    }

    /// Sessions were ended by an administrator.
    pub(crate) fn sessions_revoked(&self, e: &SessionsRevoked<'_>) {
        match self {
            Audit::Log => tracing::warn!(
                target: "rolegate::audit",
                event = "sessions_revoked",
                by = e.by,
                scope = e.scope,
                target_ = e.target,
                reason = e.reason,
                revoked_at = e.revoked_at,
                frozen_until = e.frozen_until,
                sessions = e.sessions,
                roles = ?e.roles,
                "sessions revoked"
            ),
            Audit::Lines(out) => line(out, "sessions_revoked", e),
        }
    }

    /// A spent CLI refresh token came back: its whole sign-in (token family) was revoked.
    pub(crate) fn refresh_reuse(&self, e: &RefreshReuse<'_>) {
        match self {
            Audit::Log => tracing::warn!(
                target: "rolegate::audit",
                event = "refresh_token_reuse",
                idp = e.idp,
                subject = e.subject,
                family = e.family,
                spent_secs_ago = e.spent_secs_ago,
                client_ip = e.client_ip,
                reason = e.reason,
                "a spent refresh token was presented again; its sign-in is revoked"
            ),
            Audit::Lines(out) => line(out, "refresh_token_reuse", e),
        }
    }
}

/// An administrator ended sessions (`POST /api/v1/sessions/revoke`).
#[derive(Serialize)]
pub(crate) struct SessionsRevoked<'a> {
    /// Who revoked: `idp:subject`.
    pub by: &'a str,
    /// `session`, `user`, `role` or `all`, and what it named.
    pub scope: &'a str,
    pub target: &'a str,
    pub reason: &'a str,
    /// RFC 3339 instants: sessions issued before `revoked_at` are ended.
    pub revoked_at: &'a str,
    pub frozen_until: Option<&'a str>,
    /// Live sessions marked revoked, and the roles they were on.
    pub sessions: usize,
    pub roles: &'a [String],
}

/// A browser sign-in: who, through which IdP and protocol, until when (RFC 3339).
#[derive(Serialize)]
pub(crate) struct SignedIn<'a> {
    pub idp: &'a str,
    pub subject: &'a str,
    /// `saml` or `oidc`.
    pub protocol: &'a str,
    pub groups: usize,
    pub client_ip: &'a str,
    pub session_ends: &'a str,
}

/// A refused OIDC sign-in; `idp` is empty when the response matched no pending login.
#[derive(Serialize)]
pub(crate) struct OidcRefused<'a> {
    pub idp: &'a str,
    pub reason: &'a str,
    pub client_ip: &'a str,
}

/// A refused SAML Response.
#[derive(Serialize)]
pub(crate) struct SamlRefused<'a> {
    pub reason: &'a str,
    pub client_ip: &'a str,
}

/// Refresh-token reuse (RFC 9700 §4.14.2): who, which sign-in, how long after it was spent.
/// The family id names the sign-in; it is no credential. Never the token itself.
#[derive(Serialize)]
pub(crate) struct RefreshReuse<'a> {
    pub idp: &'a str,
    pub subject: &'a str,
    pub family: &'a str,
    pub spent_secs_ago: i64,
    pub client_ip: &'a str,
    pub reason: &'a str,
}

/// One issuance (credentials or a console sign-in). Never the credentials themselves.
#[derive(Serialize)]
pub(crate) struct Issued<'a> {
    pub idp: &'a str,
    pub subject: &'a str,
    pub role: &'a str,
    pub session_name: &'a str,
    pub source_identity: &'a str,
    pub duration_secs: u64,
    pub client: &'a str,
    pub client_ip: &'a str,
    /// The statement that allowed it.
    pub matched: &'a str,
    pub mode: &'a str,
    /// `credentials` or `console`.
    pub action: &'a str,
}

/// A request the policy refused.
#[derive(Serialize)]
pub(crate) struct Denied<'a> {
    pub idp: &'a str,
    pub subject: &'a str,
    /// As requested (an alias or ARN, possibly unknown).
    pub role: &'a str,
    pub action: &'a str,
    pub client: &'a str,
    pub client_ip: &'a str,
    pub reason: &'a str,
}

fn line(out: &Mutex<Box<dyn Write + Send>>, event: &str, fields: &impl Serialize) {
    let mut l = json!({
        "ts": crate::clock::rfc3339(std::time::SystemTime::now()),
        "event": event,
        "request_id": current_request_id(),
    });
    if let (Some(obj), Ok(Value::Object(f))) = (l.as_object_mut(), serde_json::to_value(fields)) {
        obj.extend(f);
    }
    let mut bytes = l.to_string().into_bytes();
    bytes.push(b'\n');
    let mut out = out
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(e) = out.write_all(&bytes).and_then(|_| out.flush()) {
        // Losing an audit line is an incident: say so loudly in the log.
        tracing::error!(error = %e, event, "could not write the audit line");
    }
}
