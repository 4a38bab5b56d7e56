//! The WhatsApp Cloud API (Graph) gateway: a small typed client on reqwest with tracing
//! middleware. Every outbound call carries `traceparent` and `X-Trace-Id`. Failures are
//! classified once, by Meta's error `code`, through the shared policy
//! ([`switchboard_domain::SendFailure`]); a timeout after the request left is reported
//! as such, because Meta may have accepted the message.

use std::time::Duration;

use async_trait::async_trait;
use reqwest_middleware::{ClientWithMiddleware, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use switchboard_application::ports::{MediaFile, SendError, SendReceipt, WhatsAppGateway, WhatsAppMedia};
use switchboard_domain::SendFailure;
use switchboard_domain::{MediaKind, MediaSource, OutboundContent, OutboundMessage, TemplateParameter, Wamid};
use switchboard_shared::{TraceContext, secrets};

use super::http;

#[derive(Debug, Clone)]
pub struct GraphSettings {
    /// `https://graph.facebook.com` (a fake in tests).
    pub base_url: String,
    /// `v25.0`.
    pub api_version: String,
    pub access_token: SecretString,
    pub timeout: Duration,
}

pub struct GraphWhatsApp {
    http: ClientWithMiddleware,
    settings: GraphSettings,
}

/// Largest media file downloaded (WhatsApp's own limit is 100 MB for documents).
const MAX_MEDIA_BYTES: usize = 100 * 1024 * 1024;

impl GraphWhatsApp {
    pub fn new(settings: GraphSettings) -> anyhow::Result<Self> {
        Ok(Self { http: http::client(settings.timeout)?, settings })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{}", self.settings.base_url, self.settings.api_version, path)
    }

    fn authorised(&self, request: RequestBuilder, trace: &TraceContext) -> RequestBuilder {
        request
            .bearer_auth(self.settings.access_token.expose_secret())
            .header("traceparent", trace.to_traceparent())
            .header("x-trace-id", trace.trace_id.to_string())
    }

    /// Sends the request and reads a JSON answer, classifying every failure.
    async fn call(&self, request: RequestBuilder) -> Result<Value, SendError> {
        let result = self.call_uncounted(request).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(SendError::Timeout(_)) => "timeout",
            Err(SendError::Network(_)) => "network",
            Err(_) => "graph_error",
        };
        count_call(outcome);
        if let Err(SendError::Graph { code, failure, .. }) = &result {
            // Known codes only: a label set that Meta cannot grow.
            let code = if *failure == SendFailure::Unknown { String::from("other") } else { code.to_string() };
            metrics::counter!("whatsapp_api_errors_total", "code" => code).increment(1);
        }
        result
    }

    async fn call_uncounted(&self, request: RequestBuilder) -> Result<Value, SendError> {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SendError::Timeout(format!("reading the answer: {}", http::describe_reqwest(&e))))?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return body.ok_or_else(|| SendError::Timeout(String::from("Graph answered 2xx without JSON")));
        }
        Err(graph_error(status.as_u16(), body.as_ref()))
    }
}

/// One Graph call in `whatsapp_api_calls_total`: `status` success or error (every failure,
/// timeouts and network errors included, as the runbook's queries expect) and the finer
/// `outcome` (ok, timeout, network, graph_error).
pub fn count_call(outcome: &'static str) {
    let status = if outcome == "ok" { "success" } else { "error" };
    metrics::counter!("whatsapp_api_calls_total", "status" => status, "outcome" => outcome).increment(1);
}

fn transport_error(e: reqwest_middleware::Error) -> SendError {
    match &e {
        reqwest_middleware::Error::Reqwest(inner) if inner.is_connect() => SendError::Network(http::describe(&e)),
        reqwest_middleware::Error::Reqwest(inner) if inner.is_builder() => SendError::Network(http::describe(&e)),
        // Timed out or cut after the request may have left: Meta may have it.
        _ => SendError::Timeout(http::describe(&e)),
    }
}

