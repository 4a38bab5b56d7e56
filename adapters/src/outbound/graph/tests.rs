use super::*;
use switchboard_domain::{
    ListRow, ListSection, MediaKind, MediaSource, OutboundContent, ReplyButton, TemplateComponent, TemplateParameter,
    WhatsAppUser,
};
use wiremock::matchers::{body_json, body_string_contains, header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn gateway(server: &MockServer, timeout_ms: u64) -> GraphWhatsApp {
    GraphWhatsApp::new(GraphSettings {
        base_url: server.uri(),
        api_version: "v25.0".into(),
        access_token: SecretString::from("test-token"),
        timeout: Duration::from_millis(timeout_ms),
    })
    .unwrap()
}

fn message(content: OutboundContent) -> OutboundMessage {
    OutboundMessage {
        to: WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap(),
        from_number_id: "109876543210987".into(),
        content,
        reply_to: Some(Wamid::parse("wamid.IN").unwrap()),
    }
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": "447700900123", "wa_id": "447700900123"}],
        "messages": [{"id": "wamid.SENT"}]
    }))
}

async fn expect_body(content: OutboundContent, expected_kind: &str, expected: Value) {
    let server = MockServer::start().await;
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "447700900123",
        "context": {"message_id": "wamid.IN"},
        "biz_opaque_callback_data": "delivery-1",
        "type": expected_kind,
    });
    body[expected_kind] = expected;
    Mock::given(method("POST"))
        .and(path("/v25.0/109876543210987/messages"))
        .and(header("authorization", "Bearer test-token"))
        .and(header_exists("traceparent"))
        .and(body_json(body))
        .respond_with(accepted())
        .expect(1)
        .mount(&server)
        .await;

    let receipt = gateway(&server, 2000)
        .send(&message(content), Some("delivery-1".into()), &TraceContext::new_root())
        .await
        .unwrap();

    assert_eq!(receipt.provider_id.as_str(), "wamid.SENT");
}

#[tokio::test]
async fn text_is_sent_with_preview_url() {
    expect_body(
        OutboundContent::Text { body: "Hi".into(), preview_url: true },
        "text",
        json!({"body": "Hi", "preview_url": true}),
    )
    .await;
}

#[tokio::test]
async fn a_template_is_sent_with_language_and_parameters() {
    let content = OutboundContent::Template {
        name: "order_update".into(),
        language: "en_US".into(),
        components: vec![
            TemplateComponent {
                kind: "body".into(),
                sub_type: None,
                index: None,
                parameters: vec![TemplateParameter::text("Amelia")],
            },
            TemplateComponent {
                kind: "button".into(),
                sub_type: Some("quick_reply".into()),
                index: Some(0),
                parameters: vec![TemplateParameter::Other(json!({"type": "payload", "payload": "STOP"}))],
            },
        ],
    };
    expect_body(
        content,
        "template",
        json!({
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Amelia"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "STOP"}]}
            ]
        }),
    )
    .await;
}

#[tokio::test]
async fn reply_buttons_are_sent_as_an_interactive_button_message() {
    let content = OutboundContent::Buttons {
        header: Some("Delivery".into()),
        body: "When should we come?".into(),
        footer: Some("Reply with a button".into()),
        buttons: vec![
            ReplyButton { id: "am".into(), title: "Morning".into() },
            ReplyButton { id: "pm".into(), title: "Afternoon".into() },
        ],
        media_header: None,
    };
    expect_body(
        content,
        "interactive",
        json!({
            "type": "button",
            "header": {"type": "text", "text": "Delivery"},
            "body": {"text": "When should we come?"},
            "footer": {"text": "Reply with a button"},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": "am", "title": "Morning"}},
                {"type": "reply", "reply": {"id": "pm", "title": "Afternoon"}}
            ]}
        }),
    )
    .await;
}

#[tokio::test]
async fn a_list_is_sent_with_its_sections_and_rows() {
    let content = OutboundContent::List {
        header: None,
        body: "Pick a shipping option".into(),
        footer: None,
        button_label: "Options".into(),
        sections: vec![ListSection {
            title: Some("Shipping".into()),
            rows: vec![ListRow { id: "express".into(), title: "Express".into(), description: Some("1-2 days".into()) }],
        }],
    };
    expect_body(
        content,
        "interactive",
        json!({
            "type": "list",
            "body": {"text": "Pick a shipping option"},
            "action": {"button": "Options", "sections": [{"title": "Shipping", "rows": [{"id": "express", "title": "Express", "description": "1-2 days"}]}]}
        }),
    )
    .await;
}

#[tokio::test]
async fn a_document_is_sent_by_link_with_caption_and_filename() {
    let content = OutboundContent::Media {
        media: MediaKind::Document,
        source: MediaSource::Link("https://example.com/invoice.pdf".into()),
        caption: Some("Your invoice".into()),
        filename: Some("invoice.pdf".into()),
    };
    expect_body(
        content,
        "document",
        json!({"link": "https://example.com/invoice.pdf", "caption": "Your invoice", "filename": "invoice.pdf"}),
    )
    .await;
}

#[tokio::test]
async fn an_image_audio_video_and_sticker_are_sent_by_media_id() {
    for (kind, caption) in [
        (MediaKind::Image, Some("Look")),
        (MediaKind::Video, Some("Watch")),
        (MediaKind::Audio, None),
        (MediaKind::Sticker, None),
    ] {
        let content = OutboundContent::Media {
            media: kind,
            source: MediaSource::Id("123".into()),
            caption: caption.map(Into::into),
            filename: None,
        };
        let mut expected = json!({"id": "123"});
        if let Some(c) = caption {
            expected["caption"] = json!(c);
        }
        expect_body(content, kind.as_str(), expected).await;
    }
}

