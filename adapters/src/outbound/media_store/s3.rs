//! The media store on an S3-compatible bucket (`SWITCHBOARD_MEDIA_STORE=s3`, ADR 0027), so
//! replicas on different machines share users' and agents' files.
//!
//! A file is one object, `<prefix><key>`, addressed path-style (`<endpoint>/<bucket>/…`,
//! which MinIO, Ceph, R2 and moto all take). Its description travels in the same `PUT`
//! as user metadata (`x-amz-meta-sha256`, `-size`, `-mime-type`, `-filename`), and S3
//! makes a `PUT` visible whole or not at all: no reader sees bytes without their
//! description, as the folder store's rename guarantees on disk. `get` reads bytes and
//! description in one `GET` and checks the bytes' SHA-256 as the folder store does.
//!
//! Requests are signed here (AWS Signature Version 4, `sigv4`) and sent with the shared
//! client of [`crate::outbound::http`]; no retry here: a failed `put` is retried by the job
//! that made it. No error or span carries the secret key, a signature or an S3 error body.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use reqwest_middleware::ClientWithMiddleware;
use sha2::{Digest, Sha256};
use switchboard_application::ports::{MediaStore, MediaStoreError};
use switchboard_domain::{MediaKey, StoredMedia};
use switchboard_runtime::config::S3MediaConfig;

use super::sigv4::{self, Signer};
use crate::outbound::http;

/// The longest a whole call may take: a 100 MB document over a slow link.
const TIMEOUT: Duration = Duration::from_secs(300);

/// User metadata is at most 2 KB on S3; a longer file name is cut to fit this.
const MAX_ENCODED_FILENAME: usize = 1024;

const META_SHA256: &str = "x-amz-meta-sha256";
const META_SIZE: &str = "x-amz-meta-size";
const META_MIME_TYPE: &str = "x-amz-meta-mime-type";
const META_FILENAME: &str = "x-amz-meta-filename";

pub struct S3MediaStore {
    client: ClientWithMiddleware,
    /// `scheme://host[:port]`.
    origin: String,
    /// `host[:port]` as the `Host` header carries it (and the signature covers it).
    host: String,
    /// The endpoint's own path, if any, without a trailing slash; usually empty.
    base_path: String,
    bucket: String,
    prefix: String,
    signer: Signer,
    /// `<endpoint>/<bucket>`, for messages.
    place: String,
}

impl S3MediaStore {
    /// A store on `config`'s bucket. Nothing is asked of the server yet
    /// ([`S3MediaStore::check_bucket`] does).
    pub fn new(config: &S3MediaConfig) -> anyhow::Result<Self> {
        let endpoint = Url::parse(&config.endpoint)
            .map_err(|e| anyhow::anyhow!("SWITCHBOARD_MEDIA_S3_ENDPOINT: {e} ({:?})", config.endpoint))?;
        let host = match (endpoint.host_str(), endpoint.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => anyhow::bail!("SWITCHBOARD_MEDIA_S3_ENDPOINT: {:?} names no host", config.endpoint),
        };
        if !endpoint.username().is_empty() || endpoint.password().is_some() || endpoint.query().is_some() {
            anyhow::bail!("SWITCHBOARD_MEDIA_S3_ENDPOINT: give the credentials in their own keys, not in the URL");
        }
        // A `.` or `..` segment would be resolved away by the URL, not by the signature.
        if config.prefix.split('/').any(|segment| segment == "." || segment == "..") {
            anyhow::bail!("SWITCHBOARD_MEDIA_S3_PREFIX: no `.` or `..` segments, got {:?}", config.prefix);
        }
        Ok(Self {
            client: http::client(TIMEOUT)?,
            origin: format!("{}://{host}", endpoint.scheme()),
            host,
            base_path: endpoint.path().trim_end_matches('/').to_owned(),
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
            signer: Signer {
                access_key_id: config.access_key_id.clone(),
                secret_access_key: config.secret_access_key.clone(),
                region: config.region.clone(),
            },
            place: format!("{}/{}", config.endpoint, config.bucket),
        })
    }

