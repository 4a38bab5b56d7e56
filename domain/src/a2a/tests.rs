use super::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn a_v1_task_with_an_artifact_round_trips() {
    let wire = json!({
        "id": "t1", "contextId": "c1",
        "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2026-11-22T10:00:00Z"},
        "artifacts": [{"artifactId": "a1", "name": "classification", "parts": [{"data": {"intent": "greeting", "confidence": 0.9}, "mediaType": "application/json"}]}],
        "somethingNew": true
    });
    let task: Task = serde_json::from_value(wire).unwrap();
    assert_eq!(task.status.state, TaskState::Completed);
    assert_eq!(task.data_parts().next().unwrap()["intent"], "greeting");
    let back = serde_json::to_value(&task).unwrap();
    assert_eq!(back["status"]["state"], "TASK_STATE_COMPLETED");
    assert_eq!(back["artifacts"][0]["artifactId"], "a1");
    assert!(back.get("somethingNew").is_none());
}

#[test]
fn v03_state_and_role_names_are_understood() {
    let status: TaskStatus = serde_json::from_value(json!({"state": "input-required"})).unwrap();
    assert_eq!(status.state, TaskState::InputRequired);
    let message: Message =
        serde_json::from_value(json!({"messageId": "m", "role": "agent", "parts": [{"text": "hi"}]})).unwrap();
    assert_eq!(message.role, Role::Agent);
    let odd: TaskStatus = serde_json::from_value(json!({"state": "TASK_STATE_FROM_THE_FUTURE"})).unwrap();
    assert_eq!(odd.state, TaskState::Unspecified);
}

