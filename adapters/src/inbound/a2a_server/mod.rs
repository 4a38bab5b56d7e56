//! Switchboard's own A2A server: the agent card at `/.well-known/agent-card.json`, and
//! both standard bindings over the same tasks: JSON-RPC at `/a2a` (v1.0 methods and their
//! v0.3 names) and HTTP+JSON under `/a2a/` (`message:send`, `tasks/{id}`, ...); SSE for
//! the streaming operations. API-key protected, as the card declares.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::json;
use switchboard_application::usecases::a2a_server::HandleA2a;

mod jsonrpc;
mod ops;
mod rest;
mod shapes;

pub use jsonrpc::*;
pub use rest::*;

pub struct A2aState {
    pub handler: Arc<HandleA2a>,
    /// Where clients reach this service (the card's interface URLs).
    pub public_url: String,
}

pub const RPC_PATH: &str = "/a2a";

use switchboard_domain::a2a::{HANDOFF_EXTENSION, TRANSFER_EXTENSION};
use switchboard_domain::choices::CHOICES_EXTENSION;
use switchboard_domain::media::FILES_EXTENSION;

/// `GET /.well-known/agent-card.json`: v1.0 fields, plus the v0.3 ones.
#[utoipa::path(get, path = "/.well-known/agent-card.json", tag = "A2A",
    summary = "Get Switchboard's A2A agent card",
    description = "How A2A clients reach Switchboard: the JSON-RPC interface (A2A 1.0 and 0.3) and the HTTP+JSON interface (1.0), both at `/a2a`, streaming, the skills `route` and `deliver`, and the API-key scheme. Public.",
    responses((status = 200, description = "the agent card", body = crate::inbound::openapi::schemas::AgentCard)))]
pub async fn agent_card(state: web::Data<A2aState>) -> HttpResponse {
    let url = format!("{}{RPC_PATH}", state.public_url);
    HttpResponse::Ok().json(json!({
        "name": "Switchboard",
        "description": "Routes a user's message to the right specialist agent, and delivers messages to WhatsApp users.",
        "version": env!("CARGO_PKG_VERSION"),
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}
        ],
        "capabilities": {"streaming": true, "pushNotifications": state.handler.pushes(), "extendedAgentCard": false,
            "extensions": [{"uri": HANDOFF_EXTENSION, "required": false,
                "description": "Agents Switchboard routes to may ask for a person: a data part {\"handoff\": {\"reason\": \"...\"}} beside their answer. The answer goes to the user, then people take the conversation over; no agent is asked again until an operator hands it back (with an optional note, passed as message metadata handback_note). See docs/a2a-conventions.md."},
                {"uri": FILES_EXTENSION, "required": false,
                "description": "Users' photos, voice notes, videos and documents reach agents as file parts (bytes inline when small, else a signed expiring link), with size and sha256 in the part's metadata; a file not kept comes as a data part {\"media_refused\": {kind, code, reason}}. Agents' file parts (bytes or URL) are checked against Meta's limits, uploaded and sent; by email they are attached. See docs/a2a-conventions.md."},
                {"uri": TRANSFER_EXTENSION, "required": false,
                "description": "Agents Switchboard routes to may hand the conversation to another agent: a data part {\"transfer\": {\"to\": \"<agent name or skill id>\", \"note\": \"...\"}} beside their answer. The user's message goes to that agent in the same conversation and trace, with metadata transferred_from and transfer_note; the user gets both answers. See docs/a2a-conventions.md."},
                {"uri": CHOICES_EXTENSION, "required": false,
                "description": "Agents offer choices with a data part {\"choices\": {\"options\": [{id, title, description?, section?}], style?}} (schema docs/schemas/choices.v1.json): shown as reply buttons, a list, or numbered text where WhatsApp's limits allow neither. The user's pick returns to the same task as a data part {\"choice\": {id, title}}."}]},
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": [
            {"id": "route", "name": "Route", "description": "Hand Switchboard a user message: it classifies it, routes it to the right agent and answers with that agent's reply (INPUT_REQUIRED when the agent asks something).",
             "tags": ["routing", "orchestration"], "examples": ["I want a refund for order 1042"]},
            {"id": "deliver", "name": "Deliver", "description": "Deliver a message to a WhatsApp user: a data part in the shape of POST /api/v1/messages ({to, text, channel?, email?, media?, buttons?, list?, header?, footer?, template?, reaction?}; channel: whatsapp, email or auto), plus an optional file part (bytes or an https URL) sent as the message's file, with the text as its caption or above buttons. WhatsApp's limits are checked first; a task REJECTED names the one broken.",
             "tags": ["whatsapp", "delivery"], "examples": ["{\"to\": \"+447700900123\", \"text\": \"Your order shipped\"}"]}
        ],
        "securitySchemes": {"apiKey": {"apiKeySecurityScheme": {"description": "Switchboard API key (X-API-Key, or Authorization: Bearer)", "location": "header", "name": "X-API-Key"}}},
        "securityRequirements": [{"schemes": {"apiKey": {"list": []}}}],
        "url": url,
        "protocolVersion": "0.3.0",
        "preferredTransport": "JSONRPC"
    }))
}
