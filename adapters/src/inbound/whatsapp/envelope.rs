//! The tolerant WhatsApp envelope parser.
//!
//! Reads every `entry[]`, every `changes[]`, every `messages[]`, `statuses[]` and
//! `errors[]`, each item on its own: an item that cannot be read becomes an issue with
//! its path and reason, and the rest of the batch goes on. Unknown message types become
//! `Unsupported` with their raw JSON; unknown fields are kept in each item's raw JSON.
//! A body that is not JSON, or not a WhatsApp envelope, is quarantined whole.

use serde_json::{Map, Value};
use switchboard_application::usecases::{ParsedInbound, ParsedStatus, ParsedWebhook, WebhookContent};
use switchboard_domain::{
    ChannelError, InboundContent, InboundMessage, MediaKind, ReplyContext, StatusUpdate, Wamid, WhatsAppUser,
};
use time::OffsetDateTime;

/// Parses an authentic webhook body.
pub fn parse(body: &[u8]) -> WebhookContent {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return quarantine(format!("invalid JSON: {e}")),
    };
    let Some(root) = value.as_object() else {
        return quarantine(String::from("not a WhatsApp envelope: the body is not a JSON object"));
    };
    match root.get("object").and_then(Value::as_str) {
        Some("whatsapp_business_account") => {}
        Some(other) => return quarantine(format!("not a WhatsApp envelope: object is {other:?}")),
        None => return quarantine(String::from("not a WhatsApp envelope: no \"object\"")),
    }
    let Some(entries) = root.get("entry").and_then(Value::as_array) else {
        return quarantine(String::from("not a WhatsApp envelope: no \"entry\" array"));
    };

    let mut out = ParsedWebhook::default();
    for (ei, entry) in entries.iter().enumerate() {
        let Some(changes) = entry.get("changes").and_then(Value::as_array) else {
            out.issues.push(format!("entry[{ei}]: no \"changes\" array"));
            continue;
        };
        for (ci, change) in changes.iter().enumerate() {
            let path = format!("entry[{ei}].changes[{ci}]");
            parse_change(change, &path, &mut out);
        }
    }
    WebhookContent::Envelope(out)
}

fn quarantine(reason: String) -> WebhookContent {
    WebhookContent::Quarantine { reason }
}

fn parse_change(change: &Value, path: &str, out: &mut ParsedWebhook) {
    let field = change.get("field").and_then(Value::as_str).unwrap_or("");
    if field != "messages" {
        let name = if field.is_empty() { "(no field)" } else { field };
        out.other_fields.push(name.to_owned());
        return;
    }
    let Some(value) = change.get("value").and_then(Value::as_object) else {
        out.issues.push(format!("{path}: no \"value\" object"));
        return;
    };
    let business_number_id =
        value.get("metadata").and_then(|m| m.get("phone_number_id")).and_then(string_of).unwrap_or_default();
    let contacts = value.get("contacts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();

    for (mi, raw) in items(value, "messages").iter().enumerate() {
        match parse_message(raw, &business_number_id, contacts) {
            Ok(message) => out.messages.push(ParsedInbound { message, raw: raw.clone() }),
            Err(reason) => out.issues.push(format!("{path}.value.messages[{mi}]: {reason}")),
        }
    }
    for (si, raw) in items(value, "statuses").iter().enumerate() {
        match parse_status(raw) {
            Ok(status) => out.statuses.push(ParsedStatus { status, raw: raw.clone() }),
            Err(reason) => out.issues.push(format!("{path}.value.statuses[{si}]: {reason}")),
        }
    }
    for (xi, raw) in items(value, "errors").iter().enumerate() {
        match parse_error(raw) {
            Some(error) => out.errors.push(error),
            None => out.issues.push(format!("{path}.value.errors[{xi}]: no numeric \"code\"")),
        }
    }
}

fn items<'a>(value: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// A string, or a number written as one (ids sometimes arrive as numbers).
fn string_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn str_field<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn opt_string(obj: &Value, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Meta's `timestamp`: unix seconds, as a string (or, tolerated, a number).
fn timestamp(obj: &Value) -> Result<OffsetDateTime, String> {
    let seconds = match obj.get("timestamp") {
        Some(Value::String(s)) => {
            s.trim().parse::<i64>().map_err(|_| format!("timestamp {s:?} is not unix seconds"))?
        }
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("timestamp {n} is not unix seconds"))?,
        _ => return Err(String::from("no timestamp")),
    };
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| format!("timestamp {seconds} is out of range"))
}

