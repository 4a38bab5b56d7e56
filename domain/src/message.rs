//! The channel-neutral inbound message.
//!
//! Every kind WhatsApp sends today has a variant; a kind Meta invents tomorrow lands in
//! [`InboundContent::Unsupported`] with its raw JSON, so nothing is ever dropped.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::identity::WhatsAppUser;

/// A WhatsApp message id (`wamid.…`). Messages are keyed on it, so a duplicate webhook
/// delivery is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Wamid(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WamidError {
    #[error("message id is empty")]
    Empty,
    #[error("message id is longer than 512 characters")]
    TooLong,
}

impl Wamid {
    pub fn parse(input: &str) -> Result<Self, WamidError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(WamidError::Empty);
        }
        if trimmed.len() > 512 {
            return Err(WamidError::TooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Wamid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Wamid {
    type Error = WamidError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Wamid> for String {
    fn from(value: Wamid) -> Self {
        value.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Document => "document",
            Self::Sticker => "sticker",
        }
    }
}

/// What the user sent, independent of the channel's wire format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundContent {
    Text {
        body: String,
    },
    Media {
        media: MediaKind,
        media_id: String,
        mime_type: Option<String>,
        sha256: Option<String>,
        caption: Option<String>,
        filename: Option<String>,
        /// A voice note (audio recorded in the app), as opposed to an audio file.
        voice: bool,
        animated: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
        url: Option<String>,
    },
    Contacts {
        raw: serde_json::Value,
    },
    /// A reply to an interactive message: a reply button, a list row, or a template's
    /// quick-reply button (`payload` as id).
    InteractiveReply {
        reply_kind: String,
        id: String,
        title: String,
        description: Option<String>,
    },
    Reaction {
        message_id: String,
        /// `None` when the user removed their reaction.
        emoji: Option<String>,
    },
    Order {
        catalog_id: Option<String>,
        text: Option<String>,
        raw: serde_json::Value,
    },
    System {
        body: Option<String>,
        raw: serde_json::Value,
    },
    /// A type Switchboard does not model (yet), or one Meta could not render. Kept raw.
    Unsupported {
        type_name: String,
        raw: serde_json::Value,
    },
}

impl InboundContent {
    /// A short stable name for the kind, for metrics labels and storage.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Media { media, .. } => media.as_str(),
            Self::Location { .. } => "location",
            Self::Contacts { .. } => "contacts",
            Self::InteractiveReply { .. } => "interactive_reply",
            Self::Reaction { .. } => "reaction",
            Self::Order { .. } => "order",
            Self::System { .. } => "system",
            Self::Unsupported { .. } => "unsupported",
        }
    }

    /// The text an agent reads: the body itself, or a plain description of a non-text
    /// input (the structured content travels beside it).
    pub fn as_agent_text(&self) -> String {
        match self {
            Self::Text { body } => body.clone(),
            Self::Media { media, caption, filename, voice, .. } => {
                let what = if *voice { "voice note" } else { media.as_str() };
                match (caption, filename) {
                    (Some(c), _) if !c.is_empty() => format!("[{what}] {c}"),
                    (_, Some(f)) if !f.is_empty() => format!("[{what}: {f}]"),
                    _ => format!("[{what}]"),
                }
            }
            Self::Location { name, address, latitude, longitude, .. } => {
                let place = [name.as_deref(), address.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ");
                if place.is_empty() {
                    format!("[location {latitude:.5},{longitude:.5}]")
                } else {
                    format!("[location] {place}")
                }
            }
            Self::Contacts { .. } => String::from("[contact card]"),
            Self::InteractiveReply { title, .. } => title.clone(),
            Self::Reaction { emoji: Some(e), .. } => format!("[reaction {e}]"),
            Self::Reaction { emoji: None, .. } => String::from("[reaction removed]"),
            Self::Order { text, .. } => text.clone().unwrap_or_else(|| String::from("[order]")),
            Self::System { body, .. } => body.clone().unwrap_or_else(|| String::from("[system notice]")),
            Self::Unsupported { type_name, .. } => format!("[unsupported message: {type_name}]"),
        }
    }
}

/// The message this one replies to or was forwarded from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReplyContext {
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub forwarded: bool,
    pub frequently_forwarded: bool,
}

/// An error Meta reports on an item (`errors[]` of a message, status or value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelError {
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    pub details: Option<String>,
}

/// One inbound message as Switchboard keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub wamid: Wamid,
    pub from: WhatsAppUser,
    /// The profile name from `contacts[]`, when Meta sent one.
    pub profile_name: Option<String>,
    /// The business number it was sent to (`metadata.phone_number_id`).
    pub business_number_id: String,
    /// Meta's timestamp: the order of a conversation, never arrival time.
    #[serde(with = "time::serde::timestamp")]
    pub sent_at: OffsetDateTime,
    pub content: InboundContent,
    pub context: Option<ReplyContext>,
    pub errors: Vec<ChannelError>,
}

impl InboundMessage {
    /// The key that orders a user's messages to one business number: messages sharing
    /// it are processed one at a time, in `sent_at` order.
    pub fn conversation_key(&self) -> String {
        format!("{}:{}", self.business_number_id, self.from.key().as_storage_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_wamid_is_rejected() {
        assert_eq!(Wamid::parse("  "), Err(WamidError::Empty));
        assert!(Wamid::parse("wamid.abc").is_ok());
    }

    #[test]
    fn voice_note_with_no_caption_reads_as_voice_note() {
        let content = InboundContent::Media {
            media: MediaKind::Audio,
            media_id: "1".into(),
            mime_type: None,
            sha256: None,
            caption: None,
            filename: None,
            voice: true,
            animated: false,
        };
        assert_eq!(content.as_agent_text(), "[voice note]");
        assert_eq!(content.kind_name(), "audio");
    }

    #[test]
    fn removed_reaction_reads_as_removed() {
        let content = InboundContent::Reaction { message_id: "w".into(), emoji: None };
        assert_eq!(content.as_agent_text(), "[reaction removed]");
    }

    #[test]
    fn content_round_trips_through_json() {
        let content = InboundContent::Location {
            latitude: 51.5,
            longitude: -0.12,
            name: Some("Big Ben".into()),
            address: None,
            url: None,
        };
        let json = serde_json::to_string(&content).unwrap();
        assert_eq!(serde_json::from_str::<InboundContent>(&json).unwrap(), content);
    }
}
