//! Liveness, readiness and metrics. Readiness is false while the store cannot answer or an
//! IdP's keys are not loaded: a load balancer then routes around this replica.
//!
//! Readiness answers anyone who can reach the port, so it says only stable reason codes — never an
//! error's text (file paths, parser messages, addresses): the detail is in the log.

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use std::time::Duration;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = store_status(&state).await;
    let ready = store == "ok" && state.idps.all_ready();
    let policy = state.policy.status();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "config": "ok",
            "store": { "backend": state.store.backend(), "status": store },
            "idps": idp_statuses(&state),
            // A failed reload keeps the last good policy serving: ready, but flagged stale.
            "policy": {
                "status": if policy.error.is_some() { "stale" } else { "ok" },
                "statements": policy.statements,
                "loaded_at": policy.loaded_at,
                // The reload's message names files and parser positions: log only.
                "error": policy.error.as_ref().map(|_| "reload_failed"),
            },
        },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `ok`, `unsafe_setting` (Redis that evicts keys) or `unavailable` (within 2 s).
async fn store_status(state: &AppState) -> &'static str {
    // `epoch` also pins the store's epoch as soon as a fresh (restarted, empty) Redis is seen,
    // rather than at the first sign-in after it: assertions issued between the restart and
    // that sign-in are not refused as `before_store_epoch`.
    let check = async {
        state.store.ping().await?;
        state.store.epoch().await?;
        state.store.unsafe_setting().await
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(None)) => "ok",
        Ok(Ok(Some(problem))) => {
            tracing::error!(%problem, "the store is unsafe to use; not ready");
            "unsafe_setting"
        }
        Ok(Err(_)) | Err(_) => "unavailable",
    }
}

/// Each OIDC IdP: `ok` once its keys are loaded.
fn idp_statuses(state: &AppState) -> serde_json::Map<String, serde_json::Value> {
    state
        .idps
        .oidc()
        .iter()
        .map(|i| {
            (
                i.id.to_string(),
                json!(if i.is_ready() {
                    "ok"
                } else {
                    "keys_not_loaded"
                }),
            )
        })
        .collect()
}

async fn metrics(
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    metrics_allowed(&state, &req)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render()))
}

/// `/metrics` tells who signs in, which roles are used and how often checks fail. With
/// `[metrics] token_file`/`token_env` it needs that bearer token; without one it answers only
/// a direct loopback connection that no proxy relayed (scripts/dev, a sidecar, `curl` in the
/// pod) — a trusted proxy, or any forwarding header, means the request came from outside.
fn metrics_allowed(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    if let Some(expected) = &state.config.metrics_token {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        return match presented {
            Some(t) if expected.ct_eq(t.as_bytes()) => Ok(()),
            _ => Err(ApiError::invalid_token(
                "/metrics needs the [metrics] token",
            )),
        };
    }
    let peer = req.peer_addr().map(|a| a.ip().to_canonical());
    let relayed = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    let proxy = peer.is_some_and(|ip| state.config.server.trusted_proxies.contains(&ip));
    if peer.is_some_and(|ip| ip.is_loopback()) && !relayed && !proxy {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}
