//! One unit of work for the orchestrator, how it is classified, and who answers it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::a2a::TaskState;
use crate::message::InboundContent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Whatsapp,
    Rest,
    A2a,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Rest => "rest",
            Self::A2a => "a2a",
        }
    }
}

/// Whatever channel a message came from, this is what the orchestrator works on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRequest {
    /// The text an agent reads; for non-text input a plain description.
    pub user_message: String,
    /// The structured content the text was derived from.
    pub content: InboundContent,
    /// The storage key of the user (scoped id or E.164 phone).
    pub user_id: String,
    /// The conversation: stays the same across a user's messages.
    pub session_id: String,
    pub channel: Channel,
    /// The user's display name, when the channel gave one.
    pub user_name: Option<String>,
    pub metadata: BTreeMap<String, serde_json::Value>,
    pub trace_id: String,
    /// The agent's open task this message answers (it asked the user a question).
    #[serde(default)]
    pub task_id: Option<String>,
    /// The user's files: stored (with where the agent opens them) or refused (why).
    #[serde(default)]
    pub attachments: Vec<crate::media::Attachment>,
    /// The option of the agent's choices that the user tapped (a reply button or list row).
    #[serde(default)]
    pub choice: Option<crate::choices::ChoiceOption>,
}

/// What a message is about. Built-in intents have names; classifier agents may return
/// any other label, which is kept as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Intent {
    Greeting,
    Help,
    /// Non-text input that needs acknowledging (media, location, reaction, …).
    Acknowledgement,
    /// The user asks for a person: people take the conversation over.
    Handoff,
    Unknown,
    Other(String),
}

impl Intent {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Greeting => "greeting",
            Self::Help => "help",
            Self::Acknowledgement => "acknowledgement",
            Self::Handoff => "handoff",
            Self::Unknown => "unknown",
            Self::Other(s) => s,
        }
    }
}

impl From<String> for Intent {
    fn from(value: String) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "greeting" => Self::Greeting,
            "help" | "faq" => Self::Help,
            "acknowledgement" => Self::Acknowledgement,
            "handoff" | "human" => Self::Handoff,
            "unknown" | "" => Self::Unknown,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<Intent> for String {
    fn from(value: Intent) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub intent: Intent,
    /// 0.0 to 1.0; clamped on construction.
    pub confidence: f32,
}

impl Classification {
    pub fn new(intent: Intent, confidence: f32) -> Self {
        let confidence = if confidence.is_nan() { 0.0 } else { confidence.clamp(0.0, 1.0) };
        Self { intent, confidence }
    }
}

/// The name of an agent in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AgentName(String);

impl AgentName {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The agent's task behind a reply, when the agent answered with one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTask {
    pub id: String,
    pub state: TaskState,
}

/// An agent's answer to one workflow request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReply {
    pub text: String,
    /// `None` when the agent answered with a plain message.
    #[serde(default)]
    pub task: Option<AgentTask>,
    /// The agent asked for a person to take the conversation over (the handoff
    /// convention, docs/a2a-conventions.md), with its reason when it gave one.
    #[serde(default)]
    pub handoff: Option<AgentHandoff>,
    /// Files the agent sends (the file parts of its answer).
    #[serde(default)]
    pub files: Vec<crate::media::AgentFile>,
    /// Choices the agent offers (the choices convention).
    #[serde(default)]
    pub choices: Option<crate::choices::Choices>,
    /// The agent hands the conversation to another agent (the transfer convention).
    #[serde(default)]
    pub transfer: Option<AgentTransfer>,
}

/// An agent's request that another agent take the conversation over: `to` names an
/// agent or a skill (intent) Switchboard routes to; `note` says what is known so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTransfer {
    pub to: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// An agent's request that people take the conversation over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AgentHandoff {
    pub reason: Option<String>,
}

impl AgentReply {
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), task: None, handoff: None, files: Vec::new(), choices: None, transfer: None }
    }

    /// The agent asked the user something: the conversation's next message goes back
    /// to this task.
    pub fn open_task(&self) -> Option<&AgentTask> {
        self.task.as_ref().filter(|t| t.state == TaskState::InputRequired)
    }

    /// The agent's task ended without an answer for the user.
    pub fn is_failure(&self) -> bool {
        self.task.as_ref().is_some_and(|t| {
            matches!(t.state, TaskState::Failed | TaskState::Rejected | TaskState::AuthRequired | TaskState::Canceled)
        })
    }
}

/// Which agent handles which intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingPolicy {
    routes: BTreeMap<Intent, AgentName>,
    default_agent: AgentName,
    /// Below this confidence the default agent answers, whatever the intent.
    threshold: f32,
}

impl RoutingPolicy {
    pub fn new(default_agent: AgentName, threshold: f32) -> Self {
        Self { routes: BTreeMap::new(), default_agent, threshold: threshold.clamp(0.0, 1.0) }
    }

