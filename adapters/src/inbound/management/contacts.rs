//! `GET /api/v1/contacts`, `/api/v1/contacts/{id}`, and its consent (`PUT .../consent`).

use super::*;

/// `GET /api/v1/contacts?since=&until=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/contacts", tag = "Management", params(TimeQuery, PageQuery), security(("api_key" = [])),
    summary = "List contacts",
    description = "Newest first, filtered by when they were created; pages by cursor.",
    responses((status = 200, description = "contacts, newest first", body = ContactPage), (status = 400, description = "`invalid_request` or `invalid_cursor`: a filter or the cursor, named"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.contacts")]
pub async fn list_contacts(
    state: web::Data<ManagementState>,
    time: web::Query<TimeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let range = time_range(time.since.as_deref(), time.until.as_deref())?;
    let page = page_request(List::Contacts, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.contacts(range, page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, ContactBody>(List::Contacts, found)))
}

/// `GET /api/v1/contacts/{id}`
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "Management", params(("id" = String, Path, description = "contact id")), security(("api_key" = [])),
    summary = "Get a contact",
    description = "The whole phone number, scoped id, profile name, email, number of conversations and consent (what the contact opted out of, when and by whom).",
    responses((status = 200, description = "the contact", body = ContactBody), (status = 400, description = "`invalid_request`: not a contact id"), (status = 404, description = "`not_found`: no such contact"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.contact")]
pub async fn get_contact(state: web::Data<ManagementState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id("contact", &id)?;
    match state.reads.contact(id).await? {
        Some(contact) => Ok(HttpResponse::Ok().json(ContactBody::from(contact))),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no contact {id}"))),
    }
}

/// A contact's consent: opted out of business-initiated messages (STOP, an operator, the
/// API) and of marketing (Meta's 131050), each with its time and source.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentBody {
    /// No proactive send and no template goes to the contact; replies inside a
    /// conversation they started still do.
    pub opted_out: bool,
    pub opted_out_at: Option<String>,
    /// `user_keyword`, `operator` or `api`.
    pub opted_out_source: Option<String>,
    /// No template goes to the contact (Meta said 131050).
    pub marketing_opted_out: bool,
    pub marketing_opted_out_at: Option<String>,
    /// `meta_131050`.
    pub marketing_opted_out_source: Option<String>,
}

impl From<switchboard_domain::Consent> for ConsentBody {
    fn from(c: switchboard_domain::Consent) -> Self {
        let at = |o: Option<switchboard_domain::OptOut>| o.and_then(|o| o.at.format(&Rfc3339).ok());
        let source = |o: Option<switchboard_domain::OptOut>| o.map(|o| o.source.as_str().to_owned());
        Self {
            opted_out: c.business_initiated.is_some(),
            opted_out_at: at(c.business_initiated),
            opted_out_source: source(c.business_initiated),
            marketing_opted_out: c.marketing.is_some(),
            marketing_opted_out_at: at(c.marketing),
            marketing_opted_out_source: source(c.marketing),
        }
    }
}

/// `PUT /api/v1/contacts/{id}/consent`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChangeBody {
    /// `true`: opted out of business-initiated messages; `false`: opted in again (which
    /// clears a marketing opt-out too).
    pub opted_out: bool,
    /// The operator the change is done for (source `operator`); without one, the source
    /// is `api`.
    pub operator: Option<String>,
}

/// `PUT /api/v1/contacts/{id}/consent`
#[utoipa::path(put, path = "/api/v1/contacts/{id}/consent", tag = "Management", request_body = ConsentChangeBody, params(("id" = String, Path, description = "contact id")), security(("api_key" = [])),
    summary = "Change a contact's consent",
    description = "Opts the contact out of business-initiated messages (no proactive send, no template; replies inside a conversation they started still go) or in again, for an operator (source `operator`) or the API (source `api`). An earlier opt-out keeps its time and source.",
    responses((status = 200, description = "the consent after the change", body = ConsentBody), (status = 400, description = "`invalid_request`: not a contact id, or a bad operator name"), (status = 404, description = "`not_found`: no such contact"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be written")))]
#[tracing::instrument(skip_all, name = "management.change_consent")]
pub async fn change_consent(
    state: web::Data<ManagementState>,
    id: web::Path<String>,
    body: web::Json<ConsentChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("contact", &id)?;
    let operator = body.operator.as_deref().map(operator_name).transpose()?;
    let consent = state.consent.execute(id, body.opted_out, operator.as_deref()).await?;
    Ok(HttpResponse::Ok().json(ConsentBody::from(consent)))
}
