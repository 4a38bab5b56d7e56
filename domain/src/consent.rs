//! Consent: whether a contact takes business-initiated messages, and marketing ones.
//!
//! A user who writes STOP (or an equivalent) is **opted out** of business-initiated
//! messages: nothing proactive (the send API, the A2A `deliver` skill, a template) goes
//! to them, while replies inside a conversation they started (their 24-hour window is
//! open) still do. START resumes. Meta's error 131050 says the user stopped marketing
//! messages in WhatsApp itself: the contact is opted out of **marketing**, and no
//! template goes to them.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::handoff::words;

/// Who changed a contact's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The user wrote a stop or start word.
    UserKeyword,
    /// An operator, in the console or through the management API naming an operator.
    Operator,
    /// The management API without an operator.
    Api,
    /// Meta answered a send with error 131050 (the user stopped marketing messages).
    Meta131050,
}

impl ConsentSource {
    pub const ALL: [Self; 4] = [Self::UserKeyword, Self::Operator, Self::Api, Self::Meta131050];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserKeyword => "user_keyword",
            Self::Operator => "operator",
            Self::Api => "api",
            Self::Meta131050 => "meta_131050",
        }
    }

    /// Parses the stored name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for ConsentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a contact opted out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Every message the business starts (proactive sends and templates).
    BusinessInitiated,
    /// Marketing templates (Meta's 131050).
    Marketing,
}

impl ConsentScope {
    pub fn describe(self) -> &'static str {
        match self {
            Self::BusinessInitiated => "business-initiated messages",
            Self::Marketing => "marketing messages",
        }
    }
}

/// An opt-out: since when, and who said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptOut {
    pub at: OffsetDateTime,
    pub source: ConsentSource,
}

/// A contact's consent. The default: nothing opted out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Consent {
    pub business_initiated: Option<OptOut>,
    pub marketing: Option<OptOut>,
}

/// A send, as consent judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendKind {
    /// The business starts it (the send API, the A2A `deliver` skill): not an answer
    /// inside a conversation the user started.
    pub proactive: bool,
    /// A template (the only thing that goes outside the 24-hour window).
    pub template: bool,
}

/// Why consent refuses a send: what the contact opted out of, when and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ConsentRefusal {
    pub scope: ConsentScope,
    pub opt_out: OptOut,
}

impl ConsentRefusal {
    pub fn describe(&self) -> String {
        let at = self.opt_out.at.format(&Rfc3339).unwrap_or_default();
        format!(
            "the contact opted out of {} on {at} ({}); replies inside a conversation they started still go",
            self.scope.describe(),
            self.opt_out.source
        )
    }
}

impl Consent {
    pub fn opted_out(&self) -> bool {
        self.business_initiated.is_some()
    }

    /// Why this send may not go, or `None` when it may: a contact opted out of
    /// business-initiated messages gets no proactive send and no template; one opted
    /// out of marketing gets no template. A free-form reply always goes (the window
    /// rule, enforced elsewhere, keeps it inside a conversation the user started).
    pub fn refuses(&self, send: SendKind) -> Option<ConsentRefusal> {
        if (send.proactive || send.template)
            && let Some(opt_out) = self.business_initiated
        {
            return Some(ConsentRefusal { scope: ConsentScope::BusinessInitiated, opt_out });
        }
        if send.template
            && let Some(opt_out) = self.marketing
        {
            return Some(ConsentRefusal { scope: ConsentScope::Marketing, opt_out });
        }
        None
    }
}

/// A change of consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChange {
    /// Opted out of `scope` (kept as it was when already opted out of it).
    OptOut { scope: ConsentScope, source: ConsentSource, at: OffsetDateTime },
    /// Opted in again: both opt-outs cleared (a new 131050 marks marketing again).
    OptIn { source: ConsentSource, at: OffsetDateTime },
}

impl ConsentChange {
    /// The metric label: `opted_out`, `opted_out_marketing` or `opted_in`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::OptOut { scope: ConsentScope::BusinessInitiated, .. } => "opted_out",
            Self::OptOut { scope: ConsentScope::Marketing, .. } => "opted_out_marketing",
            Self::OptIn { .. } => "opted_in",
        }
    }

    pub fn source(&self) -> ConsentSource {
        match self {
            Self::OptOut { source, .. } | Self::OptIn { source, .. } => *source,
        }
    }
}

/// What a user's message says about consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentWord {
    Stop,
    Start,
}

/// The words with which a user stops and resumes business-initiated messages. A
/// message is one when it is exactly a stop or start word or phrase, once trimmed, with
/// case, accents and punctuation aside: "Stop!" stops, "please don't stop" does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentKeywords {
    stop: Vec<Vec<String>>,
    start: Vec<Vec<String>>,
}

