use super::*;
use serde_json::json;

fn order(value: serde_json::Value) -> SendOrder {
    serde_json::from_value(value).unwrap()
}

fn content_of(value: serde_json::Value) -> Result<OutboundContent, OrderError> {
    let order = order(value);
    let file = order.file()?.map(|f| f.resolve(None)).transpose()?;
    order.content(file)
}

#[test]
fn a_text_order_becomes_a_text_message() {
    let content = content_of(json!({"to": "+447700900123", "text": "Hi", "preview_url": true})).unwrap();

    assert_eq!(content, OutboundContent::Text { body: "Hi".into(), preview_url: true });
}

#[test]
fn buttons_take_the_text_as_their_body_and_a_linked_image_as_their_header() {
    let content = content_of(json!({
        "to": "+447700900123", "text": "Which size?", "footer": "Sizes run small",
        "buttons": [{"id": "s", "title": "Small"}, {"id": "m", "title": "Medium"}],
        "media": {"kind": "image", "link": "https://cdn.example.com/shirt.jpg"}
    }))
    .unwrap();

    let OutboundContent::Buttons { body, footer, buttons, media_header, header } = content else { panic!() };
    assert_eq!((body.as_str(), footer.as_deref(), header), ("Which size?", Some("Sizes run small"), None));
    assert_eq!(buttons.len(), 2);
    let media_header = media_header.unwrap();
    assert_eq!(media_header.media, MediaKind::Image);
    assert_eq!(media_header.source, MediaSource::Link("https://cdn.example.com/shirt.jpg".into()));
}

#[test]
fn a_list_takes_its_button_label_and_sections() {
    let content = content_of(json!({
        "to": "+447700900123", "text": "Pick a slot", "list": {"button": "Slots", "sections": [
            {"title": "Monday", "rows": [{"id": "mon-9", "title": "09:00", "description": "with Ana"}]}
        ]}
    }))
    .unwrap();

    let OutboundContent::List { button_label, sections, .. } = content else { panic!() };
    assert_eq!(button_label, "Slots");
    assert_eq!(sections[0].rows[0].description.as_deref(), Some("with Ana"));
}

#[test]
fn a_file_with_text_is_sent_with_the_text_as_its_caption() {
    let content = content_of(json!({
        "to": "+447700900123", "text": "Your invoice",
        "media": {"kind": "document", "id": "1234", "filename": "invoice.pdf"}
    }))
    .unwrap();

    assert_eq!(
        content,
        OutboundContent::Media {
            media: MediaKind::Document,
            source: MediaSource::Id("1234".into()),
            caption: Some("Your invoice".into()),
            filename: Some("invoice.pdf".into()),
        }
    );
}

#[test]
fn a_reaction_stands_alone() {
    let reaction = content_of(json!({"to": "+447700900123", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}));
    let with_text =
        content_of(json!({"to": "+447700900123", "text": "x", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}));

    assert!(matches!(reaction, Ok(OutboundContent::Reaction { .. })));
    assert_eq!(with_text.unwrap_err().field, "text");
}

#[test]
fn a_template_with_anything_else_is_refused_naming_the_other_field() {
    let error = content_of(json!({
        "to": "+447700900123", "template": {"name": "hello", "language": "en"}, "buttons": [{"id": "a", "title": "A"}]
    }))
    .unwrap_err();

    assert_eq!(error.field, "buttons");
}

#[test]
fn buttons_and_a_list_together_are_refused() {
    let error = content_of(json!({
        "to": "+447700900123", "text": "?", "buttons": [{"id": "a", "title": "A"}],
        "list": {"button": "Go", "sections": [{"rows": [{"id": "b", "title": "B"}]}]}
    }))
    .unwrap_err();

    assert_eq!(error.field, "list");
}

#[test]
fn a_list_with_a_file_is_refused() {
    let error = content_of(json!({
        "to": "+447700900123", "text": "?", "media": {"kind": "image", "id": "1"},
        "list": {"button": "Go", "sections": [{"rows": [{"id": "b", "title": "B"}]}]}
    }))
    .unwrap_err();

    assert_eq!(error.field, "media");
}

