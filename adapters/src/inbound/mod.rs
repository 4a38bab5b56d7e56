//! Inbound HTTP adapters (actix-web).
//!
//! [`configure`] mounts every route; [`trace::TraceMiddleware`] must wrap the whole app
//! so every response carries `X-Trace-Id` and every error body its `trace_id`.

pub mod a2a_server;
pub mod api;
pub mod auth;
pub mod errors;
pub mod health;
pub mod limits;
pub mod management;
pub mod metrics;
pub mod openapi;
pub mod sandbox;
pub mod trace;
pub mod whatsapp;

use actix_web::web;

pub use errors::ApiError;

/// Mounts the routes. `sandbox` adds the sandbox outbox (never mounted in live mode).
pub fn configure(cfg: &mut web::ServiceConfig, sandbox: bool) {
    for path in whatsapp::WEBHOOK_PATHS {
        cfg.service(
            web::resource(path)
                .route(web::get().to(whatsapp::verify))
                .route(web::post().to(whatsapp::receive))
                .default_service(web::to(errors::method_not_allowed)),
        );
    }
    cfg.service(
        web::resource("/api/v1/messages")
            .route(web::post().to(api::send_message))
            .default_service(web::to(errors::method_not_allowed)),
    );
    cfg.route("/api/v1/messages/{id}", web::get().to(api::get_message));
    cfg.service(
        web::resource("/api/v1/workflows")
            .route(web::post().to(api::run_workflow))
            .default_service(web::to(errors::method_not_allowed)),
    );
    cfg.service(
        web::resource("/api/v1/channels/email/priority")
            .route(web::get().to(api::get_email_priority))
            .route(web::put().to(api::set_email_priority))
            .default_service(web::to(errors::method_not_allowed)),
    );
    cfg.route("/.well-known/agent-card.json", web::get().to(a2a_server::agent_card));
    cfg.service(
        web::resource(a2a_server::RPC_PATH)
            .route(web::post().to(a2a_server::jsonrpc))
            .default_service(web::to(errors::method_not_allowed)),
    );
    cfg.route("/api/v1/contacts", web::get().to(management::list_contacts));
    cfg.route("/api/v1/contacts/{id}", web::get().to(management::get_contact));
    cfg.route("/api/v1/conversations", web::get().to(management::list_conversations));
    cfg.route("/api/v1/conversations/{id}", web::get().to(management::get_conversation));
    cfg.route("/api/v1/conversations/{id}/messages", web::get().to(management::conversation_messages));
    cfg.route("/api/v1/deliveries", web::get().to(management::list_deliveries));
    cfg.route("/api/v1/status", web::get().to(management::status));
    cfg.route("/api/v1/webhook-events", web::get().to(management::list_events));
    cfg.route("/api/v1/webhook-events/replay", web::post().to(management::replay_many));
    cfg.route("/api/v1/webhook-events/{id}/replay", web::post().to(management::replay_one));
    cfg.route("/api/v1/jobs/dead", web::get().to(management::dead_jobs));
    cfg.route("/api/v1/jobs/{id}/requeue", web::post().to(management::requeue));
    cfg.route("/api/openapi.json", web::get().to(openapi::document));
    cfg.route("/api/docs", web::get().to(openapi::page));
    cfg.route("/health/live", web::get().to(health::live));
    cfg.route("/health/ready", web::get().to(health::ready));
    cfg.route("/health/whatsapp", web::get().to(health::whatsapp));
    cfg.route("/metrics", web::get().to(metrics::render));
    if sandbox {
        cfg.route("/sandbox/outbox", web::get().to(sandbox::outbox));
    }
}
