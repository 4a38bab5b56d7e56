//! The one way outbound adapters make HTTP clients (Graph, its health checks, A2A
//! agents): tracing middleware whose spans carry the method, host and path but never the
//! query string (Graph's `debug_token` takes the access token there) nor a transport
//! error's URL, and [`describe`], the only text a transport failure may become
//! (ADR 0015).

use std::time::Duration;

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Error};
use reqwest_tracing::{ReqwestOtelSpanBackend, TracingMiddleware, default_span_name, reqwest_otel_span};
use switchboard_shared::secrets;
use tracing::Span;

/// Spans without `url.full`, and errors recorded through [`describe`].
pub struct ScrubbedSpanBackend;

impl ReqwestOtelSpanBackend for ScrubbedSpanBackend {
    fn on_request_start(req: &reqwest::Request, ext: &mut http::Extensions) -> Span {
        let name = default_span_name(req, ext);
        let path = req.url().path().to_owned();
        reqwest_otel_span!(name = name, req, url.path = %path)
    }

    fn on_request_end(span: &Span, outcome: &reqwest_middleware::Result<reqwest::Response>, _: &mut http::Extensions) {
        match outcome {
            Ok(response) => {
                span.record("http.response.status_code", response.status().as_u16());
                if response.status().is_client_error() || response.status().is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record("error.message", describe(e).as_str());
            }
        }
    }
}

/// A client with `timeout` for the whole call and at most 5 s to connect.
pub fn client(timeout: Duration) -> anyhow::Result<ClientWithMiddleware> {
    let client =
        reqwest::Client::builder().timeout(timeout).connect_timeout(timeout.min(Duration::from_secs(5))).build()?;
    Ok(ClientBuilder::new(client).with(TracingMiddleware::<ScrubbedSpanBackend>::new()).build())
}

/// What went wrong, without the URL (which may carry a token in its query or userinfo)
/// and scrubbed of every registered secret: "timed out", "connection refused", ...
pub fn describe(e: &Error) -> String {
    match e {
        Error::Reqwest(inner) => describe_reqwest(inner),
        Error::Middleware(inner) => secrets::scrub(format!("{inner:#}")),
    }
}

/// [`describe`] for a bare reqwest error (reading a body, say).
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer could not be read"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_builder() {
        "the request could not be built"
    } else {
        "the request failed"
    };
    // The causes below reqwest's own message (hyper, io) name no URL; reqwest's own
    // message does, so it is skipped.
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    let text = if causes.is_empty() { what.to_owned() } else { format!("{what}: {}", causes.join(": ")) };
    secrets::scrub(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_call_is_described_without_its_url() {
        secrets::register("WHATSAPP_ACCESS_TOKEN", "tok-HTTP-UNIT-1234");
        let http = client(Duration::from_secs(2)).unwrap();
        // Nothing listens on port 9 of loopback.
        let error =
            http.get("http://127.0.0.1:9/v25.0/debug_token?input_token=tok-HTTP-UNIT-1234").send().await.unwrap_err();
        assert!(error.to_string().contains("tok-HTTP-UNIT-1234"), "reqwest's own text names the URL");
        let text = describe(&error);
        assert!(text.starts_with("could not connect"), "{text}");
        assert!(!text.contains("tok-HTTP-UNIT") && !text.contains("debug_token"), "{text}");
    }
}
