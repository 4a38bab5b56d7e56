//! The WhatsApp account's approved message templates: what an operator may send when a
//! conversation's 24-hour window has closed.

use super::*;

/// Where an offered template comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSource {
    /// The account's list on WhatsApp (Graph `message_templates`).
    Whatsapp,
    /// The re-engagement template of the configuration.
    Configured,
    /// Sandbox mode's own short list.
    Sandbox,
}

impl TemplateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Configured => "configured",
            Self::Sandbox => "sandbox",
        }
    }
}

/// One approved template, as far as an operator needs it to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovedTemplate {
    pub name: String,
    /// Its language code (`en_US`): a template is approved per language.
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`; empty when unknown.
    pub category: String,
    /// The body text with its placeholders (`Hi {{1}}`), when known.
    pub body: Option<String>,
    /// The body's placeholders in order, without braces: `1`, `2`... for a positional
    /// template, names (`first_name`) for one with named parameters. One value each must
    /// be sent.
    pub parameters: Vec<String>,
    pub source: TemplateSource,
}

impl ApprovedTemplate {
    /// Whether its parameters are named (`{{first_name}}`) rather than numbered.
    pub fn named_parameters(&self) -> bool {
        self.parameters.iter().any(|p| !p.chars().all(|c| c.is_ascii_digit()))
    }

    /// `order_update (en_US)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.language)
    }
}

/// The placeholders of a template's text (`{{1}}`, `{{first_name}}`), each once, in
/// order: numbered ones by number, named ones as they first appear.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let inner = after[..end].trim();
        if !inner.is_empty()
            && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !found.iter().any(|f| f == inner)
        {
            found.push(inner.to_owned());
        }
        rest = &after[end + 2..];
    }
    if found.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())) {
        found.sort_by_key(|p| p.parse::<u32>().unwrap_or(u32::MAX));
    }
    found
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplatesError {
    /// WhatsApp answered with an error: `code` is Meta's (190: the token expired or is
    /// invalid), `message` scrubbed of secrets.
    #[error("WhatsApp refused the template list (error {code}): {message}")]
    Refused { code: i64, message: String },
    /// No answer from WhatsApp (refused connection, timeout, not JSON).
    #[error("WhatsApp could not be reached for the template list: {0}")]
    Unreachable(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Templates: Send + Sync {
    /// The account's approved templates, from a cache when fresh (a few minutes).
    ///
    /// Errors: [`TemplatesError::Refused`] when WhatsApp answers with an error (an
    /// expired token is 190); [`TemplatesError::Unreachable`] when it does not answer.
    /// Nothing is cached on failure but the failure itself, briefly.
    async fn approved(&self) -> Result<Vec<ApprovedTemplate>, TemplatesError>;
}
