use actix_web::App;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use actix_web::test as served;
use serde_json::Value;

use super::*;
use crate::inbound::auth::is_public;
use crate::inbound::routes;

fn document_json() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap()
}

/// Routes that are not part of the API: the reference page and the files it loads, and
/// the operators' console, which is HTML for people (issue 16), not an API.
fn is_deliberately_undocumented(path: &str) -> bool {
    path == "/api/docs" || is_asset(path) || path == "/console" || path.starts_with("/console/")
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (verb, operation) in item.as_object().unwrap() {
            found.push((path.clone(), verb.clone(), operation.clone()));
        }
    }
    found
}

#[test]
fn every_api_route_is_in_the_document() {
    let doc = document_json();

    let mut missing = Vec::new();
    for route in routes(true) {
        if is_deliberately_undocumented(route.path) {
            continue;
        }
        let verb = route.method.as_str().to_lowercase();
        if doc["paths"][documented_path(route.path).as_str()][&verb].is_null() {
            missing.push(format!("{} {}", route.method, route.path));
        }
    }

    assert!(missing.is_empty(), "routes() serves these, the document does not describe them: {missing:?}");
}

/// A route's path as OpenAPI writes it: `{key:.+}` (actix's pattern) is `{key}`.
fn documented_path(path: &str) -> String {
    let mut out = String::new();
    let mut in_pattern = false;
    for c in path.chars() {
        match c {
            ':' if out.rfind('{') > out.rfind('}') => in_pattern = true,
            '}' => {
                in_pattern = false;
                out.push(c);
            }
            _ if in_pattern => {}
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn every_documented_operation_is_a_route() {
    let served: Vec<(String, String)> =
        routes(true).iter().map(|r| (documented_path(r.path), r.method.as_str().to_lowercase())).collect();

    for (path, verb, _) in operations(&document_json()) {
        assert!(served.contains(&(path.clone(), verb.clone())), "{verb} {path} is documented but not served");
    }
}

#[test]
fn every_operation_has_a_clean_summary_a_description_and_one_declared_tag() {
    let doc = document_json();
    let tags: Vec<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();

    for (path, verb, operation) in operations(&doc) {
        let summary = operation["summary"].as_str().unwrap_or_default();
        let description = operation["description"].as_str().unwrap_or_default();
        let operation_tags: Vec<&str> =
            operation["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();

        assert!(!summary.is_empty(), "{verb} {path} has no summary");
        assert!(
            !summary.contains('`') && !summary.contains("//") && !summary.contains('\n') && !summary.contains('/'),
            "{verb} {path}: the summary reads like a code comment: {summary:?}"
        );
        assert!(!description.is_empty(), "{verb} {path} has no description");
        assert_eq!(operation_tags.len(), 1, "{verb} {path}: tags {operation_tags:?}");
        assert!(tags.contains(&operation_tags[0]), "{verb} {path}: tag {operation_tags:?} is not declared");
    }
}

#[test]
fn every_error_response_refers_to_the_error_schema() {
    let doc = document_json();
    // The health probes answer their report with 503, not an error: monitors read it.
    let reports = [("/health/ready", "get", "503"), ("/health/whatsapp", "get", "503")];
    let error_ref = format!("#/components/schemas/{ERROR_SCHEMA}");

    let mut checked = 0;
    for (path, verb, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            if !(status.starts_with('4') || status.starts_with('5')) || reports.contains(&(&path, &verb, status)) {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema.as_str(), Some(error_ref.as_str()), "{verb} {path} {status}: {response}");
            checked += 1;
        }
    }

    assert!(checked > 50, "only {checked} error responses documented");
}

#[test]
fn the_error_schema_is_code_message_and_trace_id_with_every_code() {
    let doc = document_json();
    let schema = &doc["components"]["schemas"][ERROR_SCHEMA];

    let codes: Vec<&str> =
        schema["properties"]["code"]["enum"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let mut required: Vec<&str> = schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    required.sort_unstable();

    assert_eq!(required, ["code", "message", "trace_id"]);
    assert_eq!(codes, ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>());
}

#[test]
fn every_route_that_reads_a_body_documents_its_refusals() {
    let doc = document_json();

    for (path, verb, operation) in operations(&doc) {
        if operation.get("requestBody").is_none() {
            continue;
        }
        for status in ["408", "413", "503"] {
            assert!(operation["responses"].get(status).is_some(), "{verb} {path} does not document {status}");
        }
    }
}

#[test]
fn every_operation_behind_the_key_documents_its_401() {
    let doc = document_json();

    for (path, verb, operation) in operations(&doc) {
        let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
        let documents_401 = operation["responses"].get("401").is_some();
        assert_eq!(secured, !is_public(&path), "{verb} {path}: security does not match the guard");
        // The webhook's 401 is its signature check, not the key.
        let signed = WEBHOOK_PATHS.contains(&path.as_str()) && verb == "post";
        assert_eq!(
            documents_401,
            !is_public(&path) || signed,
            "{verb} {path}: the guard answers 401 exactly off the public list"
        );
    }
}

#[test]
fn the_a2a_endpoint_documents_every_v1_method_and_its_v03_names() {
    let doc = document_json();
    let method = &doc["components"]["schemas"]["JsonRpcRequest"]["properties"]["method"]["enum"];
    let methods: Vec<&str> = method.as_array().unwrap().iter().filter_map(Value::as_str).collect();

    for name in [
        "SendMessage",
        "SendStreamingMessage",
        "GetTask",
        "ListTasks",
        "CancelTask",
        "SubscribeToTask",
        "message/send",
        "message/stream",
        "tasks/get",
        "tasks/cancel",
        "tasks/resubscribe",
    ] {
        assert!(methods.contains(&name), "{name} is not documented");
    }
    assert!(doc["paths"]["/a2a"]["post"]["responses"]["200"]["content"]["text/event-stream"].is_object());
}

#[actix_web::test]
async fn the_reference_page_is_html_that_loads_only_this_services_files() {
    let app = served::init_service(App::new().configure(|c| crate::inbound::configure(c, false))).await;

    let response = served::call_service(&app, served::TestRequest::get().uri("/api/docs").to_request()).await;
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let policy = response.headers().get(CONTENT_SECURITY_POLICY).cloned();
    let html = String::from_utf8(served::read_body(response).await.to_vec()).unwrap();

    assert_eq!(content_type.unwrap(), "text/html; charset=utf-8");
    let policy = policy.unwrap();
    let policy = policy.to_str().unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    assert!(!html.contains("http://") && !html.contains("https://"), "the page names another origin:\n{html}");
    assert!(html.contains("data-spec=\"/api/openapi.json\""), "{html}");
    for asset in ASSETS_THE_PAGE_LOADS {
        assert!(html.contains(&format!("\"{asset}\"")), "{asset} is not loaded by the page");
    }
}

const ASSETS_THE_PAGE_LOADS: [&str; 3] = [
    "/api/docs/assets/swagger-ui-5.36.0/swagger-ui-bundle.js",
    "/api/docs/assets/swagger-ui-5.36.0/swagger-ui.css",
    "/api/docs/assets/init.js",
];

#[actix_web::test]
async fn each_asset_is_served_with_its_content_type_and_a_cache_header() {
    let app = served::init_service(App::new().configure(|c| crate::inbound::configure(c, false))).await;

    for asset in viewer::ASSETS {
        let response = served::call_service(&app, served::TestRequest::get().uri(asset.path).to_request()).await;
        let status = response.status();
        let content_type = response.headers().get(CONTENT_TYPE).cloned().unwrap();
        let cache = response.headers().get(CACHE_CONTROL).cloned().unwrap();
        let body = served::read_body(response).await;

        assert_eq!(status, 200, "{}", asset.path);
        assert_eq!(content_type, asset.content_type, "{}", asset.path);
        assert!(cache.to_str().unwrap().contains("max-age="), "{}", asset.path);
        assert_eq!(body.len(), asset.body.len(), "{}", asset.path);
        assert!(is_public(asset.path), "{} needs a key", asset.path);
    }
    let by_extension =
        |ext: &'static str| viewer::ASSETS.iter().filter(move |a| a.path.ends_with(ext)).map(|a| a.content_type);
    assert!(by_extension(".js").all(|t| t.starts_with("text/javascript")));
    assert!(by_extension(".css").all(|t| t.starts_with("text/css")));
    assert!(viewer::ASSETS.iter().any(|a| a.path.contains(viewer::SWAGGER_UI_VERSION)));
}

#[test]
fn our_start_script_loads_nothing_from_elsewhere() {
    let init = viewer::ASSETS.iter().find(|a| a.path.ends_with("/init.js")).unwrap();
    let text = std::str::from_utf8(init.body).unwrap();

    assert!(!text.contains("http://") && !text.contains("https://"), "{text}");
    assert!(text.contains("validatorUrl: null"), "the default validator would send the document away");
}

fn schema_properties(doc: &Value, name: &str) -> std::collections::BTreeSet<String> {
    doc["components"]["schemas"][name]["properties"].as_object().unwrap().keys().cloned().collect()
}

fn order_fields(value: Value) -> std::collections::BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn the_documented_send_body_names_exactly_the_fields_the_send_api_reads() {
    use switchboard_application::usecases::{MediaOrder, SendOrder};
    let doc = document_json();

    assert_eq!(schema_properties(&doc, "SendBody"), order_fields(serde_json::to_value(SendOrder::default()).unwrap()));
    assert_eq!(
        schema_properties(&doc, "MediaBody"),
        order_fields(serde_json::to_value(MediaOrder::default()).unwrap())
    );
}

/// Successful answers with no body at all: `(path, verb, status)`, each with its reason.
/// Every other 2xx must name the schema (or media type) of what it answers.
const SUCCESSES_WITHOUT_A_BODY: &[(&str, &str, &str)] = &[];

/// POST and PUT operations that read no body: `(path, verb)`. Every other one must
/// document its request body with a schema.
const WRITES_WITHOUT_A_BODY: &[(&str, &str)] = &[
    // The task is named in the path; A2A's CancelTask and SubscribeToTask take no body here.
    ("/a2a/tasks/{id}:cancel", "post"),
    ("/a2a/tasks/{id}:subscribe", "post"),
    // Actions on what the path names, or on what the query selects.
    ("/api/v1/jobs/{id}/requeue", "post"),
    ("/api/v1/webhook-events/{id}/replay", "post"),
    ("/api/v1/webhook-events/replay", "post"),
];

#[test]
fn every_successful_response_with_a_body_names_its_schema() {
    let doc = document_json();

    let mut missing = Vec::new();
    for (path, verb, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            if !status.starts_with('2') || status == "204" || response.get("$ref").is_some() {
                continue;
            }
            match response["content"].as_object().filter(|c| !c.is_empty()) {
                None if SUCCESSES_WITHOUT_A_BODY.contains(&(path.as_str(), verb.as_str(), status.as_str())) => {}
                None => missing.push(format!("{verb} {path} {status}: no content")),
                Some(content) => {
                    for (media_type, entry) in content {
                        if entry.get("schema").is_none() {
                            missing.push(format!("{verb} {path} {status} {media_type}: no schema"));
                        }
                    }
                }
            }
        }
    }

    assert!(missing.is_empty(), "successful answers documented without a schema: {missing:#?}");
}

#[test]
fn every_post_and_put_that_reads_a_body_documents_its_schema() {
    let doc = document_json();

    let mut missing = Vec::new();
    for (path, verb, operation) in operations(&doc) {
        if verb != "post" && verb != "put" {
            continue;
        }
        let bodiless = WRITES_WITHOUT_A_BODY.contains(&(path.as_str(), verb.as_str()));
        match operation["requestBody"]["content"].as_object().filter(|c| !c.is_empty()) {
            None if bodiless => {}
            None => missing.push(format!("{verb} {path}: no requestBody")),
            Some(_) if bodiless => missing.push(format!("{verb} {path}: listed as reading no body, documents one")),
            Some(content) => {
                for (media_type, entry) in content {
                    if entry.get("schema").is_none() {
                        missing.push(format!("{verb} {path} {media_type}: requestBody without a schema"));
                    }
                }
            }
        }
    }

    assert!(missing.is_empty(), "writes documented without their body's schema: {missing:#?}");
}

#[test]
fn the_lists_of_bodiless_operations_name_only_documented_operations() {
    let doc = document_json();
    let documented: Vec<(String, String)> = operations(&doc).into_iter().map(|(p, v, _)| (p, v)).collect();

    for (path, verb) in
        WRITES_WITHOUT_A_BODY.iter().copied().chain(SUCCESSES_WITHOUT_A_BODY.iter().map(|(p, v, _)| (*p, *v)))
    {
        assert!(documented.contains(&(path.to_owned(), verb.to_owned())), "{verb} {path} is not documented");
    }
}

#[test]
fn the_operator_reply_and_the_sandbox_upload_document_what_they_answer_and_read() {
    let doc = document_json();
    let reply = &doc["paths"]["/api/v1/conversations/{id}/reply"]["post"];
    let upload = &doc["paths"]["/sandbox/media"]["post"];

    assert_eq!(
        reply["responses"]["202"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ReplyAccepted"
    );
    assert_eq!(
        upload["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SandboxUpload"
    );
    assert_eq!(
        upload["requestBody"]["content"]["application/octet-stream"]["schema"]["$ref"],
        "#/components/schemas/FileBytes"
    );
    assert_eq!(doc["components"]["schemas"]["FileBytes"]["format"], "binary");
    assert_eq!(
        schema_properties(&doc, "ReplyAccepted"),
        order_fields(serde_json::json!({"delivery_id": 0, "state": 0, "trace_id": 0}))
    );
}
