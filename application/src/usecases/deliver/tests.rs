use super::*;
use crate::jobs::JobLease;
use crate::ports::{
    ContactRef, MockChannelSettings, MockClock, MockConsents, MockDeliveries, MockEmailGateway, MockSendPacing,
    MockWhatsAppGateway, SendReceipt,
};
use crate::usecases::fixtures::delivery;
use switchboard_domain::SendFailure;
use switchboard_domain::{EmailAddress, Wamid};
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

struct Ports {
    deliveries: MockDeliveries,
    whatsapp: MockWhatsAppGateway,
    email: MockEmailGateway,
    pacing: MockSendPacing,
    settings: MockChannelSettings,
    template: Option<TemplateConfig>,
    consents: Option<MockConsents>,
}

impl Ports {
    fn new(current: Delivery) -> Self {
        let mut deliveries = MockDeliveries::new();
        deliveries.expect_get().returning(move |_| Ok(Some(current.clone())));
        deliveries.expect_mark_in_flight().returning(|_, _| Ok(()));
        let mut pacing = MockSendPacing::new();
        pacing.expect_reserve().returning(|_, _| None);
        let mut settings = MockChannelSettings::new();
        settings.expect_email_priority().returning(|| Ok(false));
        Self {
            deliveries,
            whatsapp: MockWhatsAppGateway::new(),
            email: MockEmailGateway::new(),
            pacing,
            settings,
            template: None,
            consents: None,
        }
    }

    fn build(self) -> DeliverMessage {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        let outside_window = if self.template.is_some() { OutsideWindow::Template } else { OutsideWindow::Email };
        let consents = self.consents;
        let deliver = DeliverMessage::new(
            Arc::new(self.deliveries),
            Arc::new(self.whatsapp),
            Arc::new(self.email),
            Arc::new(self.pacing),
            Arc::new(self.settings),
            Arc::new(clock),
            DeliveryPolicy {
                reengagement_template: self.template,
                outside_window,
                uncertain_grace: Duration::from_secs(30),
                hold: RetryPolicy { base: Duration::from_secs(1), max_delay: Duration::from_secs(60), max_attempts: 8 },
            },
        );
        match consents {
            Some(consents) => deliver.with_consents(Arc::new(consents)),
            None => deliver,
        }
    }
}

/// A pending delivery inside the window, with an email address to fall back on.
fn pending() -> Delivery {
    Delivery {
        last_inbound_at: Some(NOW - time::Duration::hours(1)),
        email: Some(EmailAddress::parse("amelia@example.com").unwrap()),
        fallback_allowed: true,
        ..delivery(DeliveryState::Pending)
    }
}

fn graph(code: i64) -> SendError {
    SendError::Graph { code, failure: SendFailure::from_code(code), message: "error".into() }
}

async fn run(ports: Ports, attempt: Attempt) -> Result<DeliverOutcome, DeliverError> {
    ports.build().execute(Uuid::nil(), TraceContext::new_root(), attempt).await
}

#[tokio::test]
async fn a_pending_delivery_is_sent_and_marked_sent_with_metas_wamid() {
    let mut ports = Ports::new(pending());
    ports
        .whatsapp
        .expect_send()
        .withf(|_, cb, _| cb.as_deref() == Some(&Uuid::nil().to_string()[..]))
        .times(1)
        .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.OUT").unwrap() }));
    ports
        .deliveries
        .expect_mark_sent()
        .withf(|_, route, w, _, _, _| *route == Route::Whatsapp && w.as_ref().map(Wamid::as_str) == Some("wamid.OUT"))
        .times(1)
        .returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Whatsapp, .. }));
}

#[tokio::test]
async fn a_send_is_noted_in_flight_before_it_leaves() {
    let mut seq = mockall::Sequence::new();
    let mut ports = Ports::new(pending());
    ports.deliveries = MockDeliveries::new();
    ports.deliveries.expect_get().returning(|_| Ok(Some(pending())));
    ports.deliveries.expect_mark_in_flight().times(1).in_sequence(&mut seq).returning(|_, _| Ok(()));
    ports
        .whatsapp
        .expect_send()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.OUT").unwrap() }));
    ports.deliveries.expect_mark_sent().times(1).in_sequence(&mut seq).returning(|_, _, _, _, _, _| Ok(true));

    run(ports, Attempt::first()).await.unwrap();
}

