//! Liveness and readiness.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::ApiKeys;
use switchboard_application::ports::{AccountHealth, HealthStatus, StoreHealth};

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/health/live", tag = "Health",
    summary = "Liveness probe",
    description = "Answers while the process serves HTTP; checks nothing else.",
    responses((status = 200, description = "the process serves HTTP", body = crate::inbound::openapi::schemas::Liveness)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How many job workers run, against how many should.
pub struct Readiness {
    pub workers_alive: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub workers_expected: usize,
}

/// What readiness found: each check, and why not ready (empty when ready).
pub struct ReadinessReport {
    pub checks: serde_json::Value,
    pub reasons: Vec<String>,
}

/// The database answers, its migrations are applied, and the job workers run.
pub async fn readiness_report(store: &dyn StoreHealth, readiness: &Readiness) -> ReadinessReport {
    let mut reasons = Vec::new();
    let database = match store.ready().await {
        Ok(()) => "ok",
        Err(reason) => {
            reasons.push(reason);
            "failing"
        }
    };
    let alive = readiness.workers_alive.load(std::sync::atomic::Ordering::SeqCst);
    let workers = if alive > 0 {
        "ok"
    } else {
        reasons.push(format!("no job worker is running (0 of {})", readiness.workers_expected));
        "failing"
    };
    ReadinessReport { checks: json!({"database": database, "workers": workers, "workers_running": alive}), reasons }
}

/// The database answers, its migrations are applied, and the job workers run.
#[utoipa::path(get, path = "/health/ready", tag = "Health",
    summary = "Readiness probe",
    description = "Ready when the database answers, its migrations are applied and the job workers run.",
    responses((status = 200, description = "ready", body = crate::inbound::openapi::schemas::Readiness), (status = 503, description = "not ready: the checks and the reasons", body = crate::inbound::openapi::schemas::Readiness)))]
pub async fn ready(store: web::Data<dyn StoreHealth>, readiness: web::Data<Readiness>) -> HttpResponse {
    let ReadinessReport { checks, reasons } = readiness_report(store.get_ref(), &readiness).await;
    if reasons.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready", "checks": checks}))
    } else {
        tracing::warn!(?reasons, "not ready");
        HttpResponse::ServiceUnavailable().json(json!({"status": "unhealthy", "checks": checks, "reasons": reasons}))
    }
}

/// The WhatsApp account's health; `None` in sandbox mode.
pub struct WhatsAppHealthState(pub Option<std::sync::Arc<dyn AccountHealth>>);

/// `GET /health/whatsapp`: 200 healthy or degraded, 503 unhealthy. Anyone sees the
/// status and the stable reason codes; the details (days to expiry, quality rating,
/// phone status, each reason's scrubbed text) need the API key, as `/api/v1/status`.
#[utoipa::path(get, path = "/health/whatsapp", tag = "Health",
    summary = "Health of the WhatsApp account",
    description = "Anyone sees the status and the stable reason codes. With an API key: the details too (days until the token expires, quality rating, phone status, each reason's scrubbed text), as in `/api/v1/status`.",
    responses((status = 200, description = "healthy or degraded", body = crate::inbound::openapi::schemas::WhatsAppHealth), (status = 503, description = "unhealthy, with its reason codes", body = crate::inbound::openapi::schemas::WhatsAppHealth)))]
pub async fn whatsapp(
    req: HttpRequest,
    state: web::Data<WhatsAppHealthState>,
    keys: web::Data<ApiKeys>,
) -> HttpResponse {
    let Some(health) = &state.0 else {
        return HttpResponse::Ok().json(json!({"status": "healthy", "mode": "sandbox", "reasons": ["sandbox"]}));
    };
    let report = health.check().await;
    let codes: Vec<&str> = report.reasons.iter().map(|r| r.code.as_str()).collect();
    let body = if keys.admits(req.headers()) {
        serde_json::to_value(&report).unwrap_or_default()
    } else {
        report.public_view()
    };
    if report.status == HealthStatus::Unhealthy {
        tracing::warn!(reasons = ?codes, "WhatsApp is unhealthy");
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}
