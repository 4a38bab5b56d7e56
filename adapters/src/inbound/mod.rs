//! Inbound HTTP adapters (actix-web).
//!
//! [`configure`] mounts every route; [`trace::TraceMiddleware`] must wrap the whole app
//! so every response carries `X-Trace-Id` and every error body its `trace_id`.

pub mod a2a_server;
pub mod api;
pub mod auth;
pub mod client_address;
pub mod console;
pub mod errors;
pub mod health;
pub mod limits;
pub mod management;
pub mod media;
pub mod metrics;
pub mod openapi;
pub mod sandbox;
pub mod trace;
pub mod whatsapp;

use actix_web::http::Method;
use actix_web::web;

pub use errors::ApiError;

/// One route: its path, its method, and the handler.
pub struct RouteSpec {
    pub path: &'static str,
    pub method: Method,
    pub route: fn() -> actix_web::Route,
}

macro_rules! route {
    ($path:expr, $verb:ident, $handler:path) => {
        RouteSpec { path: $path, method: Method::$verb, route: || web::method(Method::$verb).to($handler) }
    };
}

/// Every route the service serves; [`configure`] mounts exactly these, and the tests walk
/// them (each one off [`auth::PUBLIC_PATHS`] must answer 401 without a key; the console's,
/// under `/console`, check operator sessions instead of keys).
/// `sandbox` adds the sandbox outbox (never served in live mode).
pub fn routes(sandbox: bool) -> Vec<RouteSpec> {
    let mut routes = Vec::new();
    for path in whatsapp::WEBHOOK_PATHS {
        routes.push(route!(path, GET, whatsapp::verify));
        routes.push(route!(path, POST, whatsapp::receive));
    }
    routes.extend([
        route!("/api/v1/messages", POST, api::send_message),
        route!(limits::UPLOAD_PATH, POST, api::upload_media),
        route!("/api/v1/messages/{id}", GET, api::get_message),
        route!("/api/v1/workflows", POST, api::run_workflow),
        route!("/api/v1/channels/email/priority", GET, api::get_email_priority),
        route!("/api/v1/channels/email/priority", PUT, api::set_email_priority),
        route!("/.well-known/agent-card.json", GET, a2a_server::agent_card),
        route!(a2a_server::RPC_PATH, POST, a2a_server::jsonrpc),
        route!(a2a_server::REST_SEND_PATH, POST, a2a_server::rest_send),
        route!(a2a_server::REST_STREAM_PATH, POST, a2a_server::rest_stream),
        route!(a2a_server::REST_TASKS_PATH, GET, a2a_server::rest_list_tasks),
        route!(a2a_server::REST_TASK_PATH, GET, a2a_server::rest_get_task),
        route!(a2a_server::REST_CANCEL_PATH, POST, a2a_server::rest_cancel),
        route!(a2a_server::REST_SUBSCRIBE_PATH, POST, a2a_server::rest_subscribe),
        route!(a2a_server::REST_SUBSCRIBE_PATH, GET, a2a_server::rest_subscribe_get),
        route!(a2a_server::REST_PUSH_CONFIGS_PATH, POST, a2a_server::rest_push_configs),
        route!(a2a_server::REST_PUSH_CONFIGS_PATH, GET, a2a_server::rest_push_configs_list),
        route!(a2a_server::REST_PUSH_CONFIG_PATH, GET, a2a_server::rest_push_config_get),
        route!(a2a_server::REST_PUSH_CONFIG_PATH, DELETE, a2a_server::rest_push_config_delete),
        route!(a2a_server::REST_EXTENDED_CARD_PATH, GET, a2a_server::rest_extended_card),
        route!("/api/v1/contacts", GET, management::list_contacts),
        route!("/api/v1/contacts/{id}", GET, management::get_contact),
        route!("/api/v1/contacts/{id}/consent", PUT, management::change_consent),
        route!("/api/v1/conversations", GET, management::list_conversations),
        route!("/api/v1/conversations/{id}", GET, management::get_conversation),
        route!("/api/v1/conversations/{id}/messages", GET, management::conversation_messages),
        route!("/api/v1/conversations/{id}/handling", GET, management::handling),
        route!("/api/v1/conversations/{id}/take-over", POST, management::take_over),
        route!("/api/v1/conversations/{id}/reply", POST, management::reply),
        route!("/api/v1/conversations/{id}/hand-back", POST, management::hand_back),
        route!("/api/v1/conversations/{id}/close", POST, management::close),
        route!("/api/v1/inbox", GET, management::inbox),
        route!("/api/v1/templates", GET, management::list_templates),
        route!("/api/v1/deliveries", GET, management::list_deliveries),
        route!("/api/v1/status", GET, management::status),
        route!("/api/v1/webhook-events", GET, management::list_events),
        route!("/api/v1/webhook-events/replay", POST, management::replay_many),
        route!("/api/v1/webhook-events/{id}/replay", POST, management::replay_one),
        route!("/api/v1/agents", GET, management::list_agents),
        route!("/api/v1/agents", POST, management::register_agent),
        route!("/api/v1/agents/{name}", DELETE, management::unregister_agent),
        route!("/api/v1/jobs/dead", GET, management::dead_jobs),
        route!("/api/v1/jobs/{id}/requeue", POST, management::requeue),
        route!(console::CONSOLE_PATH, GET, console::inbox::page),
        route!(console::inbox::ROWS_PATH, GET, console::inbox::fragment),
        route!("/console/events", GET, console::events::stream),
        route!("/console/conversations/{id}", GET, console::conversation::page),
        route!("/console/conversations/{id}/live", GET, console::conversation::live),
        route!("/console/conversations/{id}/{action}", POST, console::conversation::act),
        route!(console::SIGN_IN_PATH, GET, console::auth::sign_in_page),
        route!(console::SIGN_IN_PATH, POST, console::auth::sign_in),
        route!("/console/sign-out", POST, console::auth::sign_out),
        route!("/console/admin", GET, console::admin::page),
        route!("/console/admin/jobs/{id}/requeue", POST, console::admin::requeue),
        route!("/console/admin/events/{id}/replay", POST, console::admin::replay),
        route!("/console/admin/email-priority", POST, console::admin::set_email_priority),
        route!("/console/assets/{name}", GET, console::assets::serve),
        route!("/api/openapi.json", GET, openapi::document),
        route!("/api/docs", GET, openapi::page),
        route!("/health/live", GET, health::live),
        route!("/health/ready", GET, health::ready),
        route!("/health/whatsapp", GET, health::whatsapp),
        route!("/metrics", GET, metrics::render),
        route!("/media/{key:.+}", GET, media::serve),
    ]);
    for asset in openapi::viewer::ASSETS {
        routes.push(route!(asset.path, GET, openapi::asset));
    }
    if sandbox {
        routes.push(route!("/sandbox/outbox", GET, sandbox::outbox));
        routes.push(route!(limits::SANDBOX_MEDIA_PATH, POST, media::sandbox_upload));
    }
    routes
}

/// Mounts [`routes`]: one resource per path, 405 for its other methods. The API-key
/// guard is not here but around the whole app ([`auth::require_api_key`]), so that it
/// runs before the body limits read anything.
pub fn configure(cfg: &mut web::ServiceConfig, sandbox: bool) {
    let routes = routes(sandbox);
    let mut paths: Vec<&'static str> = Vec::new();
    for spec in &routes {
        if !paths.contains(&spec.path) {
            paths.push(spec.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for spec in routes.iter().filter(|r| r.path == path) {
            resource = resource.route((spec.route)());
        }
        cfg.service(resource.default_service(web::to(errors::method_not_allowed)));
    }
}
