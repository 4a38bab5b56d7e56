use super::*;

fn key(n: &i64) -> PageCursor {
    PageCursor { at: *n, id: n.to_string() }
}

#[test]
fn one_row_more_than_the_limit_means_a_next_page_starting_after_the_last_item_kept() {
    let page = Page::from_overfetch(vec![5, 4, 3], 2, key);

    assert_eq!(page.items, [5, 4]);
    assert_eq!(page.next, Some(PageCursor { at: 4, id: String::from("4") }));
}

#[test]
fn a_page_that_holds_every_row_is_the_last() {
    let full = Page::from_overfetch(vec![2, 1], 2, key);
    let short = Page::from_overfetch(vec![1], 2, key);

    assert_eq!(full.next, None);
    assert_eq!(short.next, None);
    assert_eq!(full.items, [2, 1]);
}

#[test]
fn a_route_reads_back_from_its_name_and_both_whatsapp_routes_are_the_whatsapp_channel() {
    for (route, channel) in
        [(Route::Whatsapp, "whatsapp"), (Route::WhatsappTemplate, "whatsapp"), (Route::Email, "email")]
    {
        assert_eq!(Route::parse(route.as_str()), Some(route));
        assert_eq!(serde_json::to_value(route).unwrap(), serde_json::json!(route.as_str()));
        assert_eq!(route.channel(), channel);
    }
    assert_eq!(Route::parse("sms"), None);
}

#[test]
fn a_conversation_state_reads_back_from_its_name() {
    for state in [ConversationState::InputRequired, ConversationState::Idle] {
        assert_eq!(ConversationState::parse(state.as_str()), Some(state));
    }
    assert_eq!(ConversationState::parse("closed"), None);
}

#[test]
fn each_attempt_outcome_has_its_own_name() {
    let names: std::collections::BTreeSet<&str> = [
        AttemptOutcome::Retrying,
        AttemptOutcome::Paced,
        AttemptOutcome::Held,
        AttemptOutcome::Uncertain,
        AttemptOutcome::Rerouted,
    ]
    .into_iter()
    .map(AttemptOutcome::as_str)
    .collect();

    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["held", "paced", "rerouted", "retrying", "uncertain"]);
}

#[test]
fn only_an_unreachable_agent_is_worth_asking_again() {
    let agent = || AgentName::new("helpdesk");

    assert!(AgentError::Unavailable { agent: agent(), message: String::from("timeout") }.is_retriable());
    assert!(!AgentError::Failed { agent: agent(), message: String::from("bad request") }.is_retriable());
    assert!(!AgentError::UnknownAgent(agent()).is_retriable());
}

fn graph(code: i64) -> SendError {
    SendError::Graph { code, failure: SendFailure::from_code(code), message: String::from("from Meta") }
}

#[test]
fn a_send_error_is_handled_as_the_shared_policy_says() {
    let invalid = SendError::Invalid(ContentError::InsecureLink);
    let cases = [
        (invalid, SendAction::NeverRetry, false, "invalid"),
        (graph(131056), SendAction::PaceRecipient, true, "pair_rate_limited"),
        (graph(190), SendAction::StopAndAlert, true, "auth_failed"),
        (graph(131026), SendAction::FallBack, false, "undeliverable"),
        (graph(131047), SendAction::NeedsTemplate, false, "outside_window"),
        (SendError::Network(String::from("refused")), SendAction::RetryWithBackoff, true, "network"),
        (SendError::Timeout(String::from("30 s")), SendAction::RetryWithBackoff, true, "timeout"),
    ];

    for (error, action, retriable, label) in cases {
        assert_eq!(error.action(), action, "{error}");
        assert_eq!(error.is_retriable(), retriable, "{error}");
        assert_eq!(error.label(), label, "{error}");
    }
}

#[test]
fn a_graph_error_says_its_code_and_what_it_means() {
    assert_eq!(graph(131056).to_string(), "WhatsApp error 131056 (pair_rate_limited): from Meta");
}

#[test]
fn the_system_clock_tells_the_current_time() {
    let before = OffsetDateTime::now_utc();

    let now = SystemClock.now();

    assert!(before <= now && now <= OffsetDateTime::now_utc());
}

#[test]
fn a_templates_numbered_placeholders_come_once_each_in_number_order() {
    let found =
        placeholders("Hi {{1}}, your order {{3}} ships {{2}}; {{1}} again, {{ 2 }} spaced, {{}} and {{a b}} ignored");

    assert_eq!(found, ["1", "2", "3"]);
}

#[test]
fn a_templates_named_placeholders_come_in_the_order_they_first_appear() {
    let found = placeholders("Hello {{first_name}}, order {{order_id}} for {{first_name}}; unclosed {{tail");

    assert_eq!(found, ["first_name", "order_id"]);
}

#[test]
fn a_template_with_named_placeholders_says_so_and_reads_as_name_and_language() {
    let template = |parameters: &[&str]| ApprovedTemplate {
        name: String::from("order_update"),
        language: String::from("en_US"),
        category: String::from("UTILITY"),
        body: None,
        parameters: parameters.iter().map(|p| (*p).to_owned()).collect(),
        source: TemplateSource::Whatsapp,
    };

    assert!(template(&["first_name"]).named_parameters());
    assert!(!template(&["1", "2"]).named_parameters());
    assert_eq!(template(&[]).label(), "order_update (en_US)");
}
