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
    fn a_wamid_is_trimmed_and_may_not_exceed_512_characters() {
        assert_eq!(Wamid::parse("  wamid.abc \n").unwrap().as_str(), "wamid.abc");
        assert!(Wamid::parse(&"w".repeat(512)).is_ok());
        assert_eq!(Wamid::parse(&"w".repeat(513)), Err(WamidError::TooLong));
    }

    #[test]
    fn a_wamid_is_stored_as_a_plain_string_and_read_back_through_its_rules() {
        let wamid = Wamid::parse("wamid.abc").unwrap();

        let json = serde_json::to_string(&wamid).unwrap();

        assert_eq!(json, "\"wamid.abc\"");
        assert_eq!(serde_json::from_str::<Wamid>(&json).unwrap(), wamid);
        assert_eq!(wamid.to_string(), "wamid.abc");
        assert!(serde_json::from_str::<Wamid>("\" \"").is_err());
    }

    fn media(media: MediaKind, caption: Option<&str>, filename: Option<&str>) -> InboundContent {
        InboundContent::Media {
            media,
            media_id: "1".into(),
            mime_type: None,
            sha256: None,
            caption: caption.map(str::to_owned),
            filename: filename.map(str::to_owned),
            voice: false,
            animated: false,
        }
    }

    #[test]
    fn media_reads_as_its_caption_else_its_file_name_else_its_kind() {
        assert_eq!(media(MediaKind::Image, Some("my cat"), Some("cat.jpg")).as_agent_text(), "[image] my cat");
        assert_eq!(
            media(MediaKind::Document, Some(""), Some("invoice.pdf")).as_agent_text(),
            "[document: invoice.pdf]"
        );
        assert_eq!(media(MediaKind::Video, None, Some("")).as_agent_text(), "[video]");
        assert_eq!(media(MediaKind::Sticker, None, None).as_agent_text(), "[sticker]");
    }

    #[test]
    fn each_media_kind_has_its_own_name() {
        let kinds = [MediaKind::Image, MediaKind::Audio, MediaKind::Video, MediaKind::Document, MediaKind::Sticker];

        let names: Vec<&str> = kinds.iter().map(|kind| media(*kind, None, None).kind_name()).collect();

        assert_eq!(names, ["image", "audio", "video", "document", "sticker"]);
    }

    #[test]
    fn a_location_reads_as_its_name_and_address_else_its_coordinates() {
        let location = |name: Option<&str>, address: Option<&str>| InboundContent::Location {
            latitude: 51.5,
            longitude: -0.12,
            name: name.map(str::to_owned),
            address: address.map(str::to_owned),
            url: None,
        };

        assert_eq!(
            location(Some("Big Ben"), Some("London SW1A 0AA")).as_agent_text(),
            "[location] Big Ben, London SW1A 0AA"
        );
        assert_eq!(location(None, Some("London")).as_agent_text(), "[location] London");
        assert_eq!(location(None, None).as_agent_text(), "[location 51.50000,-0.12000]");
        assert_eq!(location(None, None).kind_name(), "location");
    }

    #[test]
    fn every_other_kind_reads_as_a_plain_description_under_its_own_name() {
        let raw = serde_json::json!({"x": 1});
        let cases = [
            (InboundContent::Text { body: "hello".into() }, "text", "hello"),
            (InboundContent::Contacts { raw: raw.clone() }, "contacts", "[contact card]"),
            (
                InboundContent::InteractiveReply {
                    reply_kind: "button_reply".into(),
                    id: "yes".into(),
                    title: "Yes please".into(),
                    description: None,
                },
                "interactive_reply",
                "Yes please",
            ),
            (
                InboundContent::Reaction { message_id: "w".into(), emoji: Some("👍".into()) },
                "reaction",
                "[reaction 👍]",
            ),
            (
                InboundContent::Order { catalog_id: None, text: Some("Two please".into()), raw: raw.clone() },
                "order",
                "Two please",
            ),
            (InboundContent::Order { catalog_id: None, text: None, raw: raw.clone() }, "order", "[order]"),
            (
                InboundContent::System { body: Some("User changed number".into()), raw: raw.clone() },
                "system",
                "User changed number",
            ),
            (InboundContent::System { body: None, raw: raw.clone() }, "system", "[system notice]"),
            (
                InboundContent::Unsupported { type_name: "poll".into(), raw },
                "unsupported",
                "[unsupported message: poll]",
            ),
        ];

        for (content, kind, text) in cases {
            assert_eq!(content.kind_name(), kind, "{content:?}");
            assert_eq!(content.as_agent_text(), text, "{content:?}");
        }
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