    pub fn route(mut self, intent: Intent, agent: AgentName) -> Self {
        self.routes.insert(intent, agent);
        self
    }

    pub fn agent_for(&self, classification: &Classification) -> &AgentName {
        if classification.confidence < self.threshold {
            return &self.default_agent;
        }
        self.routes.get(&classification.intent).unwrap_or(&self.default_agent)
    }

    /// No route took this classification (an intent nobody handles, or too little
    /// confidence): the default agent answers because nobody else could.
    pub fn falls_back(&self, classification: &Classification) -> bool {
        classification.confidence < self.threshold || !self.routes.contains_key(&classification.intent)
    }

    /// Whether some agent is configured for this intent.
    pub fn routes_intent(&self, intent: &Intent) -> bool {
        self.routes.contains_key(intent)
    }

    pub fn default_agent(&self) -> &AgentName {
        &self.default_agent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RoutingPolicy {
        RoutingPolicy::new(AgentName::new("fallback"), 0.5)
            .route(Intent::Greeting, AgentName::new("greeter"))
            .route(Intent::Help, AgentName::new("helpdesk"))
    }

    #[test]
    fn a_confident_intent_goes_to_its_agent() {
        let agent = policy().agent_for(&Classification::new(Intent::Greeting, 0.9)).clone();
        assert_eq!(agent.as_str(), "greeter");
    }

    #[test]
    fn low_confidence_goes_to_the_default_agent() {
        let agent = policy().agent_for(&Classification::new(Intent::Greeting, 0.2)).clone();
        assert_eq!(agent.as_str(), "fallback");
    }

    #[test]
    fn an_intent_without_a_route_goes_to_the_default_agent() {
        let agent = policy().agent_for(&Classification::new(Intent::Other("billing".into()), 1.0)).clone();
        assert_eq!(agent.as_str(), "fallback");
    }

    #[test]
    fn intents_parse_from_labels() {
        assert_eq!(Intent::from(String::from("FAQ")), Intent::Help);
        assert_eq!(Intent::from(String::from("weather")), Intent::Other("weather".into()));
    }

    #[test]
    fn an_intent_is_stored_as_its_label_and_read_back_as_the_same_intent() {
        for intent in
            [Intent::Greeting, Intent::Help, Intent::Acknowledgement, Intent::Unknown, Intent::Other("billing".into())]
        {
            let label = serde_json::to_value(&intent).unwrap();
            assert_eq!(label, serde_json::json!(intent.to_string()));
            assert_eq!(serde_json::from_value::<Intent>(label).unwrap(), intent);
        }
        assert_eq!(Intent::from(String::from("  ")), Intent::Unknown);
    }

    #[test]
    fn channels_are_named_as_stored() {
        for channel in [Channel::Whatsapp, Channel::Rest, Channel::A2a] {
            assert_eq!(serde_json::to_value(channel).unwrap(), serde_json::json!(channel.as_str()));
        }
    }

    #[test]
    fn routes_are_known_per_intent_and_the_threshold_is_clamped() {
        let policy =
            RoutingPolicy::new(AgentName::new("fallback"), 3.0).route(Intent::Help, AgentName::new("helpdesk"));

        assert!(policy.routes_intent(&Intent::Help));
        assert!(!policy.routes_intent(&Intent::Greeting));
        assert_eq!(policy.default_agent().to_string(), "fallback");
        assert_eq!(policy.agent_for(&Classification::new(Intent::Help, 1.0)).as_str(), "helpdesk");
    }

    fn reply(state: TaskState) -> AgentReply {
        AgentReply { task: Some(AgentTask { id: "t".into(), state }), ..AgentReply::text("…") }
    }

    #[test]
    fn a_reply_whose_task_asks_for_input_keeps_the_task_open() {
        assert_eq!(reply(TaskState::InputRequired).open_task().map(|t| t.id.as_str()), Some("t"));
        assert_eq!(reply(TaskState::Completed).open_task(), None);
        assert_eq!(AgentReply::text("hi").open_task(), None);
    }

    #[test]
    fn a_task_that_failed_was_rejected_canceled_or_needs_auth_is_a_failed_reply() {
        for state in [TaskState::Failed, TaskState::Rejected, TaskState::AuthRequired, TaskState::Canceled] {
            assert!(reply(state).is_failure(), "{state:?}");
        }
        assert!(!reply(TaskState::Completed).is_failure());
        assert!(!reply(TaskState::InputRequired).is_failure());
        assert!(!AgentReply::text("hi").is_failure());
    }

    #[test]
    fn confidence_is_clamped() {
        assert_eq!(Classification::new(Intent::Unknown, 7.0).confidence, 1.0);
        assert_eq!(Classification::new(Intent::Unknown, f32::NAN).confidence, 0.0);
    }
}
