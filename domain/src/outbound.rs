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
    Text { text: String },
    Other(serde_json::Value),
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
                        TemplateParameter::Text { text } => Some(text.clone()),
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
mod tests {
    use super::*;

    fn buttons(titles: &[&str]) -> OutboundContent {
        OutboundContent::Buttons {
            header: None,
            body: "Pick one".into(),
            footer: None,
            buttons: titles
                .iter()
                .enumerate()
                .map(|(i, t)| ReplyButton { id: format!("b{i}"), title: (*t).into() })
                .collect(),
            media_header: None,
        }
    }

    fn list(rows: usize) -> OutboundContent {
        OutboundContent::List {
            header: None,
            body: "Choose".into(),
            footer: None,
            button_label: "Options".into(),
            sections: vec![ListSection {
                title: None,
                rows: (0..rows)
                    .map(|i| ListRow { id: format!("r{i}"), title: format!("Row {i}"), description: None })
                    .collect(),
            }],
        }
    }

    #[test]
    fn three_reply_buttons_are_allowed_and_four_are_refused_naming_the_limit() {
        assert_eq!(buttons(&["a", "b", "c"]).validate(), Ok(()));
        let err = buttons(&["a", "b", "c", "d"]).validate().unwrap_err();
        assert_eq!(err, ContentError::TooMany { what: "reply buttons", actual: 4, limit: 3 });
        assert_eq!(err.to_string(), "reply buttons: 4 given; the limit is 3");
    }

    #[test]
    fn a_button_title_over_20_characters_is_refused() {
        let err = buttons(&["This title is far too long"]).validate().unwrap_err();
        assert!(matches!(err, ContentError::TooLong { what: "button title", limit: 20, .. }));
    }

    #[test]
    fn titles_are_counted_in_characters_not_bytes() {
        assert_eq!(buttons(&["Ação rápida já já 🚀"]).validate(), Ok(()));
    }

    #[test]
    fn a_list_holds_at_most_10_rows() {
        assert_eq!(list(10).validate(), Ok(()));
        assert!(matches!(list(11).validate(), Err(ContentError::TooMany { what: "list rows", .. })));
        assert!(matches!(list(0).validate(), Err(ContentError::TooFew { what: "list rows", .. })));
    }

    #[test]
    fn text_is_limited_to_4096_characters_and_must_not_be_empty() {
        assert!(OutboundContent::text("x".repeat(4096)).validate().is_ok());
        assert!(OutboundContent::text("x".repeat(4097)).validate().is_err());
        assert!(OutboundContent::text("  ").validate().is_err());
    }

    #[test]
    fn media_links_must_be_https_and_audio_has_no_caption() {
        let link = |l: &str| OutboundContent::Media {
            media: MediaKind::Image,
            source: MediaSource::Link(l.into()),
            caption: None,
            filename: None,
        };
        assert_eq!(link("http://x/y.png").validate(), Err(ContentError::InsecureLink));
        assert!(link("https://x/y.png").validate().is_ok());
        let audio = OutboundContent::Media {
            media: MediaKind::Audio,
            source: MediaSource::Id("1".into()),
            caption: Some("no".into()),
            filename: None,
        };
        assert!(audio.validate().is_err());
    }

    #[test]
    fn duplicate_button_ids_are_refused() {
        let content = OutboundContent::Buttons {
            header: None,
            body: "b".into(),
            footer: None,
            buttons: vec![
                ReplyButton { id: "x".into(), title: "A".into() },
                ReplyButton { id: "x".into(), title: "B".into() },
            ],
            media_header: None,
        };
        assert_eq!(content.validate(), Err(ContentError::DuplicateId("x".into())));
    }

    #[test]
    fn plain_text_says_what_the_message_said() {
        assert_eq!(buttons(&["Yes", "No"]).as_plain_text(), "Pick one\n• Yes\n• No");
        let template = OutboundContent::Template {
            name: "order_update".into(),
            language: "en".into(),
            components: vec![TemplateComponent {
                kind: "body".into(),
                sub_type: None,
                index: None,
                parameters: vec![TemplateParameter::Text { text: "Amelia".into() }],
            }],
        };
        assert_eq!(template.as_plain_text(), "[template order_update] Amelia");
    }

    fn template(components: Vec<TemplateComponent>) -> OutboundContent {
        OutboundContent::Template { name: "order_update".into(), language: "en".into(), components }
    }