impl ConsentKeywords {
    /// English, German, Spanish, French, Portuguese, Italian and Dutch.
    /// ("cancel" and "end" are left out on purpose: alone, they often mean an order.)
    pub const DEFAULT_STOP: &'static str = "stop, stop all, stopall, unsubscribe, quit, opt out, stopp, abmelden, \
        baja, darse de baja, arret, arrete, desabonner, desinscrire, parar, sair, cancelar inscricao, \
        annulla, disiscriviti, afmelden, uitschrijven";
    pub const DEFAULT_START: &'static str = "start, resume, subscribe, unstop, opt in, anmelden, alta, reanudar, reprendre, abonner, voltar, iniziare, \
        iscriviti, aanmelden";

    /// Parses two comma-separated lists; empty items are skipped.
    pub fn parse(stop: &str, start: &str) -> Self {
        let list = |l: &str| l.split(',').map(words).filter(|w| !w.is_empty()).collect();
        Self { stop: list(stop), start: list(start) }
    }

    /// What the user's text says about consent, if anything.
    pub fn classify(&self, text: &str) -> Option<ConsentWord> {
        let text = words(text);
        if text.is_empty() {
            return None;
        }
        if self.stop.contains(&text) {
            Some(ConsentWord::Stop)
        } else if self.start.contains(&text) {
            Some(ConsentWord::Start)
        } else {
            None
        }
    }
}

impl Default for ConsentKeywords {
    fn default() -> Self {
        Self::parse(Self::DEFAULT_STOP, Self::DEFAULT_START)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn opt_out() -> OptOut {
        OptOut { at: datetime!(2026-12-01 10:00 UTC), source: ConsentSource::UserKeyword }
    }

    #[test]
    fn stop_words_in_several_languages_stop() {
        let keywords = ConsentKeywords::default();
        for text in [
            "STOP",
            " stop ",
            "Stop!",
            "UNSUBSCRIBE",
            "Stopp",
            "BAJA",
            "ARRÊT",
            "arret",
            "Parar",
            "ANNULLA",
            "abmelden",
            "Opt out",
        ] {
            assert_eq!(keywords.classify(text), Some(ConsentWord::Stop), "{text}");
        }
    }

    #[test]
    fn start_words_resume() {
        let keywords = ConsentKeywords::default();
        for text in ["START", "resume", "Subscribe", "ALTA", "Reprendre"] {
            assert_eq!(keywords.classify(text), Some(ConsentWord::Start), "{text}");
        }
    }

    #[test]
    fn a_sentence_that_merely_contains_stop_is_not_a_stop() {
        let keywords = ConsentKeywords::default();
        assert_eq!(keywords.classify("please don't stop the delivery"), None);
        assert_eq!(keywords.classify("stop sending me the wrong size"), None);
        assert_eq!(keywords.classify("the bus stop"), None);
        assert_eq!(keywords.classify(""), None);
    }

    #[test]
    fn configured_words_replace_the_defaults() {
        let keywords = ConsentKeywords::parse("halt, no more", "go");
        assert_eq!(keywords.classify("No more!"), Some(ConsentWord::Stop));
        assert_eq!(keywords.classify("stop"), None);
        assert_eq!(keywords.classify("GO"), Some(ConsentWord::Start));
    }

    #[test]
    fn an_opted_out_contact_gets_no_proactive_send_and_no_template_but_replies_go() {
        let consent = Consent { business_initiated: Some(opt_out()), marketing: None };
        assert!(consent.refuses(SendKind { proactive: true, template: false }).is_some());
        assert!(consent.refuses(SendKind { proactive: false, template: true }).is_some());
        assert_eq!(consent.refuses(SendKind { proactive: false, template: false }), None);
    }

    #[test]
    fn a_contact_opted_out_of_marketing_gets_no_template_but_other_sends_go() {
        let consent = Consent {
            business_initiated: None,
            marketing: Some(OptOut { source: ConsentSource::Meta131050, ..opt_out() }),
        };
        let refusal = consent.refuses(SendKind { proactive: true, template: true });
        assert_eq!(refusal.map(|r| r.scope), Some(ConsentScope::Marketing));
        assert_eq!(consent.refuses(SendKind { proactive: true, template: false }), None);
    }

    #[test]
    fn a_refusal_names_the_scope_the_time_and_the_source() {
        let refusal = ConsentRefusal { scope: ConsentScope::BusinessInitiated, opt_out: opt_out() };
        assert_eq!(
            refusal.to_string(),
            "the contact opted out of business-initiated messages on 2026-12-01T10:00:00Z (user_keyword); \
             replies inside a conversation they started still go"
        );
    }

    #[test]
    fn sources_round_trip_through_their_names() {
        for source in ConsentSource::ALL {
            assert_eq!(ConsentSource::parse(source.as_str()), Some(source));
        }
        assert_eq!(ConsentSource::parse("sms"), None);
    }
}
