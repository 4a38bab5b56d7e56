//! Conversations and their messages.

use super::*;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// `input_required` (an agent waits for the user) or `idle`.
    pub state: Option<String>,
    /// The assigned agent's name.
    pub agent: Option<String>,
    pub contact_id: Option<String>,
}

/// `GET /api/v1/conversations?state=&agent=&contact_id=&since=&until=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/conversations", tag = "Management", params(ConversationQuery, TimeQuery, PageQuery), security(("api_key" = [])),
    summary = "List conversations",
    description = "Newest first, with their assigned agent and the agent's open task; filtered by state, agent, contact and creation time; pages by cursor.",
    responses((status = 200, description = "conversations, newest first", body = ConversationPage), (status = 400, description = "`invalid_request` or `invalid_cursor`: a filter or the cursor, named"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.conversations")]
pub async fn list_conversations(
    state: web::Data<ManagementState>,
    filter: web::Query<ConversationQuery>,
    time: web::Query<TimeQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = ConversationFilter {
        created: time_range(time.since.as_deref(), time.until.as_deref())?,
        state: filter
            .state
            .as_deref()
            .map(|s| {
                ConversationState::parse(s)
                    .ok_or_else(|| ApiError::invalid("state", format!("{s:?} is not input_required or idle")))
            })
            .transpose()?,
        agent: filter.agent.clone(),
        contact_id: filter
            .contact_id
            .as_deref()
            .map(|c| Uuid::parse_str(c).map_err(|_| ApiError::invalid("contact_id", "not a contact id")))
            .transpose()?,
    };
    let page = page_request(List::Conversations, page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.reads.conversations(filter, page).await?;
    Ok(HttpResponse::Ok().json(page_body::<_, ConversationBody>(List::Conversations, found)))
}

/// `GET /api/v1/conversations/{id}`
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "Management", params(("id" = String, Path, description = "conversation id")), security(("api_key" = [])),
    summary = "Get a conversation",
    description = "Its contact, channel, assigned agent and open A2A task.",
    responses((status = 200, description = "the conversation", body = ConversationBody), (status = 400, description = "`invalid_request`: not a conversation id"), (status = 404, description = "`not_found`: no such conversation"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.conversation")]
pub async fn get_conversation(
    state: web::Data<ManagementState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    match state.reads.conversation(id).await? {
        Some(conversation) => Ok(HttpResponse::Ok().json(ConversationBody::from(conversation))),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no conversation {id}"))),
    }
}

/// `GET /api/v1/conversations/{id}/messages?limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "Management", params(("id" = String, Path, description = "conversation id"), PageQuery), security(("api_key" = [])),
    summary = "List a conversation's messages",
    description = "Inbound messages and replies, oldest first, with their delivery state and trace id; pages by cursor.",
    responses((status = 200, description = "messages, oldest first", body = MessagePage), (status = 400, description = "`invalid_request` or `invalid_cursor`: the id, the limit or the cursor"), (status = 404, description = "`not_found`: no such conversation"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.conversation_messages")]
pub async fn conversation_messages(
    state: web::Data<ManagementState>,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    let page = page_request(List::Messages, page.limit.as_deref(), page.cursor.as_deref())?;
    match state.reads.conversation_messages(id, page).await? {
        Some(found) => {
            let now = state.clock.now();
            let mut files = Vec::with_capacity(found.items.len());
            for record in &found.items {
                files.push(state.media.file_of(record, now).await);
            }
            let mut body = page_body::<_, MessageBody>(List::Messages, found);
            for (item, file) in body.items.iter_mut().zip(files) {
                item.file = file;
            }
            Ok(HttpResponse::Ok().json(body))
        }
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no conversation {id}"))),
    }
}
