//! What a caller asks to send, in the one shape the send API (`POST /api/v1/messages`)
//! and the A2A `deliver` skill both take, so both check it alike and answer the same
//! errors: who (`to` or `to_user_id`), how (`channel`, `email`), and what — a text, a
//! template, a file (`media`), reply buttons or a list (`buttons`, `list`, with `text`
//! as the body and an optional file as the buttons' header) or a reaction.

use serde::{Deserialize, Serialize};
use switchboard_domain::media::{self, MediaKey};
use switchboard_domain::{
    EmailAddress, ListSection, MediaHeader, MediaKind, MediaSource, OutboundContent, PhoneNumber, ReplyButton,
    ScopedUserId, TemplateComponent, WhatsAppUser,
};

use super::RequestedChannel;

/// `POST /api/v1/messages`, and the `deliver` skill's data part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendOrder {
    /// The user's phone number (any common format).
    pub to: Option<String>,
    /// Or their business-scoped user id.
    pub to_user_id: Option<String>,
    /// `whatsapp`, `email` or `auto` (the default: WhatsApp, then email).
    pub channel: Option<RequestedChannel>,
    /// Where an email goes; stored on the contact for later fallbacks.
    pub email: Option<String>,
    pub from_number_id: Option<String>,
    /// A text message; or the body of buttons or a list; or a file's caption.
    pub text: Option<String>,
    /// Let WhatsApp preview the first link of a text message.
    #[serde(default)]
    pub preview_url: bool,
    pub template: Option<TemplateOrder>,
    pub media: Option<MediaOrder>,
    /// Up to 3 reply buttons, `text` their body.
    pub buttons: Option<Vec<ReplyButton>>,
    /// A list of up to 10 rows in sections, `text` its body.
    pub list: Option<ListOrder>,
    /// A text header above buttons or a list.
    pub header: Option<String>,
    /// A footer below buttons or a list.
    pub footer: Option<String>,
    pub reaction: Option<ReactionOrder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateOrder {
    pub name: String,
    pub language: String,
    /// Meta's template components: `{type, sub_type?, index?, parameters}`.
    #[serde(default)]
    pub components: Vec<TemplateComponent>,
}

/// A file: one a caller uploaded (`key`, from `POST /api/v1/media`), an https `link`
/// Meta fetches, or a media `id` Meta gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaOrder {
    /// `image`, `audio`, `video`, `document` or `sticker`; for an upload, its type decides
    /// when this is left out.
    pub kind: Option<MediaKind>,
    pub key: Option<String>,
    pub link: Option<String>,
    pub id: Option<String>,
    /// The name a document shows (an upload's own name when left out).
    pub filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOrder {
    /// The label of the button that opens the list (at most 20 characters).
    pub button: String,
    pub sections: Vec<ListSection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionOrder {
    /// The wamid of the user's message reacted to.
    pub message_id: String,
    /// One emoji; empty removes the reaction.
    pub emoji: String,
}

/// A field of an order that is missing, malformed or breaks a rule; the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OrderError {
    pub field: &'static str,
    pub message: String,
}

fn order_error(field: &'static str, message: impl std::fmt::Display) -> OrderError {
    OrderError { field, message: message.to_string() }
}

/// Who the order goes to and how, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Addressing {
    pub to: WhatsAppUser,
    pub email: Option<EmailAddress>,
    pub channel: RequestedChannel,
    pub from_number_id: Option<String>,
}

/// An order's file before the media store is asked about an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRef {
    Ready { kind: MediaKind, source: MediaSource, filename: Option<String> },
    Upload { kind: Option<MediaKind>, key: MediaKey, filename: Option<String> },
}

/// An upload, as the media store describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadFacts {
    pub mime_type: String,
    pub size: u64,
    pub filename: Option<String>,
}

impl SendOrder {
    /// The recipient, email, channel and number.
    ///
    /// Errors: the field that is missing or malformed.
    pub fn addressing(&self) -> Result<Addressing, OrderError> {
        let to = match (self.to.as_deref(), self.to_user_id.as_deref()) {
            (Some(phone), None) => {
                WhatsAppUser::new(None, Some(PhoneNumber::parse(phone).map_err(|e| order_error("to", e))?))
            }
            (None, Some(id)) => {
                WhatsAppUser::new(Some(ScopedUserId::parse(id).map_err(|e| order_error("to_user_id", e))?), None)
            }
            (Some(_), Some(_)) => return Err(order_error("to", "give to or to_user_id, not both")),
            (None, None) => return Err(order_error("to", "required (or to_user_id)")),
        }
        .map_err(|e| order_error("to", e))?;
        let email = self.email.as_deref().map(EmailAddress::parse).transpose().map_err(|e| order_error("email", e))?;
        Ok(Addressing {
            to,
            email,
            channel: self.channel.unwrap_or(RequestedChannel::Auto),
            from_number_id: self.from_number_id.clone(),
        })
    }

