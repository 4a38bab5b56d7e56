//! What crosses the wire: the `/messages` request body and Meta's error envelope.

use serde_json::{Map, Value, json};
use switchboard_application::ports::SendError;
use switchboard_domain::SendFailure;
use switchboard_domain::{MediaKind, MediaSource, OutboundContent, OutboundMessage, TemplateParameter};
use switchboard_shared::secrets;

/// Meta's error envelope: `{"error": {"message", "type", "code", "error_data": {"details"}, ...}}`.
pub(super) fn graph_error(status: u16, body: Option<&Value>) -> SendError {
    let error = body.and_then(|b| b.get("error"));
    if let Some(code) = error.and_then(|e| e.get("code")).and_then(Value::as_i64) {
        let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("").to_owned();
        let details = error.and_then(|e| e.pointer("/error_data/details")).and_then(Value::as_str);
        let message = match details {
            Some(d) if !d.is_empty() => format!("{message}: {d}"),
            _ => message,
        };
        // Graph may quote the request back: nothing of ours leaves in its words.
        return SendError::Graph { code, failure: SendFailure::from_code(code), message: secrets::scrub(message) };
    }
    // No error code: classify on the HTTP status alone.
    let failure = match status {
        401 | 403 => SendFailure::AuthFailed,
        429 => SendFailure::Throttled,
        500..=599 => SendFailure::Transient,
        _ => SendFailure::BadParameter,
    };
    SendError::Graph { code: i64::from(status), failure, message: format!("HTTP {status} without a Graph error") }
}

fn text_object(text: &str) -> Value {
    json!({ "text": text })
}

fn header_object(text: &str) -> Value {
    json!({ "type": "text", "text": text })
}

/// A media object: by id or link. A stored file is uploaded before the body is built
/// (`UploadMedia`); should one get here, its key stands in for the id and Meta refuses it.
fn source_object(source: &MediaSource) -> Value {
    match source {
        MediaSource::Id(id) => json!({ "id": id }),
        MediaSource::Link(link) => json!({ "link": link }),
        MediaSource::Stored { key, .. } => json!({ "id": key.as_str() }),
    }
}

/// The `/messages` request body for one message, exactly as the Cloud API reads it.
pub fn message_body(message: &OutboundMessage, callback_data: Option<&str>) -> Value {
    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("recipient_type".into(), json!("individual"));
    body.insert("to".into(), json!(message.to.send_address()));
    if let Some(reply_to) = &message.reply_to {
        body.insert("context".into(), json!({ "message_id": reply_to.as_str() }));
    }
    if let Some(data) = callback_data {
        body.insert("biz_opaque_callback_data".into(), json!(data));
    }
    let (kind, object) = match &message.content {
        OutboundContent::Text { body, preview_url } => ("text", json!({ "body": body, "preview_url": preview_url })),
        OutboundContent::Template { name, language, components } => {
            let mut template = json!({ "name": name, "language": { "code": language } });
            if !components.is_empty() {
                let components: Vec<Value> = components
                    .iter()
                    .map(|c| {
                        let mut component = Map::new();
                        component.insert("type".into(), json!(c.kind));
                        if let Some(sub_type) = &c.sub_type {
                            component.insert("sub_type".into(), json!(sub_type));
                        }
                        if let Some(index) = c.index {
                            component.insert("index".into(), json!(index.to_string()));
                        }
                        let parameters: Vec<Value> = c
                            .parameters
                            .iter()
                            .map(|p| match p {
                                TemplateParameter::Text { text, parameter_name: None } => {
                                    json!({ "type": "text", "text": text })
                                }
                                TemplateParameter::Text { text, parameter_name: Some(name) } => {
                                    json!({ "type": "text", "parameter_name": name, "text": text })
                                }
                                TemplateParameter::Other(raw) => raw.clone(),
                            })
                            .collect();
                        component.insert("parameters".into(), Value::Array(parameters));
                        Value::Object(component)
                    })
                    .collect();
                template["components"] = Value::Array(components);
            }
            ("template", template)
        }
        OutboundContent::Buttons { header, body, footer, buttons, media_header } => {
            let mut interactive = json!({
                "type": "button",
                "body": text_object(body),
                "action": { "buttons": buttons.iter().map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } })).collect::<Vec<_>>() },
            });
            if let Some(h) = header {
                interactive["header"] = header_object(h);
            }
            if let Some(m) = media_header {
                let mut object = source_object(&m.source);
                if let Some(f) = m.filename.as_ref().filter(|_| m.media == MediaKind::Document) {
                    object["filename"] = json!(f);
                }
                interactive["header"] = json!({ "type": m.media.as_str(), m.media.as_str(): object });
            }
            if let Some(f) = footer {
                interactive["footer"] = text_object(f);
            }
            ("interactive", interactive)
        }
        OutboundContent::List { header, body, footer, button_label, sections } => {
            let sections: Vec<Value> = sections
                .iter()
                .map(|s| {
                    let rows: Vec<Value> = s
                        .rows
                        .iter()
                        .map(|r| {
                            let mut row = json!({ "id": r.id, "title": r.title });
                            if let Some(d) = &r.description {
                                row["description"] = json!(d);
                            }
                            row
                        })
                        .collect();
                    let mut section = json!({ "rows": rows });
                    if let Some(t) = &s.title {
                        section["title"] = json!(t);
                    }
                    section
                })
                .collect();
            let mut interactive = json!({
                "type": "list",
                "body": text_object(body),
                "action": { "button": button_label, "sections": sections },
            });
            if let Some(h) = header {
                interactive["header"] = header_object(h);
            }
            if let Some(f) = footer {
                interactive["footer"] = text_object(f);
            }
            ("interactive", interactive)
        }
        OutboundContent::Media { media, source, caption, filename } => {
            let mut object = source_object(source);
            if let Some(c) = caption.as_ref().filter(|_| !matches!(media, MediaKind::Audio | MediaKind::Sticker)) {
                object["caption"] = json!(c);
            }
            if let Some(f) = filename.as_ref().filter(|_| *media == MediaKind::Document) {
                object["filename"] = json!(f);
            }
            (media.as_str(), object)
        }
        OutboundContent::Reaction { message_id, emoji } => {
            ("reaction", json!({ "message_id": message_id, "emoji": emoji }))
        }
    };
    body.insert("type".into(), json!(kind));
    body.insert(kind.into(), object);
    Value::Object(body)
}
