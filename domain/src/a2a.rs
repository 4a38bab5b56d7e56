//! The A2A protocol v1.0 wire model (JSON-RPC binding), camelCase as the specification
//! writes it. Serde only: unknown fields are ignored, so a peer a version ahead still
//! parses. v0.3 peers differ in shape (`kind` fields, lower-case states); the enums
//! accept their names too, and the client adapter converts the rest.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const PROTOCOL_VERSION: &str = "1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    #[serde(rename = "ROLE_USER", alias = "user")]
    User,
    #[serde(rename = "ROLE_AGENT", alias = "agent")]
    Agent,
    #[serde(rename = "ROLE_UNSPECIFIED", other)]
    Unspecified,
}

/// One piece of content: exactly one of `text`, `raw` (base64), `url`, `data`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

impl Part {
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: Some(text.into()), ..Self::default() }
    }

    pub fn data(data: Value) -> Self {
        Self { data: Some(data), media_type: Some(String::from("application/json")), ..Self::default() }
    }

    pub fn file_url(url: impl Into<String>, media_type: Option<String>, filename: Option<String>) -> Self {
        Self { url: Some(url.into()), media_type, filename, ..Self::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub parts: Vec<Part>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_task_ids: Vec<String>,
}

impl Message {
    /// The text parts, joined by newlines.
    pub fn text(&self) -> String {
        parts_text(&self.parts)
    }

    /// What the message says to a user, whatever its part kinds.
    pub fn reply_text(&self) -> String {
        parts_reply_text(&self.parts)
    }

    /// The agent asked for a person (the handoff convention): in any of its data parts.
    pub fn handoff(&self) -> Option<crate::workflow::AgentHandoff> {
        self.parts.iter().filter_map(|p| p.data.as_ref()).find_map(handoff_in)
    }

    /// The agent's request to hand the conversation to another agent, if it made one.
    pub fn transfer(&self) -> Option<crate::workflow::AgentTransfer> {
        self.parts.iter().filter_map(|p| p.data.as_ref()).find_map(transfer_in)
    }
}

/// The A2A extension by which an agent asks for a person: a data part whose object has a
/// `handoff` member, itself an object with an optional `reason` string, e.g.
/// `{"handoff": {"reason": "refund over the limit"}}`. Switchboard's agent card lists it.
pub const HANDOFF_EXTENSION: &str = "urn:switchboard:a2a:handoff:v1";

/// The handoff request in one data part, if it is one.
pub fn handoff_in(data: &Value) -> Option<crate::workflow::AgentHandoff> {
    let request = data.get("handoff")?.as_object()?;
    let reason = request.get("reason").and_then(Value::as_str).map(str::trim).filter(|r| !r.is_empty());
    Some(crate::workflow::AgentHandoff { reason: reason.map(|r| r.chars().take(200).collect()) })
}

/// The A2A extension by which an agent hands the conversation to another agent: a data
/// part `{"transfer": {"to": "billing", "note": "wants a refund for order 1042"}}`, `to`
/// an agent's name or a skill's id. Switchboard's agent card lists it.
pub const TRANSFER_EXTENSION: &str = "urn:switchboard:a2a:transfer:v1";

/// The transfer request in one data part, if it is one.
pub fn transfer_in(data: &Value) -> Option<crate::workflow::AgentTransfer> {
    let request = data.get("transfer")?.as_object()?;
    let to = request.get("to").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty())?;
    let note = request.get("note").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty());
    Some(crate::workflow::AgentTransfer {
        to: to.chars().take(100).collect(),
        note: note.map(|n| n.chars().take(1000).collect()),
    })
}

/// The text of some parts, joined by newlines.
pub fn parts_text(parts: &[Part]) -> String {
    parts.iter().filter_map(|p| p.text.as_deref()).filter(|t| !t.trim().is_empty()).collect::<Vec<_>>().join("\n")
}

impl Part {
    /// A plain-text rendering of a part of any kind, for a channel that only has text.
    pub fn describe(&self) -> Option<String> {
        if let Some(text) = self.text.as_deref().filter(|t| !t.trim().is_empty()) {
            return Some(text.to_owned());
        }
        let name = self.filename.as_deref().unwrap_or("file");
        if let Some(url) = &self.url {
            return Some(format!("{name}: {url}"));
        }
        if self.raw.is_some() {
            let kind = self.media_type.as_deref().unwrap_or("binary");
            return Some(format!("[{name} ({kind})]"));
        }
        self.data.as_ref().map(Value::to_string)
    }
}

