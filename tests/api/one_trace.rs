//! One trace across every hop: the webhook, the jobs that classify, route and send the
//! reply, the Graph call, and the status webhook that arrives later about that send,
//! as the OpenTelemetry spans the service exports.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry::Value as OtelValue;
use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::SpanData;
use serde_json::json;

use crate::fakes::FakeGraph;
use crate::helpers::{BUSINESS_NUMBER_ID, spans_of_trace, spawn_live_app, text_messages};

const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
const CALLER_SPAN: &str = "eee19b7ec3c1b174";

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| match &kv.value {
        OtelValue::String(s) => s.to_string(),
        other => other.to_string(),
    })
}

/// The spans of the trace once `ready` holds for them (spans are exported as they end).
async fn wait_for_spans(trace_id: &str, ready: impl Fn(&[SpanData]) -> bool) -> Vec<SpanData> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans = spans_of_trace(trace_id);
        if ready(&spans) {
            return spans;
        }
        assert!(Instant::now() < deadline, "trace incomplete:\n{}", tree(&spans));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The spans as an indented tree, for failure messages.
fn tree(spans: &[SpanData]) -> String {
    let mut out = String::new();
    for s in spans {
        let keys: Vec<String> = s.attributes.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        out.push_str(&format!(
            "{} {} parent={} {}\n",
            s.span_context.span_id(),
            s.name,
            s.parent_span_id,
            keys.join(" ")
        ));
    }
    out
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn status_webhook(wamid: &str, status: &str) -> Vec<u8> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "210987654321098", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100200", "phone_number_id": BUSINESS_NUMBER_ID},
            "statuses": [{"id": wamid, "status": status, "timestamp": now.to_string(), "recipient_id": "447700900123"}],
        }}]}],
    }))
    .unwrap()
}

#[tokio::test]
async fn a_message_its_reply_and_the_later_status_form_one_trace_with_parents_intact_across_the_queue() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(&graph, None, &[]).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    // A caller (Meta, or a proxy in front of us) sends the webhook inside its trace.
    let webhook = text_messages("447700900123", &[("wamid.TRACED.IN", now, "hello")]);
    let response = app.post_webhook_traced(&webhook, &format!("00-{TRACE_ID}-{CALLER_SPAN}-01")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-trace-id"], TRACE_ID);
    let spans = wait_for_spans(TRACE_ID, |s| {
        !named(s, "job deliver_message").is_empty() && !named(s, "POST /webhook/whatsapp").is_empty()
    })
    .await;
    let delivery = graph.sends()[0]["biz_opaque_callback_data"].as_str().unwrap().to_owned();
    let sent = app.wait_for_state(&delivery, "sent").await;
    let wamid_out = sent["provider_id"].as_str().unwrap().to_owned();

    // Meta reports the delivery later, in a webhook of its own (a new trace).
    assert_eq!(app.post_webhook(&status_webhook(&wamid_out, "delivered")).await.status(), 200);
    app.wait_for_state(&delivery, "delivered").await;
    let spans = wait_for_spans(TRACE_ID, |s| !named(s, "delivery_status").is_empty() && s.len() > spans.len()).await;
    let by_id: HashMap<SpanId, &SpanData> = spans.iter().map(|s| (s.span_context.span_id(), s)).collect();
    let describe = tree(&spans);

    // The webhook's server span continues the caller's span.
    let http = named(&spans, "POST /webhook/whatsapp");
    assert_eq!(http.len(), 1, "{describe}");
    let http = http[0];
    assert_eq!(http.parent_span_id.to_string(), CALLER_SPAN);
    assert_eq!(attribute(http, "http.response.status_code").as_deref(), Some("200"));

    // The job that processes the message was stored by that request and runs later as its child.
    let process = named(&spans, "job process_inbound");
    assert_eq!(process.len(), 1, "{describe}");
    let process = process[0];
    assert_eq!(process.parent_span_id, http.span_context.span_id(), "{describe}");
    assert_eq!(attribute(process, "wamid").as_deref(), Some("wamid.TRACED.IN"));

    // Classification and the agent call happen inside the processing job.
    for suffix in ["process_inbound", ".classify", ".agent"] {
        let span = spans.iter().find(|s| s.name.ends_with(suffix) && !s.name.starts_with("job "));
        let span = span.unwrap_or_else(|| panic!("no {suffix} span:\n{describe}"));
        assert!(descends_from(span, process, &by_id), "{suffix} is not under the job:\n{describe}");
    }

    // The reply's delivery job was stored by the processing job and is its child.
    let deliver = named(&spans, "job deliver_message");
    assert_eq!(deliver.len(), 1, "{describe}");
    let deliver = deliver[0];
    assert_eq!(deliver.parent_span_id, process.span_context.span_id(), "{describe}");

    // The Graph call is inside the delivery job, with the wamid Meta gave the reply and
    // the HTTP client span beneath it.
    let send = named(&spans, "graph.send");
    assert_eq!(send.len(), 1, "{describe}");
    let send = send[0];
    assert!(descends_from(send, deliver, &by_id), "Graph call is not under the delivery job:\n{describe}");
    assert_eq!(attribute(send, "wamid").as_deref(), Some(wamid_out.as_str()));
    assert!(
        spans.iter().any(|s| s.parent_span_id == send.span_context.span_id()
            && attribute(s, "http.response.status_code").as_deref() == Some("200")),
        "no HTTP client span under the Graph call:\n{describe}"
    );

    // The later status joins the message's trace, linked to the webhook that brought it.
    let status = named(&spans, "delivery_status")[0];
    assert_eq!(attribute(status, "wamid").as_deref(), Some(wamid_out.as_str()));
    assert!(descends_from(status, process, &by_id), "status is not in the message's tree:\n{describe}");
    let links: Vec<String> = status.links.iter().map(|l| l.span_context.trace_id().to_string()).collect();
    assert_eq!(links.len(), 1, "{describe}");
    assert_ne!(links[0], TRACE_ID);
    assert!(!spans_of_trace(&links[0]).is_empty(), "the status webhook's own trace was exported");

    // Parent links are intact: every span's parent is in the trace, but for the caller's.
    for span in &spans {
        let parent = span.parent_span_id;
        assert!(
            by_id.contains_key(&parent) || parent.to_string() == CALLER_SPAN,
            "{} has a parent outside the trace:\n{describe}",
            span.name
        );
    }
}