    /// The order's file, if it has one.
    ///
    /// Errors: no or several sources, a key that is not an upload, a link or id
    /// without its kind, a bad file name.
    pub fn file(&self) -> Result<Option<FileRef>, OrderError> {
        let Some(order) = &self.media else { return Ok(None) };
        if let Some(name) = &order.filename {
            media::check_filename(name).map_err(|m| order_error("media.filename", m))?;
        }
        let needs_kind = || order.kind.ok_or_else(|| order_error("media.kind", "required with a link or an id"));
        let file = match (&order.key, &order.link, &order.id) {
            (Some(key), None, None) => {
                let key = MediaKey::parse(key)
                    .ok()
                    .filter(MediaKey::is_upload)
                    .ok_or_else(|| order_error("media.key", "not a key POST /api/v1/media gave"))?;
                FileRef::Upload { kind: order.kind, key, filename: order.filename.clone() }
            }
            (None, Some(link), None) => FileRef::Ready {
                kind: needs_kind()?,
                source: MediaSource::Link(link.clone()),
                filename: order.filename.clone(),
            },
            (None, None, Some(id)) => FileRef::Ready {
                kind: needs_kind()?,
                source: MediaSource::Id(id.clone()),
                filename: order.filename.clone(),
            },
            _ => return Err(order_error("media", "give exactly one of key, link or id")),
        };
        Ok(Some(file))
    }

    /// What the message says, with its file (already resolved, see [`Self::file`]).
    /// The content is not yet checked against Meta's limits: `OutboundContent::validate`
    /// does that.
    ///
    /// Errors: a missing body, or fields that do not go together.
    pub fn content(
        mut self,
        file: Option<(MediaKind, MediaSource, Option<String>)>,
    ) -> Result<OutboundContent, OrderError> {
        let extra = |field: &'static str, with: &str| order_error(field, format!("does not go with {with}"));
        if let Some(template) = self.template.take() {
            if let Some(field) = self.other_fields() {
                return Err(extra(field, "a template"));
            }
            return Ok(OutboundContent::Template {
                name: template.name,
                language: template.language,
                components: template.components,
            });
        }
        if let Some(reaction) = self.reaction.take() {
            if let Some(field) = self.other_fields() {
                return Err(extra(field, "a reaction"));
            }
            return Ok(OutboundContent::Reaction { message_id: reaction.message_id, emoji: reaction.emoji });
        }
        if self.preview_url && (self.buttons.is_some() || self.list.is_some() || file.is_some()) {
            return Err(order_error("preview_url", "is for a text message only"));
        }
        match (self.buttons, self.list, file) {
            (Some(_), Some(_), _) => Err(order_error("list", "give buttons or a list, not both")),
            (Some(buttons), None, file) => {
                let body = self.text.ok_or_else(|| order_error("text", "required: the body above the buttons"))?;
                let media_header = file.map(|(media, source, filename)| MediaHeader { media, source, filename });
                Ok(OutboundContent::Buttons { header: self.header, body, footer: self.footer, buttons, media_header })
            }
            (None, Some(_), Some(_)) => {
                Err(order_error("media", "a list cannot carry a file; send the file first, or use buttons"))
            }
            (None, Some(list), None) => {
                let body = self.text.ok_or_else(|| order_error("text", "required: the body above the list"))?;
                Ok(OutboundContent::List {
                    header: self.header,
                    body,
                    footer: self.footer,
                    button_label: list.button,
                    sections: list.sections,
                })
            }
            (None, None, file) => {
                if self.header.is_some() {
                    return Err(extra("header", "a text or a file (only buttons and lists have one)"));
                }
                if self.footer.is_some() {
                    return Err(extra("footer", "a text or a file (only buttons and lists have one)"));
                }
                match (file, self.text) {
                    (Some((media, source, filename)), caption) => {
                        Ok(OutboundContent::Media { media, source, caption, filename })
                    }
                    (None, Some(body)) => Ok(OutboundContent::Text { body, preview_url: self.preview_url }),
                    (None, None) => {
                        Err(order_error("text", "required (or template, media, buttons, list or reaction)"))
                    }
                }
            }
        }
    }

    /// The first field set beside a template or a reaction (taken out before this).
    fn other_fields(&self) -> Option<&'static str> {
        [
            ("text", self.text.is_some()),
            ("media", self.media.is_some()),
            ("buttons", self.buttons.is_some()),
            ("list", self.list.is_some()),
            ("header", self.header.is_some()),
            ("footer", self.footer.is_some()),
            ("reaction", self.reaction.is_some()),
            ("preview_url", self.preview_url),
        ]
        .into_iter()
        .find_map(|(field, set)| set.then_some(field))
    }
}

impl FileRef {
    /// The file as a message carries it, given what the store says of an upload.
    ///
    /// Errors: an upload that breaks Meta's limits for its kind.
    pub fn resolve(self, upload: Option<UploadFacts>) -> Result<(MediaKind, MediaSource, Option<String>), OrderError> {
        match (self, upload) {
            (Self::Ready { kind, source, filename }, _) => Ok((kind, source, filename)),
            (Self::Upload { key, .. }, None) => Err(order_error("media.key", format!("no uploaded file {key}"))),
            (Self::Upload { kind, key, filename }, Some(facts)) => {
                let kind = kind.unwrap_or_else(|| media::kind_for(&facts.mime_type));
                media::check_outbound(kind, &facts.mime_type, facts.size).map_err(|e| order_error("media", e))?;
                let source = MediaSource::Stored { key, mime_type: facts.mime_type };
                Ok((kind, source, filename.or(facts.filename)))
            }
        }
    }
}

#[cfg(test)]
mod tests;
