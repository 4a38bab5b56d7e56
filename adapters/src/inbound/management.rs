//! The management API (API key): stored webhook events and their replay, dead jobs and
//! their requeue.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use switchboard_application::usecases::IngestWebhook;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::api::{ApiState, authorise};
use super::errors::ApiError;
use super::trace::request_trace;
use super::whatsapp::replay::replay_event;
use crate::outbound::store::SqliteStore;

pub struct ManagementState {
    pub store: SqliteStore,
    pub ingest: Arc<IngestWebhook>,
}

fn store_error(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "management request failed");
    ApiError::store_unavailable()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `accepted` or `quarantined`.
    pub status: Option<String>,
    /// RFC 3339; events received at or after it.
    pub since: Option<String>,
    pub limit: Option<i64>,
}

fn since_ms(since: Option<&str>) -> Result<i64, ApiError> {
    match since {
        None => Ok(0),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
            .map_err(|_| ApiError::bad_request(format!("since: {s:?} is not an RFC 3339 time"))),
    }
}

fn status_filter(status: Option<&str>) -> Result<Option<&str>, ApiError> {
    match status {
        None | Some("accepted" | "quarantined") => Ok(status),
        Some(other) => Err(ApiError::bad_request(format!("status: {other:?} is not accepted or quarantined"))),
    }
}

/// The stored events the query selects, newest first.
async fn matching_events(
    store: &SqliteStore,
    query: &EventsQuery,
    default_limit: i64,
    max_limit: i64,
) -> Result<Vec<crate::outbound::store::EventSummary>, ApiError> {
    store
        .list_events(
            status_filter(query.status.as_deref())?,
            since_ms(query.since.as_deref())?,
            query.limit.unwrap_or(default_limit).clamp(1, max_limit),
        )
        .await
        .map_err(store_error)
}

/// `GET /api/v1/webhook-events?status=quarantined&since=...&limit=...`
#[utoipa::path(get, path = "/api/v1/webhook-events", tag = "webhook events", params(EventsQuery), security(("api_key" = [])), responses((status = 200, description = "{events: [...]} newest first")))]
pub async fn list_events(
    req: HttpRequest,
    api: web::Data<ApiState>,
    state: web::Data<ManagementState>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    authorise(&req, &api)?;
    let events = matching_events(&state.store, &query, 100, 1000).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events })))
}

/// `POST /api/v1/webhook-events/{id}/replay`
#[utoipa::path(post, path = "/api/v1/webhook-events/{id}/replay", tag = "webhook events", params(("id" = String, Path, description = "event id")), security(("api_key" = [])),
    responses((status = 200, description = "new and duplicate messages, or why it is still quarantined"), (status = 404, description = "no such event")))]
pub async fn replay_one(
    req: HttpRequest,
    api: web::Data<ApiState>,
    state: web::Data<ManagementState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorise(&req, &api)?;
    match replay_event(&state.store, &state.ingest, &id, request_trace(&req)).await.map_err(store_error)? {
        Some(outcome) => Ok(HttpResponse::Ok().json(outcome)),
        None => Err(ApiError::not_found(format!("no webhook event {id}"))),
    }
}

/// `POST /api/v1/webhook-events/replay?status=quarantined&since=...`: every matching event.
#[utoipa::path(post, path = "/api/v1/webhook-events/replay", tag = "webhook events", params(EventsQuery), security(("api_key" = [])), responses((status = 200, description = "{replayed: [...]}, oldest first")))]
pub async fn replay_many(
    req: HttpRequest,
    api: web::Data<ApiState>,
    state: web::Data<ManagementState>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    authorise(&req, &api)?;
    let events = matching_events(&state.store, &query, 1000, 10_000).await?;
    let mut outcomes = Vec::with_capacity(events.len());
    // Oldest first, as Meta sent them.
    for event in events.iter().rev() {
        if let Some(outcome) =
            replay_event(&state.store, &state.ingest, &event.id, request_trace(&req)).await.map_err(store_error)?
        {
            outcomes.push(outcome);
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "replayed": outcomes })))
}

/// `GET /api/v1/jobs/dead`
#[utoipa::path(get, path = "/api/v1/jobs/dead", tag = "jobs", security(("api_key" = [])), responses((status = 200, description = "{jobs: [...]} with last errors")))]
pub async fn dead_jobs(
    req: HttpRequest,
    api: web::Data<ApiState>,
    state: web::Data<ManagementState>,
) -> Result<HttpResponse, ApiError> {
    authorise(&req, &api)?;
    let jobs = state.store.dead_jobs(1000).await.map_err(store_error)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "jobs": jobs })))
}

/// `POST /api/v1/jobs/{id}/requeue`
#[utoipa::path(post, path = "/api/v1/jobs/{id}/requeue", tag = "jobs", params(("id" = i64, Path, description = "job id")), security(("api_key" = [])),
    responses((status = 200, description = "queued again"), (status = 404, description = "no dead job with this id")))]
pub async fn requeue(
    req: HttpRequest,
    api: web::Data<ApiState>,
    state: web::Data<ManagementState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    authorise(&req, &api)?;
    if state.store.requeue(*id).await.map_err(store_error)? {
        tracing::warn!(job_id = *id, "dead job requeued by an operator");
        Ok(HttpResponse::Ok().json(serde_json::json!({ "id": *id, "state": "queued" })))
    } else {
        Err(ApiError::not_found(format!("no dead job {id}")))
    }
}
