//! Choices an agent offers the user (the choices convention, docs/a2a-conventions.md):
//! shown as reply buttons, a list, or numbered text where WhatsApp's limits allow
//! neither; and how a reply's text, files and choices become WhatsApp messages.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::media::{AgentFile, MediaKey};
use crate::message::MediaKind;
use crate::outbound::{
    ContentError, ListRow, ListSection, MediaHeader, MediaSource, OutboundContent, ReplyButton, limits,
};

/// The A2A extension by which an agent offers choices: a data part with a `choices`
/// member (schema: docs/schemas/choices.v1.json). Switchboard's agent card lists it.
pub const CHOICES_EXTENSION: &str = "urn:switchboard:a2a:choices:v1";

/// How the agent wants its choices shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceStyle {
    /// Buttons when they fit (up to 3, short titles, no descriptions), else a list.
    #[default]
    Auto,
    Buttons,
    List,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The list section the option belongs in (lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
}

/// Choices offered with a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choices {
    #[serde(default)]
    pub style: ChoiceStyle,
    /// The list's button label ("Choose").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    pub options: Vec<ChoiceOption>,
}

/// The choices in one data part (`{"choices": {...}}`), if it has them: `Err` names
/// what is malformed.
pub fn choices_in(data: &Value) -> Option<Result<Choices, String>> {
    let choices = data.get("choices")?;
    Some(serde_json::from_value(choices.clone()).map_err(|e| format!("choices: {e}")))
}

/// The body an interactive message carries when the agent said nothing that fits.
pub const DEFAULT_PROMPT: &str = "Please choose one:";
const DEFAULT_LIST_BUTTON: &str = "Choose";

impl Choices {
    /// The choices as reply buttons or a list, by their style; the error names the
    /// WhatsApp limit that rules the asked-for style out.
    pub fn to_content(&self, body: &str, media_header: Option<MediaHeader>) -> Result<OutboundContent, ContentError> {
        match self.style {
            ChoiceStyle::Buttons => self.buttons(body, media_header),
            ChoiceStyle::List => self.list(body),
            ChoiceStyle::Auto => {
                let fits_buttons = self.options.iter().all(|o| o.description.is_none() && o.section.is_none());
                match self.buttons(body, media_header) {
                    Ok(buttons) if fits_buttons => Ok(buttons),
                    _ => self.list(body),
                }
            }
        }
    }

    fn buttons(&self, body: &str, media_header: Option<MediaHeader>) -> Result<OutboundContent, ContentError> {
        let content = OutboundContent::Buttons {
            header: None,
            body: body.to_owned(),
            footer: None,
            buttons: self.options.iter().map(|o| ReplyButton { id: o.id.clone(), title: o.title.clone() }).collect(),
            media_header,
        };
        content.validate().map(|()| content)
    }

    fn list(&self, body: &str) -> Result<OutboundContent, ContentError> {
        let mut sections: Vec<ListSection> = Vec::new();
        for option in &self.options {
            let row =
                ListRow { id: option.id.clone(), title: option.title.clone(), description: option.description.clone() };
            match sections.iter_mut().find(|s| s.title == option.section) {
                Some(section) => section.rows.push(row),
                None => sections.push(ListSection { title: option.section.clone(), rows: vec![row] }),
            }
        }
        // WhatsApp wants a title on every section once there are several.
        if sections.len() > 1 {
            for section in &mut sections {
                section.title.get_or_insert_with(|| String::from("Other"));
            }
        }
        let content = OutboundContent::List {
            header: None,
            body: body.to_owned(),
            footer: None,
            button_label: self.button.clone().unwrap_or_else(|| String::from(DEFAULT_LIST_BUTTON)),
            sections,
        };
        content.validate().map(|()| content)
    }

