//! `GET /api/v1/deliveries`.

use super::*;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `sent`, `delivered`, `read` or `failed`.
    pub state: Option<String>,
    /// `whatsapp`, `whatsapp_template` or `email`.
    pub route: Option<String>,
    /// `whatsapp` (either WhatsApp route) or `email`.
    pub channel: Option<String>,
    pub conversation_id: Option<String>,
}

pub(super) fn delivery_state(text: &str) -> Result<DeliveryState, ApiError> {
    match text {
        "pending" | "sent" | "delivered" | "read" | "failed" => text.parse().map_err(|e| ApiError::invalid("state", e)),
        other => Err(ApiError::invalid("state", format!("{other:?} is not pending, sent, delivered, read or failed"))),
    }
}

/// `GET /api/v1/deliveries?state=&route=&channel=&conversation_id=&since=&until=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "Management", params(DeliveryQuery, TimeQuery, PageQuery), security(("api_key" = [])),
    summary = "List deliveries",
    description = "Newest first, with every attempt; filtered by state, route, channel, conversation and creation time; pages by cursor.",
    responses((status = 200, description = "deliveries, newest first", body = DeliveryPage), (status = 400, description = "`invalid_request` or `invalid_cursor`: a filter or the cursor, named"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.deliveries")]
pub async fn list_deliveries(
    state: web::Data<ManagementState>,
    filter: web::Query<DeliveryQuery>,
    time: web::Query<TimeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let channel = match filter.channel.as_deref() {
        None => None,
        Some(c @ ("whatsapp" | "email")) => Some(c.to_owned()),
        Some(other) => return Err(ApiError::invalid("channel", format!("{other:?} is not whatsapp or email"))),
    };
    let filter = DeliveryFilter {
        created: time_range(time.since.as_deref(), time.until.as_deref())?,
        state: filter.state.as_deref().map(delivery_state).transpose()?,
        route: filter
            .route
            .as_deref()
            .map(|r| {
                Route::parse(r).ok_or_else(|| {
                    ApiError::invalid("route", format!("{r:?} is not whatsapp, whatsapp_template or email"))
                })
            })
            .transpose()?,
        channel,
        conversation_id: filter
            .conversation_id
            .as_deref()
            .map(|c| Uuid::parse_str(c).map_err(|_| ApiError::invalid("conversation_id", "not a conversation id")))
            .transpose()?,
    };
    let page = page_request(List::Deliveries, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.deliveries(filter, page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, DeliveryBody>(List::Deliveries, found)))
}
