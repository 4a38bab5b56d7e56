//! The built-in classifier and agents: Switchboard answers with no agent configured.
//! A2A agents replace them by configuration; these stay as the default and fallback.

use async_trait::async_trait;
use switchboard_application::ports::{
    AgentError, AgentGateway, Classifier, ClassifierError, SKILLS_METADATA, SkillRoute,
};
use switchboard_domain::{
    AgentHandoff, AgentName, AgentReply, Attachment, Classification, InboundContent, Intent, RoutingPolicy,
    WorkflowRequest,
};
use switchboard_shared::TraceContext;

pub const GREETER: &str = "greeter";
pub const HELPDESK: &str = "helpdesk";
pub const FALLBACK: &str = "fallback";

/// The routing of the built-in agents.
pub fn builtin_policy() -> RoutingPolicy {
    RoutingPolicy::new(AgentName::new(FALLBACK), 0.5)
        .route(Intent::Greeting, AgentName::new(GREETER))
        .route(Intent::Help, AgentName::new(HELPDESK))
        .route(Intent::Acknowledgement, AgentName::new(FALLBACK))
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "howdy",
    "yo",
    "good morning",
    "good afternoon",
    "good evening",
    "hola",
    "buenos dias",
    "bom dia",
    "boa tarde",
    "boa noite",
    "ola",
    "olá",
    "oi",
    "bonjour",
    "salut",
    "hallo",
    "ciao",
    "namaste",
    "greetings",
];

const HELP_WORDS: &[&str] = &[
    "help",
    "faq",
    "support",
    "question",
    "hours",
    "open",
    "price",
    "cost",
    "available",
    "availability",
    "how do",
    "how can",
    "can i",
    "where",
    "when",
    "contact",
    "human",
    "agent",
    "menu",
    "options",
    "ajuda",
    "ayuda",
];

/// Words and phrases, lower case, with punctuation turned to spaces.
fn normalise(text: &str) -> String {
    let lowered: String =
        text.to_lowercase().chars().map(|c| if c.is_alphanumeric() || c.is_whitespace() { c } else { ' ' }).collect();
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    // Whole words only: "hi" must not match "this".
    let padded = format!(" {haystack} ");
    padded.contains(&format!(" {phrase} "))
}

/// Keyword classifier: greetings, help questions, non-text input to acknowledge.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeywordClassifier;

impl KeywordClassifier {
    pub fn classify_text(content: &InboundContent, text: &str) -> Classification {
        match content {
            InboundContent::Text { .. } | InboundContent::InteractiveReply { .. } => {}
            _ => return Classification::new(Intent::Acknowledgement, 0.9),
        }
        let norm = normalise(text);
        if norm.is_empty() {
            return Classification::new(Intent::Unknown, 0.0);
        }
        let words = norm.split(' ').count();
        if GREETINGS.iter().any(|g| contains_phrase(&norm, g)) && words <= 6 {
            return Classification::new(Intent::Greeting, 0.9);
        }
        if HELP_WORDS.iter().any(|h| contains_phrase(&norm, h)) || text.trim_end().ends_with('?') {
            return Classification::new(Intent::Help, 0.75);
        }
        if GREETINGS.iter().any(|g| contains_phrase(&norm, g)) {
            return Classification::new(Intent::Greeting, 0.6);
        }
        Classification::new(Intent::Unknown, 0.3)
    }
}

#[async_trait]
impl Classifier for KeywordClassifier {
    #[tracing::instrument(name = "builtin.classify", skip_all, fields(trace_id = %trace.trace_id))]
    async fn classify(
        &self,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<Classification, ClassifierError> {
        if let Some(by_skill) = Self::classify_by_skill(request) {
            return Ok(by_skill);
        }
        Ok(Self::classify_text(&request.content, &request.user_message))
    }
}

/// Words too common to say which skill a message wants.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "with", "what", "when", "where", "which", "this", "that", "have", "from",
    "about", "please", "would", "could", "will", "there", "their", "into", "some", "need", "want",
];

