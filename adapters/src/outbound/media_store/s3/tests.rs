//! The S3 media store against a real S3 API (moto, with signatures checked): the same
//! promises as the folder store's, and nothing secret in what a failure says.

use secrecy::SecretString;
use switchboard_testkit::S3Server;

use super::*;

fn described(key: &str, bytes: &[u8], filename: Option<&str>) -> StoredMedia {
    StoredMedia {
        key: MediaKey::parse(key).unwrap(),
        mime_type: "audio/ogg;  codecs=opus".into(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        filename: filename.map(str::to_owned),
    }
}

fn config(server: &S3Server, prefix: &str) -> S3MediaConfig {
    S3MediaConfig {
        endpoint: server.endpoint.clone(),
        bucket: server.bucket.clone(),
        region: "us-east-1".into(),
        prefix: prefix.into(),
        access_key_id: server.access_key_id.clone(),
        secret_access_key: SecretString::from(server.secret_access_key.clone()),
    }
}

#[tokio::test]
async fn a_stored_file_reads_back_whole_with_its_description_under_the_prefix_and_a_missing_one_is_none() {
    let server = S3Server::start("media").unwrap();
    let store = S3MediaStore::new(&config(&server, "switchboard/")).unwrap();
    let media = described("in/abc", b"OggS voice", Some("Sprachnotiz März (1).ogg"));

    store.check_bucket().await.unwrap();
    store.put(&media, b"OggS voice".to_vec()).await.unwrap();

    assert_eq!(store.head(&media.key).await.unwrap(), Some(media.clone()));
    assert_eq!(store.get(&media.key).await.unwrap(), Some((media, b"OggS voice".to_vec())));
    let missing = MediaKey::parse("in/other").unwrap();
    assert_eq!(store.head(&missing).await.unwrap(), None);
    assert_eq!(store.get(&missing).await.unwrap(), None);
    let raw = store.send(Method::HEAD, "/media/switchboard/in/abc", Vec::new(), Vec::new()).await.unwrap();
    assert_eq!(raw.status(), 200, "the object is <prefix><key>");
}

#[tokio::test]
async fn storing_a_key_again_replaces_the_file_and_its_description() {
    let server = S3Server::start("media").unwrap();
    let store = S3MediaStore::new(&config(&server, "")).unwrap();
    let first = described("out/d1/0", b"first", Some("a.png"));
    let second = StoredMedia { mime_type: "image/png".into(), ..described("out/d1/0", b"second version", None) };

    store.put(&first, b"first".to_vec()).await.unwrap();
    store.put(&second, b"second version".to_vec()).await.unwrap();

    assert_eq!(store.get(&second.key).await.unwrap(), Some((second, b"second version".to_vec())));
}

#[tokio::test]
async fn bytes_replaced_in_the_bucket_under_the_old_description_are_refused_rather_than_served() {
    let server = S3Server::start("media").unwrap();
    let store = S3MediaStore::new(&config(&server, "")).unwrap();
    let media = described("in/x", b"original", None);
    store.put(&media, b"original".to_vec()).await.unwrap();

    // Someone with write access puts other bytes and copies the description.
    let tampered =
        store.send(Method::PUT, "/media/in/x", description_headers(&media), b"tampered".to_vec()).await.unwrap();
    assert!(tampered.status().is_success());

    let refused = store.get(&media.key).await.unwrap_err().to_string();
    assert!(refused.contains("does not have its recorded SHA-256"), "{refused}");
}

#[tokio::test]
async fn wrong_credentials_or_bucket_make_the_store_unavailable_and_no_failure_shows_the_secret() {
    let server = S3Server::start("media").unwrap();
    let marker = "wrong-secret-MARKER-s3-7Qx";
    let wrong = S3MediaStore::new(&S3MediaConfig {
        secret_access_key: SecretString::from(marker.to_owned()),
        ..config(&server, "")
    })
    .unwrap();
    let no_bucket =
        S3MediaStore::new(&S3MediaConfig { bucket: "no-such-bucket".into(), ..config(&server, "") }).unwrap();
    let down = S3MediaStore::new(&S3MediaConfig {
        endpoint: format!("http://127.0.0.1:{}", switchboard_testkit::free_port()),
        ..config(&server, "")
    })
    .unwrap();
    let media = described("in/y", b"bytes", None);

    let put = wrong.put(&media, b"bytes".to_vec()).await.unwrap_err();
    let head = wrong.head(&media.key).await.unwrap_err();
    let get = wrong.get(&media.key).await.unwrap_err();
    let check = wrong.check_bucket().await.unwrap_err();
    let missing = no_bucket.check_bucket().await.unwrap_err().to_string();
    let unreachable = down.head(&media.key).await.unwrap_err().to_string();

    assert!(put.to_string().contains("answered 403 SignatureDoesNotMatch"), "{put}");
    for shown in [format!("{put} {put:?} {head} {head:?} {get} {get:?}"), format!("{check:#} {check:?}")] {
        assert!(!shown.contains(marker), "{shown}");
        assert!(!shown.contains("Signature="), "{shown}");
    }
    assert!(check.to_string().contains("access denied (403)"), "{check}");
    assert!(missing.contains(&format!("{}/no-such-bucket", server.endpoint)), "{missing}");
    assert!(missing.contains("there is no such bucket"), "{missing}");
    assert!(unreachable.starts_with("media store unavailable: S3 HEAD"), "{unreachable}");
}