/// The lease a reply's delivery was handed to its planner under.
const PLANNED: Uuid = Uuid::from_u128(7);

/// A delivery marked in flight by the write that recorded its reply, for `PLANNED`.
fn premarked() -> Delivery {
    Delivery { uncertain_since: Some(NOW - time::Duration::milliseconds(2)), in_flight_by: Some(PLANNED), ..pending() }
}

fn under(lease: Uuid) -> Attempt {
    Attempt { number: 1, is_last: false, lease: Some(JobLease { id: 41, token: lease }) }
}

#[tokio::test]
async fn a_delivery_marked_in_flight_by_its_own_reply_is_sent_at_once_without_marking_it_again() {
    let mut ports = Ports::new(premarked());
    ports.deliveries = MockDeliveries::new();
    ports.deliveries.expect_get().returning(|_| Ok(Some(premarked())));
    ports.deliveries.expect_mark_in_flight().never();
    ports
        .whatsapp
        .expect_send()
        .times(1)
        .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.OUT").unwrap() }));
    ports.deliveries.expect_mark_sent().times(1).returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, under(PLANNED)).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Whatsapp, .. }));
}

#[tokio::test]
async fn a_send_under_a_lease_ends_its_job_in_the_write_that_marks_it_sent() {
    let mut ports = Ports::new(premarked());
    ports.deliveries = MockDeliveries::new();
    ports.deliveries.expect_get().returning(|_| Ok(Some(premarked())));
    ports
        .whatsapp
        .expect_send()
        .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.OUT").unwrap() }));
    ports
        .deliveries
        .expect_mark_sent()
        .withf(|_, _, _, _, _, ends| *ends == Some(JobLease { id: 41, token: PLANNED }))
        .times(1)
        .returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, under(PLANNED)).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { ended_job: true, .. }), "{outcome:?}");
}

#[tokio::test]
async fn a_send_outside_the_queue_ends_no_job() {
    let mut ports = Ports::new(pending());
    ports
        .whatsapp
        .expect_send()
        .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.OUT").unwrap() }));
    ports.deliveries = MockDeliveries::new();
    ports.deliveries.expect_get().returning(|_| Ok(Some(pending())));
    ports.deliveries.expect_mark_in_flight().returning(|_, _| Ok(()));
    ports
        .deliveries
        .expect_mark_sent()
        .withf(|_, _, _, _, _, ends| ends.is_none())
        .times(1)
        .returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { ended_job: false, .. }), "{outcome:?}");
}

#[tokio::test]
async fn a_mark_made_for_another_lease_is_an_uncertain_send_after_a_crash_and_waits_for_proof() {
    let mut ports = Ports::new(premarked());
    ports.whatsapp.expect_send().never();

    // The planner died; its lease expired and the claim leased the job again.
    let outcome =
        run(ports, Attempt { number: 2, is_last: false, lease: Some(JobLease { id: 41, token: Uuid::from_u128(8) }) })
            .await
            .unwrap();

    assert_eq!(
        outcome,
        DeliverOutcome::Deferred { until: NOW - time::Duration::milliseconds(2) + Duration::from_secs(30) }
    );
}

#[tokio::test]
async fn a_planned_send_held_back_by_the_pacing_takes_its_in_flight_mark_back() {
    let mut ports = Ports::new(premarked());
    ports.deliveries = MockDeliveries::new();
    ports.deliveries.expect_get().returning(|_| Ok(Some(premarked())));
    ports.deliveries.expect_clear_in_flight().withf(|id| *id == Uuid::nil()).times(1).returning(|_| Ok(()));
    ports.pacing = MockSendPacing::new();
    ports.pacing.expect_reserve().returning(|_, _| Some(Duration::from_millis(250)));
    ports.whatsapp.expect_send().never();

    let outcome = run(ports, under(PLANNED)).await.unwrap();

    assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_millis(250) });
}

