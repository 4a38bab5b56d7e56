//! `GET /api/v1/contacts` and `/api/v1/contacts/{id}`.

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
    description = "The whole phone number, scoped id, profile name, email and number of conversations.",
    responses((status = 200, description = "the contact", body = ContactBody), (status = 400, description = "`invalid_request`: not a contact id"), (status = 404, description = "`not_found`: no such contact"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.contact")]
pub async fn get_contact(state: web::Data<ManagementState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id("contact", &id)?;
    match state.reads.contact(id).await? {
        Some(contact) => Ok(HttpResponse::Ok().json(ContactBody::from(contact))),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no contact {id}"))),
    }
}