    /// Asks for the bucket (`HEAD`), so a wrong endpoint, bucket or key stops start-up
    /// rather than the first file.
    ///
    /// Errors: the endpoint and bucket, and why (not found, access denied, unreachable).
    #[tracing::instrument(name = "media_store.s3", skip_all, fields(op = "check_bucket", bucket = %self.bucket))]
    pub async fn check_bucket(&self) -> anyhow::Result<()> {
        let path = format!("{}{}", self.base_path, sigv4::encode_path(&format!("/{}", self.bucket)));
        let why = match self.send(Method::HEAD, &path, Vec::new(), Vec::new()).await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => match response.status() {
                StatusCode::NOT_FOUND => String::from("there is no such bucket"),
                StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => format!(
                    "access denied ({}): check SWITCHBOARD_MEDIA_S3_ACCESS_KEY_ID, its secret, SWITCHBOARD_MEDIA_S3_REGION and the key's rights on the bucket",
                    response.status().as_u16()
                ),
                status => format!("it answered {}", status.as_u16()),
            },
            Err(e) => e,
        };
        anyhow::bail!("the media store's bucket {} cannot be used: {why}", self.place)
    }

    /// The object's path, percent-encoded: `<endpoint path>/<bucket>/<prefix><key>`.
    fn object_path(&self, key: &MediaKey) -> String {
        // The endpoint's path is percent-encoded already.
        let inside = format!("/{}/{}{}", self.bucket, self.prefix, key.as_str());
        format!("{}{}", self.base_path, sigv4::encode_path(&inside))
    }

    /// `<prefix><key>` in the bucket, for messages.
    fn object_name(&self, key: &MediaKey) -> String {
        format!("{}/{}{}", self.place, self.prefix, key.as_str())
    }

    /// Signs and sends one request; `Err` is a transport failure, described without URL.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, String> {
        let payload_sha256 =
            if body.is_empty() { sigv4::EMPTY_SHA256.to_owned() } else { hex::encode(Sha256::digest(&body)) };
        let amz_date = sigv4::amz_date(time::OffsetDateTime::now_utc());
        let authorization = self.signer.authorization(&sigv4::Request {
            method: method.as_str(),
            host: &self.host,
            path,
            headers: &headers,
            payload_sha256: &payload_sha256,
            amz_date: &amz_date,
        });
        let url = format!("{}{path}", self.origin);
        let mut request = self
            .client
            .request(method, url)
            .header("x-amz-date", amz_date)
            .header("x-amz-content-sha256", payload_sha256)
            .header("authorization", authorization);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        request.send().await.map_err(|e| http::describe(&e))
    }

    /// [`MediaStoreError::Unavailable`] for an answer that is neither success nor 404:
    /// the status and S3's error code (`AccessDenied`, `SignatureDoesNotMatch`), never
    /// the rest of the body, which may quote the string that was signed.
    async fn refused(&self, what: &str, key: &MediaKey, response: reqwest::Response) -> MediaStoreError {
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let code = body
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map(|(code, _)| code)
            .filter(|code| code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(|code| format!(" {code}"))
            .unwrap_or_default();
        MediaStoreError::Unavailable(format!("S3 {what} {} answered {status}{code}", self.object_name(key)))
    }
}

/// The metadata headers that describe `media` (and its `Content-Type`), all ASCII.
fn description_headers(media: &StoredMedia) -> Vec<(String, String)> {
    let mime_type = media.mime_type.trim();
    let mut headers = vec![
        (META_SHA256.to_owned(), media.sha256.clone()),
        (META_SIZE.to_owned(), media.size.to_string()),
        (META_MIME_TYPE.to_owned(), sigv4::encode_value(mime_type)),
    ];
    let content_type = if reqwest::header::HeaderValue::from_str(mime_type).is_ok() && mime_type.is_ascii() {
        mime_type
    } else {
        "application/octet-stream"
    };
    headers.push(("content-type".to_owned(), content_type.to_owned()));
    if let Some(name) = &media.filename {
        headers.push((META_FILENAME.to_owned(), fitted_filename(name)));
    }
    headers
}