impl KeywordClassifier {
    /// The skill of a card-driven agent the text asks for, by its tags (two points each,
    /// matched as whole words or phrases) and the words of its examples (one point for
    /// each shared word of four letters or more, counted from two on). The best
    /// skill wins; none when nothing matches.
    pub fn classify_by_skill(request: &WorkflowRequest) -> Option<Classification> {
        if !matches!(request.content, InboundContent::Text { .. }) {
            return None;
        }
        let skills: Vec<SkillRoute> = serde_json::from_value(request.metadata.get(SKILLS_METADATA)?.clone()).ok()?;
        let text = normalise(&request.user_message);
        let words: std::collections::BTreeSet<&str> = text.split(' ').collect();
        let significant = |w: &&str| w.chars().count() >= 4 && !STOP_WORDS.contains(w);
        let score = |skill: &SkillRoute| {
            let tags =
                skill.tags.iter().map(|t| normalise(t)).filter(|t| !t.is_empty() && contains_phrase(&text, t)).count();
            let shared: std::collections::BTreeSet<String> = skill
                .examples
                .iter()
                .flat_map(|e| normalise(e).split(' ').map(str::to_owned).collect::<Vec<_>>())
                .filter(|w| significant(&w.as_str()) && words.contains(w.as_str()))
                .collect();
            let examples = if shared.len() >= 2 { shared.len() } else { 0 };
            tags * 2 + examples
        };
        let (best, points) = skills.iter().map(|s| (s, score(s))).max_by_key(|(_, points)| *points)?;
        (points > 0).then(|| {
            tracing::info!(skill = %best.id, agent = %best.agent, points, "classified by an agent's skill");
            Classification::new(Intent::from(best.id.clone()), 0.8)
        })
    }
}

const PASS_TO_A_PERSON: &str = "I'll pass this conversation to a person on our team";

/// The built-in agents: `greeter`, `helpdesk` and `fallback`.
#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltinAgents;

impl BuiltinAgents {
    fn greeter(request: &WorkflowRequest) -> String {
        let name = request.user_name.as_deref().map(|n| format!(" {}", first_name(n))).unwrap_or_default();
        format!(
            "Hello{name}! 👋 I'm the Switchboard assistant. Tell me what you need, or type *help* to see what I can do."
        )
    }

    fn helpdesk(request: &WorkflowRequest) -> String {
        let norm = normalise(&request.user_message);
        if ["human", "agent", "person"].iter().any(|w| contains_phrase(&norm, w)) {
            return format!("{PASS_TO_A_PERSON}; they usually answer within one working day.");
        }
        if ["hours", "open", "when"].iter().any(|w| contains_phrase(&norm, w)) {
            return String::from(
                "We answer messages around the clock; people on our team reply Monday to Friday, 9:00 to 18:00.",
            );
        }
        String::from(
            "Here is what I can help with:\n• questions about orders, products and availability\n• opening hours and contact details\n• talking to a person: just type *human*\nAsk away!",
        )
    }

    fn fallback(request: &WorkflowRequest) -> String {
        match &request.content {
            InboundContent::Media { media, voice, .. } => {
                let what = if *voice { "voice note" } else { media.as_str() };
                match request.attachments.first() {
                    Some(Attachment::Refused { reason, .. }) => format!(
                        "Sorry, I could not accept your {what}: {reason}. You can describe it in words, or type *human* to talk to a person."
                    ),
                    Some(Attachment::File { media: stored, .. }) => format!(
                        "Thanks, I received your {what} ({}). I keep it with this conversation, where a person on our team can see it; tell me in words what you need, or type *human* to talk to a person.",
                        size_in_words(stored.size)
                    ),
                    None => format!(
                        "Thanks, I received your {what}. I can only read text for now: tell me in words what you need, or type *human* to talk to a person."
                    ),
                }
            }
            InboundContent::Location { .. } => String::from("Thanks for sharing your location."),
            InboundContent::Contacts { .. } => String::from("Thanks, I received the contact card."),
            InboundContent::Reaction { emoji: Some(emoji), .. } => format!("Thanks for the {emoji}!"),
            InboundContent::Reaction { emoji: None, .. } => String::from("Noted."),
            InboundContent::Order { .. } => String::from("Thanks for your order! We'll confirm it shortly."),
            InboundContent::Unsupported { .. } | InboundContent::System { .. } => {
                String::from("Sorry, I can't read that kind of message yet. Could you send it as text?")
            }
            InboundContent::Text { .. } | InboundContent::InteractiveReply { .. } => String::from(
                "Sorry, I did not understand that. Could you say it another way? Type *help* to see what I can do.",
            ),
        }
    }
}

