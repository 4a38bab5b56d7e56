use super::*;
use crate::ports::{MockClock, MockDeliveries, MockOperatorAlerts, MockPeople};
use switchboard_domain::{HandoffReason, WhatsAppUser};
use time::macros::datetime;

fn conversation(handler: Handler, operator: Option<&str>) -> ConversationHandling {
    ConversationHandling {
        conversation_id: Uuid::nil(),
        user: WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap(),
        profile_name: Some("Amelia".into()),
        business_number_id: "1".into(),
        handler,
        reason: Some(HandoffReason::UserAsked),
        handoff_at: Some(datetime!(2026-11-22 09:50 UTC)),
        operator: operator.map(str::to_owned),
        taken_at: None,
        first_human_reply_at: None,
        last_inbound_at: Some(datetime!(2026-11-22 09:49 UTC)),
        updated_at: datetime!(2026-11-22 09:50 UTC),
    }
}

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(datetime!(2026-11-22 10:00 UTC));
    Arc::new(clock)
}

fn service(people: MockPeople, deliveries: MockDeliveries) -> PeopleInTheLoop {
    PeopleInTheLoop::new(Arc::new(people), Arc::new(deliveries), clock())
}

fn text(body: &str) -> OutboundContent {
    OutboundContent::Text { body: body.into(), preview_url: false }
}

#[tokio::test]
async fn an_operator_takes_over_a_waiting_conversation() {
    let mut people = MockPeople::new();
    let mut seq = mockall::Sequence::new();
    people
        .expect_handling()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Some(conversation(Handler::People, None))));
    people
        .expect_change()
        .withf(|_, change, from, _| {
            *change == HandlingChange::TakeOver { operator: "amelia".into() } && from.contains(&Handler::People)
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _| Ok(true));
    people
        .expect_handling()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Some(conversation(Handler::People, Some("amelia")))));

    let taken = service(people, MockDeliveries::new()).take_over(Uuid::nil(), "amelia").await.unwrap();

    assert_eq!(taken.operator.as_deref(), Some("amelia"));
}

#[tokio::test]
async fn a_conversation_another_operator_holds_cannot_be_taken_over() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| Ok(Some(conversation(Handler::People, Some("bob")))));
    people.expect_change().never();

    let refused = service(people, MockDeliveries::new()).take_over(Uuid::nil(), "amelia").await;

    assert!(matches!(refused, Err(PeopleError::Conflict(why)) if why.contains("bob")));
}

#[tokio::test]
async fn the_bot_cannot_be_handed_a_conversation_it_already_has() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| Ok(Some(conversation(Handler::Bot, None))));
    people.expect_change().never();

    let refused = service(people, MockDeliveries::new()).hand_back(Uuid::nil(), "amelia", None).await;

    assert!(matches!(refused, Err(PeopleError::Conflict(why)) if why.contains("handled by bot")));
}

#[tokio::test]
async fn a_change_that_lost_a_race_is_a_conflict_not_a_silent_success() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| Ok(Some(conversation(Handler::People, None))));
    people.expect_change().returning(|_, _, _, _| Ok(false));

    let refused = service(people, MockDeliveries::new()).close(Uuid::nil(), "amelia").await;

    assert!(matches!(refused, Err(PeopleError::Conflict(_))));
}

#[tokio::test]
async fn an_unknown_conversation_is_not_found() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| Ok(None));

    let refused = service(people, MockDeliveries::new()).take_over(Uuid::nil(), "amelia").await;

    assert!(matches!(refused, Err(PeopleError::NotFound(_))));
}

#[tokio::test]
async fn a_note_given_on_hand_back_is_trimmed_and_an_empty_one_dropped() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| Ok(Some(conversation(Handler::People, Some("amelia")))));
    people
        .expect_change()
        .withf(|_, change, _, _| *change == HandlingChange::HandBack { operator: "amelia".into(), note: None })
        .times(1)
        .returning(|_, _, _, _| Ok(true));

    service(people, MockDeliveries::new()).hand_back(Uuid::nil(), "amelia", Some("   ".into())).await.unwrap();
}

#[tokio::test]
async fn the_operator_who_answers_a_waiting_conversation_takes_it_over_and_the_answer_goes_the_agents_way() {
    let mut people = MockPeople::new();
    let mut seq = mockall::Sequence::new();
    people
        .expect_handling()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Some(conversation(Handler::People, None))));
    people
        .expect_handling()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Some(conversation(Handler::People, None))));
    people.expect_change().times(1).in_sequence(&mut seq).returning(|_, _, _, _| Ok(true));
    people
        .expect_handling()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(Some(conversation(Handler::People, Some("amelia")))));
    let mut deliveries = MockDeliveries::new();
    deliveries
        .expect_create()
        .withf(|o| {
            o.operator.as_deref() == Some("amelia")
                && o.message.to.phone().map(|p| p.as_e164()) == Some("+447700900123")
                && o.fallback_allowed
                && o.message.content == text("Hi, Amelia here")
        })
        .times(1)
        .returning(|_| Ok(()));

    let sent = service(people, deliveries)
        .reply(Uuid::nil(), "amelia", text("Hi, Amelia here"), TraceContext::new_root())
        .await;

    assert!(sent.is_ok());
}

