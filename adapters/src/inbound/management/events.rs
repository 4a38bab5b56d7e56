//! Stored webhook events and their replay.

use super::*;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `accepted` or `quarantined`.
    pub status: Option<String>,
}

pub(super) fn event_filter(status: Option<&str>, time: &TimeQuery) -> Result<EventFilter, ApiError> {
    let status = match status {
        None => None,
        Some(s @ ("accepted" | "quarantined")) => Some(s.to_owned()),
        Some(other) => return Err(ApiError::invalid("status", format!("{other:?} is not accepted or quarantined"))),
    };
    Ok(EventFilter { status, received: time_range(time.since.as_deref(), time.until.as_deref())? })
}

/// `GET /api/v1/webhook-events?status=quarantined&since=...&until=...&limit=...&cursor=...`
#[utoipa::path(get, path = "/api/v1/webhook-events", tag = "Management", params(EventsQuery, TimeQuery, PageQuery), security(("api_key" = [])),
    summary = "List stored webhook events",
    description = "Every webhook delivery is stored before it is acknowledged; quarantined ones were not WhatsApp envelopes. Newest first; pages by cursor.",
    responses((status = 200, description = "stored webhook events, newest first", body = WebhookEventPage), (status = 400, description = "`invalid_request` or `invalid_cursor`: a filter or the cursor, named"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.webhook_events")]
pub async fn list_events(
    state: web::Data<ManagementState>,
    query: web::Query<EventsQuery>,
    time: web::Query<TimeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = event_filter(query.status.as_deref(), &time)?;
    let page = page_request(List::WebhookEvents, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.webhook_events(filter, page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, WebhookEventBody>(List::WebhookEvents, found)))
}

/// `POST /api/v1/webhook-events/{id}/replay`
#[utoipa::path(post, path = "/api/v1/webhook-events/{id}/replay", tag = "Management", params(("id" = String, Path, description = "event id")), security(("api_key" = [])),
    summary = "Replay one stored webhook event",
    description = "Parses the stored raw body again and ingests it. Messages are deduplicated on their wamid, so a replay processes each message once however often it runs.",
    responses((status = 200, description = "new and duplicate messages, or why it is still quarantined", body = crate::inbound::openapi::schemas::ReplayOutcome), (status = 404, description = "`not_found`: no such event"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read or written")))]
#[tracing::instrument(skip_all, name = "management.replay_one")]
pub async fn replay_one(
    req: HttpRequest,
    state: web::Data<ManagementState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match state.replay.one(&id, request_trace(&req)).await? {
        Some(outcome) => Ok(HttpResponse::Ok().json(outcome)),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no webhook event {id}"))),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// At most this many events (default 1000, at most 10000).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
}

/// `POST /api/v1/webhook-events/replay?status=quarantined&since=...`: every matching event.
#[utoipa::path(post, path = "/api/v1/webhook-events/replay", tag = "Management", params(EventsQuery, TimeQuery, ReplayQuery), security(("api_key" = [])),
    summary = "Replay every matching webhook event",
    description = "Replays the stored events the filters match, oldest first, as the one-event replay does (for example every quarantined event after the bug that quarantined them is fixed).",
    responses((status = 200, description = "each event's outcome, oldest first", body = crate::inbound::openapi::schemas::ReplayedEvents), (status = 400, description = "`invalid_request`: a filter or the limit, named"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read or written")))]
#[tracing::instrument(skip_all, name = "management.replay_many")]
pub async fn replay_many(
    req: HttpRequest,
    state: web::Data<ManagementState>,
    query: web::Query<EventsQuery>,
    time: web::Query<TimeQuery>,
    limit: web::Query<ReplayQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = event_filter(query.status.as_deref(), &time)?;
    let limit = match limit.limit.as_deref() {
        None => 1000,
        Some(text) => match text.parse::<u32>() {
            Ok(n @ 1..) => n.min(10_000),
            _ => return Err(ApiError::invalid("limit", format!("{text:?} is not a whole number from 1 to 10000"))),
        },
    };
    let outcomes = state.replay.matching(filter, Some(limit), request_trace(&req)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "replayed": outcomes })))
}
