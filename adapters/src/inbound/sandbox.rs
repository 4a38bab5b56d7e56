//! The sandbox outbox: what the sandbox gateway recorded instead of sending. Mounted
//! only in sandbox mode; `switchboard simulate` polls it for the reply.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::errors::ApiError;
use switchboard_application::ports::SandboxOutbox;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only replies quoting this inbound wamid.
    pub reply_to: Option<String>,
    /// 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/sandbox/outbox", tag = "Operations", params(OutboxQuery), security(("api_key" = [])),
    summary = "Read the sandbox outbox",
    description = "Sandbox mode only (the route does not exist in live mode): what the sandbox gateway recorded instead of sending, newest first. `switchboard simulate` polls it for the reply.",
    responses((status = 200, description = "the recorded messages", body = crate::inbound::openapi::schemas::SandboxOutbox), (status = 400, description = "`bad_request`: the query string does not parse"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
pub async fn outbox(
    store: web::Data<dyn SandboxOutbox>,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let records = store.sandbox_outbox(query.reply_to.clone(), limit).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "messages": records })))
}