    /// The choices as numbered lines under the text, for where no interactive message fits.
    pub fn numbered_text(&self, text: &str) -> String {
        let mut lines: Vec<String> = Vec::new();
        if !text.trim().is_empty() {
            lines.push(text.to_owned());
            lines.push(String::new());
        }
        for (n, option) in self.options.iter().enumerate() {
            match &option.description {
                Some(d) => lines.push(format!("{}. {} ({d})", n + 1, option.title)),
                None => lines.push(format!("{}. {}", n + 1, option.title)),
            }
        }
        lines.join("\n")
    }
}

/// A file of the reply, already in the media store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyFile {
    pub kind: MediaKind,
    pub source: MediaSource,
    pub filename: Option<String>,
}

impl ReplyFile {
    /// A file stored under `key`, sent as the kind its type makes it.
    pub fn stored(key: MediaKey, file: &AgentFile) -> Self {
        Self {
            kind: crate::media::kind_for(&file.mime_type),
            source: MediaSource::Stored { key, mime_type: crate::media::essence(&file.mime_type) },
            filename: file.filename.clone(),
        }
    }
}

/// A reply as WhatsApp messages, in the order they go out, and what had to give way
/// (for the logs).
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub messages: Vec<OutboundContent>,
    /// Why the choices went as numbered text, when they did.
    pub choices_as_text: Option<ContentError>,
}

/// Turns an agent's text, files and choices into WhatsApp messages:
/// - choices become reply buttons or a list, sent last; a first image, video or document
///   becomes the buttons' header; the text is their body when it fits;
/// - otherwise the text is the caption of the first file that may have one and fits;
/// - text that found no place goes first, on its own;
/// - choices that fit no interactive message go as numbered text.
pub fn compose(text: &str, files: Vec<ReplyFile>, choices: Option<&Choices>) -> Composed {
    let text = text.trim();
    let mut text_left = (!text.is_empty()).then(|| text.to_owned());
    let mut files = files;
    let mut interactive = None;
    let mut choices_as_text = None;
    if let Some(choices) = choices {
        let header_file = files
            .first()
            .filter(|f| matches!(f.kind, MediaKind::Image | MediaKind::Video | MediaKind::Document))
            .cloned();
        let body = match &text_left {
            Some(t) if t.chars().count() <= limits::INTERACTIVE_BODY => t.clone(),
            _ => String::from(DEFAULT_PROMPT),
        };
        let header = header_file.as_ref().map(|f| MediaHeader {
            media: f.kind,
            source: f.source.clone(),
            filename: f.filename.clone(),
        });
        let attempt = choices.to_content(&body, header.clone()).or_else(|e| match header {
            // Without the file the choices may fit (a list cannot have one).
            Some(_) => choices.to_content(&body, None).map_err(|_| e),
            None => Err(e),
        });
        match attempt {
            Ok(content) => {
                if matches!(&content, OutboundContent::Buttons { media_header: Some(_), .. }) {
                    files.remove(0);
                }
                if text_left.as_deref() == Some(body.as_str()) {
                    text_left = None;
                }
                interactive = Some(content);
            }
            Err(e) => {
                text_left = Some(choices.numbered_text(text_left.as_deref().unwrap_or_default()));
                choices_as_text = Some(e);
            }
        }
    }
    let mut media: Vec<OutboundContent> = Vec::new();
    for file in files {
        let captionable = matches!(file.kind, MediaKind::Image | MediaKind::Video | MediaKind::Document);
        let caption = match &text_left {
            Some(t) if captionable && t.chars().count() <= limits::CAPTION => text_left.take(),
            _ => None,
        };
        media.push(OutboundContent::Media { media: file.kind, source: file.source, caption, filename: file.filename });
    }
    let mut messages = Vec::new();
    if let Some(text) = text_left {
        messages.push(OutboundContent::text(text));
    }
    messages.extend(media);
    messages.extend(interactive);
    if messages.is_empty() {
        // Nothing to say: the empty text goes, and its validation says so.
        messages.push(OutboundContent::text(text));
    }
    Composed { messages, choices_as_text }
}

#[cfg(test)]
mod tests;