/// The file name encoded, cut at a character so that it stays within S3's metadata limit.
fn fitted_filename(name: &str) -> String {
    let mut encoded = String::new();
    for c in name.chars() {
        let next = sigv4::encode_value(c.encode_utf8(&mut [0; 4]));
        if encoded.len() + next.len() > MAX_ENCODED_FILENAME {
            break;
        }
        encoded.push_str(&next);
    }
    encoded
}

/// The description an object's metadata gives, or why there is none.
fn described(key: &MediaKey, headers: &reqwest::header::HeaderMap) -> Result<StoredMedia, String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let sha256 = text(META_SHA256)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("has no {META_SHA256}: it was not stored by Switchboard"))?;
    let size = text(META_SIZE).and_then(|s| s.parse().ok()).ok_or_else(|| format!("has no valid {META_SIZE}"))?;
    let mime_type =
        text(META_MIME_TYPE).and_then(sigv4::decode_value).ok_or_else(|| format!("has no valid {META_MIME_TYPE}"))?;
    let filename = match text(META_FILENAME) {
        None => None,
        Some(encoded) => Some(sigv4::decode_value(encoded).ok_or_else(|| format!("has no valid {META_FILENAME}"))?),
    };
    Ok(StoredMedia { key: key.clone(), mime_type, size, sha256: sha256.to_ascii_lowercase(), filename })
}

#[async_trait]
impl MediaStore for S3MediaStore {
    #[tracing::instrument(name = "media_store.s3", skip_all, fields(op = "put", key = %media.key, size = media.size))]
    async fn put(&self, media: &StoredMedia, bytes: Vec<u8>) -> Result<(), MediaStoreError> {
        let path = self.object_path(&media.key);
        match self.send(Method::PUT, &path, description_headers(media), bytes).await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(self.refused("PUT", &media.key, response).await),
            Err(why) => Err(MediaStoreError::Unavailable(format!("S3 PUT {}: {why}", self.object_name(&media.key)))),
        }
    }

    #[tracing::instrument(name = "media_store.s3", skip_all, fields(op = "head", key = %key))]
    async fn head(&self, key: &MediaKey) -> Result<Option<StoredMedia>, MediaStoreError> {
        let response = self
            .send(Method::HEAD, &self.object_path(key), Vec::new(), Vec::new())
            .await
            .map_err(|why| MediaStoreError::Unavailable(format!("S3 HEAD {}: {why}", self.object_name(key))))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => described(key, response.headers())
                .map(Some)
                .map_err(|why| MediaStoreError::Unavailable(format!("{} {why}", self.object_name(key)))),
            _ => Err(self.refused("HEAD", key, response).await),
        }
    }

    #[tracing::instrument(name = "media_store.s3", skip_all, fields(op = "get", key = %key))]
    async fn get(&self, key: &MediaKey) -> Result<Option<(StoredMedia, Vec<u8>)>, MediaStoreError> {
        let unavailable =
            |why: String| MediaStoreError::Unavailable(format!("S3 GET {}: {why}", self.object_name(key)));
        let response =
            self.send(Method::GET, &self.object_path(key), Vec::new(), Vec::new()).await.map_err(unavailable)?;
        match response.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            status if status.is_success() => {}
            _ => return Err(self.refused("GET", key, response).await),
        }
        let media = described(key, response.headers())
            .map_err(|why| MediaStoreError::Unavailable(format!("{} {why}", self.object_name(key))))?;
        let bytes = response.bytes().await.map_err(|e| unavailable(http::describe_reqwest(&e)))?.to_vec();
        if hex::encode(Sha256::digest(&bytes)) != media.sha256 {
            return Err(MediaStoreError::Unavailable(format!(
                "{} does not have its recorded SHA-256: refused",
                self.object_name(key)
            )));
        }
        Ok(Some((media, bytes)))
    }
}

#[cfg(test)]
mod tests;
