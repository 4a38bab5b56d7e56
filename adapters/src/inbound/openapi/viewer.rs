//! `/api/docs`: Swagger UI on `/api/openapi.json`, from files compiled into the binary
//! (`adapters/assets/api-docs/`, see its README), so the page works offline and behind a
//! firewall and loads nothing from anywhere but this service (ADR 0023).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpRequest, HttpResponse};

use crate::inbound::errors::{ApiError, ErrorCode};

/// The vendored `swagger-ui-dist` version; part of the asset URLs, so a new version is
/// a new URL and the year-long cache of the old one does no harm.
macro_rules! swagger_ui_version {
    () => {
        "5.36.0"
    };
}

macro_rules! swagger_ui {
    ($file:literal) => {
        concat!("/api/docs/assets/swagger-ui-", swagger_ui_version!(), "/", $file)
    };
}

pub const SWAGGER_UI_VERSION: &str = swagger_ui_version!();

/// One embedded file and how it is served.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub body: &'static [u8],
}

/// Versioned URLs: cached for a year and never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The files `/api/docs` loads, and the licence texts it links to.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: swagger_ui!("swagger-ui-bundle.js"),
        content_type: "text/javascript; charset=utf-8",
        cache_control: IMMUTABLE,
        body: include_bytes!("../../../assets/api-docs/swagger-ui-bundle.js"),
    },
    Asset {
        path: swagger_ui!("swagger-ui.css"),
        content_type: "text/css; charset=utf-8",
        cache_control: IMMUTABLE,
        body: include_bytes!("../../../assets/api-docs/swagger-ui.css"),
    },
    Asset {
        path: swagger_ui!("LICENSE"),
        content_type: "text/plain; charset=utf-8",
        cache_control: IMMUTABLE,
        body: include_bytes!("../../../assets/api-docs/LICENSE"),
    },
    Asset {
        path: swagger_ui!("NOTICE"),
        content_type: "text/plain; charset=utf-8",
        cache_control: IMMUTABLE,
        body: include_bytes!("../../../assets/api-docs/NOTICE"),
    },
    Asset {
        path: swagger_ui!("swagger-ui-bundle.js.LICENSE.txt"),
        content_type: "text/plain; charset=utf-8",
        cache_control: IMMUTABLE,
        body: include_bytes!("../../../assets/api-docs/swagger-ui-bundle.js.LICENSE.txt"),
    },
    // Ours, and its URL does not change when it does: an hour, so an upgrade shows soon.
    Asset {
        path: "/api/docs/assets/init.js",
        content_type: "text/javascript; charset=utf-8",
        cache_control: "public, max-age=3600",
        body: include_bytes!("../../../assets/api-docs/init.js"),
    },
];

/// Whether `path` is one of the embedded files (public, as `/api/docs` is).
pub fn is_asset(path: &str) -> bool {
    ASSETS.iter().any(|a| a.path == path)
}

/// Only this service may provide scripts, styles, images and fetches. Swagger UI sets
/// styles through the DOM (allowed under `style-src 'self'`) and draws a few icons as
/// `data:` images in its stylesheet, hence `img-src data:`; no `'unsafe-inline'` anywhere.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn html() -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard API reference</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<main id="swagger-ui" data-spec="/api/openapi.json">
<noscript><p>This reference needs JavaScript. The document it shows: <a href="/api/openapi.json">/api/openapi.json</a>.</p></noscript>
</main>
<footer><p><small>Shown with Swagger UI {version} (<a href="{license}">Apache License 2.0</a>, <a href="{notice}">NOTICE</a>, <a href="{third_party}">bundled licences</a>).</small></p></footer>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"#,
        css = swagger_ui!("swagger-ui.css"),
        bundle = swagger_ui!("swagger-ui-bundle.js"),
        license = swagger_ui!("LICENSE"),
        notice = swagger_ui!("NOTICE"),
        third_party = swagger_ui!("swagger-ui-bundle.js.LICENSE.txt"),
        init = "/api/docs/assets/init.js",
        version = SWAGGER_UI_VERSION,
    )
}

/// `GET /api/docs`: the interactive API reference.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(html())
}

/// `GET /api/docs/assets/...`: one of [`ASSETS`].
pub async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let Some(asset) = ASSETS.iter().find(|a| a.path == req.path()) else {
        return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
    };
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((CACHE_CONTROL, asset.cache_control))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(asset.body))
}
