//! The account's approved message templates from Graph:
//! `GET /{waba_id}/message_templates?status=APPROVED&fields=...`, page after page (up to
//! [`MAX_PAGES`]), with the token in the header. Cached, so that every conversation page
//! an operator opens does not ask Meta again; a failure is cached briefly too.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest_middleware::ClientWithMiddleware;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use switchboard_application::ports::{ApprovedTemplate, TemplateSource, Templates, TemplatesError, placeholders};
use switchboard_shared::secrets;

use super::http;

#[derive(Debug, Clone)]
pub struct TemplateSettings {
    pub base_url: String,
    pub api_version: String,
    pub access_token: SecretString,
    /// The WhatsApp Business Account whose templates are listed.
    pub business_account_id: String,
    /// How long a list is reused.
    pub cache_for: Duration,
    pub timeout: Duration,
}

/// Templates asked for per page.
pub const PAGE_SIZE: u32 = 100;
/// Pages read at most: a thousand templates is more than any console select should hold.
pub const MAX_PAGES: usize = 10;
/// How long a failure is remembered (never longer than a success would be).
const FAILURE_CACHE: Duration = Duration::from_secs(30);

/// What was fetched last, and when.
type Cached = (Instant, Result<Vec<ApprovedTemplate>, TemplatesError>);

pub struct GraphTemplates {
    http: ClientWithMiddleware,
    settings: TemplateSettings,
    cache: Mutex<Option<Cached>>,
}

/// One page of Graph's answer.
#[derive(Debug, Default, PartialEq)]
pub struct TemplatePage {
    pub templates: Vec<ApprovedTemplate>,
    /// `paging.cursors.after`, when Graph says there is a next page.
    pub after: Option<String>,
    /// `paging.next`: the next page's whole URL.
    pub next: Option<String>,
}

/// Reads one page of `message_templates`. Each template on its own: one without a name
/// or language, or not APPROVED, is skipped, not the page.
pub fn parse_page(body: &Value) -> TemplatePage {
    let templates = body
        .get("data")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(parse_template).collect())
        .unwrap_or_default();
    let next = body.pointer("/paging/next").and_then(Value::as_str).map(str::to_owned);
    let after = next
        .as_ref()
        .and(body.pointer("/paging/cursors/after").and_then(Value::as_str))
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    TemplatePage { templates, after, next }
}

fn parse_template(item: &Value) -> Option<ApprovedTemplate> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    if text("status").is_some_and(|s| !s.eq_ignore_ascii_case("APPROVED")) {
        return None;
    }
    let body = item.get("components").and_then(Value::as_array).and_then(|components| {
        components
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("BODY")))
            .and_then(|c| c.get("text").and_then(Value::as_str))
            .map(str::to_owned)
    });
    Some(ApprovedTemplate {
        name: text("name")?.to_owned(),
        language: text("language")?.to_owned(),
        category: text("category").unwrap_or_default().to_owned(),
        parameters: body.as_deref().map(placeholders).unwrap_or_default(),
        body,
        source: TemplateSource::Whatsapp,
    })
}

impl GraphTemplates {
    pub fn new(settings: TemplateSettings) -> anyhow::Result<Self> {
        Ok(Self { http: http::client(settings.timeout)?, settings, cache: Mutex::new(None) })
    }

    fn first_page_url(&self) -> String {
        let s = &self.settings;
        format!("{}/{}/{}/message_templates", s.base_url, s.api_version, s.business_account_id)
    }

    /// One page: `after` from the previous one, or Graph's `next` URL when it gave no
    /// cursor and the URL is on the configured Graph (the token goes nowhere else).
    async fn page(&self, after: Option<&str>, next: Option<&str>) -> Result<TemplatePage, TemplatesError> {
        let request = match (after, next) {
            (None, Some(next)) => self.http.get(next),
            _ => {
                let limit = PAGE_SIZE.to_string();
                let mut query = vec![
                    ("status", "APPROVED"),
                    ("fields", "name,language,status,category,components"),
                    ("limit", limit.as_str()),
                ];
                query.extend(after.map(|a| ("after", a)));
                let url = reqwest::Url::parse_with_params(&self.first_page_url(), &query)
                    .map_err(|e| TemplatesError::Unreachable(format!("no valid Graph URL: {e}")))?;
                self.http.get(url)
            }
        };
        let response = request.bearer_auth(self.settings.access_token.expose_secret()).send().await.map_err(|e| {
            super::graph::count_call(if matches!(&e, reqwest_middleware::Error::Reqwest(r) if r.is_timeout()) {
                "timeout"
            } else {
                "network"
            });
            TemplatesError::Unreachable(http::describe(&e))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            super::graph::count_call("timeout");
            TemplatesError::Unreachable(http::describe_reqwest(&e))
        })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        match body {
            Some(body) if status.is_success() => {
                super::graph::count_call("ok");
                Ok(parse_page(&body))
            }
            Some(body) => {
                super::graph::count_call("graph_error");
                let code = body.pointer("/error/code").and_then(Value::as_i64).unwrap_or(i64::from(status.as_u16()));
                let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("error");
                Err(TemplatesError::Refused { code, message: secrets::scrub(message) })
            }
            None => {
                super::graph::count_call("graph_error");
                Err(TemplatesError::Unreachable(format!("HTTP {} without JSON", status.as_u16())))
            }
        }
    }

    /// Every page, up to [`MAX_PAGES`].
    async fn fetch(&self) -> Result<Vec<ApprovedTemplate>, TemplatesError> {
        let mut all = Vec::new();
        let mut page = self.page(None, None).await?;
        for read in 1.. {
            all.append(&mut page.templates);
            let on_graph = |url: &String| url.starts_with(&format!("{}/", self.settings.base_url));
            let (after, next) = match (page.after.take(), page.next.take()) {
                (Some(after), _) => (Some(after), None),
                (None, Some(next)) if on_graph(&next) => (None, Some(next)),
                _ => break,
            };
            if read >= MAX_PAGES {
                tracing::warn!(pages = read, "more approved templates than read; the rest are not offered");
                break;
            }
            page = self.page(after.as_deref(), next.as_deref()).await?;
        }
        Ok(all)
    }
}

#[async_trait]
impl Templates for GraphTemplates {
    #[tracing::instrument(name = "graph.templates", skip_all, fields(cached))]
    async fn approved(&self) -> Result<Vec<ApprovedTemplate>, TemplatesError> {
        if let Some((at, result)) = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            let fresh_for =
                if result.is_ok() { self.settings.cache_for } else { FAILURE_CACHE.min(self.settings.cache_for) };
            if at.elapsed() < fresh_for {
                tracing::Span::current().record("cached", true);
                return result.clone();
            }
        }
        let result = self.fetch().await;
        match &result {
            Ok(found) => tracing::info!(templates = found.len(), "approved templates listed"),
            Err(e) => tracing::warn!(error = %e, "approved templates not listed"),
        }
        *self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), result.clone()));
        result
    }
}

#[cfg(test)]
mod tests;
