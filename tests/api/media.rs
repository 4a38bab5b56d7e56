//! Media both ways and choices, end to end: a voice note and a photo reach an official-SDK
//! agent as file parts it opens; its answer with an image and three buttons reaches the
//! user; the user's tap continues the agent's task. In sandbox mode and in live mode
//! against the fake Graph (media metadata, download with the token, upload, send).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::fakes::{FakeGraph, SdkClassifier};
use crate::helpers::*;

const VOICE: &[u8] = b"OggS\x00\x02 a short voice note, forty bytes";
const USER: &str = "447700900777";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A PNG-looking photo of `n` bytes (over the inline limit the tests set).
fn photo(n: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(n, 7);
    bytes
}

fn base64_sha256(bytes: &[u8]) -> String {
    switchboard_domain::media::base64(&Sha256::digest(bytes))
}

fn webhook(message: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "210987654321098", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": BUSINESS_NUMBER_ID},
            "contacts": [{"profile": {"name": "Test User"}, "wa_id": USER}],
            "messages": [message],
        }}]}],
    }))
    .unwrap()
}

/// A user's media message as Meta sends it: the media id and the base64 SHA-256.
fn media_message(wamid: &str, kind: &str, media_id: &str, mime: &str, bytes: &[u8], extra: Value) -> Vec<u8> {
    let mut object = json!({"id": media_id, "mime_type": mime, "sha256": base64_sha256(bytes)});
    if let (Some(object), Some(extra)) = (object.as_object_mut(), extra.as_object()) {
        object.extend(extra.clone());
    }
    webhook(json!({"from": USER, "id": wamid, "timestamp": now().to_string(), "type": kind, kind: object}))
}

fn button_reply(wamid: &str, context: &str, id: &str, title: &str) -> Vec<u8> {
    webhook(json!({
        "from": USER, "id": wamid, "timestamp": now().to_string(), "context": {"from": "15550100200", "id": context},
        "type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": id, "title": title}}
    }))
}

async fn media_agent() -> (SdkClassifier, String) {
    let agent = SdkClassifier::start_script("media_agent.py").await;
    let registry = format!("media={}|acknowledgement", agent.url);
    (agent, registry)
}

fn settings(registry: &str) -> Vec<(&str, &str)> {
    vec![
        ("SWITCHBOARD_AGENTS", registry),
        ("SWITCHBOARD_DEFAULT_AGENT", "media"),
        // The voice note travels inline, the photo by signed link.
        ("SWITCHBOARD_MEDIA_INLINE_MAX_BYTES", "64"),
    ]
}