fn descends_from(span: &SpanData, ancestor: &SpanData, by_id: &HashMap<SpanId, &SpanData>) -> bool {
    let mut current = span;
    for _ in 0..64 {
        if current.parent_span_id == ancestor.span_context.span_id() {
            return true;
        }
        match by_id.get(&current.parent_span_id) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    false
}

#[tokio::test]
async fn a_webhook_without_traceparent_is_the_root_of_its_trace_and_the_whole_journey_descends_from_it() {
    let graph = FakeGraph::start().await;
    let app = spawn_live_app(&graph, None, &[]).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    // Meta sends no trace context.
    let response = app.post_webhook(&text_messages("447700900124", &[("wamid.ROOTED.IN", now, "hello")])).await;
    assert_eq!(response.status(), 200);
    let trace_id = response.headers()["x-trace-id"].to_str().unwrap().to_owned();
    let delivery = loop {
        if let Some(send) = graph.sends().first() {
            break send["biz_opaque_callback_data"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sent = app.wait_for_state(&delivery, "sent").await;
    let wamid_out = sent["provider_id"].as_str().unwrap().to_owned();
    let status_response = app.post_webhook(&status_webhook(&wamid_out, "delivered")).await;
    let status_trace = status_response.headers()["x-trace-id"].to_str().unwrap().to_owned();
    app.wait_for_state(&delivery, "delivered").await;
    let spans =
        wait_for_spans(&trace_id, |s| !named(s, "delivery_status").is_empty() && !named(s, "graph.send").is_empty())
            .await;
    let by_id: HashMap<SpanId, &SpanData> = spans.iter().map(|s| (s.span_context.span_id(), s)).collect();
    let describe = tree(&spans);

    // One root: the webhook's server span, with no parent at all.
    let roots: Vec<&SpanData> = spans.iter().filter(|s| s.parent_span_id == SpanId::INVALID).collect();
    assert_eq!(roots.len(), 1, "{describe}");
    let root = roots[0];
    assert_eq!(root.name, "POST /webhook/whatsapp", "{describe}");
    assert_eq!(root.span_context.trace_id().to_string(), trace_id);
    // Everything else descends from it: ingest, the jobs, classifier, agent, the Graph
    // send with its HTTP client span, and the status that came back later.
    for span in spans.iter().filter(|s| s.span_context.span_id() != root.span_context.span_id()) {
        assert!(descends_from(span, root, &by_id), "{} does not descend from the root:\n{describe}", span.name);
    }
    for name in ["ingest_webhook", "job process_inbound", "job deliver_message", "graph.send", "delivery_status"] {
        assert!(!named(&spans, name).is_empty(), "no {name} span:\n{describe}");
    }
    // The status webhook's own request is the root of its own trace too.
    let status_spans = wait_for_spans(&status_trace, |s| !named(s, "POST /webhook/whatsapp").is_empty()).await;
    let status_root = named(&status_spans, "POST /webhook/whatsapp")[0];
    assert_eq!(status_root.parent_span_id, SpanId::INVALID, "{}", tree(&status_spans));
    // Workers are not traces: their spans give log lines context and are never exported.
    assert!(crate::helpers::all_spans().iter().all(|s| s.name != "worker"), "a worker span was exported");
}

#[tokio::test]
async fn an_x_trace_id_without_traceparent_names_the_root_of_a_new_trace() {
    let app = crate::helpers::spawn_app().await;
    let trace_id = "7e1f0c2d9a8b4c3d8e7f6a5b4c3d2e1f";

    let response =
        app.client.get(format!("{}/health/live", app.address)).header("x-trace-id", trace_id).send().await.unwrap();

    assert_eq!(response.headers()["x-trace-id"], trace_id);
    let spans = wait_for_spans(trace_id, |s| !s.is_empty()).await;
    assert_eq!(spans[0].parent_span_id, SpanId::INVALID, "{}", tree(&spans));
}

#[tokio::test]
async fn a_callers_tracestate_is_kept_on_the_server_span() {
    let app = crate::helpers::spawn_app().await;
    let trace_id = "1af7651916cd43dd8448eb211c80319d";

    app.client
        .get(format!("{}/health/live", app.address))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .header("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        .send()
        .await
        .unwrap();

    let spans = wait_for_spans(trace_id, |s| !s.is_empty()).await;
    assert_eq!(spans[0].span_context.trace_state().get("congo"), Some("t61rcWkgMzE"), "{}", tree(&spans));
    assert_eq!(spans[0].parent_span_id.to_string(), "b7ad6b7169203331");
}
