//! Prometheus metrics, rendered as text at `/metrics`. Labels are bounded: routes are match
//! patterns (never raw paths), reasons and codes are fixed strings, roles come from the catalogue.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use std::time::Duration;

/// The broker's Prometheus counters and histograms, served at `/metrics`.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    pub(crate) verify_failures: IntCounterVec,
    pub(crate) credentials_issued: IntCounterVec,
    pub(crate) sts_errors: IntCounterVec,
    pub(crate) sts_duration: HistogramVec,
    pub(crate) key_refreshes: IntCounterVec,
    pub(crate) store_errors: IntCounterVec,
    pub(crate) store_duration: HistogramVec,
    pub(crate) idps_ready: IntGauge,
    pub(crate) policy_reloads: IntCounterVec,
    /// 1 while the last policy reload failed and the previous policy is still serving.
    pub(crate) policy_stale: IntGauge,
    pub(crate) saml_metadata_refreshes: IntCounterVec,
    pub(crate) saml_rejections: IntCounterVec,
    /// CLI sign-in: device_started, device_approved, device_denied, `token_<grant>`,
    /// refresh_retry (the same successor returned), refresh_reuse (a family revoked), revoked.
    pub(crate) oauth_events: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ];
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Self {
        let r = Registry::new_custom(Some("rolegate".into()), None).expect("valid registry");
        Metrics {
            idps_ready: gauge(&r, "idps_ready", "IdPs whose signing keys are loaded"),
            policy_stale: gauge(
                &r,
                "policy_stale",
                "1 while a failed reload left the previous policy in place",
            ),
            saml_metadata_refreshes: counter(
                &r,
                "saml_metadata_refreshes_total",
                "SAML IdP metadata loads by IdP and result (ok, error, new_cert)",
                &["idp", "result"],
            ),
            oauth_events: counter(
                &r,
                "oauth_events_total",
                "CLI sign-in events (device flow, token grants, refresh reuse, revocation)",
                &["event"],
            ),
            store_duration: histogram(
                &r,
                "store_duration_seconds",
                "Store operation latency by backend and operation",
                &["backend", "op"],
            ),
            saml_rejections: counter(
                &r,
                "saml_rejections_total",
                "Rejected SAML Responses by reason",
                &["reason"],
            ),
            policy_reloads: counter(
                &r,
                "policy_reloads_total",
                "Policy reloads by trigger and result",
                &["trigger", "result"],
            ),
            http_requests: counter(
                &r,
                "http_requests_total",
                "HTTP requests by route and status",
                &["route", "method", "status"],
            ),
            http_duration: histogram(
                &r,
                "http_request_duration_seconds",
                "HTTP request latency",
                &["route"],
            ),
            verify_failures: counter(
                &r,
                "token_verify_failures_total",
                "Rejected IdP tokens by reason",
                &["reason"],
            ),
            credentials_issued: counter(
                &r,
                "credentials_issued_total",
                "Issued STS credentials by role",
                &["role"],
            ),
            sts_errors: counter(
                &r,
                "sts_errors_total",
                "STS call failures by code",
                &["code"],
            ),
            sts_duration: histogram(
                &r,
                "sts_request_duration_seconds",
                "STS call latency",
                &["operation"],
            ),
            key_refreshes: counter(
                &r,
                "idp_key_refreshes_total",
                "IdP discovery/JWKS fetches by result",
                &["idp", "result"],
            ),
            store_errors: counter(
                &r,
                "store_errors_total",
                "State store failures",
                &["backend"],
            ),
            registry: r,
        }
    }

    pub(crate) fn observe_request(
        &self,
        route: &str,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