/// "240 KB", "3.1 MB", "12 bytes".
fn size_in_words(bytes: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a size in words needs one decimal")]
    let megabytes = bytes as f64 / (1024.0 * 1024.0);
    if bytes >= 1024 * 1024 {
        format!("{megabytes:.1} MB")
    } else if bytes >= 1024 {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

fn first_name(full: &str) -> &str {
    full.split_whitespace().next().unwrap_or(full)
}

#[async_trait]
impl AgentGateway for BuiltinAgents {
    #[tracing::instrument(name = "builtin.agent", skip_all, fields(trace_id = %trace.trace_id, agent = %agent))]
    async fn ask(
        &self,
        agent: &AgentName,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<AgentReply, AgentError> {
        let text = match agent.as_str() {
            GREETER => Self::greeter(request),
            HELPDESK => Self::helpdesk(request),
            FALLBACK => Self::fallback(request),
            _ => return Err(AgentError::UnknownAgent(agent.clone())),
        };
        // What promises a person asks for one (the handoff convention).
        let handoff = (agent.as_str() == HELPDESK && text.starts_with(PASS_TO_A_PERSON))
            .then(|| AgentHandoff { reason: Some(String::from("the user asked the helpdesk for a person")) });
        Ok(AgentReply { handoff, ..AgentReply::text(text) })
    }

    /// The built-in agents answer in one turn and leave no task open: nothing to cancel,
    /// except for an agent they do not know.
    async fn cancel(&self, agent: &AgentName, _task_id: &str, _trace: &TraceContext) -> Result<(), AgentError> {
        match agent.as_str() {
            GREETER | HELPDESK | FALLBACK => Ok(()),
            _ => Err(AgentError::UnknownAgent(agent.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Classification {
        KeywordClassifier::classify_text(&InboundContent::Text { body: t.into() }, t)
    }

    #[test]
    fn greetings_are_recognised_in_several_languages() {
        for t in ["hello", "Hi!", "Bom dia", "hey there", "good morning :)"] {
            assert_eq!(text(t).intent, Intent::Greeting, "{t}");
        }
    }

    fn with_skills(text: &str) -> WorkflowRequest {
        let skills = serde_json::json!([
            {"agent": "weather", "id": "forecast", "name": "Forecast", "tags": ["weather", "rain"],
             "examples": ["Will it rain in Lisbon tomorrow?"]},
            {"agent": "orders", "id": "order-status", "name": "Order status", "tags": ["parcel"], "examples": []}
        ]);
        WorkflowRequest {
            user_message: text.into(),
            content: InboundContent::Text { body: text.into() },
            user_id: "u".into(),
            session_id: "s".into(),
            channel: switchboard_domain::Channel::Whatsapp,
            user_name: None,
            metadata: [(String::from(SKILLS_METADATA), skills)].into_iter().collect(),
            trace_id: String::new(),
            task_id: None,
            attachments: Vec::new(),
            choice: None,
        }
    }

    #[test]
    fn a_skills_tags_and_examples_choose_its_intent_and_nothing_matching_chooses_none() {
        let by_tag = KeywordClassifier::classify_by_skill(&with_skills("is my PARCEL late?")).unwrap();
        let by_examples = KeywordClassifier::classify_by_skill(&with_skills("lisbon tomorrow, any showers?")).unwrap();
        let none = KeywordClassifier::classify_by_skill(&with_skills("hello there"));

        assert_eq!(by_tag.intent, Intent::from(String::from("order-status")));
        assert_eq!(by_examples.intent, Intent::from(String::from("forecast")));
        assert!(none.is_none());
    }

    #[test]
    fn questions_go_to_the_helpdesk() {
        for t in ["help", "Hi! Is the blue jacket still available in size M?", "what are your opening hours"] {
            assert_eq!(text(t).intent, Intent::Help, "{t}");
        }
    }

    #[test]
    fn a_word_inside_another_word_does_not_match() {
        assert_eq!(text("this thing").intent, Intent::Unknown);
    }

    #[test]
    fn non_text_input_is_acknowledged() {
        let c = InboundContent::Reaction { message_id: "w".into(), emoji: Some("👍".into()) };
        assert_eq!(KeywordClassifier::classify_text(&c, "[reaction 👍]").intent, Intent::Acknowledgement);
    }

    #[test]
    fn builtin_policy_routes_greetings_to_the_greeter() {
        let agent = builtin_policy().agent_for(&text("hello")).clone();
        assert_eq!(agent.as_str(), GREETER);
    }
}
