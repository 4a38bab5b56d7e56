//! People in the loop: who handles a conversation (the bot, or people), why people were
//! called, and the words with which a user asks for a person.
//!
//! A conversation is handled by the **bot** (classifier and agents answer), by
//! **people** (nobody but an operator answers; the user's messages are kept for them), or
//! is **closed** (the next message from the user opens it again, for the bot).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Who answers a conversation now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handler {
    #[default]
    Bot,
    People,
    Closed,
}

impl Handler {
    pub const ALL: [Self; 3] = [Self::Bot, Self::People, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::People => "people",
            Self::Closed => "closed",
        }
    }

    /// Parses the stored or requested name.
    ///
    /// Errors: the name when it is none of `bot`, `people`, `closed`.
    pub fn parse(name: &str) -> Result<Self, UnknownHandler> {
        Self::ALL.into_iter().find(|h| h.as_str() == name).ok_or_else(|| UnknownHandler(name.to_owned()))
    }

    /// The bot answers the next user message (a closed conversation opens again).
    pub fn bot_answers(self) -> bool {
        self != Self::People
    }
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown handler {0:?}: expected bot, people or closed")]
pub struct UnknownHandler(pub String);

/// Why a conversation went to people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HandoffReason {
    /// The user asked for a person (a keyword, or the classifier's `handoff` intent).
    UserAsked,
    /// The agent asked for a person (the handoff convention, docs/a2a-conventions.md).
    AgentAsked { agent: String, reason: Option<String> },
    /// The default agent answered this many times in a row.
    RepeatedFallback { count: u32 },
    /// An operator took the conversation over.
    Operator { name: String },
}

impl HandoffReason {
    /// A short label for metrics and lists.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UserAsked => "user_asked",
            Self::AgentAsked { .. } => "agent_asked",
            Self::RepeatedFallback { .. } => "repeated_fallback",
            Self::Operator { .. } => "operator",
        }
    }

    /// What an operator reads in the inbox.
    pub fn describe(&self) -> String {
        match self {
            Self::UserAsked => String::from("the user asked for a person"),
            Self::AgentAsked { agent, reason: Some(reason) } => format!("agent {agent} asked for a person: {reason}"),
            Self::AgentAsked { agent, reason: None } => format!("agent {agent} asked for a person"),
            Self::RepeatedFallback { count } => format!("the bot could not help {count} times in a row"),
            Self::Operator { name } => format!("{name} took the conversation over"),
        }
    }
}

/// A handoff to people: why, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub reason: HandoffReason,
    pub at: OffsetDateTime,
}

/// The words with which a user asks for a person, in several languages. A message asks
/// when one of the phrases appears in it as whole words (case and accents aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffKeywords {
    phrases: Vec<Vec<String>>,
}

impl HandoffKeywords {
    /// The default phrases: English, German, Spanish, French, Portuguese, Italian and Dutch.
    pub const DEFAULT: &'static str = "human, a person, real person, talk to someone, speak to someone, operator, \
        representative, customer service, mensch, mitarbeiter, persona, humano, agente, humain, une personne, \
        conseiller, pessoa, atendente, operatore, medewerker";

    /// Parses a comma-separated list; empty items are skipped.
    pub fn parse(list: &str) -> Self {
        let phrases = list.split(',').map(words).filter(|w| !w.is_empty()).collect();
        Self { phrases }
    }

    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// The user's text asks for a person.
    pub fn asks_for_a_person(&self, text: &str) -> bool {
        let text = words(text);
        self.phrases.iter().any(|phrase| text.windows(phrase.len()).any(|w| w == phrase.as_slice()))
    }
}

impl Default for HandoffKeywords {
    fn default() -> Self {
        Self::parse(Self::DEFAULT)
    }
}

/// The text as lower-case words without accents.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().flat_map(char::to_lowercase).map(fold_accent).collect())
        .collect()
}

fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        other => other,
    }
}

/// After how many answers in a row by the default agent people are called (0: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackPolicy {
    pub after: u32,
}

impl FallbackPolicy {
    /// The streak after one more answer, and whether it calls people (which starts the
    /// streak again).
    pub fn next(self, streak: u32, by_default_agent: bool) -> (u32, bool) {
        if !by_default_agent {
            return (0, false);
        }
        let streak = streak.saturating_add(1);
        if self.after > 0 && streak >= self.after { (0, true) } else { (streak, false) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_who_asks_to_talk_to_a_person_asks_for_a_person() {
        let keywords = HandoffKeywords::default();
        assert!(keywords.asks_for_a_person("can I talk to a person?"));
        assert!(keywords.asks_for_a_person("HUMAN please"));
        assert!(keywords.asks_for_a_person("Quiero hablar con una persona"));
        assert!(keywords.asks_for_a_person("Je veux parler à un conseiller"));
        assert!(keywords.asks_for_a_person("Ich möchte mit einem Mitarbeiter sprechen"));
    }

    #[test]
    fn a_keyword_inside_another_word_does_not_count() {
        let keywords = HandoffKeywords::default();
        assert!(!keywords.asks_for_a_person("humanity is great"));
        assert!(!keywords.asks_for_a_person("where is my parcel"));
        assert!(!keywords.asks_for_a_person("personal details"));
    }

    #[test]
    fn accents_and_case_are_ignored_on_both_sides() {
        let keywords = HandoffKeywords::parse("Atención al cliente");
        assert!(keywords.asks_for_a_person("necesito ATENCION al cliente ya"));
    }

    #[test]
    fn an_empty_list_never_matches() {
        let keywords = HandoffKeywords::parse(" , ,");
        assert!(keywords.is_empty());
        assert!(!keywords.asks_for_a_person("human"));
    }

    #[test]
    fn handlers_round_trip_through_their_names_and_unknown_names_are_refused() {
        for handler in Handler::ALL {
            assert_eq!(Handler::parse(handler.as_str()), Ok(handler));
        }
        assert_eq!(Handler::parse("robot"), Err(UnknownHandler("robot".into())));
        assert!(Handler::Closed.bot_answers());
        assert!(!Handler::People.bot_answers());
    }

    #[test]
    fn the_third_fallback_in_a_row_calls_people_and_starts_the_streak_again() {
        let policy = FallbackPolicy { after: 3 };
        assert_eq!(policy.next(0, true), (1, false));
        assert_eq!(policy.next(1, true), (2, false));
        assert_eq!(policy.next(2, true), (0, true));
        assert_eq!(policy.next(2, false), (0, false));
    }

    #[test]
    fn a_fallback_policy_of_zero_never_calls_people() {
        assert_eq!(FallbackPolicy { after: 0 }.next(99, true), (100, false));
    }

    #[test]
    fn each_reason_reads_as_a_sentence_for_operators() {
        let agent = HandoffReason::AgentAsked { agent: "billing".into(), reason: Some("refund over limit".into()) };
        assert_eq!(agent.describe(), "agent billing asked for a person: refund over limit");
        assert_eq!(HandoffReason::RepeatedFallback { count: 3 }.kind(), "repeated_fallback");
        let json = serde_json::to_value(&agent).unwrap();
        assert_eq!(json["kind"], "agent_asked");
        assert_eq!(serde_json::from_value::<HandoffReason>(json).unwrap(), agent);
    }
}
