//! What Switchboard sends back, and the Cloud API's limits on it, checked before sending
//! so that a message Meta would refuse never leaves with an error named after a number.

use serde::{Deserialize, Serialize};

use crate::identity::WhatsAppUser;
use crate::media::MediaKey;
use crate::message::{MediaKind, Wamid};

/// Limits of the Cloud API (checked in [`OutboundContent::validate`]).
pub mod limits {
    pub const TEXT_BODY: usize = 4096;
    pub const CAPTION: usize = 1024;
    pub const INTERACTIVE_BODY: usize = 1024;
    pub const HEADER_FOOTER: usize = 60;
    pub const REPLY_BUTTONS: usize = 3;
    pub const BUTTON_TITLE: usize = 20;
    pub const BUTTON_ID: usize = 256;
    pub const LIST_ROWS: usize = 10;
    pub const LIST_SECTIONS: usize = 10;
    pub const ROW_TITLE: usize = 24;
    pub const ROW_DESCRIPTION: usize = 72;
    pub const LIST_BUTTON_LABEL: usize = 20;
    pub const SECTION_TITLE: usize = 24;
    pub const TEMPLATE_NAME: usize = 512;
}

/// A limit an outbound message breaks. The message names the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} has {actual} characters; the limit is {limit}")]
    TooLong { what: &'static str, actual: usize, limit: usize },
    #[error("{what}: {actual} given; the limit is {limit}")]
    TooMany { what: &'static str, actual: usize, limit: usize },
    #[error("{what}: {actual} given; at least {min} needed")]
    TooFew { what: &'static str, actual: usize, min: usize },
    #[error("button or row id {0:?} is used twice")]
    DuplicateId(String),
    #[error("media link must be an https URL")]
    InsecureLink,
    #[error("a reply-button header may be an image, a video or a document, not {0}")]
    HeaderKind(&'static str),
}

fn source_ok(source: &MediaSource) -> Result<(), ContentError> {
    match source {
        MediaSource::Id(id) => non_empty("media id", id),
        MediaSource::Link(link) if !link.starts_with("https://") => Err(ContentError::InsecureLink),
        MediaSource::Link(_) | MediaSource::Stored { .. } => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButton {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum MediaSource {
    /// A media id from an upload.
    Id(String),
    /// A public https URL Meta fetches.
    Link(String),
    /// A file in Switchboard's media store, uploaded to Meta when the message is sent.
    Stored { key: MediaKey, mime_type: String },
}

/// A file shown at the top of a reply-button message (an image, a video or a document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaHeader {
    pub media: MediaKind,
    pub source: MediaSource,
    pub filename: Option<String>,
}

/// One template parameter. Text is the common case; other kinds pass through as Meta
/// writes them (`{"type": "currency", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TemplateParameter {
    Text {
        text: String,
        /// For a template with named parameters (`{{first_name}}`): the name this value
        /// fills. Positional templates (`{{1}}`) leave it out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Other(serde_json::Value),
}

impl TemplateParameter {
    /// A positional text parameter.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into(), parameter_name: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateComponent {
    /// `header`, `body` or `button`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For buttons: `quick_reply` or `url`.
    pub sub_type: Option<String>,
    /// For buttons: their position.
    pub index: Option<u32>,
    pub parameters: Vec<TemplateParameter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundContent {
    Text {
        body: String,
        preview_url: bool,
    },
    Template {
        name: String,
        language: String,
        components: Vec<TemplateComponent>,
    },
    Buttons {
        header: Option<String>,
        body: String,
        footer: Option<String>,
        buttons: Vec<ReplyButton>,
        /// A file instead of a text header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_header: Option<MediaHeader>,
    },
    List {
        header: Option<String>,
        body: String,
        footer: Option<String>,
        button_label: String,
        sections: Vec<ListSection>,
    },
    Media {
        media: MediaKind,
        source: MediaSource,
        caption: Option<String>,
        filename: Option<String>,
    },
    Reaction {
        message_id: String,
        /// Empty removes the reaction.
        emoji: String,
    },
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn non_empty(what: &'static str, s: &str) -> Result<(), ContentError> {
    if s.trim().is_empty() { Err(ContentError::Empty { what }) } else { Ok(()) }
}

fn at_most(what: &'static str, s: &str, limit: usize) -> Result<(), ContentError> {
    let actual = chars(s);
    if actual > limit { Err(ContentError::TooLong { what, actual, limit }) } else { Ok(()) }
}

fn optional(what: &'static str, s: &Option<String>, limit: usize) -> Result<(), ContentError> {
    s.as_deref().map_or(Ok(()), |s| at_most(what, s, limit))
}

fn count(what: &'static str, actual: usize, min: usize, limit: usize) -> Result<(), ContentError> {
    if actual < min {
        return Err(ContentError::TooFew { what, actual, min });
    }
    if actual > limit {
        return Err(ContentError::TooMany { what, actual, limit });
    }
    Ok(())
}

fn unique<'a>(ids: impl Iterator<Item = &'a str>) -> Result<(), ContentError> {
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(ContentError::DuplicateId(id.to_owned()));
        }
    }
    Ok(())
}

impl OutboundContent {
    pub fn text(body: impl Into<String>) -> Self {
        Self::Text { body: body.into(), preview_url: false }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Template { .. } => "template",
            Self::Buttons { .. } => "buttons",
            Self::List { .. } => "list",
            Self::Media { .. } => "media",
            Self::Reaction { .. } => "reaction",
        }
    }

    /// A template may be sent outside the 24-hour window; nothing else may.
    pub fn is_template(&self) -> bool {
        matches!(self, Self::Template { .. })
    }

    /// Checks every Cloud API limit; the error names the one broken.
    pub fn validate(&self) -> Result<(), ContentError> {
        use limits::*;
        match self {
            Self::Text { body, .. } => {
                non_empty("text body", body)?;
                at_most("text body", body, TEXT_BODY)
            }
            Self::Template { name, language, .. } => {
                non_empty("template name", name)?;
                at_most("template name", name, TEMPLATE_NAME)?;
                non_empty("template language", language)
            }
            Self::Buttons { header, body, footer, buttons, media_header } => {
                non_empty("interactive body", body)?;
                if let Some(media) = media_header {
                    if header.is_some() {
                        return Err(ContentError::TooMany { what: "headers (text and file)", actual: 2, limit: 1 });
                    }
                    if !matches!(media.media, MediaKind::Image | MediaKind::Video | MediaKind::Document) {
                        return Err(ContentError::HeaderKind(media.media.as_str()));
                    }
                    source_ok(&media.source)?;
                }
                at_most("interactive body", body, INTERACTIVE_BODY)?;
                optional("header", header, HEADER_FOOTER)?;
                optional("footer", footer, HEADER_FOOTER)?;
                count("reply buttons", buttons.len(), 1, REPLY_BUTTONS)?;
                for b in buttons {
                    non_empty("button title", &b.title)?;
                    at_most("button title", &b.title, BUTTON_TITLE)?;
                    non_empty("button id", &b.id)?;
                    at_most("button id", &b.id, BUTTON_ID)?;
                }
                unique(buttons.iter().map(|b| b.id.as_str()))
            }
            Self::List { header, body, footer, button_label, sections } => {
                non_empty("interactive body", body)?;
                at_most("interactive body", body, INTERACTIVE_BODY)?;
                optional("header", header, HEADER_FOOTER)?;
                optional("footer", footer, HEADER_FOOTER)?;
                non_empty("list button label", button_label)?;
                at_most("list button label", button_label, LIST_BUTTON_LABEL)?;
                count("list sections", sections.len(), 1, LIST_SECTIONS)?;
                let rows: usize = sections.iter().map(|s| s.rows.len()).sum();
                count("list rows", rows, 1, LIST_ROWS)?;
                for section in sections {
                    optional("section title", &section.title, SECTION_TITLE)?;
                    for row in &section.rows {
                        non_empty("row title", &row.title)?;
                        at_most("row title", &row.title, ROW_TITLE)?;
                        optional("row description", &row.description, ROW_DESCRIPTION)?;
                        non_empty("row id", &row.id)?;
                    }
                }
                unique(sections.iter().flat_map(|s| s.rows.iter().map(|r| r.id.as_str())))
            }
            Self::Media { media, source, caption, .. } => {
                source_ok(source)?;
                if matches!(media, MediaKind::Audio | MediaKind::Sticker) && caption.is_some() {
                    return Err(ContentError::TooMany { what: "captions on audio or sticker", actual: 1, limit: 0 });
                }
                optional("caption", caption, CAPTION)
            }
            Self::Reaction { message_id, .. } => non_empty("reaction message id", message_id),
        }
    }

    /// The message as plain text, for another channel (email) that must say what the
    /// WhatsApp message said.
    pub fn as_plain_text(&self) -> String {
        match self {
            Self::Text { body, .. } => body.clone(),
            Self::Template { name, components, .. } => {
                let params: Vec<String> = components
                    .iter()
                    .flat_map(|c| c.parameters.iter())
                    .filter_map(|p| match p {
                        TemplateParameter::Text { text, .. } => Some(text.clone()),
                        TemplateParameter::Other(_) => None,
                    })
                    .collect();
                if params.is_empty() {
                    format!("[template {name}]")
                } else {
                    format!("[template {name}] {}", params.join(" · "))
                }
            }
            Self::Buttons { header, body, footer, buttons, media_header } => {
                let mut out = vec![];
                out.extend(header.clone());
                out.extend(media_header.as_ref().map(|m| {
                    format!("[{}] {}", m.media.as_str(), m.filename.as_deref().unwrap_or_default())
                        .trim_end()
                        .to_owned()
                }));
                out.push(body.clone());
                out.extend(buttons.iter().map(|b| format!("• {}", b.title)));
                out.extend(footer.clone());
                out.join("\n")
            }
            Self::List { header, body, footer, sections, .. } => {
                let mut out = vec![];
                out.extend(header.clone());
                out.push(body.clone());
                for section in sections {
                    out.extend(section.title.clone());
                    for row in &section.rows {
                        match &row.description {
                            Some(d) => out.push(format!("• {}: {d}", row.title)),
                            None => out.push(format!("• {}", row.title)),
                        }
                    }
                }
                out.extend(footer.clone());
                out.join("\n")
            }
            Self::Media { media, source, caption, filename } => {
                let link = match source {
                    MediaSource::Link(link) => format!(" {link}"),
                    MediaSource::Id(_) | MediaSource::Stored { .. } => String::new(),
                };
                let label = caption.clone().or_else(|| filename.clone()).unwrap_or_default();
                format!("[{}]{link} {label}", media.as_str()).trim_end().to_owned()
            }
            Self::Reaction { emoji, .. } => emoji.clone(),
        }
    }

    /// Size in characters, for logs that must not show the body.
    pub fn char_len(&self) -> usize {
        chars(&self.as_plain_text())
    }
}

/// One message to one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub to: WhatsAppUser,
    /// The business number to send from (`phone_number_id`).
    pub from_number_id: String,
    pub content: OutboundContent,
    /// Quote this inbound message (`context.message_id`).
    pub reply_to: Option<Wamid>,
}

#[cfg(test)]
mod tests;