/// Waits until `sent` gives at least `n` messages.
async fn wait_for<F, Fut>(n: usize, sent: F) -> Vec<Value>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<Value>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = sent().await;
        if messages.len() >= n {
            return messages;
        }
        assert!(Instant::now() < deadline, "only {} of {n} messages after 30 s: {messages:#?}", messages.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sandbox_upload(app: &TestApp, bytes: &[u8], mime: &str) -> String {
    let response = app
        .client
        .post(format!("{}/sandbox/media?filename=upload", app.address))
        .header("x-api-key", API_KEY)
        .header("content-type", mime)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sha256"], hex::encode(Sha256::digest(bytes)));
    assert_eq!(body["file_size"], bytes.len());
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn in_the_sandbox_a_voice_note_and_a_photo_reach_the_agent_as_files_and_its_image_with_buttons_and_the_tap_come_back()
 {
    let (_agent, registry) = media_agent().await;
    let app = spawn_app_with(&settings(&registry)).await;
    let photo = photo(200);
    let voice_id = sandbox_upload(&app, VOICE, "audio/ogg; codecs=opus").await;
    let photo_id = sandbox_upload(&app, &photo, "image/png").await;
    let outbox = || async { app.outbox().await.into_iter().map(|r| r["message"]["content"].clone()).collect() };

    app.post_webhook(&media_message(
        "wamid.V1",
        "audio",
        &voice_id,
        "audio/ogg; codecs=opus",
        VOICE,
        json!({"voice": true}),
    ))
    .await;
    let heard = wait_for(1, outbox).await;
    app.post_webhook(&media_message(
        "wamid.P1",
        "image",
        &photo_id,
        "image/png",
        &photo,
        json!({"caption": "my fence"}),
    ))
    .await;
    let offered = wait_for(2, outbox).await;
    let records = app.outbox().await;
    let buttons_wamid = records[1]["provider_id"].as_str().unwrap().to_owned();
    app.post_webhook(&button_reply("wamid.T1", &buttons_wamid, "slot-2", "Afternoon")).await;
    let all = wait_for(3, outbox).await;

    assert_eq!(
        heard[0]["body"],
        format!("Heard your voice note: audio/ogg; codecs=opus {} bytes inline, sha256 ok.", VOICE.len())
    );
    let buttons = &offered[1];
    assert_eq!(buttons["kind"], "buttons", "{buttons:#}");
    assert_eq!(buttons["body"], "Got your photo: image/png 200 bytes by link, sha256 ok. Which slot suits you?");
    let titles: Vec<&str> =
        buttons["buttons"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Morning", "Afternoon", "Evening"]);
    assert_eq!(buttons["media_header"]["media"], "image");
    assert_eq!(buttons["media_header"]["source"]["by"], "id", "the image was uploaded before sending: {buttons:#}");
    let last = all[2]["body"].as_str().unwrap();
    assert!(last.starts_with("Booked slot-2 in task "), "the tap went back to the agent's task: {last}");
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn live_against_graph_files_are_downloaded_with_the_token_checked_and_the_agents_image_uploaded_and_sent_as_the_buttons_header()
 {
    let (_agent, registry) = media_agent().await;
    let graph = FakeGraph::start().await;
    let photo = photo(300);
    for (id, mime, bytes) in [("media-voice", "audio/ogg", VOICE.to_vec()), ("media-photo", "image/png", photo.clone())]
    {
        Mock::given(method("GET"))
            .and(path(format!("/v25.0/{id}")))
            .and(header("authorization", "Bearer test-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp", "id": id, "mime_type": mime, "file_size": bytes.len(),
                "sha256": hex::encode(Sha256::digest(&bytes)), "url": format!("{}/download/{id}", graph.uri()),
            })))
            .with_priority(1)
            .mount(&graph.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/download/{id}")))
            .and(header("authorization", "Bearer test-token"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes).insert_header("content-type", mime))
            .with_priority(1)
            .mount(&graph.server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{BUSINESS_NUMBER_ID}/media")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "uploaded-plan-1"})))
        .mount(&graph.server)
        .await;
    let app = spawn_live_app(&graph, None, &settings(&registry)).await;
    let sends = || async { graph.sends() };

    app.post_webhook(&media_message("wamid.LV1", "audio", "media-voice", "audio/ogg", VOICE, json!({"voice": true})))
        .await;
    let heard = wait_for(1, sends).await;
    app.post_webhook(&media_message("wamid.LP1", "image", "media-photo", "image/png", &photo, json!({}))).await;
    let offered = wait_for(2, sends).await;
    app.post_webhook(&button_reply("wamid.LT1", "wamid.FAKE.2", "slot-3", "Evening")).await;
    let all = wait_for(3, sends).await;

    assert_eq!(
        heard[0]["text"]["body"],
        format!("Heard your voice note: audio/ogg {} bytes inline, sha256 ok.", VOICE.len())
    );
    let interactive = &offered[1]["interactive"];
    assert_eq!(offered[1]["type"], "interactive");
    assert_eq!(interactive["type"], "button");
    assert_eq!(interactive["header"], json!({"type": "image", "image": {"id": "uploaded-plan-1"}}));
    assert_eq!(
        interactive["body"]["text"],
        "Got your photo: image/png 300 bytes by link, sha256 ok. Which slot suits you?"
    );
    let ids: Vec<&str> = interactive["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reply"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["slot-1", "slot-2", "slot-3"]);
    let uploads: Vec<_> = graph
        .server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with("/media") && r.method.as_str() == "POST")
        .collect();
    assert_eq!(uploads.len(), 1);
    let upload = String::from_utf8_lossy(&uploads[0].body);
    assert!(upload.contains("filename=\"plan.png\"") && upload.contains("image/png"), "{upload}");
    assert!(all[2]["text"]["body"].as_str().unwrap().starts_with("Booked slot-3 in task "), "{:#}", all[2]);
}

#[tokio::test]
async fn a_file_whose_bytes_are_not_what_meta_announced_is_refused_the_user_told_and_nothing_kept() {
    let app = spawn_app().await;
    let photo = photo(100);
    let id = sandbox_upload(&app, &photo, "image/png").await;

    // The webhook announces the hash of other bytes.
    app.post_webhook(&media_message("wamid.H1", "image", &id, "image/png", b"other bytes", json!({}))).await;
    let replies = app.wait_for_replies(1).await;

    let text = replies[0]["message"]["content"]["body"].as_str().unwrap();
    assert!(
        text.starts_with("Sorry, I could not accept your image: the file's bytes do not have the SHA-256"),
        "{text}"
    );
    let kept = std::fs::read_dir(app.db_path.parent().unwrap().join("media/in")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(kept, 0, "nothing of the refused file is kept");
}

#[tokio::test]
async fn a_signed_link_opens_the_file_without_an_api_key_but_not_once_altered() {
    let app = spawn_app().await;
    let photo = photo(120);
    let id = sandbox_upload(&app, &photo, "image/png").await;
    app.post_webhook(&media_message("wamid.S1", "image", &id, "image/png", &photo, json!({}))).await;
    app.wait_for_replies(1).await;
    let hash = hex::encode(Sha256::digest(b"wamid.S1"));

    // A link signed as the service signs them (the key derives from the app secret).
    let links = switchboard_application::usecases::MediaLinks::new(
        &app.address,
        format!("switchboard-media-links:{APP_SECRET}").as_bytes(),
        Duration::from_secs(60),
    );
    let key = switchboard_domain::MediaKey::inbound(&hash).unwrap();
    let link = links.sign(&key, time::OffsetDateTime::now_utc());
    let opened = reqwest::get(&link).await.unwrap();
    let tampered = reqwest::get(link.replace("signature=", "signature=0")).await.unwrap();
    let expired =
        reqwest::get(links.sign(&key, time::OffsetDateTime::now_utc() - time::Duration::hours(2))).await.unwrap();

    assert_eq!(opened.status(), 200);
    assert_eq!(opened.headers()["content-type"], "image/png");
    assert_eq!(opened.bytes().await.unwrap().to_vec(), photo);
    assert_eq!(tampered.status(), 403);
    assert_eq!(tampered.json::<Value>().await.unwrap()["code"], "link_invalid");
    assert_eq!(expired.status(), 410);
    assert_eq!(expired.json::<Value>().await.unwrap()["code"], "link_expired");
}

#[tokio::test]
async fn a_users_photo_and_a_sent_document_show_in_the_management_api_and_the_console_with_links_that_open_them() {
    let app = spawn_app().await;
    let photo = photo(900);
    let photo_id = sandbox_upload(&app, &photo, "image/png").await;
    app.post_webhook(&media_message("wamid.SHOW.1", "image", &photo_id, "image/png", &photo, json!({}))).await;
    app.wait_for_replies(1).await;
    let pdf = b"%PDF-1.7 opening hours".to_vec();
    let uploaded: Value = app
        .client
        .post(format!("{}/api/v1/media?filename=hours.pdf", app.address))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    app.send_ok(json!({"to": USER, "from_number_id": BUSINESS_NUMBER_ID, "text": "Our hours", "media": {"key": uploaded["key"]}}))
        .await;
    app.wait_for_replies(2).await;

    let conversations: Value = app
        .client
        .get(format!("{}/api/v1/conversations", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = conversations["items"][0]["id"].as_str().unwrap().to_owned();
    let messages: Value = app
        .client
        .get(format!("{}/api/v1/conversations/{id}/messages", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let files: Vec<&Value> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["file"].as_object().map(|_| &m["file"]))
        .collect();
    let session = crate::console_admin::signed_in(&app, "ana", switchboard_domain::Role::Operator).await;
    let page = session.get(&format!("/console/conversations/{id}")).await.text().await.unwrap();

    assert_eq!(files.len(), 2, "{messages:#}");
    let (users, sent) = (files[0], files[1]);
    assert_eq!(
        (users["kind"].as_str(), users["mime_type"].as_str(), users["size"].as_u64()),
        (Some("image"), Some("image/png"), Some(900))
    );
    assert_eq!((sent["kind"].as_str(), sent["filename"].as_str()), (Some("document"), Some("hours.pdf")));
    for (file, bytes) in [(users, &photo), (sent, &pdf)] {
        let opened = reqwest::get(file["url"].as_str().unwrap()).await.unwrap();
        assert_eq!(opened.status(), 200, "a signed link opens without an API key");
        assert_eq!(&opened.bytes().await.unwrap().to_vec(), bytes);
    }
    assert!(page.contains("<img class=\"thumb\" src=\"/media/in/"), "the console shows the photo: {page}");
    assert!(page.contains("alt=\"image from the user"), "{page}");
    assert!(page.contains("hours.pdf</a> · application/pdf, 22 B"), "the console links the document: {page}");
}

/// The settings that put the media store on `s3`'s bucket, under `replicas/`.
fn on_s3(s3: &switchboard_testkit::S3Server) -> Vec<(&str, &str)> {
    vec![
        ("SWITCHBOARD_MEDIA_STORE", "s3"),
        ("SWITCHBOARD_MEDIA_S3_ENDPOINT", &s3.endpoint),
        ("SWITCHBOARD_MEDIA_S3_BUCKET", &s3.bucket),
        ("SWITCHBOARD_MEDIA_S3_PREFIX", "replicas/"),
        ("SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID", &s3.access_key_id),
        ("SWITCHBOARD_MEDIA_S3_SECRET_ACCESS_KEY", &s3.secret_access_key),
    ]
}

#[tokio::test]
async fn with_the_media_store_on_s3_a_users_photo_reaches_the_agent_and_its_signed_link_serves_it_from_the_bucket() {
    let s3 = switchboard_testkit::S3Server::start("switchboard-media").unwrap();
    let (_agent, registry) = media_agent().await;
    let app = spawn_app_with(&[settings(&registry), on_s3(&s3)].concat()).await;
    let photo = photo(200);
    let photo_id = sandbox_upload(&app, &photo, "image/png").await;
    let outbox = || async { app.outbox().await.into_iter().map(|r| r["message"]["content"].clone()).collect() };

    app.post_webhook(&media_message("wamid.S3P1", "image", &photo_id, "image/png", &photo, json!({}))).await;
    let offered = wait_for(1, outbox).await;
    let key = switchboard_domain::MediaKey::inbound(&hex::encode(Sha256::digest(b"wamid.S3P1"))).unwrap();
    let links = switchboard_application::usecases::MediaLinks::new(
        &app.address,
        format!("switchboard-media-links:{APP_SECRET}").as_bytes(),
        Duration::from_secs(60),
    );
    let opened = reqwest::get(links.sign(&key, time::OffsetDateTime::now_utc())).await.unwrap();

    assert_eq!(offered[0]["body"], "Got your photo: image/png 200 bytes by link, sha256 ok. Which slot suits you?");
    assert_eq!(offered[0]["media_header"]["source"]["by"], "id", "the agent's image went through the bucket too");
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.bytes().await.unwrap().to_vec(), photo);
    let bucket =
        switchboard_adapters::outbound::media_store::S3MediaStore::new(&switchboard_runtime::config::S3MediaConfig {
            endpoint: s3.endpoint.clone(),
            bucket: s3.bucket.clone(),
            region: "us-east-1".into(),
            prefix: "replicas/".into(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.clone().into(),
        })
        .unwrap();
    use switchboard_application::ports::MediaStore as _;
    assert_eq!(bucket.head(&key).await.unwrap().map(|m| m.size), Some(200), "kept in the bucket");
    assert!(!app.db_path.parent().unwrap().join("media").exists(), "nothing kept on disk");
    assert!(!all_logs().contains(&s3.secret_access_key));
}

#[tokio::test]
async fn on_s3_start_up_stops_naming_the_endpoint_and_bucket_it_cannot_use_and_never_the_secret() {
    let s3 = switchboard_testkit::S3Server::start("switchboard-media").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut source = switchboard_runtime::config::ConfigSource::from_pairs([
        ("SWITCHBOARD_MODE", "sandbox"),
        ("SWITCHBOARD_PORT", "0"),
        ("SWITCHBOARD_DATA_DIR", dir.path().to_str().unwrap()),
    ]);
    for (key, value) in on_s3(&s3) {
        source.set(key, value);
    }
    source.set("SWITCHBOARD_MEDIA_S3_BUCKET", "no-such-bucket");
    let config = switchboard_runtime::Config::from_source(&source).unwrap();

    let refused = switchboard::Application::build(config).await.err().map(|e| format!("{e:#}")).unwrap_or_default();

    assert!(refused.contains(&format!("{}/no-such-bucket", s3.endpoint)), "{refused}");
    assert!(refused.contains("there is no such bucket"), "{refused}");
    assert!(!refused.contains(&s3.secret_access_key), "{refused}");
}

#[tokio::test]
async fn every_media_kind_goes_in_to_the_agent_and_out_to_the_user() {
    let app = spawn_app().await;
    let kinds: [(&str, &str, Vec<u8>); 5] = [
        ("image", "image/jpeg", b"\xff\xd8\xff a jpeg".to_vec()),
        ("audio", "audio/ogg", VOICE.to_vec()),
        ("video", "video/mp4", b"\x00\x00\x00\x18ftypmp42 a video".to_vec()),
        ("document", "application/pdf", b"%PDF-1.7 a document".to_vec()),
        ("sticker", "image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 a sticker".to_vec()),
    ];

    for (n, (kind, mime, bytes)) in kinds.iter().enumerate() {
        let id = sandbox_upload(&app, bytes, mime).await;
        let extra = if *kind == "document" { json!({"filename": "doc.pdf"}) } else { json!({}) };
        app.post_webhook(&media_message(&format!("wamid.KIND.{n}"), kind, &id, mime, bytes, extra)).await;
        app.wait_for_replies(n + 1).await;
    }
    for (kind, mime, bytes) in &kinds {
        let uploaded: Value = app
            .client
            .post(format!("{}/api/v1/media", app.address))
            .header("x-api-key", API_KEY)
            .header("content-type", *mime)
            .body(bytes.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(uploaded["kind"], *kind, "{uploaded}");
        app.send_ok(json!({"to": USER, "from_number_id": BUSINESS_NUMBER_ID, "channel": "whatsapp", "media": {"key": uploaded["key"]}}))
            .await;
    }
    let outbox = app.wait_for_replies(kinds.len() * 2).await;
    let conversations: Value = app
        .client
        .get(format!("{}/api/v1/conversations", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = conversations["items"][0]["id"].as_str().unwrap().to_owned();
    let messages: Value = app
        .client
        .get(format!("{}/api/v1/conversations/{id}/messages?limit=100", app.address))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let kept_in: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .map(|m| m["file"]["kind"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(kept_in, ["image", "audio", "video", "document", "sticker"], "each user's file was kept");
    let replies: Vec<&str> =
        outbox[..kinds.len()].iter().map(|r| r["message"]["content"]["body"].as_str().unwrap_or_default()).collect();
    assert!(replies.iter().all(|r| !r.is_empty()), "the built-in agent answered each file: {replies:#?}");
    let sent: Vec<(&str, &str)> = outbox[kinds.len()..]
        .iter()
        .map(|r| {
            let content = &r["message"]["content"];
            (content["media"].as_str().unwrap_or("none"), content["source"]["by"].as_str().unwrap_or("none"))
        })
        .collect();
    assert_eq!(
        sent,
        [("image", "id"), ("audio", "id"), ("video", "id"), ("document", "id"), ("sticker", "id")],
        "each uploaded file went out as its kind, uploaded first: {outbox:#?}"
    );
}
