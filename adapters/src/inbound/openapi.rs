//! The OpenAPI document of every API route (`/api/openapi.json`), generated from the
//! handlers' annotations, and the interactive reference that shows it (`/api/docs`,
//! [`viewer`]). Three things are added here rather than on each handler: the API-key
//! scheme, the one error shape on every 4xx and 5xx, and the refusals any route that
//! reads a body may answer.

pub mod schemas;
pub mod viewer;

use actix_web::HttpResponse;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Content, Deprecated, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::errors::ErrorCode;
use super::whatsapp::WEBHOOK_PATHS;
use super::{a2a_server, api, health, management, media, metrics, sandbox, whatsapp};
pub use viewer::{asset, is_asset, page};

/// The name of the error schema every 4xx and 5xx response refers to.
pub const ERROR_SCHEMA: &str = "ApiError";

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "One of the configured API keys (`api_keys`). `Authorization: Bearer KEY` is accepted too.",
            ))),
        );
    }
}

/// Meta's webhook is also served on the path older deployments were configured with:
/// the same operations, marked deprecated, under their own operation ids.
struct WebhookAlias;

impl Modify for WebhookAlias {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let [path, alias] = WEBHOOK_PATHS;
        let Some(mut item) = openapi.paths.paths.get(path).cloned() else { return };
        for operation in operations_mut(&mut item) {
            operation.deprecated = Some(Deprecated::True);
            operation.operation_id = operation.operation_id.as_ref().map(|id| format!("{id}_older_path"));
            operation.description = Some(format!(
                "The same as on {path}, for deployments configured before it. {}",
                operation.description.clone().unwrap_or_default()
            ));
        }
        openapi.paths.paths.insert(alias.to_owned(), item);
    }
}

/// Every 4xx and 5xx answers the one error shape, and every route that reads a body can
/// refuse it before its handler runs (`limits.rs`): both said once, here.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let webhook = WEBHOOK_PATHS.contains(&path.as_str());
            for operation in operations_mut(item) {
                if operation.request_body.is_some() {
                    add_body_refusals(operation, webhook);
                }
                for (status, response) in &mut operation.responses.responses {
                    if let RefOr::T(response) = response
                        && is_error_status(status)
                        && response.content.is_empty()
                    {
                        response.content.insert(
                            String::from("application/json"),
                            Content::new(Some(Ref::from_schema_name(ERROR_SCHEMA))),
                        );
                    }
                }
            }
        }
    }
}