#[tokio::test]
async fn a_planned_send_that_falls_back_to_the_template_marks_the_second_send_itself() {
    let mut seq = mockall::Sequence::new();
    let mut ports = Ports::new(premarked());
    ports.template = Some(TemplateConfig { name: "hello".into(), language: "en".into(), name_param: false });
    ports.deliveries = MockDeliveries::new();
    ports.deliveries.expect_get().returning(|_| Ok(Some(premarked())));
    ports.whatsapp.expect_send().times(1).in_sequence(&mut seq).returning(|_, _, _| Err(graph(131047)));
    ports.deliveries.expect_record_attempt().times(1).in_sequence(&mut seq).returning(|_, _, _, _| Ok(()));
    ports.deliveries.expect_mark_in_flight().times(1).in_sequence(&mut seq).returning(|_, _| Ok(()));
    ports
        .whatsapp
        .expect_send()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.T").unwrap() }));
    ports.deliveries.expect_mark_sent().times(1).in_sequence(&mut seq).returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, under(PLANNED)).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::WhatsappTemplate, .. }));
}

#[tokio::test]
async fn a_delivery_already_sent_is_not_sent_again() {
    let mut ports = Ports::new(delivery(DeliveryState::Sent));
    ports.whatsapp.expect_send().never();

    assert_eq!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::AlreadySent);
}

#[tokio::test]
async fn a_throttled_send_is_recorded_and_retried() {
    let mut ports = Ports::new(pending());
    ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(130429)));
    ports
        .deliveries
        .expect_record_failure()
        .withf(|_, _, is_final, _| !is_final)
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    let result = run(ports, Attempt::first()).await;

    assert!(matches!(result, Err(ref e) if e.is_retriable()));
}

#[tokio::test]
async fn undeliverable_falls_back_to_email_saying_what_the_message_said() {
    let mut ports = Ports::new(pending());
    ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131026)));
    ports
        .deliveries
        .expect_record_attempt()
        .withf(|_, o, _, _| *o == AttemptOutcome::Rerouted)
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    ports
        .email
        .expect_send()
        .withf(|e, _| e.text == "Hi" && e.to.as_str() == "amelia@example.com")
        .times(1)
        .returning(|_, _| Ok("<m1@x>".into()));
    ports
        .deliveries
        .expect_mark_sent()
        .withf(|_, route, _, _, _, _| *route == Route::Email)
        .times(1)
        .returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert_eq!(outcome, DeliverOutcome::Sent { route: Route::Email, provider_id: None, ended_job: false });
}

#[tokio::test]
async fn undeliverable_without_an_email_address_fails_with_the_reason() {
    let mut ports = Ports::new(Delivery { email: None, ..pending() });
    ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131026)));
    ports
        .deliveries
        .expect_record_failure()
        .withf(|_, reason, is_final, _| *is_final && reason.contains("131026") && reason.contains("no email address"))
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    assert!(matches!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::Failed { .. }));
}

#[tokio::test]
async fn the_pair_rate_limit_paces_the_user_for_1_then_4_then_16_seconds() {
    for (paced, wait) in [(0, 1), (1, 4), (2, 16), (5, 16)] {
        let mut ports = Ports::new(Delivery { paced, ..pending() });
        ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131056)));
        ports
            .deliveries
            .expect_record_attempt()
            .withf(|_, o, _, _| *o == AttemptOutcome::Paced)
            .returning(|_, _, _, _| Ok(()));

        let outcome = run(ports, Attempt::first()).await.unwrap();

        assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_secs(wait) }, "after {paced}");
    }
}

#[tokio::test]
async fn an_expired_token_holds_the_delivery_without_spending_attempts() {
    let mut ports = Ports::new(Delivery { email: None, held: 2, ..pending() });
    ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(190)));
    ports
        .deliveries
        .expect_record_attempt()
        .withf(|_, o, _, _| *o == AttemptOutcome::Held)
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    let outcome = run(ports, Attempt { number: 8, is_last: true, lease: None }).await.unwrap();

    assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_secs(4) });
}