/// What some parts say to a user: their text, or, when there is none, every other part
/// described (file links, data).
pub fn parts_reply_text(parts: &[Part]) -> String {
    let text = parts_text(parts);
    if !text.is_empty() {
        return text;
    }
    parts.iter().filter_map(Part::describe).collect::<Vec<_>>().join("\n")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskState {
    #[serde(rename = "TASK_STATE_SUBMITTED", alias = "submitted")]
    Submitted,
    #[serde(rename = "TASK_STATE_WORKING", alias = "working")]
    Working,
    #[serde(rename = "TASK_STATE_COMPLETED", alias = "completed")]
    Completed,
    #[serde(rename = "TASK_STATE_FAILED", alias = "failed")]
    Failed,
    #[serde(rename = "TASK_STATE_CANCELED", alias = "canceled")]
    Canceled,
    #[serde(rename = "TASK_STATE_INPUT_REQUIRED", alias = "input-required")]
    InputRequired,
    #[serde(rename = "TASK_STATE_REJECTED", alias = "rejected")]
    Rejected,
    #[serde(rename = "TASK_STATE_AUTH_REQUIRED", alias = "auth-required")]
    AuthRequired,
    #[serde(rename = "TASK_STATE_UNSPECIFIED", alias = "unknown", other)]
    Unspecified,
}

impl TaskState {
    /// Completed, failed, canceled or rejected: the task is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled | Self::Rejected)
    }

    /// Input or auth required: the task waits for the user.
    pub fn is_interrupted(self) -> bool {
        matches!(self, Self::InputRequired | Self::AuthRequired)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "TASK_STATE_SUBMITTED",
            Self::Working => "TASK_STATE_WORKING",
            Self::Completed => "TASK_STATE_COMPLETED",
            Self::Failed => "TASK_STATE_FAILED",
            Self::Canceled => "TASK_STATE_CANCELED",
            Self::InputRequired => "TASK_STATE_INPUT_REQUIRED",
            Self::Rejected => "TASK_STATE_REJECTED",
            Self::AuthRequired => "TASK_STATE_AUTH_REQUIRED",
            Self::Unspecified => "TASK_STATE_UNSPECIFIED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub artifact_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl Task {
    /// What the task says to the user: its artifacts' text, else its status message.
    pub fn reply_text(&self) -> String {
        let artifacts: Vec<String> =
            self.artifacts.iter().map(|a| parts_reply_text(&a.parts)).filter(|t| !t.is_empty()).collect();
        if !artifacts.is_empty() {
            return artifacts.join("\n");
        }
        self.status.message.as_ref().map(Message::reply_text).unwrap_or_default()
    }

    /// The agent asked for a person (the handoff convention): in any data part of its
    /// artifacts or status message.
    /// The agent's request to hand the conversation to another agent, if it made one.
    pub fn transfer(&self) -> Option<crate::workflow::AgentTransfer> {
        self.data_parts().find_map(transfer_in)
    }

    pub fn handoff(&self) -> Option<crate::workflow::AgentHandoff> {
        self.data_parts().find_map(handoff_in)
    }

    /// Every part, from artifacts first, then the status message.
    pub fn parts(&self) -> impl Iterator<Item = &Part> {
        self.artifacts
            .iter()
            .flat_map(|a| a.parts.iter())
            .chain(self.status.message.iter().flat_map(|m| m.parts.iter()))
    }

    /// Every data part, from artifacts first, then the status message.
    pub fn data_parts(&self) -> impl Iterator<Item = &Value> {
        self.artifacts
            .iter()
            .flat_map(|a| a.parts.iter())
            .chain(self.status.message.iter().flat_map(|m| m.parts.iter()))
            .filter_map(|p| p.data.as_ref())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentInterface {
    pub url: String,
    pub protocol_binding: String,
    pub protocol_version: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentCapabilities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_notifications: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_agent_card: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSkill {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentCard {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub supported_interfaces: Vec<AgentInterface>,
    #[serde(default)]
    pub capabilities: AgentCapabilities,
    #[serde(default)]
    pub default_input_modes: Vec<String>,
    #[serde(default)]
    pub default_output_modes: Vec<String>,
    #[serde(default)]
    pub skills: Vec<AgentSkill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_schemes: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_requirements: Option<Value>,
    /// v0.3: the JSON-RPC URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// v0.3: `0.3.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_transport: Option<String>,
}

/// Which protocol version to speak to a peer, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub v03: bool,
}

impl AgentCard {
    /// The JSON-RPC endpoint: a v1.x interface when the card offers one, else the v0.3
    /// `url`.
    pub fn jsonrpc_endpoint(&self) -> Option<Endpoint> {
        let jsonrpc = |i: &&AgentInterface| i.protocol_binding.eq_ignore_ascii_case("JSONRPC");
        if let Some(v1) =
            self.supported_interfaces.iter().filter(jsonrpc).find(|i| i.protocol_version.starts_with("1."))
        {
            return Some(Endpoint { url: v1.url.clone(), v03: false });
        }
        if let Some(old) =
            self.supported_interfaces.iter().filter(jsonrpc).find(|i| i.protocol_version.starts_with("0."))
        {
            return Some(Endpoint { url: old.url.clone(), v03: true });
        }
        self.url.clone().map(|url| Endpoint { url, v03: true })
    }

    /// The HTTP+JSON (REST) 1.x interface's URL when the card prefers it: the first of
    /// its interfaces this client speaks (JSON-RPC 1.x or 0.x, HTTP+JSON 1.x) is
    /// HTTP+JSON. The card lists its interfaces in the order it prefers them.
    pub fn preferred_rest(&self) -> Option<String> {
        let first = self.supported_interfaces.iter().find(|i| {
            let binding = i.protocol_binding.to_ascii_uppercase();
            (binding == "JSONRPC" && (i.protocol_version.starts_with("1.") || i.protocol_version.starts_with("0.")))
                || (binding == "HTTP+JSON" && i.protocol_version.starts_with("1."))
        })?;
        first.protocol_binding.eq_ignore_ascii_case("HTTP+JSON").then(|| first.url.clone())
    }
}

/// A JSON-RPC 2.0 error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonRpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A JSON-RPC 2.0 response: `result` or `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonRpcResponse {
    pub jsonrpc: String,
    #[serde(default)]
    pub id: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JsonRpcError>,
}

/// The result of `SendMessage`: `{"task": ...}` or `{"message": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SendMessageResult {
    Task(Task),
    Message(Message),
}

mod push;
pub use push::{PushAuthentication, PushConfig, is_internal};

#[cfg(test)]
mod tests;
