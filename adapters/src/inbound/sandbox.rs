//! The sandbox outbox: what the sandbox gateway recorded instead of sending. Mounted
//! only in sandbox mode; `switchboard simulate` polls it for the reply.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::errors::ApiError;
use switchboard_application::ports::SandboxOutbox;

#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    /// Only replies quoting this inbound wamid.
    pub reply_to: Option<String>,
    pub limit: Option<i64>,
}

pub async fn outbox(
    store: web::Data<dyn SandboxOutbox>,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let records = store.sandbox_outbox(query.reply_to.clone(), limit).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "messages": records })))
}
