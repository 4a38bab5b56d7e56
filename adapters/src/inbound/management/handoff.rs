//! People in the loop over the API: the inbox (conversations waiting for a person
//! first), a conversation's handling with its history, and the operators' actions (take
//! over, reply, hand back, close). The API key is not an operator login: each action
//! names the operator it is done for, and the history records that name.

use switchboard_application::ports::{ConversationEvent, ConversationHandling, InboxFilter};
use switchboard_domain::{Handler, OutboundContent, ServiceWindow};

use super::*;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `people`, `bot` or `closed`; all when absent.
    pub handler: Option<String>,
    /// Only conversations that have waited for a person this many seconds or longer.
    #[param(value_type = Option<u64>)]
    pub waiting_at_least_secs: Option<String>,
}

/// A conversation as operators see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HandlingBody {
    pub conversation_id: Uuid,
    /// `bot`, `people` or `closed`.
    pub handler: String,
    /// People handle it and no operator has answered since the handoff.
    pub waiting: bool,
    /// How long it has waited for a person, in seconds.
    pub waiting_seconds: Option<i64>,
    /// `user_asked`, `agent_asked`, `repeated_fallback` or `operator`.
    pub reason: Option<String>,
    /// Why people were called, as a sentence.
    pub reason_text: Option<String>,
    pub handoff_at: Option<String>,
    pub operator: Option<String>,
    pub taken_at: Option<String>,
    pub first_human_reply_at: Option<String>,
    /// The user's number, masked.
    pub user: String,
    pub profile_name: Option<String>,
    /// The 24-hour customer-service window: free-form replies go only while it is open.
    pub window_open: bool,
    pub window_closes_at: Option<String>,
    pub updated_at: String,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl HandlingBody {
    pub fn new(h: &ConversationHandling, now: OffsetDateTime) -> Self {
        let window = ServiceWindow::new(h.last_inbound_at);
        let waiting = h.waits_for_a_person();
        Self {
            conversation_id: h.conversation_id,
            handler: h.handler.as_str().to_owned(),
            waiting,
            waiting_seconds: h.handoff_at.filter(|_| waiting).map(|since| (now - since).whole_seconds().max(0)),
            reason: h.reason.as_ref().map(|r| r.kind().to_owned()),
            reason_text: h.reason.as_ref().map(|r| r.describe()),
            handoff_at: h.handoff_at.map(rfc3339),
            operator: h.operator.clone(),
            taken_at: h.taken_at.map(rfc3339),
            first_human_reply_at: h.first_human_reply_at.map(rfc3339),
            user: h.user.key().masked(),
            profile_name: h.profile_name.clone(),
            window_open: window.is_open(now),
            window_closes_at: window.closes_at().map(rfc3339),
            updated_at: rfc3339(h.updated_at),
        }
    }
}

/// One entry of a conversation's handling history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryBody {
    pub at: String,
    /// `user`, `agent:NAME`, `bot`, or the operator's name.
    pub actor: String,
    /// `handoff`, `take_over`, `reply`, `hand_back` or `close`.
    pub action: String,
    pub detail: Option<String>,
}

impl From<&ConversationEvent> for HistoryBody {
    fn from(e: &ConversationEvent) -> Self {
        Self { at: rfc3339(e.at), actor: e.actor.clone(), action: e.action.clone(), detail: e.detail.clone() }
    }
}

/// One page of the inbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboxBody {
    pub items: Vec<HandlingBody>,
    /// Give it as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HandlingWithHistory {
    #[serde(flatten)]
    pub handling: HandlingBody,
    pub history: Vec<HistoryBody>,
}

/// The operator an action is done for: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
pub fn operator_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(ApiError::invalid("operator", "1 to 64 letters, digits, '.', '_', '-' or '@'"))
    }
}

/// `POST .../take-over` and `.../close`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorBody {
    /// The operator the action is done for (recorded in the history).
    pub operator: String,
}

/// `POST .../hand-back`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandBackBody {
    pub operator: String,
    /// A short note for the agent, passed with the user's next message (at most 1,000 characters).
    pub note: Option<String>,
}

/// `POST .../reply`: text, or an approved template when the 24-hour window is closed.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorReplyBody {
    pub operator: String,
    pub text: Option<String>,
    #[schema(value_type = Option<super::super::api::TemplateBody>)]
    pub template: Option<switchboard_application::usecases::TemplateOrder>,
}

