//! The console's stylesheet and script, embedded in the binary with `include_str!`:
//! nothing is fetched from elsewhere, so the console works offline and behind a
//! firewall. Their URLs carry a hash of their content (`?v=`), so a browser may keep
//! them for a day and still never runs an old script after an upgrade.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest as _, Sha256};

use crate::inbound::errors::{ApiError, ErrorCode};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset { name: "console.css", content_type: "text/css; charset=utf-8", body: include_str!("assets/console.css") },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/console.js"),
    },
];

/// How long a browser may keep an asset (its URL changes with its content).
const CACHE_CONTROL: &str = "public, max-age=86400";

/// Each asset's name and the first 12 hex digits of its SHA-256.
static VERSIONS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    ASSETS.iter().map(|a| (a.name, hex::encode(Sha256::digest(a.body.as_bytes()))[..12].to_owned())).collect()
});

/// The URL of the embedded asset `name`, with its content version.
pub fn url(name: &str) -> String {
    let version = VERSIONS.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v.as_str());
    format!("/console/assets/{name}?v={version}")
}

/// `GET /console/assets/{name}`.
pub async fn serve(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name.as_str())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such console asset"))?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(asset.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_urls_carry_a_version_of_their_content() {
        let css = url("console.css");
        assert!(css.starts_with("/console/assets/console.css?v="), "{css}");
        assert_eq!(css.len(), "/console/assets/console.css?v=".len() + 12);
        assert_ne!(url("console.js").rsplit('=').next(), css.rsplit('=').next());
    }

    #[actix_web::test]
    async fn an_asset_is_served_with_its_type_and_a_cache_lifetime_and_an_unknown_one_is_404() {
        let css = serve(web::Path::from(String::from("console.css"))).await.unwrap();
        let missing = serve(web::Path::from(String::from("../Cargo.toml"))).await;

        assert_eq!(css.headers().get(header::CONTENT_TYPE).unwrap(), "text/css; charset=utf-8");
        assert_eq!(css.headers().get(header::CACHE_CONTROL).unwrap(), CACHE_CONTROL);
        assert_eq!(missing.unwrap_err().code, ErrorCode::NotFound);
    }
}