#[tokio::test]
async fn a_reaction_is_sent() {
    expect_body(
        OutboundContent::Reaction { message_id: "wamid.X".into(), emoji: "👍".into() },
        "reaction",
        json!({"message_id": "wamid.X", "emoji": "👍"}),
    )
    .await;
}

#[tokio::test]
async fn content_over_a_limit_is_refused_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted()).expect(0).mount(&server).await;
    let four = OutboundContent::Buttons {
        header: None,
        body: "b".into(),
        footer: None,
        buttons: (0..4).map(|i| ReplyButton { id: format!("{i}"), title: "t".into() }).collect(),
        media_header: None,
    };

    let error = gateway(&server, 2000).send(&message(four), None, &TraceContext::new_root()).await.unwrap_err();

    assert!(error.to_string().contains("reply buttons: 4 given; the limit is 3"), "{error}");
}

#[tokio::test]
async fn every_graph_error_code_is_classified_by_the_shared_policy() {
    use switchboard_domain::SendAction::*;
    let cases = [
        (130429, 400, RetryWithBackoff),
        (80007, 400, RetryWithBackoff),
        (4, 403, RetryWithBackoff),
        (131056, 400, PaceRecipient),
        (131000, 500, RetryWithBackoff),
        (190, 401, StopAndAlert),
        (131047, 400, NeedsTemplate),
        (131026, 400, FallBack),
        (131050, 400, NeverRetry),
        (132001, 400, NeverRetry),
        (100, 400, NeverRetry),
        (368, 403, StopAndAlert),
    ];
    for (code, status, action) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "error": {"message": "Meta says no", "type": "OAuthException", "code": code, "error_data": {"details": "because"}, "fbtrace_id": "A1"}
            })))
            .mount(&server)
            .await;

        let error = gateway(&server, 2000)
            .send(&message(OutboundContent::text("Hi")), None, &TraceContext::new_root())
            .await
            .unwrap_err();

        assert_eq!(error.action(), action, "code {code}");
        assert!(error.to_string().contains(&code.to_string()) && error.to_string().contains("because"), "{error}");
    }
}

#[tokio::test]
async fn a_429_without_a_body_is_a_throttle_and_a_502_is_transient() {
    for (status, failure) in
        [(429, SendFailure::Throttled), (502, SendFailure::Transient), (401, SendFailure::AuthFailed)]
    {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(status)).mount(&server).await;

        let error = gateway(&server, 2000)
            .send(&message(OutboundContent::text("Hi")), None, &TraceContext::new_root())
            .await
            .unwrap_err();

        assert!(matches!(error, SendError::Graph { failure: f, .. } if f == failure), "{status}: {error}");
    }
}

#[tokio::test]
async fn a_timeout_is_reported_as_possibly_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(accepted().set_delay(Duration::from_millis(500))).mount(&server).await;

    let error = gateway(&server, 100)
        .send(&message(OutboundContent::text("Hi")), None, &TraceContext::new_root())
        .await
        .unwrap_err();

    assert!(matches!(error, SendError::Timeout(_)), "{error}");
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error_that_did_not_send() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let graph = GraphWhatsApp::new(GraphSettings {
        base_url: format!("http://127.0.0.1:{unused}"),
        api_version: "v25.0".into(),
        access_token: SecretString::from("t"),
        timeout: Duration::from_secs(1),
    })
    .unwrap();

    let error = graph.send(&message(OutboundContent::text("Hi")), None, &TraceContext::new_root()).await.unwrap_err();

    assert!(matches!(error, SendError::Network(_)), "{error}");
}

#[tokio::test]
async fn mark_read_shows_the_typing_indicator() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v25.0/109876543210987/messages"))
        .and(body_json(json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN", "typing_indicator": {"type": "text"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;

    gateway(&server, 2000)
        .mark_read("109876543210987", &Wamid::parse("wamid.IN").unwrap(), &TraceContext::new_root())
        .await
        .unwrap();
}

#[tokio::test]
async fn inbound_media_is_downloaded_through_its_short_lived_url_with_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v25.0/3741986066524868"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "url": format!("{}/lookaside/abc", server.uri()), "mime_type": "image/jpeg", "sha256": "x", "file_size": 4
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/lookaside/abc"))
        .and(header("authorization", "Bearer test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"JPEG".to_vec()))
        .mount(&server)
        .await;

    let file = gateway(&server, 2000).download("3741986066524868", &TraceContext::new_root()).await.unwrap();

    assert_eq!(file, MediaFile { mime_type: "image/jpeg".into(), bytes: b"JPEG".to_vec() });
}

#[tokio::test]
async fn media_is_uploaded_as_multipart_and_its_id_returned() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v25.0/109876543210987/media"))
        .and(body_string_contains("messaging_product"))
        .and(body_string_contains("%PDF"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "media-42"})))
        .mount(&server)
        .await;

    let id = gateway(&server, 2000)
        .upload(
            "109876543210987",
            MediaFile { mime_type: "application/pdf".into(), bytes: b"%PDF-1.7".to_vec() },
            "a.pdf",
            &TraceContext::new_root(),
        )
        .await
        .unwrap();

    assert_eq!(id, "media-42");
}
