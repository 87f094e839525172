//! Reloads the policy on SIGHUP and when a listed file — a policy document or the main config
//! file, whose `[[role]]`, `[[map]]` and `[policy] files` are re-read — changes (polled: no
//! inotify needed, and it works on network and ConfigMap volumes). A failed reload is an alarm — error log, the
//! `policy_stale` gauge and /readyz detail — while the last good policy keeps serving.

use super::loader::PolicyMapper;
use crate::metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What a file looks like from outside: a change in any of these triggers a reload. A missing
/// file is a state of its own (so deleting one triggers a reload, which then fails loudly).
fn fingerprint(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
        })
        .collect()
}

pub(crate) fn reload(mapper: &PolicyMapper, metrics: &Metrics, trigger: &str) {
    match mapper.reload() {
        Ok(n) => {
            metrics
                .policy_reloads
                .with_label_values(&[trigger, "ok"])
                .inc();
            metrics.policy_stale.set(0);
            tracing::info!(trigger, statements = n, "policy reloaded");
        }
        Err(e) => {
            metrics
                .policy_reloads
                .with_label_values(&[trigger, "error"])
                .inc();
            metrics.policy_stale.set(1);
            tracing::error!(trigger, error = %e, "policy reload failed; the previous policy stays in force");
        }
    }
}

pub(crate) async fn watch(mapper: Arc<PolicyMapper>, metrics: Arc<Metrics>) {
    let mut last = fingerprint(&mapper.files());
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = hangup => {
                last = fingerprint(&mapper.files());
                reload(&mapper, &metrics, "sighup");
            }
            _ = tokio::time::sleep(POLL_INTERVAL) => {
                let now = fingerprint(&mapper.files());
                if now != last {
                    last = now;
                    reload(&mapper, &metrics, "file_change");
                }
            }
        }
    }
}