fn parse_message(raw: &Value, business_number_id: &str, contacts: &[Value]) -> Result<InboundMessage, String> {
    if !raw.is_object() {
        return Err(String::from("not an object"));
    }
    let wamid = Wamid::parse(str_field(raw, "id").unwrap_or("")).map_err(|e| e.to_string())?;
    if business_number_id.is_empty() {
        return Err(format!("{wamid}: no metadata.phone_number_id to reply from"));
    }
    let from = str_field(raw, "from");
    let from_user_id = str_field(raw, "from_user_id");
    let user = WhatsAppUser::from_webhook(from_user_id, from).map_err(|e| format!("{wamid}: sender: {e}"))?;
    let sent_at = timestamp(raw).map_err(|e| format!("{wamid}: {e}"))?;
    let type_name = str_field(raw, "type").unwrap_or("unknown");
    Ok(InboundMessage {
        profile_name: profile_name(contacts, from, from_user_id),
        content: parse_content(type_name, raw),
        context: raw.get("context").map(parse_context),
        errors: items_of(raw, "errors").iter().filter_map(parse_error).collect(),
        wamid,
        from: user,
        business_number_id: business_number_id.to_owned(),
        sent_at,
    })
}

fn items_of<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn profile_name(contacts: &[Value], from: Option<&str>, from_user_id: Option<&str>) -> Option<String> {
    fn non_empty(s: Option<&str>) -> Option<&str> {
        s.filter(|v| !v.is_empty())
    }
    let (from, from_user_id) = (non_empty(from), non_empty(from_user_id));
    contacts
        .iter()
        .find(|c| {
            let wa_id = non_empty(str_field(c, "wa_id"));
            let user_id = non_empty(str_field(c, "user_id"));
            (from_user_id.is_some() && user_id == from_user_id) || (from.is_some() && wa_id == from)
        })
        .and_then(|c| c.get("profile"))
        .and_then(|p| opt_string(p, "name"))
}

fn unsupported(type_name: &str, raw: &Value) -> InboundContent {
    InboundContent::Unsupported { type_name: type_name.to_owned(), raw: raw.clone() }
}