#[tokio::test]
async fn a_rate_limit_wait_defers_the_job_without_sending() {
    let mut ports = Ports::new(pending());
    ports.pacing = MockSendPacing::new();
    ports.pacing.expect_reserve().returning(|_, _| Some(Duration::from_millis(250)));
    ports.whatsapp.expect_send().never();

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_millis(250) });
}

#[tokio::test]
async fn outside_the_window_the_reengagement_template_goes_with_the_users_name() {
    let mut ports = Ports::new(Delivery {
        last_inbound_at: Some(NOW - time::Duration::hours(25)),
        profile_name: Some("Amelia".into()),
        ..pending()
    });
    ports.template = Some(TemplateConfig { name: "hello_again".into(), language: "en_US".into(), name_param: true });
    ports
        .whatsapp
        .expect_send()
        .withf(|m, _, _| {
            matches!(&m.content, OutboundContent::Template { name, components, .. }
                if name == "hello_again" && components[0].parameters == vec![TemplateParameter::text("Amelia")])
        })
        .times(1)
        .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.T").unwrap() }));
    ports
        .deliveries
        .expect_mark_sent()
        .withf(|_, r, _, _, _, _| *r == Route::WhatsappTemplate)
        .returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::WhatsappTemplate, .. }));
}

#[tokio::test]
async fn outside_the_window_without_a_template_the_reply_goes_by_email() {
    let mut ports = Ports::new(Delivery { last_inbound_at: Some(NOW - time::Duration::hours(30)), ..pending() });
    ports.whatsapp.expect_send().never();
    ports.email.expect_send().times(1).returning(|_, _| Ok("<m@x>".into()));
    ports.deliveries.expect_mark_sent().returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Email, .. }));
}

#[tokio::test]
async fn email_priority_sends_by_email_first() {
    let mut ports = Ports::new(pending());
    ports.settings = MockChannelSettings::new();
    ports.settings.expect_email_priority().returning(|| Ok(true));
    ports.whatsapp.expect_send().never();
    ports.email.expect_send().times(1).returning(|_, _| Ok("<m@x>".into()));
    ports.deliveries.expect_mark_sent().returning(|_, _, _, _, _, _| Ok(true));

    assert!(matches!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::Sent { route: Route::Email, .. }));
}

#[tokio::test]
async fn a_timed_out_send_waits_for_proof_before_sending_again() {
    let mut ports = Ports::new(Delivery { uncertain_since: Some(NOW - time::Duration::seconds(10)), ..pending() });
    ports.whatsapp.expect_send().never();

    let outcome = run(ports, Attempt { number: 2, is_last: false, lease: None }).await.unwrap();

    assert_eq!(outcome, DeliverOutcome::Deferred { until: NOW + Duration::from_secs(20) });
}

#[tokio::test]
async fn a_send_that_times_out_is_recorded_as_uncertain() {
    let mut ports = Ports::new(pending());
    ports.whatsapp.expect_send().returning(|_, _, _| Err(SendError::Timeout("10 s".into())));
    ports
        .deliveries
        .expect_record_attempt()
        .withf(|_, o, _, _| *o == AttemptOutcome::Uncertain)
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    assert!(run(ports, Attempt::first()).await.is_err());
}

#[tokio::test]
async fn retries_exhausted_fall_back_to_email() {
    let mut ports = Ports::new(pending());
    ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131000)));
    ports.deliveries.expect_record_attempt().returning(|_, _, _, _| Ok(()));
    ports.email.expect_send().times(1).returning(|_, _| Ok("<m@x>".into()));
    ports.deliveries.expect_mark_sent().returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, Attempt { number: 8, is_last: true, lease: None }).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Email, .. }));
}

#[tokio::test]
async fn a_parameter_error_is_never_retried() {
    let mut ports = Ports::new(pending());
    ports.whatsapp.expect_send().times(1).returning(|_, _, _| Err(graph(100)));
    ports
        .deliveries
        .expect_record_failure()
        .withf(|_, _, is_final, _| *is_final)
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    assert!(matches!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::Failed { .. }));
}