    fn media(media: MediaKind, source: MediaSource, caption: Option<&str>, filename: Option<&str>) -> OutboundContent {
        OutboundContent::Media {
            media,
            source,
            caption: caption.map(str::to_owned),
            filename: filename.map(str::to_owned),
        }
    }

    #[test]
    fn only_a_template_may_leave_outside_the_window() {
        let reaction = OutboundContent::Reaction { message_id: "wamid.in".into(), emoji: "👍".into() };
        let contents = [
            (OutboundContent::text("hi"), "text"),
            (template(vec![]), "template"),
            (buttons(&["Yes"]), "buttons"),
            (list(1), "list"),
            (media(MediaKind::Image, MediaSource::Id("m1".into()), None, None), "media"),
            (reaction, "reaction"),
        ];

        for (content, kind) in contents {
            assert_eq!(content.kind_name(), kind);
            assert_eq!(content.is_template(), kind == "template", "{kind}");
        }
    }

    #[test]
    fn a_template_needs_a_name_of_at_most_512_characters_and_a_language() {
        assert_eq!(template(vec![]).validate(), Ok(()));
        let named = |name: String, language: &str| OutboundContent::Template {
            name,
            language: language.into(),
            components: vec![],
        };
        assert_eq!(named(" ".into(), "en").validate(), Err(ContentError::Empty { what: "template name" }));
        assert!(matches!(
            named("t".repeat(513), "en").validate(),
            Err(ContentError::TooLong { what: "template name", actual: 513, limit: 512 })
        ));
        assert_eq!(named("t".into(), "").validate(), Err(ContentError::Empty { what: "template language" }));
    }

    #[test]
    fn buttons_need_a_body_short_headers_and_at_least_one_button_with_an_id() {
        let with = |header: Option<String>, body: &str, buttons: Vec<ReplyButton>| OutboundContent::Buttons {
            header,
            body: body.into(),
            footer: None,
            buttons,
            media_header: None,
        };
        let yes = || vec![ReplyButton { id: "y".into(), title: "Yes".into() }];

        assert_eq!(with(None, "", yes()).validate(), Err(ContentError::Empty { what: "interactive body" }));
        assert!(matches!(
            with(None, &"b".repeat(1025), yes()).validate(),
            Err(ContentError::TooLong { what: "interactive body", .. })
        ));
        assert!(matches!(
            with(Some("h".repeat(61)), "b", yes()).validate(),
            Err(ContentError::TooLong { what: "header", limit: 60, .. })
        ));
        assert_eq!(
            with(None, "b", vec![]).validate(),
            Err(ContentError::TooFew { what: "reply buttons", actual: 0, min: 1 })
        );
        assert_eq!(
            with(None, "b", vec![ReplyButton { id: " ".into(), title: "Yes".into() }]).validate(),
            Err(ContentError::Empty { what: "button id" })
        );
        assert_eq!(
            with(None, "b", vec![ReplyButton { id: "y".into(), title: "".into() }]).validate(),
            Err(ContentError::Empty { what: "button title" })
        );
        assert!(matches!(
            with(None, "b", vec![ReplyButton { id: "y".repeat(257), title: "Yes".into() }]).validate(),
            Err(ContentError::TooLong { what: "button id", limit: 256, .. })
        ));
    }

    #[test]
    fn a_list_row_needs_a_short_title_an_id_and_an_id_of_its_own() {
        let with_rows = |rows: Vec<ListRow>| OutboundContent::List {
            header: None,
            body: "Choose".into(),
            footer: Some("Thanks".into()),
            button_label: "Options".into(),
            sections: vec![ListSection { title: Some("Plans".into()), rows }],
        };
        let row = |id: &str, title: &str, description: Option<String>| ListRow {
            id: id.into(),
            title: title.into(),
            description,
        };

        assert!(matches!(
            with_rows(vec![row("a", &"t".repeat(25), None)]).validate(),
            Err(ContentError::TooLong { what: "row title", limit: 24, .. })
        ));
        assert!(matches!(
            with_rows(vec![row("a", "t", Some("d".repeat(73)))]).validate(),
            Err(ContentError::TooLong { what: "row description", limit: 72, .. })
        ));
        assert_eq!(with_rows(vec![row("", "t", None)]).validate(), Err(ContentError::Empty { what: "row id" }));
        assert_eq!(
            with_rows(vec![row("a", "One", None), row("a", "Two", None)]).validate(),
            Err(ContentError::DuplicateId("a".into()))
        );
    }