fn parse_content(type_name: &str, raw: &Value) -> InboundContent {
    let sub = raw.get(type_name).unwrap_or(&Value::Null);
    let media = |kind: MediaKind| match str_field(sub, "id").filter(|s| !s.is_empty()) {
        Some(id) => InboundContent::Media {
            media: kind,
            media_id: id.to_owned(),
            mime_type: opt_string(sub, "mime_type"),
            sha256: opt_string(sub, "sha256"),
            caption: opt_string(sub, "caption"),
            filename: opt_string(sub, "filename"),
            voice: sub.get("voice").and_then(Value::as_bool).unwrap_or(false),
            animated: sub.get("animated").and_then(Value::as_bool).unwrap_or(false),
        },
        None => unsupported(type_name, raw),
    };
    match type_name {
        "text" => match str_field(sub, "body") {
            Some(body) => InboundContent::Text { body: body.to_owned() },
            None => unsupported(type_name, raw),
        },
        "image" => media(MediaKind::Image),
        "audio" => media(MediaKind::Audio),
        "video" => media(MediaKind::Video),
        "document" => media(MediaKind::Document),
        "sticker" => media(MediaKind::Sticker),
        "location" => match (sub.get("latitude").and_then(Value::as_f64), sub.get("longitude").and_then(Value::as_f64))
        {
            (Some(latitude), Some(longitude)) => InboundContent::Location {
                latitude,
                longitude,
                name: opt_string(sub, "name"),
                address: opt_string(sub, "address"),
                url: opt_string(sub, "url"),
            },
            _ => unsupported(type_name, raw),
        },
        "contacts" => InboundContent::Contacts { raw: raw.get("contacts").cloned().unwrap_or(Value::Null) },
        "interactive" => {
            let kind = str_field(sub, "type").unwrap_or("");
            let reply = sub.get(kind).unwrap_or(&Value::Null);
            match (kind, str_field(reply, "id"), str_field(reply, "title")) {
                ("button_reply" | "list_reply", Some(id), Some(title)) => InboundContent::InteractiveReply {
                    reply_kind: kind.to_owned(),
                    id: id.to_owned(),
                    title: title.to_owned(),
                    description: opt_string(reply, "description"),
                },
                _ => unsupported(type_name, raw),
            }
        }
        "button" => match (str_field(sub, "payload"), str_field(sub, "text")) {
            (payload, Some(text)) => InboundContent::InteractiveReply {
                reply_kind: String::from("quick_reply"),
                id: payload.unwrap_or(text).to_owned(),
                title: text.to_owned(),
                description: None,
            },
            _ => unsupported(type_name, raw),
        },
        "reaction" => match str_field(sub, "message_id") {
            Some(message_id) => {
                InboundContent::Reaction { message_id: message_id.to_owned(), emoji: opt_string(sub, "emoji") }
            }
            None => unsupported(type_name, raw),
        },
        "order" if sub.is_object() => InboundContent::Order {
            catalog_id: opt_string(sub, "catalog_id"),
            text: opt_string(sub, "text"),
            raw: sub.clone(),
        },
        "system" if sub.is_object() => InboundContent::System { body: opt_string(sub, "body"), raw: sub.clone() },
        other => unsupported(other, raw),
    }
}