fn is_error_status(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

fn codes(codes: &[ErrorCode]) -> String {
    codes.iter().map(|c| format!("`{}`: {}", c.as_str(), c.meaning())).collect::<Vec<_>>().join("; ")
}

/// The refusals of `limits.rs`. The webhook reads its body as raw signed bytes, so it is
/// not refused for its content type or its JSON.
fn add_body_refusals(operation: &mut Operation, webhook: bool) {
    let mut refusals = vec![
        ("408", vec![ErrorCode::RequestTimeout]),
        ("413", vec![ErrorCode::PayloadTooLarge]),
        ("503", vec![ErrorCode::ServerBusy]),
    ];
    if !webhook {
        refusals.push(("400", vec![ErrorCode::BadRequest, ErrorCode::InvalidUtf8, ErrorCode::JsonTooDeep]));
        refusals.push(("415", vec![ErrorCode::UnsupportedMediaType]));
    }
    for (status, which) in refusals {
        let text = codes(&which);
        match operation.responses.responses.get_mut(status) {
            Some(RefOr::T(response)) => response.description = format!("{}. Or {text}", response.description),
            Some(RefOr::Ref(_)) => {}
            None => {
                operation.responses.responses.insert(status.to_owned(), RefOr::T(Response::new(text)));
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch]
        .into_iter()
        .filter_map(Option::as_mut)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "WhatsApp-to-agents orchestrator: Meta's webhook in, A2A agents, replies out.\n\n\
            **Authentication.** Every route except the webhook, health, metrics, the agent card and this \
            reference needs an API key: `X-API-Key: KEY` (or `Authorization: Bearer KEY`). Use *Authorize* \
            to set it for *Try it out*.\n\n\
            **Errors.** Every error answers `{code, message, trace_id}` (schema `ApiError`) with a stable \
            snake_case `code`; a 5xx never carries its internal cause. The `X-Trace-Id` response header \
            names the trace. Any route may also answer 405 `method_not_allowed` and 431 `headers_too_large`.\n\n\
            **Lists** page by an opaque cursor: `{items, next_cursor}`, `limit` 1 to 500.\n\n\
            **A2A.** `/a2a` is a JSON-RPC 2.0 endpoint (A2A v1.0, and v0.3 method names); protocol errors \
            are JSON-RPC errors in a 200 answer."
    ),
    tags(
        (name = "Messages", description = "Send messages to WhatsApp users, follow their delivery, and run a workflow now."),
        (name = "Management", description = "Contacts, conversations, deliveries, stored webhook events and dead jobs."),
        (name = "People", description = "People in the loop: the inbox of conversations waiting for a person, and operators' take-over, reply, hand-back and close."),
        (name = "Media", description = "Files by signed link: users' files for agents and operators, agents' files before they are sent."),
        (name = "Operations", description = "Status, run-time switches, the sandbox outbox and this document."),
        (name = "Health", description = "Probes and Prometheus metrics; public."),
        (name = "A2A", description = "Switchboard as an A2A agent: its card and its JSON-RPC endpoint."),
        (name = "WhatsApp webhook", description = "Meta's verification handshake and signed deliveries."),
    ),
    paths(
        api::send_message,
        api::upload_media,
        api::get_message,
        api::run_workflow,
        api::get_email_priority,
        api::set_email_priority,
        management::list_agents,
        management::register_agent,
        management::unregister_agent,
        management::list_contacts,
        management::get_contact,
        management::change_consent,
        management::list_conversations,
        management::get_conversation,
        management::conversation_messages,
        management::inbox,
        management::list_templates,
        management::handling,
        management::take_over,
        management::reply,
        management::hand_back,
        management::close,
        management::list_deliveries,
        management::list_events,
        management::replay_one,
        management::replay_many,
        management::dead_jobs,
        management::requeue,
        management::status,
        sandbox::outbox,
        media::serve,
        media::sandbox_upload,
        document,
        health::live,
        health::ready,
        health::whatsapp,
        metrics::render,
        a2a_server::agent_card,
        a2a_server::jsonrpc,
        a2a_server::rest_send,
        a2a_server::rest_stream,
        a2a_server::rest_list_tasks,
        a2a_server::rest_get_task,
        a2a_server::rest_cancel,
        a2a_server::rest_subscribe,
        a2a_server::rest_subscribe_get,
        a2a_server::rest_push_configs,
        a2a_server::rest_push_configs_list,
        a2a_server::rest_push_config_get,
        a2a_server::rest_push_config_delete,
        a2a_server::rest_extended_card,
        whatsapp::verify,
        whatsapp::receive,
    ),
    components(schemas(
        schemas::ApiErrorBody,
        api::SendBody,
        api::TemplateBody,
        api::MediaBody,
        api::ButtonBody,
        api::ListBody,
        api::ListSectionBody,
        api::ListRowBody,
        api::ReactionBody,
        management::MessageFileBody,
        management::RegisterAgentBody,
        api::WorkflowBody,
        api::PriorityBody,
    )),
    modifiers(&ApiKeyScheme, &WebhookAlias, &ErrorResponses)
)]
pub struct ApiDoc;

/// The document of this API.
#[utoipa::path(get, path = "/api/openapi.json", tag = "Operations",
    summary = "Get this OpenAPI document",
    description = "OpenAPI 3.1, generated from the handlers; `/api/docs` shows it.",
    responses((status = 200, description = "the document", content_type = "application/json", body = Object)))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests;