    #[test]
    fn a_list_needs_a_short_button_label_and_one_to_ten_sections() {
        let with = |button_label: &str, sections: Vec<ListSection>| OutboundContent::List {
            header: None,
            body: "Choose".into(),
            footer: None,
            button_label: button_label.into(),
            sections,
        };
        let one_row = || ListSection {
            title: None,
            rows: vec![ListRow { id: "r".into(), title: "Row".into(), description: None }],
        };

        assert_eq!(with(" ", vec![one_row()]).validate(), Err(ContentError::Empty { what: "list button label" }));
        assert!(matches!(
            with(&"l".repeat(21), vec![one_row()]).validate(),
            Err(ContentError::TooLong { what: "list button label", limit: 20, .. })
        ));
        assert_eq!(
            with("Options", vec![]).validate(),
            Err(ContentError::TooFew { what: "list sections", actual: 0, min: 1 })
        );
        assert!(matches!(
            with("Options", (0..11).map(|_| ListSection { title: None, rows: vec![] }).collect()).validate(),
            Err(ContentError::TooMany { what: "list sections", actual: 11, limit: 10 })
        ));
        assert!(matches!(
            with("Options", vec![ListSection { title: Some("s".repeat(25)), ..one_row() }]).validate(),
            Err(ContentError::TooLong { what: "section title", limit: 24, .. })
        ));
    }

    #[test]
    fn media_needs_an_id_and_a_caption_of_at_most_1024_characters() {
        assert_eq!(
            media(MediaKind::Image, MediaSource::Id(" ".into()), None, None).validate(),
            Err(ContentError::Empty { what: "media id" })
        );
        let long_caption = "c".repeat(1025);
        assert!(matches!(
            media(MediaKind::Image, MediaSource::Id("m".into()), Some(&long_caption), None).validate(),
            Err(ContentError::TooLong { what: "caption", limit: 1024, .. })
        ));
        assert_eq!(media(MediaKind::Sticker, MediaSource::Id("m".into()), None, None).validate(), Ok(()));
    }

    #[test]
    fn a_reaction_needs_the_message_it_reacts_to_but_an_empty_emoji_removes_it() {
        let reaction = |message_id: &str| OutboundContent::Reaction { message_id: message_id.into(), emoji: "".into() };

        assert_eq!(reaction("wamid.in").validate(), Ok(()));
        assert_eq!(reaction("").validate(), Err(ContentError::Empty { what: "reaction message id" }));
    }

    #[test]
    fn a_template_without_text_parameters_reads_as_its_name() {
        let content = template(vec![TemplateComponent {
            kind: "header".into(),
            sub_type: None,
            index: None,
            parameters: vec![TemplateParameter::Other(serde_json::json!({"type": "currency"}))],
        }]);

        assert_eq!(content.as_plain_text(), "[template order_update]");
    }

    #[test]
    fn a_list_reads_as_its_header_body_sections_rows_and_footer() {
        let content = OutboundContent::List {
            header: Some("Plans".into()),
            body: "Choose a plan".into(),
            footer: Some("Prices include VAT".into()),
            button_label: "Plans".into(),
            sections: vec![ListSection {
                title: Some("Monthly".into()),
                rows: vec![
                    ListRow { id: "basic".into(), title: "Basic".into(), description: Some("5 GB".into()) },
                    ListRow { id: "pro".into(), title: "Pro".into(), description: None },
                ],
            }],
        };

        assert_eq!(content.as_plain_text(), "Plans\nChoose a plan\nMonthly\n• Basic: 5 GB\n• Pro\nPrices include VAT");
    }

    #[test]
    fn media_reads_as_its_kind_link_and_caption_or_file_name() {
        let link = || MediaSource::Link("https://x/a.pdf".into());
        assert_eq!(
            media(MediaKind::Document, link(), Some("Your invoice"), Some("a.pdf")).as_plain_text(),
            "[document] https://x/a.pdf Your invoice"
        );
        assert_eq!(
            media(MediaKind::Document, link(), None, Some("a.pdf")).as_plain_text(),
            "[document] https://x/a.pdf a.pdf"
        );
        assert_eq!(media(MediaKind::Image, MediaSource::Id("m".into()), None, None).as_plain_text(), "[image]");
    }

    #[test]
    fn a_reactions_text_is_its_emoji_and_lengths_count_characters() {
        let reaction = OutboundContent::Reaction { message_id: "wamid.in".into(), emoji: "👍".into() };

        assert_eq!(reaction.as_plain_text(), "👍");
        assert_eq!(reaction.char_len(), 1);
        assert_eq!(OutboundContent::text("Ação").char_len(), 4);
    }
}