#[test]
fn buttons_without_a_body_are_refused() {
    let error = content_of(json!({"to": "+447700900123", "buttons": [{"id": "a", "title": "A"}]})).unwrap_err();

    assert_eq!(error.field, "text");
    assert!(error.message.contains("body"));
}

#[test]
fn a_header_on_a_plain_text_is_refused() {
    let error = content_of(json!({"to": "+447700900123", "text": "Hi", "header": "Hello"})).unwrap_err();

    assert_eq!(error.field, "header");
}

#[test]
fn an_order_with_nothing_to_send_is_refused() {
    let error = content_of(json!({"to": "+447700900123"})).unwrap_err();

    assert_eq!(error.field, "text");
}

#[test]
fn a_link_or_an_id_needs_its_kind() {
    let error = content_of(json!({"to": "+447700900123", "media": {"link": "https://x.example/a.jpg"}})).unwrap_err();

    assert_eq!(error.field, "media.kind");
}

#[test]
fn a_file_needs_exactly_one_source() {
    let error = content_of(
        json!({"to": "+447700900123", "media": {"kind": "image", "id": "1", "link": "https://x.example/a"}}),
    )
    .unwrap_err();

    assert_eq!(error.field, "media");
}

#[test]
fn a_key_that_is_not_an_upload_is_refused_so_users_files_cannot_be_forwarded() {
    let error = order(json!({"to": "+447700900123", "media": {"key": "in/abc"}})).file().unwrap_err();

    assert_eq!(error.field, "media.key");
}

#[test]
fn a_file_name_with_a_path_is_refused() {
    let error =
        order(json!({"to": "+447700900123", "media": {"kind": "document", "id": "1", "filename": "../etc/passwd"}}))
            .file()
            .unwrap_err();

    assert_eq!(error.field, "media.filename");
}

#[test]
fn an_upload_takes_its_kind_and_name_from_the_store() {
    let key = MediaKey::upload(uuid::Uuid::now_v7());
    let file = FileRef::Upload { kind: None, key: key.clone(), filename: None };

    let (kind, source, filename) = file
        .resolve(Some(UploadFacts { mime_type: "image/png".into(), size: 1000, filename: Some("a.png".into()) }))
        .unwrap();

    assert_eq!(kind, MediaKind::Image);
    assert_eq!(source, MediaSource::Stored { key, mime_type: "image/png".into() });
    assert_eq!(filename.as_deref(), Some("a.png"));
}

#[test]
fn an_upload_over_metas_limit_for_its_kind_is_refused_naming_the_limit() {
    let file =
        FileRef::Upload { kind: Some(MediaKind::Image), key: MediaKey::upload(uuid::Uuid::now_v7()), filename: None };

    let error = file
        .resolve(Some(UploadFacts { mime_type: "image/png".into(), size: 6 * 1024 * 1024, filename: None }))
        .unwrap_err();

    assert_eq!(error.field, "media");
    assert!(error.message.contains("at most 5242880 bytes"), "{}", error.message);
}

#[test]
fn an_upload_that_is_not_there_is_refused() {
    let file = FileRef::Upload { kind: None, key: MediaKey::upload(uuid::Uuid::now_v7()), filename: None };

    assert_eq!(file.resolve(None).unwrap_err().field, "media.key");
}

#[test]
fn an_unknown_field_is_refused_by_name() {
    let error = serde_json::from_value::<SendOrder>(json!({"to": "+447700900123", "txt": "Hi"})).unwrap_err();

    assert!(error.to_string().contains("unknown field `txt`"));
}

#[test]
fn to_and_to_user_id_together_are_refused() {
    let error = order(json!({"to": "+447700900123", "to_user_id": "US.1", "text": "x"})).addressing().unwrap_err();

    assert_eq!(error.field, "to");
}