fn reengagement() -> Option<TemplateConfig> {
    Some(TemplateConfig { name: String::from("reengage"), language: String::from("en"), name_param: true })
}

#[tokio::test]
async fn outside_the_window_with_no_template_or_email_the_delivery_fails_saying_so() {
    let mut ports = Ports::new(Delivery { last_inbound_at: None, email: None, ..pending() });
    ports.whatsapp.expect_send().never();
    ports
        .deliveries
        .expect_record_failure()
        .withf(|_, reason, last, _| reason.contains("outside the 24-hour window") && *last)
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Failed { reason } if reason.contains("no template or email")));
}

#[tokio::test]
async fn when_meta_says_the_window_closed_the_reengagement_template_goes_instead() {
    let mut ports = Ports::new(Delivery { profile_name: Some(String::from("Amelia")), ..pending() });
    ports.template = reengagement();
    ports
        .whatsapp
        .expect_send()
        .withf(|message, _, _| !message.content.is_template())
        .times(1)
        .returning(|_, _, _| Err(graph(131047)));
    ports
        .deliveries
        .expect_record_attempt()
        .withf(|_, outcome, _, _| *outcome == AttemptOutcome::Rerouted)
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    ports
        .whatsapp
        .expect_send()
        .withf(|message, _, _| message.content.as_plain_text() == "[template reengage] Amelia")
        .times(1)
        .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.T").unwrap() }));
    ports
        .deliveries
        .expect_mark_sent()
        .withf(|_, route, _, _, _, _| *route == Route::WhatsappTemplate)
        .times(1)
        .returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::WhatsappTemplate, .. }));
}

#[tokio::test]
async fn a_delivery_routed_to_the_template_without_one_configured_falls_back_to_email() {
    let mut ports = Ports::new(Delivery { route: Route::WhatsappTemplate, ..pending() });
    ports.whatsapp.expect_send().never();
    ports.deliveries.expect_record_attempt().times(1).returning(|_, _, _, _| Ok(()));
    ports.email.expect_send().times(1).returning(|_, _| Ok(String::from("<1@mail>")));
    ports
        .deliveries
        .expect_mark_sent()
        .withf(|_, route, _, _, _, _| *route == Route::Email)
        .times(1)
        .returning(|_, _, _, _, _, _| Ok(true));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Sent { route: Route::Email, .. }));
}

#[tokio::test]
async fn a_transient_email_failure_is_retried_until_the_last_attempt_fails_it() {
    let email_route = || Delivery { route: Route::Email, ..pending() };
    let mut ports = Ports::new(email_route());
    ports.email.expect_send().returning(|_, _| Err(EmailError::Transient(String::from("421 try later"))));
    ports.deliveries.expect_record_failure().withf(|_, _, last, _| !*last).times(1).returning(|_, _, _, _| Ok(()));

    let retried = run(ports, Attempt::first()).await;

    let mut ports = Ports::new(email_route());
    ports.email.expect_send().returning(|_, _| Err(EmailError::Transient(String::from("421 try later"))));
    ports
        .deliveries
        .expect_record_failure()
        .withf(|_, reason, last, _| *last && reason.contains("421"))
        .times(1)
        .returning(|_, _, _, _| Ok(()));

    let failed = run(ports, Attempt { number: 8, is_last: true, lease: None }).await.unwrap();

    assert!(matches!(retried, Err(e) if e.is_retriable()));
    assert!(matches!(failed, DeliverOutcome::Failed { .. }));
}

#[tokio::test]
async fn an_email_route_without_an_address_fails_the_delivery() {
    let mut ports = Ports::new(Delivery { route: Route::Email, email: None, ..pending() });
    ports.email.expect_send().never();
    ports.deliveries.expect_record_failure().times(1).returning(|_, _, _, _| Ok(()));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Failed { reason } if reason.contains("no email address")));
}

