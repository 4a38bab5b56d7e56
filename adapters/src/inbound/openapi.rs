//! The OpenAPI document of the REST and management routes, generated from the handlers'
//! annotations (`/api/openapi.json`), and a small readable page of it (`/api/docs`).

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, health, management, metrics};

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "WhatsApp-to-agents orchestrator: REST, management and health routes. Webhooks are at /webhook/whatsapp; the A2A JSON-RPC endpoint is /a2a, described by /.well-known/agent-card.json."),
    paths(
        api::send_message,
        api::get_message,
        api::get_email_priority,
        api::set_email_priority,
        api::run_workflow,
        management::list_contacts,
        management::get_contact,
        management::list_conversations,
        management::get_conversation,
        management::conversation_messages,
        management::inbox,
        management::handling,
        management::take_over,
        management::reply,
        management::hand_back,
        management::close,
        management::list_deliveries,
        management::status,
        management::list_events,
        management::replay_one,
        management::replay_many,
        management::dead_jobs,
        management::requeue,
        health::live,
        health::ready,
        health::whatsapp,
        metrics::render,
    ),
    components(schemas(api::SendBody, api::TemplateBody, api::WorkflowBody, api::PriorityBody)),
    modifiers(&ApiKeyScheme)
)]
pub struct ApiDoc;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A plain page listing every operation, readable without any script or CDN.
pub async fn page() -> HttpResponse {
    let doc = ApiDoc::openapi();
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Switchboard API</title>\
         <style>body{font-family:sans-serif;max-width:60em;margin:2em auto}code{background:#eee;padding:0 .3em}</style></head><body>\
         <h1>Switchboard API</h1><p>Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a>. Protected routes take <code>X-API-Key</code>.</p><ul>",
    );
    for (path, item) in &doc.paths.paths {
        let ops = [("GET", &item.get), ("POST", &item.post), ("PUT", &item.put), ("DELETE", &item.delete)];
        for (verb, op) in ops {
            if let Some(op) = op {
                let summary = op.description.clone().or_else(|| op.summary.clone()).unwrap_or_default();
                html.push_str(&format!("<li><code>{verb} {}</code> {}</li>", escape(path), escape(&summary)));
            }
        }
    }
    html.push_str("</ul></body></html>");
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::auth::is_public;

    #[test]
    fn every_operation_behind_the_key_documents_its_401() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();

        let paths = doc["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (verb, operation) in item.as_object().unwrap() {
                let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
                let documents_401 = operation["responses"].get("401").is_some();
                assert_eq!(secured, !is_public(path), "{verb} {path}: security does not match the guard");
                assert_eq!(
                    documents_401,
                    !is_public(path),
                    "{verb} {path}: the guard answers 401 exactly off the public list"
                );
            }
        }
    }
}
