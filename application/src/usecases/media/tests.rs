use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use switchboard_domain::{MediaKind, OutboundContent, OutboundMessage, Wamid, WhatsAppUser};

use super::*;
use crate::ports::MockWhatsAppMedia;

/// A media store in memory.
#[derive(Default)]
struct Memory(Mutex<HashMap<String, (StoredMedia, Vec<u8>)>>);

#[async_trait]
impl MediaStore for Memory {
    async fn put(&self, media: &StoredMedia, bytes: Vec<u8>) -> Result<(), MediaStoreError> {
        self.0.lock().unwrap().insert(media.key.to_string(), (media.clone(), bytes));
        Ok(())
    }
    async fn head(&self, key: &MediaKey) -> Result<Option<StoredMedia>, MediaStoreError> {
        Ok(self.0.lock().unwrap().get(key.as_str()).map(|(m, _)| m.clone()))
    }
    async fn get(&self, key: &MediaKey) -> Result<Option<(StoredMedia, Vec<u8>)>, MediaStoreError> {
        Ok(self.0.lock().unwrap().get(key.as_str()).cloned())
    }
}

const PHOTO: &[u8] = b"\x89PNG a photo";

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn photo_message(sha256: Option<String>) -> InboundMessage {
    InboundMessage {
        wamid: Wamid::parse("wamid.photo").unwrap(),
        from: WhatsAppUser::new(None, Some(switchboard_domain::PhoneNumber::parse("+447700900123").unwrap())).unwrap(),
        profile_name: None,
        business_number_id: "1".into(),
        sent_at: OffsetDateTime::UNIX_EPOCH,
        content: InboundContent::Media {
            media: MediaKind::Image,
            media_id: "m1".into(),
            mime_type: Some("image/png".into()),
            sha256,
            caption: Some("my cat".into()),
            filename: None,
            voice: false,
            animated: false,
        },
        context: None,
        errors: vec![],
    }
}

fn links() -> MediaLinks {
    MediaLinks::new("http://sb.test/", b"key", Duration::from_secs(60))
}

fn intake(whatsapp: MockWhatsAppMedia, store: Arc<Memory>, max_bytes: u64) -> MediaIntake {
    let policy = InboundMediaPolicy { max_bytes, allowed_types: vec!["image/*".into()] };
    MediaIntake::new(Arc::new(whatsapp), store, policy, links(), 1024)
}

fn downloads(bytes: &'static [u8], times: usize) -> MockWhatsAppMedia {
    let mut whatsapp = MockWhatsAppMedia::new();
    whatsapp
        .expect_download()
        .times(times)
        .returning(move |_, _| Ok(MediaFile { mime_type: "image/png".into(), bytes: bytes.to_vec() }));
    whatsapp
}

fn last() -> Attempt {
    Attempt { number: 5, is_last: true, lease: None }
}

