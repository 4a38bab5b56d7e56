use serde_json::json;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

/// A page as Graph answers `message_templates` (ids and texts invented): a positional
/// template with header, footer and buttons; a named one; one of another status; one
/// without a name; and the paging block.
fn graph_page() -> Value {
    json!({
        "data": [
            {
                "name": "order_update",
                "parameter_format": "POSITIONAL",
                "components": [
                    {"type": "HEADER", "format": "TEXT", "text": "Your order"},
                    {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped and arrives {{3}}.",
                     "example": {"body_text": [["Ana", "#1042", "tomorrow"]]}},
                    {"type": "FOOTER", "text": "Reply STOP to opt out"},
                    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Track it"}]}
                ],
                "language": "en_US",
                "status": "APPROVED",
                "category": "UTILITY",
                "id": "1203456789012345"
            },
            {
                "name": "appointment_named",
                "parameter_format": "NAMED",
                "components": [
                    {"type": "BODY", "text": "Hola {{first_name}}, su cita es el {{date}}.",
                     "example": {"body_text_named_params": [
                        {"param_name": "first_name", "example": "Ana"}, {"param_name": "date", "example": "3 de mayo"}]}}
                ],
                "language": "es",
                "status": "APPROVED",
                "category": "UTILITY",
                "id": "1203456789012346"
            },
            {"name": "hello_world", "components": [{"type": "BODY", "text": "Welcome and congratulations!!"}],
             "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1203456789012347"},
            {"name": "summer_sale", "components": [{"type": "BODY", "text": "Sale {{1}}"}],
             "language": "en_US", "status": "PAUSED", "category": "MARKETING", "id": "1203456789012348"},
            {"components": [], "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1203456789012349"}
        ],
        "paging": {
            "cursors": {"before": "QVFIUmxtOTVs", "after": "QVFIUjZAUaWxw"},
            "next": "https://graph.facebook.com/v25.0/200000000000001/message_templates?fields=name&limit=5&after=QVFIUjZAUaWxw"
        }
    })
}

#[test]
fn a_graph_page_gives_each_approved_template_with_its_body_and_placeholders_and_the_next_cursor() {
    let page = parse_page(&graph_page());

    let names: Vec<(&str, &str)> = page.templates.iter().map(|t| (t.name.as_str(), t.language.as_str())).collect();
    assert_eq!(names, [("order_update", "en_US"), ("appointment_named", "es"), ("hello_world", "en_US")]);
    let order = &page.templates[0];
    assert_eq!(order.category, "UTILITY");
    assert_eq!(order.body.as_deref(), Some("Hi {{1}}, your order {{2}} has shipped and arrives {{3}}."));
    assert_eq!(order.parameters, ["1", "2", "3"]);
    assert_eq!(order.source, TemplateSource::Whatsapp);
    assert_eq!(page.templates[1].parameters, ["first_name", "date"]);
    assert!(page.templates[1].named_parameters());
    assert!(page.templates[2].parameters.is_empty());
    assert_eq!(page.after.as_deref(), Some("QVFIUjZAUaWxw"));
}

#[test]
fn the_last_page_has_no_next_and_a_body_that_is_not_a_list_gives_nothing() {
    let last = parse_page(&json!({"data": [], "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}}));
    let odd = parse_page(&json!({"error": "nope"}));

    assert_eq!(last, TemplatePage::default());
    assert_eq!(odd, TemplatePage::default());
}

fn templates(server: &MockServer, cache_for: Duration) -> GraphTemplates {
    GraphTemplates::new(TemplateSettings {
        base_url: server.uri(),
        api_version: "v25.0".into(),
        access_token: SecretString::from("test-token"),
        business_account_id: "200000000000001".into(),
        cache_for,
        timeout: Duration::from_secs(2),
    })
    .unwrap()
}

#[tokio::test]
async fn every_page_is_read_with_the_token_in_the_header_and_the_list_is_then_cached() {
    let server = MockServer::start().await;
    let listing = || {
        Mock::given(method("GET"))
            .and(path("/v25.0/200000000000001/message_templates"))
            .and(header("authorization", "Bearer test-token"))
            .and(query_param("status", "APPROVED"))
            .and(query_param("fields", "name,language,status,category,components"))
            .and(query_param("limit", "100"))
    };
    listing()
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(graph_page()))
        .expect(1)
        .mount(&server)
        .await;
    listing()
        .and(query_param("after", "QVFIUjZAUaWxw"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"name": "shipping_delay", "language": "en_GB", "status": "APPROVED", "category": "UTILITY",
             "components": [{"type": "BODY", "text": "Sorry {{1}}, a delay."}]}
        ], "paging": {"cursors": {"before": "QVFJ", "after": "QVFK"}}})))
        .expect(1)
        .mount(&server)
        .await;
    let graph = templates(&server, Duration::from_secs(300));

    let first = graph.approved().await.unwrap();
    let again = graph.approved().await.unwrap();

    assert_eq!(first.len(), 4);
    assert_eq!(first[3].name, "shipping_delay");
    assert_eq!(again, first);
}

#[tokio::test]
async fn an_expired_token_is_refused_with_metas_code_and_a_second_ask_soon_after_does_not_call_again() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190, "error_subcode": 463
        }})))
        .expect(1)
        .mount(&server)
        .await;
    let graph = templates(&server, Duration::from_secs(300));

    let refused = graph.approved().await;
    let again = graph.approved().await;

    assert!(matches!(&refused, Err(TemplatesError::Refused { code: 190, .. })), "{refused:?}");
    assert_eq!(again, refused);
}

#[tokio::test]
async fn a_next_url_on_another_host_is_not_followed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [{"name": "hello_world", "language": "en_US", "status": "APPROVED", "components": []}],
            "paging": {"next": "https://elsewhere.example/collect?page=2"}
        })))
        .expect(1)
        .mount(&server)
        .await;

    let found = templates(&server, Duration::ZERO).approved().await.unwrap();

    assert_eq!(found.len(), 1);
}