#[test]
fn send_message_results_are_a_task_or_a_message() {
    let result: SendMessageResult = serde_json::from_value(
        json!({"message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "hello"}]}}),
    )
    .unwrap();
    assert!(matches!(result, SendMessageResult::Message(m) if m.text() == "hello"));
}

#[test]
fn a_task_reply_is_its_artifacts_else_its_status_message() {
    let task: Task = serde_json::from_value(json!({
        "id": "t", "status": {"state": "TASK_STATE_INPUT_REQUIRED",
        "message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "Which order?"}]}}
    }))
    .unwrap();
    assert_eq!(task.reply_text(), "Which order?");
    assert!(task.status.state.is_interrupted());
}

#[test]
fn parts_of_every_kind_become_reply_text() {
    let message: Message = serde_json::from_value(json!({"messageId": "m", "role": "ROLE_AGENT", "parts": [
        {"url": "https://example.com/invoice.pdf", "filename": "invoice.pdf", "mediaType": "application/pdf"},
        {"raw": "aGVsbG8=", "mediaType": "image/png"},
        {"data": {"order": 1042}}
    ]}))
    .unwrap();
    assert_eq!(
        message.reply_text(),
        "invoice.pdf: https://example.com/invoice.pdf\n[file (image/png)]\n{\"order\":1042}"
    );
    let texty: Message = serde_json::from_value(
        json!({"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "Hi"}, {"data": {}}]}),
    )
    .unwrap();
    assert_eq!(texty.reply_text(), "Hi");
}

#[test]
fn the_card_endpoint_prefers_v1_and_falls_back_to_v03() {
    let card = |v: Value| serde_json::from_value::<AgentCard>(v).unwrap();
    let both = card(json!({"name": "x", "supportedInterfaces": [
        {"url": "http://a/03", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        {"url": "http://a/", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]}));
    assert_eq!(both.jsonrpc_endpoint(), Some(Endpoint { url: "http://a/".into(), v03: false }));
    let old = card(json!({"name": "x", "url": "http://old/", "protocolVersion": "0.3.0"}));
    assert_eq!(old.jsonrpc_endpoint(), Some(Endpoint { url: "http://old/".into(), v03: true }));
}

#[test]
fn the_card_endpoint_takes_a_v03_interface_when_there_is_no_v1_one() {
    let card: AgentCard =
        serde_json::from_value(json!({"name": "x", "url": "http://fallback/", "supportedInterfaces": [
        {"url": "http://a/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
        {"url": "http://a/03", "protocolBinding": "jsonrpc", "protocolVersion": "0.3"}]}))
        .unwrap();

    assert_eq!(card.jsonrpc_endpoint(), Some(Endpoint { url: "http://a/03".into(), v03: true }));
}

#[test]
fn a_card_without_a_json_rpc_interface_or_url_has_no_endpoint() {
    let card: AgentCard = serde_json::from_value(json!({"name": "x", "supportedInterfaces": [
        {"url": "http://a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}]}))
    .unwrap();

    assert_eq!(card.jsonrpc_endpoint(), None);
}

#[test]
fn the_part_builders_fill_exactly_their_kind() {
    assert_eq!(Part::text("hi"), Part { text: Some("hi".into()), ..Part::default() });
    assert_eq!(
        Part::data(json!({"a": 1})),
        Part { data: Some(json!({"a": 1})), media_type: Some("application/json".into()), ..Part::default() }
    );
    let file = Part::file_url("https://x/a.pdf", Some("application/pdf".into()), Some("a.pdf".into()));
    assert_eq!(file.url.as_deref(), Some("https://x/a.pdf"));
    assert_eq!(file.describe().as_deref(), Some("a.pdf: https://x/a.pdf"));
    assert_eq!(Part::default().describe(), None);
}

#[test]
fn a_blank_text_part_is_described_by_its_other_content() {
    let part = Part { text: Some("  ".into()), raw: Some("aGk=".into()), ..Part::default() };

    assert_eq!(part.describe().as_deref(), Some("[file (binary)]"));
    assert_eq!(Part::text(" ok ").describe().as_deref(), Some(" ok "));
}

#[test]
fn a_task_with_artifacts_replies_with_each_artifacts_text_not_its_status_message() {
    let task: Task = serde_json::from_value(json!({
        "id": "t", "status": {"state": "TASK_STATE_COMPLETED",
            "message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "status"}]}},
        "artifacts": [
            {"artifactId": "a1", "parts": [{"text": "First"}]},
            {"artifactId": "a2", "parts": []},
            {"artifactId": "a3", "parts": [{"text": "Second"}, {"data": {"ignored": true}}]}
        ]
    }))
    .unwrap();

    assert_eq!(task.reply_text(), "First\nSecond");
    assert_eq!(task.data_parts().count(), 1);
}

#[test]
fn a_task_with_neither_artifacts_nor_a_status_message_says_nothing() {
    let task: Task = serde_json::from_value(json!({"id": "t", "status": {"state": "TASK_STATE_WORKING"}})).unwrap();

    assert_eq!(task.reply_text(), "");
}

#[test]
fn only_completed_failed_canceled_and_rejected_tasks_are_over() {
    let states = [
        (TaskState::Submitted, false, false),
        (TaskState::Working, false, false),
        (TaskState::Completed, true, false),
        (TaskState::Failed, true, false),
        (TaskState::Canceled, true, false),
        (TaskState::InputRequired, false, true),
        (TaskState::Rejected, true, false),
        (TaskState::AuthRequired, false, true),
        (TaskState::Unspecified, false, false),
    ];

    for (state, terminal, interrupted) in states {
        assert_eq!(state.is_terminal(), terminal, "{state:?}");
        assert_eq!(state.is_interrupted(), interrupted, "{state:?}");
    }
}

#[test]
fn a_task_states_name_is_its_v1_wire_name() {
    for state in [
        TaskState::Submitted,
        TaskState::Working,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Canceled,
        TaskState::InputRequired,
        TaskState::Rejected,
        TaskState::AuthRequired,
        TaskState::Unspecified,
    ] {
        assert_eq!(serde_json::to_value(state).unwrap(), json!(state.as_str()));
    }
}

// ---------------------------------------------------------------- round trips

/// JSON values without floats (serde_json reads some floats back one ulp off unless
/// built with `float_roundtrip`) and, at the top, without `null` (an `Option<Value>`
/// field reads `null` as absent: see `a_null_data_part_reads_back_as_absent`).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn present_json() -> impl Strategy<Value = Value> {
    json_value().prop_filter("null reads back as absent", |v| !v.is_null())
}

fn metadata() -> impl Strategy<Value = Option<Map<String, Value>>> {
    proptest::option::of(
        proptest::collection::btree_map("[a-zA-Z]{1,8}", json_value(), 0..3).prop_map(|m| m.into_iter().collect()),
    )
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::User), Just(Role::Agent), Just(Role::Unspecified)]
}

fn task_state() -> impl Strategy<Value = TaskState> {
    prop_oneof![
        Just(TaskState::Submitted),
        Just(TaskState::Working),
        Just(TaskState::Completed),
        Just(TaskState::Failed),
        Just(TaskState::Canceled),
        Just(TaskState::InputRequired),
        Just(TaskState::Rejected),
        Just(TaskState::AuthRequired),
        Just(TaskState::Unspecified),
    ]
}

fn part() -> impl Strategy<Value = Part> {
    (
        proptest::option::of(text()),
        proptest::option::of("[A-Za-z0-9+/]{0,16}={0,2}"),
        proptest::option::of(text()),
        proptest::option::of(present_json()),
        metadata(),
        proptest::option::of(text()),
        proptest::option::of("[a-z]{1,8}/[a-z0-9.+-]{1,12}"),
    )
        .prop_map(|(text, raw, url, data, metadata, filename, media_type)| Part {
            text,
            raw,
            url,
            data,
            metadata,
            filename,
            media_type,
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        role(),
        proptest::collection::vec(part(), 0..4),
        metadata(),
        proptest::collection::vec(text(), 0..3),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(|(message_id, context_id, task_id, role, parts, metadata, extensions, reference_task_ids)| {
            Message { message_id, context_id, task_id, role, parts, metadata, extensions, reference_task_ids }
        })
}

fn task_status() -> impl Strategy<Value = TaskStatus> {
    (task_state(), proptest::option::of(message()), proptest::option::of(text()))
        .prop_map(|(state, message, timestamp)| TaskStatus { state, message, timestamp })
}

fn artifact() -> impl Strategy<Value = Artifact> {
    (
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::collection::vec(part(), 0..3),
        metadata(),
    )
        .prop_map(|(artifact_id, name, description, parts, metadata)| Artifact {
            artifact_id,
            name,
            description,
            parts,
            metadata,
        })
}

fn task() -> impl Strategy<Value = Task> {
    (
        text(),
        proptest::option::of(text()),
        task_status(),
        proptest::collection::vec(artifact(), 0..3),
        proptest::collection::vec(message(), 0..3),
        metadata(),
    )
        .prop_map(|(id, context_id, status, artifacts, history, metadata)| Task {
            id,
            context_id,
            status,
            artifacts,
            history,
            metadata,
        })
}

fn rpc_error() -> impl Strategy<Value = JsonRpcError> {
    (any::<i64>(), text(), proptest::option::of(present_json())).prop_map(|(code, message, data)| JsonRpcError {
        code,
        message,
        data,
    })
}

fn rpc_response() -> impl Strategy<Value = JsonRpcResponse> {
    let id = prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), text().prop_map(Value::String)];
    (id, proptest::option::of(present_json()), proptest::option::of(rpc_error()))
        .prop_map(|(id, result, error)| JsonRpcResponse { jsonrpc: String::from("2.0"), id, result, error })
}

fn round_trips<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let wire = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_str(&wire).map_err(|e| TestCaseError::fail(format!("{e}: {wire}")))?;
    prop_assert_eq!(&back, value, "{}", wire);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parts_round_trip(part in part()) {
        round_trips(&part)?;
    }

    #[test]
    fn messages_round_trip(message in message()) {
        round_trips(&message)?;
    }

    #[test]
    fn task_statuses_round_trip(status in task_status()) {
        round_trips(&status)?;
    }

    #[test]
    fn tasks_round_trip(task in task()) {
        round_trips(&task)?;
    }

    #[test]
    fn send_message_results_round_trip(result in prop_oneof![
        task().prop_map(SendMessageResult::Task),
        message().prop_map(SendMessageResult::Message),
    ]) {
        round_trips(&result)?;
    }

    #[test]
    fn json_rpc_responses_and_errors_round_trip(response in rpc_response()) {
        round_trips(&response)?;
    }

    #[test]
    fn any_json_reads_as_a_task_or_fails_cleanly(value in json_value()) {
        let _ = serde_json::from_value::<Task>(value.clone());
        let _ = serde_json::from_value::<Message>(value.clone());
        let _ = serde_json::from_value::<JsonRpcResponse>(value);
    }
}

#[test]
fn a_null_data_part_reads_back_as_absent() {
    // A known edge of `Option<Value>`: `{"data": null}` and no `data` read the same.
    let part = Part { data: Some(Value::Null), ..Part::default() };
    let back: Part = serde_json::from_str(&serde_json::to_string(&part).unwrap()).unwrap();
    assert_eq!(back.data, None);
}

#[test]
fn an_agent_asks_for_a_person_with_a_handoff_data_part_and_its_reason() {
    let task: Task = serde_json::from_value(serde_json::json!({
        "id": "t1",
        "status": {"state": "TASK_STATE_COMPLETED", "message": {"messageId": "m", "role": "ROLE_AGENT", "parts": [
            {"text": "A colleague will take over."},
            {"data": {"handoff": {"reason": "refund over the limit"}}}
        ]}}
    }))
    .unwrap();

    let handoff = task.handoff().unwrap();

    assert_eq!(handoff.reason.as_deref(), Some("refund over the limit"));
    assert_eq!(task.reply_text(), "A colleague will take over.");
}

#[test]
fn a_data_part_without_a_handoff_object_asks_for_nobody() {
    assert_eq!(handoff_in(&serde_json::json!({"handoff": true})), None);
    assert_eq!(handoff_in(&serde_json::json!({"order": 42})), None);
    assert_eq!(handoff_in(&serde_json::json!({"handoff": {}})).unwrap().reason, None);
}

#[test]
fn a_card_that_lists_http_json_first_prefers_it_and_one_that_lists_json_rpc_first_does_not() {
    let card = |interfaces: serde_json::Value| -> AgentCard {
        serde_json::from_value(serde_json::json!({"name": "a", "supportedInterfaces": interfaces})).unwrap()
    };
    let rest_first = card(serde_json::json!([
        {"url": "http://a/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
        {"url": "http://a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
        {"url": "http://a/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ]));
    let rpc_first = card(serde_json::json!([
        {"url": "http://a/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
        {"url": "http://a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"}
    ]));

    assert_eq!(rest_first.preferred_rest().as_deref(), Some("http://a/rest"));
    assert_eq!(rpc_first.preferred_rest(), None);
}
