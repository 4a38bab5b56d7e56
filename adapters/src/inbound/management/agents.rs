//! Agents registered by URL alone: list, register, remove.

use super::*;
use switchboard_application::usecases::ManageAgentsError;

/// `POST /api/v1/agents`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgentBody {
    /// 1 to 64 characters of a-z, 0-9, `-` and `_`; not a built-in or configured agent's.
    #[schema(example = "weather")]
    pub name: String,
    /// The agent's base URL, where its card is (`/.well-known/agent-card.json`).
    #[schema(example = "http://weather.internal:9002")]
    pub url: String,
}

impl From<ManageAgentsError> for ApiError {
    fn from(e: ManageAgentsError) -> Self {
        match e {
            ManageAgentsError::Invalid { field, message } => ApiError::invalid(field, message),
            ManageAgentsError::Exists(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
            ManageAgentsError::NotFound(_) => ApiError::new(ErrorCode::NotFound, e.to_string()),
            ManageAgentsError::Store(e) => e.into(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "Management", security(("api_key" = [])),
    summary = "List the agents found by their cards",
    description = "Agents routed to by their cards' skills (configured by URL alone, or registered here): up or down as their card was last fetched, their skills and bindings.",
    responses((status = 200, description = "`{items: [{name, url, up, skills, bindings}]}`", body = Object), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.list_agents")]
pub async fn list_agents(state: web::Data<ManagementState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "items": state.manage_agents.list() }))
}

#[utoipa::path(post, path = "/api/v1/agents", tag = "Management", request_body = RegisterAgentBody, security(("api_key" = [])),
    summary = "Register an agent by its URL",
    description = "Every replica routes to it by its card's skills from now on (each skill's id becomes an intent; the classifier is shown its tags and examples). Its card is fetched at once: the answer says whether it is up. While its card cannot be fetched it is marked down and skipped.",
    responses((status = 201, description = "`{name, url, up, skills, bindings}`", body = Object), (status = 400, description = "`invalid_request`: a bad name or URL, named"), (status = 409, description = "`conflict`: the name is a built-in, configured or registered agent's"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be written")))]
#[tracing::instrument(skip_all, name = "management.register_agent")]
pub async fn register_agent(
    state: web::Data<ManagementState>,
    body: web::Json<RegisterAgentBody>,
) -> Result<HttpResponse, ApiError> {
    let found = state.manage_agents.register(&body.name, &body.url).await?;
    Ok(HttpResponse::Created().json(found))
}

#[utoipa::path(delete, path = "/api/v1/agents/{name}", tag = "Management", params(("name" = String, Path, description = "a registered agent's name")), security(("api_key" = [])),
    summary = "Remove a registered agent",
    description = "Its skills leave the routes at once (configured agents are removed from the configuration instead).",
    responses((status = 204, description = "removed"), (status = 404, description = "`not_found`: no registered agent by this name"), (status = 401, description = "no or wrong API key"), (status = 503, description = "`store_unavailable`: the database could not be written")))]
#[tracing::instrument(skip_all, name = "management.unregister_agent")]
pub async fn unregister_agent(
    state: web::Data<ManagementState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.manage_agents.unregister(&name).await?;
    Ok(HttpResponse::NoContent().finish())
}
