//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::outbound::store::SqliteStore;

/// The process is up and serving HTTP.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and its migrations are applied.
pub async fn ready(store: web::Data<SqliteStore>) -> HttpResponse {
    match store.ready().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "checks": {"database": "ok"}})),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unhealthy", "checks": {"database": "failing"}, "reasons": [reason]}))
        }
    }
}

/// The WhatsApp account's health; `None` in sandbox mode.
pub struct WhatsAppHealthState(pub Option<std::sync::Arc<crate::outbound::graph_health::WhatsAppHealth>>);

/// `GET /health/whatsapp`: 200 healthy or degraded, 503 unhealthy, with reasons.
pub async fn whatsapp(state: web::Data<WhatsAppHealthState>) -> HttpResponse {
    use crate::outbound::graph_health::HealthStatus;
    let Some(health) = &state.0 else {
        return HttpResponse::Ok().json(json!({
            "status": "healthy", "mode": "sandbox",
            "reasons": ["sandbox mode: there is no WhatsApp account to check"]
        }));
    };
    let report = health.check().await;
    if report.status == HealthStatus::Unhealthy {
        tracing::warn!(reasons = ?report.reasons, "WhatsApp is unhealthy");
        HttpResponse::ServiceUnavailable().json(report)
    } else {
        HttpResponse::Ok().json(report)
    }
}