impl OperatorReplyBody {
    pub fn content(self) -> Result<(String, OutboundContent), ApiError> {
        let operator = operator_name(&self.operator)?;
        let content = match (self.text, self.template) {
            (Some(body), None) if !body.trim().is_empty() => OutboundContent::Text { body, preview_url: false },
            (Some(_), None) => return Err(ApiError::invalid("text", "must not be empty")),
            (None, Some(t)) => {
                OutboundContent::Template { name: t.name, language: t.language, components: t.components }
            }
            (Some(_), Some(_)) => return Err(ApiError::invalid("text", "give text or template, not both")),
            (None, None) => return Err(ApiError::invalid("text", "required (or template)")),
        };
        Ok((operator, content))
    }
}

/// `POST .../reply` accepted the operator's answer; its delivery runs in the background.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplyAccepted {
    /// The answer's delivery: follow it with `GET /api/v1/messages/{id}`; the
    /// conversation's messages show it too.
    pub delivery_id: Uuid,
    /// Always `pending` here.
    #[schema(example = "pending")]
    pub state: String,
    /// The W3C trace id of the request, also in the `X-Trace-Id` response header.
    pub trace_id: String,
}

/// `GET /api/v1/inbox?handler=&waiting_at_least_secs=&limit=&cursor=`
#[utoipa::path(get, path = "/api/v1/inbox", tag = "People", params(InboxQuery, PageQuery), security(("api_key" = [])),
    summary = "List the operators' inbox",
    description = "Conversations waiting for a person first, longest wait first, then the others by latest activity (ties by id); of one handler, or only those waiting at least so long, when asked; pages by cursor.",
    responses((status = 200, description = "conversations waiting for a person first (longest wait first), then the others (latest activity first)", body = InboxBody), (status = 400, description = "`invalid_request` or `invalid_cursor`: the handler, the wait, the limit or the cursor, named"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be read")))]
#[tracing::instrument(skip_all, name = "management.inbox")]
pub async fn inbox(
    state: web::Data<ManagementState>,
    query: web::Query<InboxQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let handler =
        query.handler.as_deref().map(|h| Handler::parse(h).map_err(|e| ApiError::invalid("handler", e))).transpose()?;
    let now = state.clock.now();
    let waiting_since_or_before = query
        .waiting_at_least_secs
        .as_deref()
        .map(|text| {
            text.parse::<u32>().map(|secs| now - time::Duration::seconds(i64::from(secs))).map_err(|_| {
                ApiError::invalid("waiting_at_least_secs", format!("{text:?} is not a whole number of seconds"))
            })
        })
        .transpose()?;
    let page = inbox_page(page.limit.as_deref(), page.cursor.as_deref())?;
    let found = state.people.inbox(InboxFilter { handler, waiting_since_or_before }, page).await?;
    Ok(HttpResponse::Ok().json(InboxBody {
        items: found.items.iter().map(|h| HandlingBody::new(h, now)).collect(),
        next_cursor: found.next.as_ref().map(inbox_cursor),
    }))
}

/// `GET /api/v1/conversations/{id}/handling`
#[utoipa::path(get, path = "/api/v1/conversations/{id}/handling", tag = "People", params(("id" = String, Path, description = "conversation id")), security(("api_key" = [])),
    summary = "Show a conversation's handling",
    description = "Who handles the conversation (bot, people or closed), why people were called, who holds it, the 24-hour window, and its history: who did what, when.",
    responses((status = 200, description = "who handles the conversation, why, and its history (who did what, when)", body = HandlingWithHistory), (status = 404, description = "no such conversation"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.handling")]
pub async fn handling(state: web::Data<ManagementState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    let Some(found) = state.people.handling(id).await? else {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no conversation {id}")));
    };
    let history = state.people.history(id).await?;
    Ok(HttpResponse::Ok().json(HandlingWithHistory {
        handling: HandlingBody::new(&found, state.clock.now()),
        history: history.iter().map(HistoryBody::from).collect(),
    }))
}

/// `POST /api/v1/conversations/{id}/take-over`
#[utoipa::path(post, path = "/api/v1/conversations/{id}/take-over", tag = "People", request_body = OperatorBody, params(("id" = String, Path, description = "conversation id")), security(("api_key" = [])),
    summary = "Take a conversation over",
    description = "People handle the conversation from now on, this operator in charge: no classifier or agent is called for it until it is handed back.",
    responses((status = 200, description = "people handle it now, this operator in charge", body = HandlingBody), (status = 404, description = "no such conversation"), (status = 409, description = "another operator holds it"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.take_over")]
pub async fn take_over(
    state: web::Data<ManagementState>,
    id: web::Path<String>,
    body: web::Json<OperatorBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    let operator = operator_name(&body.operator)?;
    let handling = state.handoff.take_over(id, &operator).await?;
    Ok(HttpResponse::Ok().json(HandlingBody::new(&handling, state.clock.now())))
}

/// `POST /api/v1/conversations/{id}/hand-back`
#[utoipa::path(post, path = "/api/v1/conversations/{id}/hand-back", tag = "People", request_body = HandBackBody, params(("id" = String, Path, description = "conversation id")), security(("api_key" = [])),
    summary = "Hand a conversation back to the bot",
    description = "The bot answers again; an optional note reaches the agent with the user's next message (metadata handback_note).",
    responses((status = 200, description = "the bot answers again; the note reaches the agent with the next message", body = HandlingBody), (status = 404, description = "no such conversation"), (status = 409, description = "the bot handles it already"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.hand_back")]
pub async fn hand_back(
    state: web::Data<ManagementState>,
    id: web::Path<String>,
    body: web::Json<HandBackBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    let body = body.into_inner();
    let operator = operator_name(&body.operator)?;
    let handling = state.handoff.hand_back(id, &operator, body.note).await?;
    Ok(HttpResponse::Ok().json(HandlingBody::new(&handling, state.clock.now())))
}

/// `POST /api/v1/conversations/{id}/close`
#[utoipa::path(post, path = "/api/v1/conversations/{id}/close", tag = "People", request_body = OperatorBody, params(("id" = String, Path, description = "conversation id")), security(("api_key" = [])),
    summary = "Close a conversation",
    description = "Nobody answers until the user writes again; then the bot does.",
    responses((status = 200, description = "closed: nobody answers until the user writes again (then the bot does)", body = HandlingBody), (status = 404, description = "no such conversation"), (status = 409, description = "closed already"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.close")]
pub async fn close(
    state: web::Data<ManagementState>,
    id: web::Path<String>,
    body: web::Json<OperatorBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    let operator = operator_name(&body.operator)?;
    let handling = state.handoff.close(id, &operator).await?;
    Ok(HttpResponse::Ok().json(HandlingBody::new(&handling, state.clock.now())))
}

/// `POST /api/v1/conversations/{id}/reply`
#[utoipa::path(post, path = "/api/v1/conversations/{id}/reply", tag = "People", request_body = OperatorReplyBody, params(("id" = String, Path, description = "conversation id")), security(("api_key" = [])),
    summary = "Answer as an operator",
    description = "Sends the operator's text (or an approved template outside the 24-hour window, with one body parameter per placeholder: see `GET /api/v1/templates`) through the agents' delivery path; the first operator to answer a waiting conversation takes it over.",
    responses((status = 202, description = "accepted for delivery through the agents' path (window, template, pacing, email fallback)", body = ReplyAccepted), (status = 400, description = "`invalid_request`: a field is missing or invalid (the message names it), or a template of `GET /api/v1/templates` is sent with another number of body parameters than it takes (the message names the template and its placeholders)"), (status = 404, description = "no such conversation"), (status = 409, description = "the bot handles it (take it over first), or another operator does"), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.operator_reply")]
pub async fn reply(
    req: HttpRequest,
    state: web::Data<ManagementState>,
    id: web::Path<String>,
    body: web::Json<OperatorReplyBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id("conversation", &id)?;
    let (operator, content) = body.into_inner().content()?;
    let trace = request_trace(&req);
    let delivery_id = state.handoff.reply(id, &operator, content, trace).await?;
    Ok(HttpResponse::Accepted().json(ReplyAccepted {
        delivery_id,
        state: String::from("pending"),
        trace_id: trace.trace_id.to_string(),
    }))
}
