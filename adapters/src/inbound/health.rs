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