/// Meta's error envelope: `{"error": {"message", "type", "code", "error_data": {"details"}, ...}}`.
fn graph_error(status: u16, body: Option<&Value>) -> SendError {
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
                                TemplateParameter::Text { text } => json!({ "type": "text", "text": text }),
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
        OutboundContent::Buttons { header, body, footer, buttons } => {
            let mut interactive = json!({
                "type": "button",
                "body": text_object(body),
                "action": { "buttons": buttons.iter().map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } })).collect::<Vec<_>>() },
            });
            if let Some(h) = header {
                interactive["header"] = header_object(h);
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
            let mut object = match source {
                MediaSource::Id(id) => json!({ "id": id }),
                MediaSource::Link(link) => json!({ "link": link }),
            };
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

#[async_trait]
impl WhatsAppGateway for GraphWhatsApp {
    #[tracing::instrument(name = "graph.send", skip_all, fields(trace_id = %trace.trace_id, to = %message.to.key().masked(), kind = message.content.kind_name(), wamid))]
    async fn send(
        &self,
        message: &OutboundMessage,
        callback_data: Option<String>,
        trace: &TraceContext,
    ) -> Result<SendReceipt, SendError> {
        message.content.validate()?;
        let body = message_body(message, callback_data.as_deref());
        let request = self
            .authorised(self.http.post(self.url(&format!("{}/messages", message.from_number_id))), trace)
            .json(&body);
        let answer =
            self.call(request).await.inspect_err(|e| tracing::warn!(error = %e, "Graph refused the message"))?;
        let id = answer.pointer("/messages/0/id").and_then(Value::as_str).unwrap_or_default();
        let provider_id = Wamid::parse(id)
            .map_err(|_| SendError::Timeout(String::from("Graph accepted the message but sent no message id")))?;
        tracing::Span::current().record("wamid", provider_id.as_str());
        Ok(SendReceipt { provider_id })
    }

    #[tracing::instrument(name = "graph.mark_read", skip_all, fields(trace_id = %trace.trace_id, wamid = %wamid))]
    async fn mark_read(&self, business_number_id: &str, wamid: &Wamid, trace: &TraceContext) -> Result<(), SendError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid.as_str(),
            "typing_indicator": { "type": "text" },
        });
        let request =
            self.authorised(self.http.post(self.url(&format!("{business_number_id}/messages"))), trace).json(&body);
        self.call(request).await.map(|_| ())
    }
}

#[async_trait]
impl WhatsAppMedia for GraphWhatsApp {
    #[tracing::instrument(name = "graph.download_media", skip_all, fields(trace_id = %trace.trace_id, media_id))]
    async fn download(&self, media_id: &str, trace: &TraceContext) -> Result<MediaFile, SendError> {
        let meta = self.call(self.authorised(self.http.get(self.url(media_id)), trace)).await?;
        let url = meta.get("url").and_then(Value::as_str).ok_or_else(|| SendError::Graph {
            code: 100,
            failure: SendFailure::BadParameter,
            message: String::from("media has no url"),
        })?;
        let mime_type = meta.get("mime_type").and_then(Value::as_str).unwrap_or("application/octet-stream").to_owned();
        // The URL lives five minutes and needs the same token.
        let response = self.authorised(self.http.get(url), trace).send().await.map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(graph_error(status.as_u16(), None));
        }
        if response.content_length().is_some_and(|n| n > MAX_MEDIA_BYTES as u64) {
            return Err(SendError::Graph {
                code: 100,
                failure: SendFailure::BadParameter,
                message: String::from("media larger than 100 MB"),
            });
        }
        let bytes = response.bytes().await.map_err(|e| SendError::Timeout(http::describe_reqwest(&e)))?;
        Ok(MediaFile { mime_type, bytes: bytes.to_vec() })
    }

    #[tracing::instrument(name = "graph.upload_media", skip_all, fields(trace_id = %trace.trace_id, bytes = file.bytes.len()))]
    async fn upload(
        &self,
        from_number_id: &str,
        file: MediaFile,
        filename: &str,
        trace: &TraceContext,
    ) -> Result<String, SendError> {
        let part = reqwest::multipart::Part::bytes(file.bytes)
            .file_name(filename.to_owned())
            .mime_str(&file.mime_type)
            .map_err(|e| SendError::Graph { code: 100, failure: SendFailure::BadParameter, message: e.to_string() })?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", file.mime_type.clone())
            .part("file", part);
        let request =
            self.authorised(self.http.post(self.url(&format!("{from_number_id}/media"))), trace).multipart(form);
        let answer = self.call(request).await?;
        answer.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| SendError::Graph {
            code: 100,
            failure: SendFailure::BadParameter,
            message: String::from("upload answered without an id"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::{ListRow, ListSection, ReplyButton, TemplateComponent, WhatsAppUser};
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
                    parameters: vec![TemplateParameter::Text { text: "Amelia".into() }],
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
                rows: vec![ListRow {
                    id: "express".into(),
                    title: "Express".into(),
                    description: Some("1-2 days".into()),
                }],
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

        let error =
            graph.send(&message(OutboundContent::text("Hi")), None, &TraceContext::new_root()).await.unwrap_err();

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
}