#[tokio::test]
async fn a_message_that_breaks_a_limit_is_failed_without_being_sent() {
    let mut over = pending();
    over.message.content = OutboundContent::text("x".repeat(5000));
    let mut ports = Ports::new(over);
    ports.whatsapp.expect_send().never();
    ports.deliveries.expect_record_failure().times(1).returning(|_, _, _, _| Ok(()));

    let outcome = run(ports, Attempt::first()).await.unwrap();

    assert!(matches!(outcome, DeliverOutcome::Failed { reason } if reason.starts_with("not sent: text body")));
}

#[tokio::test]
async fn a_delivery_whose_stored_data_is_corrupt_is_not_retried() {
    let mut ports = Ports::new(pending());
    ports.deliveries = MockDeliveries::new();
    ports.deliveries.expect_get().returning(|_| Err(StoreError::Corrupt(String::from("bad route"))));

    let result = run(ports, Attempt::first()).await;

    assert!(matches!(result, Err(e) if !e.is_retriable()));
}

mod consent {
    use super::*;
    use switchboard_domain::{Consent, ConsentChange, ConsentScope, ConsentSource, OptOut};

    fn opted_out(scope: ConsentScope) -> MockConsents {
        let opt_out = OptOut { at: NOW - time::Duration::days(1), source: ConsentSource::UserKeyword };
        let consent = match scope {
            ConsentScope::BusinessInitiated => Consent { business_initiated: Some(opt_out), marketing: None },
            ConsentScope::Marketing => Consent { business_initiated: None, marketing: Some(opt_out) },
        };
        let mut consents = MockConsents::new();
        consents.expect_consent().returning(move |_| Ok(Some(consent)));
        consents
    }

    #[tokio::test]
    async fn outside_the_window_no_template_goes_to_a_contact_who_opted_out_and_no_email_either() {
        let mut ports = Ports::new(Delivery { last_inbound_at: Some(NOW - time::Duration::hours(25)), ..pending() });
        ports.template =
            Some(TemplateConfig { name: "hello_again".into(), language: "en_US".into(), name_param: false });
        ports.consents = Some(opted_out(ConsentScope::BusinessInitiated));
        ports.whatsapp.expect_send().never();
        ports.email.expect_send().never();
        ports
            .deliveries
            .expect_record_failure()
            .withf(|_, reason, is_final, _| *is_final && reason.contains("opted out of business-initiated messages"))
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        assert!(matches!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::Failed { .. }));
    }

    #[tokio::test]
    async fn inside_the_window_a_reply_to_a_contact_who_opted_out_still_goes() {
        let mut ports = Ports::new(pending());
        ports.consents = Some(opted_out(ConsentScope::BusinessInitiated));
        ports
            .whatsapp
            .expect_send()
            .times(1)
            .returning(|_, _, _| Ok(SendReceipt { provider_id: Wamid::parse("wamid.R").unwrap() }));
        ports.deliveries.expect_mark_sent().returning(|_, _, _, _, _, _| Ok(true));

        assert!(matches!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::Sent { .. }));
    }

    #[tokio::test]
    async fn metas_131050_opts_the_contact_out_of_marketing_and_the_delivery_fails() {
        let mut ports = Ports::new(pending());
        let mut consents = MockConsents::new();
        consents
            .expect_change_consent()
            .withf(|contact, change| {
                matches!(contact, ContactRef::User(_))
                    && matches!(
                        change,
                        ConsentChange::OptOut { scope: ConsentScope::Marketing, source: ConsentSource::Meta131050, .. }
                    )
            })
            .times(1)
            .returning(|_, _| Ok(true));
        ports.consents = Some(consents);
        ports.whatsapp.expect_send().returning(|_, _, _| Err(graph(131050)));
        ports
            .deliveries
            .expect_record_failure()
            .withf(|_, _, is_final, _| *is_final)
            .times(1)
            .returning(|_, _, _, _| Ok(()));

        assert!(matches!(run(ports, Attempt::first()).await.unwrap(), DeliverOutcome::Failed { .. }));
    }
}
