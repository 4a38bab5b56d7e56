//! Posts A2A task updates to clients' push notification URLs, guarded against request
//! forgery: http(s) only, no credentials in the URL, no redirects, and every address the
//! host resolves to checked (loopback, private, link-local and other internal ranges are
//! refused unless `SWITCHBOARD_A2A_PUSH_ALLOW_INTERNAL`); the connection then goes to the
//! addresses checked, so a name cannot be re-pointed between the check and the post.

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use switchboard_application::ports::{PushError, PushNotifier};
use switchboard_domain::a2a::{PushConfig, is_internal};
use switchboard_shared::TraceContext;
use switchboard_shared::secrets;

use super::http;

pub struct HttpPushNotifier {
    timeout: Duration,
    allow_internal: bool,
}

/// Why a URL is not posted to: refused for good, or not resolvable now.
enum Unusable {
    Refused(String),
    Unresolved(String),
}

impl HttpPushNotifier {
    pub fn new(timeout: Duration, allow_internal: bool) -> Self {
        Self { timeout, allow_internal }
    }

    /// The URL, parsed, and the addresses it may be posted to.
    async fn target(&self, raw: &str) -> Result<(Url, Vec<SocketAddr>), Unusable> {
        let url = Url::parse(raw).map_err(|e| Unusable::Refused(format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Unusable::Refused(format!("scheme {} is not http or https", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Unusable::Refused(String::from("credentials belong in `authentication`, not in the URL")));
        }
        let host = url.host_str().ok_or_else(|| Unusable::Refused(String::from("the URL has no host")))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Unusable::Unresolved(format!("{host} does not resolve: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(Unusable::Unresolved(format!("{host} resolves to no address")));
        }
        if !self.allow_internal
            && let Some(internal) = addrs.iter().find(|a| is_internal(a.ip()))
        {
            return Err(Unusable::Refused(format!(
                "{host} resolves to {}, an internal address (SWITCHBOARD_A2A_PUSH_ALLOW_INTERNAL is off)",
                internal.ip()
            )));
        }
        Ok((url, addrs))
    }
}

#[async_trait]
impl PushNotifier for HttpPushNotifier {
    async fn check(&self, url: &str) -> Result<(), String> {
        match self.target(url).await {
            Ok(_) => Ok(()),
            Err(Unusable::Refused(why) | Unusable::Unresolved(why)) => Err(why),
        }
    }

    #[tracing::instrument(name = "a2a.push", skip_all, fields(trace_id = %trace.trace_id, task_id = %config.task_id, config_id = %config.id))]
    async fn post(&self, config: &PushConfig, event: &str, trace: &TraceContext) -> Result<(), PushError> {
        let (url, addrs) = self.target(&config.url).await.map_err(|e| match e {
            Unusable::Refused(why) => PushError::Refused(why),
            Unusable::Unresolved(why) => PushError::Failed(why),
        })?;
        let mut client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(self.timeout);
        if let Some(host) = url.host_str() {
            client = client.resolve_to_addrs(host, &addrs);
        }
        let client = client.build().map_err(|e| PushError::Failed(http::describe_reqwest(&e)))?;
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .header("traceparent", trace.to_traceparent())
            .body(event.to_owned());
        if let Some(token) = &config.token {
            request = request.header("X-A2A-Notification-Token", token);
        }
        if let Some(auth) = &config.authentication {
            request = request.header("Authorization", format!("{} {}", auth.scheme, auth.credentials));
        }
        let address = secrets::public_address(&config.url);
        let response = request
            .send()
            .await
            .map_err(|e| PushError::Failed(format!("{address}: {}", http::describe_reqwest(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(PushError::Failed(format!("{address} answered HTTP {status}")));
        }
        tracing::info!(status = status.as_u16(), "push notification delivered");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_addresses_bad_schemes_and_credentials_in_the_url_are_refused() {
        let strict = HttpPushNotifier::new(Duration::from_secs(1), false);

        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://10.0.0.5/hook",
            "ftp://example.com/hook",
            "https://user:pass@example.com/hook",
            "not a url",
        ] {
            assert!(strict.check(url).await.is_err(), "{url}");
        }
    }

    #[tokio::test]
    async fn loopback_is_allowed_when_configuration_says_so() {
        let open = HttpPushNotifier::new(Duration::from_secs(1), true);

        assert!(open.check("http://127.0.0.1:9/hook").await.is_ok());
    }
}
