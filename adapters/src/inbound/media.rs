//! Files by signed link: `GET /media/{key}` serves a stored file to whoever holds a link
//! Switchboard signed (agents, operators' browsers); no API key, the signature is the
//! key. In sandbox mode, `POST /sandbox/media` stands in for Meta's upload so that a
//! simulated user can send a photo or a voice note.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use switchboard_application::ports::{Clock, MediaFile, WhatsAppMedia};
use switchboard_application::usecases::ServeMedia;
use switchboard_domain::MediaKey;
use switchboard_shared::TraceContext;

use super::errors::{ApiError, ErrorCode};

pub struct MediaState {
    pub serve: Arc<ServeMedia>,
    pub clock: Arc<dyn Clock>,
    /// The sandbox's media endpoints (sandbox mode only).
    pub sandbox: Option<Arc<dyn WhatsAppMedia>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// Unix time after which the link no longer works.
    pub expires: i64,
    /// Hex HMAC-SHA256 of the key and the expiry.
    pub signature: String,
}

#[utoipa::path(get, path = "/media/{key}", tag = "Media", params(("key" = String, Path, description = "the file's key in the media store, e.g. `in/3f2a…`"), LinkQuery),
    summary = "Open a stored file by its signed link",
    description = "Serves a file from the media store to whoever holds a link Switchboard signed: the links given to agents in file parts, and to the management API and console. No API key: the signature is the credential, and the link expires (`SWITCHBOARD_MEDIA_LINK_TTL_SECS`).",
    responses((status = 200, description = "the file's bytes, with its own media type in `Content-Type`", content_type = "application/octet-stream", body = crate::inbound::openapi::schemas::FileBytes), (status = 400, description = "`bad_request`: no expiry or signature"), (status = 403, description = "`link_invalid`: the signature is not this service's"), (status = 404, description = "`not_found`: no such file"), (status = 410, description = "`link_expired`: the link has expired"), (status = 503, description = "`store_unavailable`: the media store could not be read")))]
pub async fn serve(
    state: web::Data<MediaState>,
    key: web::Path<String>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = MediaKey::parse(&key).map_err(|_| ApiError::new(ErrorCode::NotFound, "no such file"))?;
    let (media, bytes) = state.serve.open(&key, query.expires, &query.signature, state.clock.now()).await?;
    let filename = media.filename.as_deref().unwrap_or("file").replace(['"', '\\', '\r', '\n'], "_");
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, media.mime_type.as_str()))
        .insert_header((header::CONTENT_DISPOSITION, format!("inline; filename=\"{filename}\"")))
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"))
        .insert_header(("X-Checksum-Sha256", media.sha256.as_str()))
        .body(bytes))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name, as a user's document would carry it.
    pub filename: Option<String>,
}

/// `POST /sandbox/media` kept the file, as Meta's upload would.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SandboxUpload {
    /// The media id a webhook's `image`, `audio`, `video` or `document` object names.
    pub id: String,
    /// The request's `Content-Type` (`application/octet-stream` when none was given).
    #[schema(example = "image/jpeg")]
    pub mime_type: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Bytes.
    pub file_size: usize,
}

#[utoipa::path(post, path = "/sandbox/media", tag = "Operations", params(UploadQuery), security(("api_key" = [])),
    request_body(content = crate::inbound::openapi::schemas::FileBytes, description = "the file's bytes; `Content-Type` is the file's type", content_type = "application/octet-stream"),
    summary = "Upload a file to the sandbox, as a user's phone uploads to Meta",
    description = "Sandbox mode only (the route does not exist in live mode). The body is the file's bytes, its `Content-Type` the file's type. Answers the media id, SHA-256 and size that a webhook's image, audio, video or document object then names, as Meta's would; Switchboard downloads it from the sandbox like it downloads from Graph.",
    responses((status = 200, description = "kept: the media id to name in a simulated webhook, with the file's type, SHA-256 and size", body = SandboxUpload), (status = 400, description = "`invalid_request`: an empty body"), (status = 401, description = "no or wrong API key"), (status = 413, description = "`payload_too_large`"), (status = 503, description = "`store_unavailable`: the media store could not be written")))]
pub async fn sandbox_upload(
    state: web::Data<MediaState>,
    request: HttpRequest,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Some(sandbox) = &state.sandbox else {
        return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
    };
    let body = super::limits::file_body(payload).await?;
    if body.is_empty() {
        return Err(ApiError::invalid("body", "the file is empty"));
    }
    let mime_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let sha256 = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&body))
    };
    let size = body.len();
    let file = MediaFile { mime_type: mime_type.clone(), bytes: body };
    let id = sandbox
        .upload("sandbox", file, query.filename.as_deref().unwrap_or_default(), &TraceContext::new_root())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the sandbox could not keep the file");
            ApiError::new(ErrorCode::StoreUnavailable, "the file could not be stored; try again later")
        })?;
    Ok(HttpResponse::Ok().json(SandboxUpload { id, mime_type, sha256, file_size: size }))
}