#[tokio::test]
async fn nobody_answers_for_the_bot_without_taking_the_conversation_over_first() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| Ok(Some(conversation(Handler::Bot, None))));
    let mut deliveries = MockDeliveries::new();
    deliveries.expect_create().never();

    let refused = service(people, deliveries).reply(Uuid::nil(), "amelia", text("hi"), TraceContext::new_root()).await;

    assert!(matches!(refused, Err(PeopleError::Conflict(why)) if why.contains("take it over")));
}

#[tokio::test]
async fn an_empty_reply_is_refused_before_anything_is_read() {
    let mut people = MockPeople::new();
    people.expect_handling().never();

    let refused =
        service(people, MockDeliveries::new()).reply(Uuid::nil(), "amelia", text(""), TraceContext::new_root()).await;

    assert!(matches!(refused, Err(PeopleError::Invalid(_))));
}

#[tokio::test]
async fn a_template_without_the_parameters_it_takes_is_refused_and_nothing_is_stored() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| Ok(Some(conversation(Handler::People, Some("amelia")))));
    let mut deliveries = MockDeliveries::new();
    deliveries.expect_create().never();
    let configured =
        crate::usecases::TemplateConfig { name: "welcome_back".into(), language: "en_US".into(), name_param: true };
    let templates = Arc::new(crate::usecases::TemplateCatalogue::new(None, Some(&configured)));
    let bare =
        OutboundContent::Template { name: "welcome_back".into(), language: "en_US".into(), components: Vec::new() };

    let refused = service(people, deliveries)
        .with_templates(templates)
        .reply(Uuid::nil(), "amelia", bare, TraceContext::new_root())
        .await;

    assert!(
        matches!(&refused, Err(PeopleError::Template(e)) if e.to_string().starts_with("template welcome_back (en_US) takes 1 body parameter")),
        "{refused:?}"
    );
}

fn announcer(people: MockPeople, alerts: MockOperatorAlerts) -> AnnounceHandoff {
    AnnounceHandoff::new(Arc::new(people), Arc::new(alerts), Some("https://sb.example/".into()))
}

#[tokio::test]
async fn a_waiting_conversation_is_announced_with_a_masked_number_and_a_console_link() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| Ok(Some(conversation(Handler::People, None))));
    let mut alerts = MockOperatorAlerts::new();
    alerts
        .expect_announce()
        .withf(|channel, notice, _| {
            *channel == AnnounceChannel::Webhook
                && !notice.user.contains("7700900123")
                && notice.reason == "user_asked"
                && notice.console_url.as_deref()
                    == Some("https://sb.example/console/conversations/00000000-0000-0000-0000-000000000000")
        })
        .times(1)
        .returning(|_, _, _| Ok(()));

    let outcome =
        announcer(people, alerts).execute(Uuid::nil(), AnnounceChannel::Webhook, TraceContext::new_root()).await;

    assert_eq!(outcome.unwrap(), AnnounceOutcome::Announced);
}

#[tokio::test]
async fn a_conversation_someone_answered_meanwhile_is_not_announced() {
    let mut people = MockPeople::new();
    people.expect_handling().returning(|_| {
        Ok(Some(ConversationHandling {
            first_human_reply_at: Some(datetime!(2026-11-22 09:55 UTC)),
            ..conversation(Handler::People, Some("amelia"))
        }))
    });
    let mut alerts = MockOperatorAlerts::new();
    alerts.expect_announce().never();

    let outcome =
        announcer(people, alerts).execute(Uuid::nil(), AnnounceChannel::Email, TraceContext::new_root()).await;

    assert_eq!(outcome.unwrap(), AnnounceOutcome::NoLongerWaiting);
}

#[tokio::test]
async fn an_unreachable_receiver_is_retried_and_a_refusal_is_not() {
    for (error, retriable) in
        [(AnnounceError::Transient("503".into()), true), (AnnounceError::Rejected("404".into()), false)]
    {
        let mut people = MockPeople::new();
        people.expect_handling().returning(|_| Ok(Some(conversation(Handler::People, None))));
        let mut alerts = MockOperatorAlerts::new();
        let error = std::sync::Mutex::new(Some(error));
        alerts.expect_announce().returning(move |_, _, _| Err(error.lock().unwrap().take().unwrap()));

        let failed =
            announcer(people, alerts).execute(Uuid::nil(), AnnounceChannel::Webhook, TraceContext::new_root()).await;

        assert_eq!(failed.unwrap_err().is_retriable(), retriable);
    }
}