fn parse_context(ctx: &Value) -> ReplyContext {
    ReplyContext {
        message_id: opt_string(ctx, "id"),
        from: opt_string(ctx, "from"),
        forwarded: ctx.get("forwarded").and_then(Value::as_bool).unwrap_or(false),
        frequently_forwarded: ctx.get("frequently_forwarded").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn parse_error(raw: &Value) -> Option<ChannelError> {
    let code = raw.get("code").and_then(Value::as_i64)?;
    Some(ChannelError {
        code,
        title: opt_string(raw, "title"),
        message: opt_string(raw, "message"),
        details: raw.get("error_data").and_then(|d| opt_string(d, "details")),
    })
}

fn parse_status(raw: &Value) -> Result<StatusUpdate, String> {
    if !raw.is_object() {
        return Err(String::from("not an object"));
    }
    let wamid = Wamid::parse(str_field(raw, "id").unwrap_or("")).map_err(|e| e.to_string())?;
    let status = str_field(raw, "status").filter(|s| !s.is_empty()).ok_or_else(|| format!("{wamid}: no status"))?;
    let occurred_at = timestamp(raw).map_err(|e| format!("{wamid}: {e}"))?;
    let recipient = opt_string(raw, "recipient_user_id").or_else(|| opt_string(raw, "recipient_id"));
    Ok(StatusUpdate {
        wamid,
        status: status.to_owned(),
        occurred_at,
        recipient,
        errors: items_of(raw, "errors").iter().filter_map(parse_error).collect(),
        callback_data: opt_string(raw, "biz_opaque_callback_data"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(value: Value) -> ParsedWebhook {
        let body = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]
        }))
        .unwrap();
        match parse(&body) {
            WebhookContent::Envelope(p) => p,
            WebhookContent::Quarantine { reason } => panic!("quarantined: {reason}"),
        }
    }

    fn value_with(messages: Value) -> Value {
        json!({"messaging_product": "whatsapp", "metadata": {"phone_number_id": "109876543210987"}, "messages": messages})
    }

    #[test]
    fn one_odd_message_does_not_drop_its_batch() {
        let parsed = envelope(value_with(json!([
            {"from": "447700900123", "id": "wamid.A", "timestamp": "1795600000", "type": "text", "text": {"body": "hi"}},
            {"from": "447700900123", "timestamp": "1795600001", "type": "text", "text": {"body": "no id"}},
            {"from": "not a phone", "id": "wamid.C", "timestamp": "1795600002", "type": "text", "text": {"body": "x"}},
            "not even an object",
            {"from": "447700900123", "id": "wamid.E", "timestamp": "1795600003", "type": "text", "text": {"body": "ok"}},
        ])));
        let ids: Vec<_> = parsed.messages.iter().map(|m| m.message.wamid.as_str()).collect();
        assert_eq!(ids, ["wamid.A", "wamid.E"]);
        assert_eq!(parsed.issues.len(), 3, "{:?}", parsed.issues);
        assert!(parsed.issues[1].contains("wamid.C: sender: phone number contains"), "{:?}", parsed.issues);
    }

    #[test]
    fn an_unknown_type_is_kept_raw() {
        let parsed = envelope(value_with(json!([
            {"from": "447700900123", "id": "wamid.P", "timestamp": "1795600000", "type": "poll_vote", "poll_vote": {"option": 2}, "brand_new_field": true}
        ])));
        let message = &parsed.messages[0];
        assert!(
            matches!(&message.message.content, InboundContent::Unsupported { type_name, raw } if type_name == "poll_vote" && raw["poll_vote"]["option"] == 2)
        );
        assert_eq!(message.raw["brand_new_field"], true);
    }

    #[test]
    fn a_user_with_only_a_scoped_id_is_accepted() {
        let parsed = envelope(json!({
            "metadata": {"phone_number_id": "1"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "", "user_id": "US.123"}],
            "messages": [{"from": "", "from_user_id": "US.123", "id": "wamid.U", "timestamp": "1795600000", "type": "text", "text": {"body": "oi"}}]
        }));
        let message = &parsed.messages[0].message;
        assert_eq!(message.from.key().as_storage_key(), "bsuid:US.123");
        assert_eq!(message.profile_name.as_deref(), Some("Ana"));
    }

    #[test]
    fn other_fields_are_acknowledged_and_named() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"message_template_status_update","value":{"event":"APPROVED"}}]}]}"#;
        let WebhookContent::Envelope(parsed) = parse(body) else { panic!("quarantined") };
        assert_eq!(parsed.other_fields, ["message_template_status_update"]);
        assert!(parsed.messages.is_empty() && parsed.issues.is_empty());
    }

    #[test]
    fn value_level_errors_are_collected() {
        let parsed = envelope(
            json!({"metadata": {"phone_number_id": "1"}, "errors": [{"code": 131000, "title": "Something went wrong"}]}),
        );
        assert_eq!(parsed.errors[0].code, 131000);
    }

    #[test]
    fn bodies_that_are_not_whatsapp_envelopes_are_quarantined_with_a_reason() {
        for (body, reason) in [
            (&b"{\"object\":\"whats"[..], "invalid JSON"),
            (b"[]", "not a JSON object"),
            (b"{\"object\":\"page\",\"entry\":[]}", "object is \"page\""),
            (b"{\"object\":\"whatsapp_business_account\"}", "no \"entry\" array"),
        ] {
            match parse(body) {
                WebhookContent::Quarantine { reason: r } => assert!(r.contains(reason), "{r}"),
                WebhookContent::Envelope(_) => panic!("accepted {body:?}"),
            }
        }
    }

    #[test]
    fn every_shared_fixture_parses_without_panicking() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/whatsapp");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let body = std::fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            match parse(&body) {
                WebhookContent::Envelope(parsed) => {
                    assert!(!name.starts_with("bad_"), "{name} accepted");
                    assert!(parsed.issues.is_empty(), "{name}: {:?}", parsed.issues);
                    assert!(!parsed.messages.is_empty() || !parsed.statuses.is_empty(), "{name} is empty");
                }
                WebhookContent::Quarantine { .. } => {
                    assert!(name.starts_with("bad_"), "{name} quarantined")
                }
            }
        }
    }
}