#[tokio::test]
async fn a_photo_is_stored_once_and_given_to_the_agent_inline_and_by_a_signed_link() {
    let store = Arc::new(Memory::default());
    let intake = intake(downloads(PHOTO, 1), store.clone(), 1000);
    let trace = TraceContext::new_root();

    let first = intake
        .attach(&photo_message(Some(sha_hex(PHOTO))), Attempt::first(), OffsetDateTime::UNIX_EPOCH, &trace)
        .await
        .unwrap();
    let again = intake
        .attach(&photo_message(Some(sha_hex(PHOTO))), Attempt::first(), OffsetDateTime::UNIX_EPOCH, &trace)
        .await
        .unwrap();

    let [Attachment::File { kind, media, url, inline }] = &first[..] else { panic!("{first:?}") };
    assert_eq!(*kind, MediaKind::Image);
    assert_eq!(media.size, PHOTO.len() as u64);
    assert_eq!(media.sha256, sha_hex(PHOTO));
    assert_eq!(inline.as_deref(), Some(switchboard_domain::media::base64(PHOTO).as_str()));
    assert!(url.as_deref().unwrap().starts_with("http://sb.test/media/in/"), "{url:?}");
    assert_eq!(first, again, "the retry finds what the first attempt stored, without downloading again");
    assert_eq!(store.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_file_whose_bytes_do_not_have_the_announced_hash_is_refused_and_nothing_is_stored() {
    let store = Arc::new(Memory::default());
    let intake = intake(downloads(PHOTO, 1), store.clone(), 1000);

    let attached = intake
        .attach(
            &photo_message(Some(sha_hex(b"other"))),
            Attempt::first(),
            OffsetDateTime::UNIX_EPOCH,
            &TraceContext::new_root(),
        )
        .await
        .unwrap();

    assert!(matches!(&attached[..], [Attachment::Refused { code: RefusalCode::HashMismatch, .. }]), "{attached:?}");
    assert!(store.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_oversized_file_is_refused_with_the_limit_and_nothing_is_stored() {
    let store = Arc::new(Memory::default());
    let intake = intake(downloads(PHOTO, 1), store.clone(), 4);

    let attached = intake
        .attach(&photo_message(None), Attempt::first(), OffsetDateTime::UNIX_EPOCH, &TraceContext::new_root())
        .await
        .unwrap();

    let [Attachment::Refused { code: RefusalCode::TooLarge, reason, .. }] = &attached[..] else {
        panic!("{attached:?}")
    };
    assert!(reason.contains("the limit is 4 bytes"), "{reason}");
    assert!(store.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_download_that_fails_is_retried_by_the_job_until_its_last_attempt_then_the_agent_is_told() {
    let mut whatsapp = MockWhatsAppMedia::new();
    whatsapp.expect_download().times(2).returning(|_, _| Err(SendError::Network("connection refused".into())));
    let intake = intake(whatsapp, Arc::new(Memory::default()), 1000);
    let trace = TraceContext::new_root();

    let early = intake.attach(&photo_message(None), Attempt::first(), OffsetDateTime::UNIX_EPOCH, &trace).await;
    let late = intake.attach(&photo_message(None), last(), OffsetDateTime::UNIX_EPOCH, &trace).await.unwrap();

    assert!(early.is_err(), "a retriable failure goes back to the job");
    assert!(matches!(&late[..], [Attachment::Refused { code: RefusalCode::Unavailable, .. }]), "{late:?}");
}

#[tokio::test]
async fn a_link_opens_its_file_until_it_expires_and_not_once_altered() {
    let store = Arc::new(Memory::default());
    let key = MediaKey::parse("in/abc").unwrap();
    let media = StoredMedia {
        key: key.clone(),
        mime_type: "image/png".into(),
        size: 3,
        sha256: sha_hex(b"png"),
        filename: None,
    };
    store.put(&media, b"png".to_vec()).await.unwrap();
    let serve = ServeMedia::new(store, links());
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
    let link = serve.link(&key, now);
    let query = link.split_once('?').unwrap().1;
    let expires: i64 = query.split('&').next().unwrap().trim_start_matches("expires=").parse().unwrap();
    let signature = query.split("signature=").nth(1).unwrap();

    let opened = serve.open(&key, expires, signature, now).await.unwrap();
    let late = serve.open(&key, expires, signature, now + time::Duration::seconds(61)).await;
    let longer = serve.open(&key, expires + 3600, signature, now).await;
    let other = serve.open(&MediaKey::parse("in/abd").unwrap(), expires, signature, now).await;

    assert_eq!(opened.1, b"png");
    assert!(matches!(late, Err(ServeMediaError::Link(LinkError::Expired))));
    assert!(matches!(longer, Err(ServeMediaError::Link(LinkError::BadSignature))));
    assert!(matches!(other, Err(ServeMediaError::Link(LinkError::BadSignature))));
}

#[tokio::test]
async fn an_agents_file_over_metas_limit_is_left_out_and_the_others_are_stored() {
    let store = Arc::new(Memory::default());
    let reply = ReplyMedia::new(store.clone());
    let files = vec![
        // A WebP is sent as a sticker, and a sticker may have at most 500 KB.
        AgentFile {
            mime_type: "image/webp".into(),
            filename: None,
            source: AgentFileSource::Bytes(vec![0; 600 * 1024]),
        },
        AgentFile {
            mime_type: "image/png".into(),
            filename: Some("plan.png".into()),
            source: AgentFileSource::Bytes(PHOTO.to_vec()),
        },
    ];

    let stored = reply.store(Uuid::nil(), &files).await.unwrap();

    assert_eq!(stored.refused.len(), 1);
    assert!(stored.refused[0].contains("sticker files may be at most 512000 bytes"), "{:?}", stored.refused);
    assert_eq!(stored.files.len(), 1);
    assert_eq!(stored.files[0].kind, MediaKind::Image);
    assert!(store.0.lock().unwrap().contains_key("out/00000000-0000-0000-0000-000000000000/1"));
}

#[tokio::test]
async fn a_stored_file_is_uploaded_as_its_message_leaves_and_sent_by_its_new_id() {
    let store = Arc::new(Memory::default());
    let key = MediaKey::parse("out/x/0").unwrap();
    let media = StoredMedia {
        key: key.clone(),
        mime_type: "image/png".into(),
        size: 3,
        sha256: sha_hex(b"png"),
        filename: Some("plan.png".into()),
    };
    store.put(&media, b"png".to_vec()).await.unwrap();
    let mut whatsapp = MockWhatsAppMedia::new();
    whatsapp
        .expect_upload()
        .withf(|from, file, name, _| from == "1" && file.bytes == b"png" && name == "plan.png")
        .times(1)
        .returning(|_, _, _, _| Ok(String::from("meta-media-9")));
    let upload = UploadMedia::new(store, Arc::new(whatsapp));
    let message = OutboundMessage {
        to: WhatsAppUser::new(None, Some(switchboard_domain::PhoneNumber::parse("+447700900123").unwrap())).unwrap(),
        from_number_id: "1".into(),
        content: OutboundContent::Media {
            media: MediaKind::Image,
            source: MediaSource::Stored { key, mime_type: "image/png".into() },
            caption: None,
            filename: None,
        },
        reply_to: None,
    };

    let resolved = upload.resolve(&message, &TraceContext::new_root()).await.unwrap();

    assert!(
        matches!(resolved.content, OutboundContent::Media { source: MediaSource::Id(ref id), .. } if id == "meta-media-9")
    );
}

#[tokio::test]
async fn an_upload_is_kept_under_an_upload_key_with_its_hash() {
    let store = Arc::new(Memory::default());
    let uploads = AcceptUpload::new(store.clone());

    let stored = uploads.execute("image/png; charset=binary", Some("menu.png".into()), PHOTO.to_vec()).await.unwrap();

    assert!(stored.key.is_upload());
    assert_eq!(stored.mime_type, "image/png");
    assert_eq!(stored.sha256, sha_hex(PHOTO));
    assert_eq!(store.get(&stored.key).await.unwrap().unwrap().1, PHOTO);
}

#[tokio::test]
async fn an_upload_meta_would_refuse_or_with_a_bad_name_or_type_keeps_nothing() {
    let store = Arc::new(Memory::default());
    let uploads = AcceptUpload::new(store.clone());

    let empty = uploads.execute("application/pdf", None, Vec::new()).await;
    let untyped = uploads.execute("pdf", None, b"%PDF".to_vec()).await;
    let named = uploads.execute("application/pdf", Some("a/b.pdf".into()), b"%PDF".to_vec()).await;
    let sticker = uploads.execute("image/webp", None, vec![1; 600 * 1024]).await;

    assert!(matches!(empty, Err(UploadError::Refused { field: "body", .. })));
    assert!(matches!(untyped, Err(UploadError::Refused { field: "content-type", .. })));
    assert!(matches!(named, Err(UploadError::Refused { field: "filename", .. })));
    assert!(matches!(sticker, Err(UploadError::Refused { field: "body", .. })));
    assert!(store.0.lock().unwrap().is_empty());
}
