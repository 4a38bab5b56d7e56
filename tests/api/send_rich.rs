//! The send API and the A2A `deliver` skill send what WhatsApp can carry: an uploaded
//! file, reply buttons with an image header, a list and a reaction; every limit is
//! checked before anything is stored, and the refusal names it; an email fallback
//! attaches the file.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::fakes::{FakeGraph, SmtpSink};
use crate::helpers::*;

const USER: &str = "447700900640";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn png(n: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(n, 3);
    bytes
}

async fn upload(app: &TestApp, bytes: &[u8], content_type: Option<&str>, filename: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/api/v1/media?filename={filename}", app.address))
        .header("x-api-key", API_KEY)
        .body(bytes.to_vec());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.unwrap()
}

async fn upload_ok(app: &TestApp, bytes: &[u8], content_type: &str, filename: &str) -> Value {
    let response = upload(app, bytes, Some(content_type), filename).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

/// The user writes first, so the 24-hour window is open for free-form messages.
async fn open_window(app: &TestApp, wamid: &str) {
    app.post_webhook(&text_messages(USER, &[(wamid, now(), "hello")])).await;
}

async fn refusal(app: &TestApp, body: Value) -> String {
    let response = app.send_message(body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_request", "{body}");
    body["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn live_an_uploaded_image_goes_to_graph_as_the_header_of_three_buttons_then_a_list_and_a_reaction_follow() {
    let graph = FakeGraph::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{BUSINESS_NUMBER_ID}/media")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "graph-media-77"})))
        .mount(&graph.server)
        .await;
    let app = spawn_live_app(&graph, None, &[]).await;
    open_window(&app, "wamid.RICH.1").await;
    let image = png(2048);

    let uploaded = upload_ok(&app, &image, "image/png", "menu.png").await;
    let buttons = app
        .send_ok(json!({
            "to": USER, "channel": "whatsapp", "text": "Today's menu. What would you like?", "footer": "Kitchen open till 9",
            "media": {"key": uploaded["key"]},
            "buttons": [{"id": "soup", "title": "Soup"}, {"id": "salad", "title": "Salad"}, {"id": "stew", "title": "Stew"}]
        }))
        .await;
    app.wait_for_state(&buttons, "sent").await;
    let list = app
        .send_ok(json!({
            "to": USER, "channel": "whatsapp", "text": "Pick a table", "list": {"button": "Tables", "sections": [
                {"title": "Inside", "rows": [{"id": "t1", "title": "Table 1", "description": "by the window"}]},
                {"title": "Terrace", "rows": [{"id": "t9", "title": "Table 9"}]}
            ]}
        }))
        .await;
    app.wait_for_state(&list, "sent").await;
    let reaction = app.send_ok(json!({"to": USER, "reaction": {"message_id": "wamid.RICH.1", "emoji": "👍"}})).await;
    app.wait_for_state(&reaction, "sent").await;

    assert_eq!(uploaded["kind"], "image");
    assert_eq!(uploaded["size"], 2048);
    assert_eq!(uploaded["sha256"], hex::encode(Sha256::digest(&image)));
    let sends = graph.sends();
    let interactive: Vec<&Value> = sends.iter().filter(|s| s["type"] == "interactive").collect();
    assert_eq!(interactive.len(), 2, "{sends:#?}");
    let offered = &interactive[0]["interactive"];
    assert_eq!(offered["type"], "button");
    assert_eq!(offered["header"], json!({"type": "image", "image": {"id": "graph-media-77"}}));
    assert_eq!(offered["body"]["text"], "Today's menu. What would you like?");
    assert_eq!(offered["footer"]["text"], "Kitchen open till 9");
    assert_eq!(offered["action"]["buttons"].as_array().unwrap().len(), 3);
    let listed = &interactive[1]["interactive"];
    assert_eq!(listed["type"], "list");
    assert_eq!(listed["action"]["button"], "Tables");
    assert_eq!(listed["action"]["sections"][0]["rows"][0]["description"], "by the window");
    let reacted = sends.iter().find(|s| s["type"] == "reaction").expect("a reaction was sent");
    assert_eq!(reacted["reaction"], json!({"message_id": "wamid.RICH.1", "emoji": "👍"}));
    let uploads: Vec<_> = graph
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/media"))
        .collect();
    assert_eq!(uploads.len(), 1);
    let multipart = String::from_utf8_lossy(&uploads[0].body);
    assert!(multipart.contains("filename=\"menu.png\"") && multipart.contains("image/png"), "{multipart}");
}

#[tokio::test]
async fn every_broken_limit_is_refused_by_name_before_anything_is_stored() {
    let app = spawn_app().await;
    let stored_before = app.count("SELECT COUNT(*) FROM deliveries").await;

    let long_title = refusal(
        &app,
        json!({"to": USER, "text": "Pick", "buttons": [{"id": "a", "title": "A title of twenty-five c"}]}),
    )
    .await;
    let four_buttons = refusal(
        &app,
        json!({"to": USER, "text": "Pick", "buttons": [
            {"id": "a", "title": "A"}, {"id": "b", "title": "B"}, {"id": "c", "title": "C"}, {"id": "d", "title": "D"}]}),
    )
    .await;
    let eleven_rows = refusal(
        &app,
        json!({"to": USER, "text": "Pick", "list": {"button": "Go", "sections": [{"rows":
            (0..11).map(|i| json!({"id": format!("r{i}"), "title": format!("Row {i}")})).collect::<Vec<_>>()}]}}),
    )
    .await;
    let insecure =
        refusal(&app, json!({"to": USER, "media": {"kind": "image", "link": "http://example.com/a.png"}})).await;
    let caption_on_audio = refusal(
        &app,
        json!({"to": USER, "text": "listen", "media": {"kind": "audio", "link": "https://example.com/a.ogg"}}),
    )
    .await;
    let not_uploaded =
        refusal(&app, json!({"to": USER, "media": {"key": "up/0193a1b2-7c4d-7e5f-8a9b-0c1d2e3f4a5b"}})).await;
    let a_users_file = refusal(&app, json!({"to": USER, "media": {"key": "in/abcdef"}})).await;
    let misspelt = app.send_message(json!({"to": USER, "txt": "hi"})).await;
    let misspelt: Value = misspelt.json().await.unwrap();

    assert_eq!(long_title, "content: button title has 24 characters; the limit is 20");
    assert_eq!(four_buttons, "content: reply buttons: 4 given; the limit is 3");
    assert_eq!(eleven_rows, "content: list rows: 11 given; the limit is 10");
    assert_eq!(insecure, "content: media link must be an https URL");
    assert!(caption_on_audio.contains("captions on audio or sticker"), "{caption_on_audio}");
    assert!(not_uploaded.starts_with("media.key: no uploaded file up/0193a1b2"), "{not_uploaded}");
    assert_eq!(a_users_file, "media.key: not a key POST /api/v1/media gave");
    assert!(misspelt["message"].as_str().unwrap().contains("unknown field `txt`"), "{misspelt}");
    assert_eq!(app.count("SELECT COUNT(*) FROM deliveries").await, stored_before, "nothing refused was stored");
}

#[tokio::test]
async fn an_upload_is_checked_against_metas_limits_for_its_kind_and_the_configured_maximum() {
    let app = spawn_app_with(&[("SWITCHBOARD_MEDIA_MAX_BYTES", "7000000")]).await;

    let over_image_limit = upload(&app, &png(5 * 1024 * 1024 + 1), Some("image/png"), "big.png").await;
    let over_image_limit_status = over_image_limit.status();
    let over_image_limit: Value = over_image_limit.json().await.unwrap();
    let gif = upload_ok(&app, b"GIF89a....", "image/gif", "a.gif").await;
    let gif_as_image = app.send_message(json!({"to": USER, "media": {"key": gif["key"], "kind": "image"}})).await;
    let gif_as_image_status = gif_as_image.status();
    let gif_as_image: Value = gif_as_image.json().await.unwrap();
    let untyped = upload(&app, b"bytes", None, "a.bin").await.status();
    let empty = upload(&app, b"", Some("application/pdf"), "a.pdf").await.status();
    let pathy = upload(&app, b"%PDF-1.7", Some("application/pdf"), "..%2Fetc%2Fpasswd").await;
    let pathy_status = pathy.status();
    let pathy: Value = pathy.json().await.unwrap();
    let over_maximum = upload(&app, &vec![0u8; 7_000_001], Some("video/mp4"), "v.mp4").await;
    let over_maximum_status = over_maximum.status();
    let over_maximum: Value = over_maximum.json().await.unwrap();
    let pdf = upload_ok(&app, b"%PDF-1.7 a small invoice", "application/pdf", "invoice.pdf").await;

    assert_eq!(over_image_limit_status, 400);
    assert_eq!(over_image_limit["message"], "body: image files may be at most 5242880 bytes; this one has 5242881");
    assert_eq!(gif["kind"], "document", "Meta takes no GIF as an image; it goes as a document");
    assert_eq!(gif_as_image_status, 400);
    let why = gif_as_image["message"].as_str().unwrap();
    assert!(why.starts_with("media: image files may not be image/gif; Meta accepts image/jpeg"), "{why}");
    assert_eq!(untyped, 400);
    assert_eq!(empty, 400);
    assert_eq!(pathy_status, 400);
    assert!(pathy["message"].as_str().unwrap().starts_with("filename:"), "{pathy}");
    assert_eq!(over_maximum_status, 413, "{over_maximum}");
    assert_eq!(over_maximum["code"], "payload_too_large");
    assert_eq!(pdf["kind"], "document");
    assert_eq!(pdf["filename"], "invoice.pdf");
    assert!(pdf["key"].as_str().unwrap().starts_with("up/"));
}

#[tokio::test]
async fn the_deliver_skill_sends_a_file_part_as_the_header_of_its_buttons() {
    let app = spawn_app().await;
    open_window(&app, "wamid.RICH.2").await;
    app.wait_for_replies(1).await;
    let image = png(512);

    let answer = app
        .a2a(
            "SendMessage",
            json!({"message": {"messageId": "rich-d-1", "role": "ROLE_USER", "parts": [
                {"raw": switchboard_domain::media::base64(&image), "mediaType": "image/png", "filename": "receipt.png"},
                {"data": {"to": USER, "channel": "whatsapp", "from_number_id": BUSINESS_NUMBER_ID,
                          "text": "Your receipt. Was the delivery on time?",
                          "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]}}
            ]}}),
        )
        .await;
    assert_eq!(answer["result"]["task"]["status"]["state"], "TASK_STATE_COMPLETED", "{answer:#}");
    let refused = app
        .a2a(
            "SendMessage",
            json!({"message": {"messageId": "rich-d-2", "role": "ROLE_USER", "parts": [
                {"raw": switchboard_domain::media::base64(b"OggS voice"), "mediaType": "audio/ogg"},
                {"data": {"to": USER, "text": "x", "buttons": [{"id": "a", "title": "A"}]}}
            ]}}),
        )
        .await;
    let replies = app.wait_for_replies(2).await;

    assert_eq!(answer["result"]["task"]["status"]["state"], "TASK_STATE_COMPLETED", "{answer:#}");
    let sent = &replies[1]["message"]["content"];
    assert_eq!(sent["kind"], "buttons", "{sent:#}");
    assert_eq!(sent["body"], "Your receipt. Was the delivery on time?");
    assert_eq!(sent["media_header"]["media"], "image");
    assert_eq!(sent["media_header"]["filename"], "receipt.png");
    assert_eq!(sent["media_header"]["source"]["by"], "id", "uploaded before sending: {sent:#}");
    let task = &refused["result"]["task"];
    assert_eq!(task["status"]["state"], "TASK_STATE_REJECTED");
    let why = task["status"]["message"]["parts"][0]["text"].as_str().unwrap();
    assert!(why.contains("a reply-button header may be an image, a video or a document, not audio"), "{why}");
    assert_eq!(replies.len(), 2, "nothing was sent for the refused order");
}

#[tokio::test]
async fn an_email_fallback_attaches_the_uploaded_file() {
    let graph = FakeGraph::start().await;
    let smtp = SmtpSink::start().await;
    let app = spawn_live_app(&graph, Some(&smtp), &[]).await;
    let pdf = b"%PDF-1.7 the invoice for order 1042".to_vec();

    let uploaded = upload_ok(&app, &pdf, "application/pdf", "invoice-1042.pdf").await;
    let id = app
        .send_ok(json!({
            "to": "447700900641", "channel": "email", "email": "lena@example.com",
            "text": "Your invoice is attached", "media": {"key": uploaded["key"]}
        }))
        .await;
    let emails = smtp.wait_for(1).await;
    app.wait_for_state(&id, "sent").await;

    let email = &emails[0];
    assert!(email.contains("To: lena@example.com"), "{email}");
    assert!(email.contains("Your invoice is attached"), "{email}");
    assert!(email.contains("invoice-1042.pdf") && email.contains("application/pdf"), "{email}");
    assert!(email.contains("%PDF-1.7 the invoice for order 1042"), "the bytes are attached: {email}");
    assert!(graph.sends().is_empty());
}
