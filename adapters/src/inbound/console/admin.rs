//! The Admin view (`/console/admin`, admins only): health, the latest deliveries with
//! their attempts, dead jobs with Requeue, quarantined webhook events with Replay, and
//! the email-priority switch.
//!
//! It reads and acts through the same application ports and use cases as the management
//! API (`ManagementState`, `ApiState`, the health states); nothing here talks to a
//! database or to Meta itself. Every action is a POST that checks the session's CSRF
//! token first, then the role, and answers 303 back to this page with a short result
//! in `?done=` (post/redirect/get), shown as a `role="status"` message.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use switchboard_application::ports::{
    AgentHealth, DeadJob, DeliveryFilter, DeliveryView, EventFilter, EventSummary, OperationalCounters, Page,
    PageRequest, StoreError, WhatsAppHealthReport,
};
use switchboard_application::usecases::ReplayError;
use switchboard_domain::{EmailAddress, PhoneNumber};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ConsoleError, SignedIn, html_response, layout};
use crate::inbound::api::ApiState;
use crate::inbound::errors::ErrorCode;
use crate::inbound::health::{Readiness, ReadinessReport, WhatsAppHealthState, readiness_report};
use crate::inbound::management::{CountersBody, ManagementState};
use crate::inbound::trace::request_trace;

/// Where the view lives.
pub const ADMIN_PATH: &str = "/console/admin";
/// How many deliveries, dead jobs and quarantined events the page lists.
const LISTED: u32 = 50;

/// `?done=...`: what the last action did (a code of this page, never free text).
#[derive(Deserialize)]
pub struct AdminQuery {
    done: Option<String>,
}

/// A form that only carries its CSRF token (Requeue, Replay).
#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// The email-priority form: `enabled` is `on` or `off`.
#[derive(Deserialize)]
pub struct EmailPriorityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

/// Everything the page shows, read before rendering.
struct AdminData {
    ready: ReadinessReport,
    workers_expected: usize,
    /// `None` in sandbox mode.
    whatsapp: Option<WhatsAppHealthReport>,
    counters: Result<OperationalCounters, StoreError>,
    email_priority: Result<bool, StoreError>,
    deliveries: Result<Page<DeliveryView>, StoreError>,
    dead_jobs: Result<Page<DeadJob>, StoreError>,
    quarantined: Result<Page<EventSummary>, StoreError>,
    /// The agents found by their cards, as last refreshed.
    agents: Vec<AgentHealth>,
    /// The configured agents (those with intents have no card fetched).
    configured: Vec<crate::inbound::management::AgentSummary>,
}

fn first_page() -> PageRequest {
    PageRequest { limit: LISTED, after: None }
}

/// `GET /console/admin`.
#[tracing::instrument(skip_all, name = "console.admin")]
pub async fn page(
    who: SignedIn,
    query: web::Query<AdminQuery>,
    management: web::Data<ManagementState>,
    api: web::Data<ApiState>,
    readiness: web::Data<Readiness>,
    whatsapp: web::Data<WhatsAppHealthState>,
) -> Result<HttpResponse, ConsoleError> {
    who.require_admin()?;
    let reads = &management.reads;
    let quarantined = EventFilter { status: Some(String::from("quarantined")), ..EventFilter::default() };
    let whatsapp = async {
        match &whatsapp.0 {
            Some(health) => Some(health.check().await),
            None => None,
        }
    };
    let (ready, whatsapp, counters, email_priority, deliveries, dead_jobs, quarantined) = tokio::join!(
        readiness_report(management.store_health.as_ref(), &readiness),
        whatsapp,
        reads.counters(),
        api.settings.email_priority(),
        reads.deliveries(DeliveryFilter::default(), first_page()),
        reads.dead_jobs(first_page()),
        reads.webhook_events(quarantined, first_page()),
    );
    for failed in [counters.as_ref().err(), email_priority.as_ref().err(), deliveries.as_ref().err()]
        .into_iter()
        .chain([dead_jobs.as_ref().err(), quarantined.as_ref().err()])
        .flatten()
    {
        tracing::warn!(error = %failed, "console admin: a section could not be read");
    }
    let data = AdminData {
        ready,
        workers_expected: readiness.workers_expected,
        whatsapp,
        counters,
        email_priority,
        deliveries,
        dead_jobs,
        quarantined,
        agents: management.agents.agents(),
        configured: management.status.agents.clone(),
    };
    let body = view(&who, query.done.as_deref(), &data);
    Ok(html_response(StatusCode::OK, &layout::page("Admin", &who, body)))
}

/// Back to the admin page with `done` (post/redirect/get).
fn back(done: &str) -> HttpResponse {
    let query: String = url_escape(done);
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{ADMIN_PATH}?done={query}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Percent-encodes everything but unreserved characters (event ids come from the store).
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /console/admin/jobs/{id}/requeue`.
#[tracing::instrument(skip_all, name = "console.admin.requeue", fields(job_id = *id))]
pub async fn requeue(
    who: SignedIn,
    id: web::Path<i64>,
    form: web::Form<ActionForm>,
    management: web::Data<ManagementState>,
) -> Result<HttpResponse, ConsoleError> {
    who.check_csrf(&form.csrf)?;
    who.require_admin()?;
    let id = id.into_inner();
    if management.dead_letters.requeue(id).await.map_err(|e| ConsoleError::store(&e, who.json))? {
        tracing::warn!(operator = %who.name, job_id = id, "console: dead job requeued");
        Ok(back(&format!("requeued-{id}")))
    } else {
        Ok(back(&format!("no-dead-job-{id}")))
    }
}

/// `POST /console/admin/events/{id}/replay`.
#[tracing::instrument(skip_all, name = "console.admin.replay")]
pub async fn replay(
    req: HttpRequest,
    who: SignedIn,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
    management: web::Data<ManagementState>,
) -> Result<HttpResponse, ConsoleError> {
    who.check_csrf(&form.csrf)?;
    who.require_admin()?;
    let id = id.into_inner();
    match management.replay.one(&id, request_trace(&req)).await {
        Ok(Some(outcome)) => {
            tracing::warn!(operator = %who.name, event_id = %id, new_messages = outcome.new_messages, "console: webhook event replayed");
            if outcome.still_quarantined.is_some() {
                Ok(back(&format!("still-quarantined-{id}")))
            } else {
                Ok(back(&format!("replayed-{id}")))
            }
        }
        Ok(None) => Ok(back(&format!("no-event-{id}"))),
        Err(ReplayError::Store(e)) => Err(ConsoleError::store(&e, who.json)),
        Err(ReplayError::Ingest(e)) => {
            tracing::error!(error = %e, event_id = %id, "console: replay could not store the event's messages");
            Err(ConsoleError::new(
                ErrorCode::StoreUnavailable,
                "the event's messages could not be stored; try again in a moment",
                who.json,
            ))
        }
    }
}

/// `POST /console/admin/email-priority` with `enabled=on|off`.
#[tracing::instrument(skip_all, name = "console.admin.email_priority")]
pub async fn set_email_priority(
    who: SignedIn,
    form: web::Form<EmailPriorityForm>,
    api: web::Data<ApiState>,
) -> Result<HttpResponse, ConsoleError> {
    who.check_csrf(&form.csrf)?;
    who.require_admin()?;
    let enabled = match form.enabled.as_str() {
        "on" | "true" => true,
        "off" | "false" => false,
        _ => return Err(ConsoleError::new(ErrorCode::InvalidRequest, "enabled: on or off", who.json)),
    };
    api.settings.set_email_priority(enabled).await.map_err(|e| ConsoleError::store(&e, who.json))?;
    tracing::warn!(operator = %who.name, enabled, "email priority (channels.gmail.priority) switched in the console");
    Ok(back(if enabled { "email-priority-on" } else { "email-priority-off" }))
}

/// The sentence `?done=` stands for; `None` for a code this page does not know. Ids must
/// look like ids, so a crafted link cannot make the page say something of its own.
fn flash(done: &str) -> Option<String> {
    let id_like = |id: &str, job: bool| {
        !id.is_empty()
            && id.len() <= 100
            && id
                .chars()
                .all(|c| if job { c.is_ascii_digit() } else { c.is_ascii_alphanumeric() || "-_.:".contains(c) })
    };
    let job = |prefix: &str| done.strip_prefix(prefix).filter(|id| id_like(id, true));
    let with = |prefix: &str| done.strip_prefix(prefix).filter(|id| id_like(id, false));
    if let Some(id) = job("requeued-") {
        return Some(format!("Job {id} is queued again."));
    }
    if let Some(id) = job("no-dead-job-") {
        return Some(format!("Job {id} is not a dead job (any more): nothing was changed."));
    }
    if let Some(id) = with("replayed-") {
        return Some(format!(
            "Event {id} was replayed: its messages are processed once, however often it is replayed."
        ));
    }
    if let Some(id) = with("still-quarantined-") {
        return Some(format!("Event {id} is still not a WhatsApp envelope: it stays quarantined."));
    }
    if let Some(id) = with("no-event-") {
        return Some(format!("There is no webhook event {id}: nothing was changed."));
    }
    match done {
        "email-priority-on" => Some(String::from("Email priority is on: auto deliveries try email first.")),
        "email-priority-off" => Some(String::from("Email priority is off: auto deliveries try WhatsApp first.")),
        _ => None,
    }
}

/// A delivery's recipient as the console shows it: a phone masked but for its last four
/// digits, an email address by its first letter and domain, a scoped id as it is.
fn masked_recipient(recipient: &str) -> String {
    if recipient.starts_with("bsuid:") {
        return recipient.to_owned();
    }
    if let Ok(phone) = PhoneNumber::parse(recipient) {
        return phone.masked();
    }
    if let Ok(email) = EmailAddress::parse(recipient) {
        return email.masked();
    }
    String::from("***")
}

/// A time in UTC, as `<time>` (the script shows it in the reader's time zone).
fn when(at: OffsetDateTime) -> Markup {
    let text = at.format(&Rfc3339).unwrap_or_default();
    html! { time datetime=(text) { (text) } }
}

fn when_ms(ms: i64) -> Markup {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(at) => when(at),
        Err(_) => html! { "?" },
    }
}

fn unreadable() -> Markup {
    html! { p.error role="alert" { "This could not be read from the database; reload in a moment." } }
}

fn yes_no(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn view(who: &SignedIn, done: Option<&str>, data: &AdminData) -> Markup {
    html! {
        h1 { "Admin" }
        @if let Some(message) = done.and_then(flash) {
            p.flash role="status" data-testid="flash" { (message) }
        }
        nav.sections aria-label="Admin sections" {
            ul {
                li { a href="#health" { "Health" } }
                li { a href="#email-priority" { "Email priority" } }
                li { a href="#dead-jobs" { "Dead jobs" } }
                li { a href="#quarantined" { "Quarantined webhooks" } }
                li { a href="#deliveries" { "Deliveries" } }
            }
        }
        (health(data))
        (email_priority(who, &data.email_priority))
        (dead_jobs(who, &data.dead_jobs))
        (quarantined(who, &data.quarantined))
        (deliveries(&data.deliveries))
    }
}

fn health(data: &AdminData) -> Markup {
    let ready = data.ready.reasons.is_empty();
    let checks = &data.ready.checks;
    let check = |name: &str| checks.get(name).and_then(|v| v.as_str()).unwrap_or("unknown").to_owned();
    let running = checks.get("workers_running").and_then(serde_json::Value::as_u64).unwrap_or(0);
    html! {
        section #health aria-labelledby="health-heading" {
            h2 #health-heading { "Health" }
            div.cards {
                div.card {
                    h3 { "Readiness" }
                    dl {
                        dt { "Ready" } dd data-testid="ready" { (if ready { "yes" } else { "no" }) }
                        dt { "Database" } dd { (check("database")) }
                        dt { "Job workers" } dd { (check("workers")) " (" (running) " of " (data.workers_expected) " running)" }
                    }
                    @if !ready {
                        ul.error { @for reason in &data.ready.reasons { li { (reason) } } }
                    }
                }
                div.card {
                    h3 { "WhatsApp account" }
                    (whatsapp(data.whatsapp.as_ref()))
                }
                div.card {
                    h3 { "Queue" }
                    @match &data.counters {
                        Ok(counters) => (queue(counters)),
                        Err(_) => (unreadable()),
                    }
                }
                div.card #agents {
                    h3 { "Agents" }
                    (super::agents::card(&data.agents, &data.configured))
                }
            }
        }
    }
}

fn whatsapp(report: Option<&WhatsAppHealthReport>) -> Markup {
    let Some(report) = report else {
        return html! { p data-testid="whatsapp-status" { "Sandbox: no WhatsApp account is used; replies go to the sandbox outbox." } };
    };
    let status = serde_json::to_value(report.status).ok().and_then(|v| v.as_str().map(str::to_owned));
    html! {
        dl {
            dt { "Status" } dd data-testid="whatsapp-status" { (status.unwrap_or_default()) }
            dt { "Token valid" } dd { (yes_no(report.token_valid)) }
            dt { "Token days left" } dd {
                @match report.token_expires_in_days {
                    Some(days) => (format!("{days:.1}")),
                    None => "never expires or unknown",
                }
            }
            dt { "Quality rating" } dd { (report.quality_rating.as_deref().unwrap_or("unknown")) }
            dt { "Phone number" } dd { (report.phone_number_status.as_deref().unwrap_or("unknown")) }
            dt { "Webhooks subscribed" } dd { (yes_no(report.webhook_subscribed)) }
            dt { "Checked" } dd { (report.checked_at) }
        }
        @if !report.reasons.is_empty() {
            ul.error { @for reason in &report.reasons { li { code { (reason.code.as_str()) } ": " (reason.detail) } } }
        }
    }
}

fn queue(counters: &OperationalCounters) -> Markup {
    let body = CountersBody::from(counters.clone());
    html! {
        dl {
            dt { "Queue depth" } dd data-testid="queue-depth" { (body.queue_depth) }
            dt { "Oldest job" } dd { (format!("{:.0} s", body.oldest_job_age_seconds)) }
            dt { "Dead jobs" } dd data-testid="dead-count" { (body.dead_jobs) }
            dt { "Quarantined webhooks" } dd { (body.quarantined_events) }
        }
        h4 { "Deliveries by state" }
        dl {
            // In the order a delivery goes through them, not alphabetically.
            @for state in ["pending", "sent", "delivered", "read", "failed"] {
                dt { (state) } dd data-testid=(format!("deliveries-{state}")) { (body.deliveries.get(state).copied().unwrap_or(0)) }
            }
        }
    }
}

fn email_priority(who: &SignedIn, current: &Result<bool, StoreError>) -> Markup {
    html! {
        section #email-priority aria-labelledby="email-priority-heading" {
            h2 #email-priority-heading { "Email priority" }
            @match current {
                Err(_) => (unreadable()),
                Ok(on) => {
                    p #email-priority-state data-testid="email-priority-state" {
                        "Email priority is " strong { (if *on { "on" } else { "off" }) } ": "
                        (if *on { "auto deliveries try email before WhatsApp." } else { "auto deliveries try WhatsApp first, then email." })
                    }
                    form method="post" action="/console/admin/email-priority" {
                        input type="hidden" name="csrf" value=(who.csrf);
                        input type="hidden" name="enabled" value=(if *on { "off" } else { "on" });
                        button type="submit" aria-describedby="email-priority-state" data-testid="email-priority-toggle" {
                            (if *on { "Turn email priority off" } else { "Turn email priority on" })
                        }
                    }
                }
            }
        }
    }
}

/// "more than shown" under a list with a next page.
fn more(page_has_more: bool, api_path: &str) -> Markup {
    html! {
        @if page_has_more {
            p.muted { "Only the latest " (LISTED) " are shown; the management API lists them all (" code { (api_path) } ")." }
        }
    }
}

fn dead_jobs(who: &SignedIn, jobs: &Result<Page<DeadJob>, StoreError>) -> Markup {
    html! {
        section #dead-jobs aria-labelledby="dead-jobs-heading" {
            h2 #dead-jobs-heading { "Dead jobs" }
            @match jobs {
                Err(_) => (unreadable()),
                Ok(page) if page.items.is_empty() => p.muted data-testid="no-dead-jobs" { "No dead job: every job succeeded or is still being tried." },
                Ok(page) => {
                    div.table-scroll role="region" aria-labelledby="dead-jobs-heading" tabindex="0" {
                        table {
                            thead { tr { th scope="col" { "Job" } th scope="col" { "Kind" } th scope="col" { "Attempts" } th scope="col" { "Last error" } th scope="col" { "Died" } th scope="col" { "Action" } } }
                            tbody {
                                @for job in &page.items {
                                    tr data-job-id=(job.id) {
                                        td { (job.id) }
                                        td { (job.kind) }
                                        td { (job.attempts) }
                                        td.wrap { (job.last_error.as_deref().unwrap_or("")) }
                                        td { (when_ms(job.updated_at)) }
                                        td {
                                            form.inline method="post" action=(format!("/console/admin/jobs/{}/requeue", job.id))
                                                data-confirm=(format!("Queue job {} again?", job.id)) {
                                                input type="hidden" name="csrf" value=(who.csrf);
                                                button type="submit" aria-label=(format!("Requeue job {}", job.id)) { "Requeue" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    (more(page.next.is_some(), "GET /api/v1/jobs/dead"))
                }
            }
        }
    }
}

fn quarantined(who: &SignedIn, events: &Result<Page<EventSummary>, StoreError>) -> Markup {
    html! {
        section #quarantined aria-labelledby="quarantined-heading" {
            h2 #quarantined-heading { "Quarantined webhooks" }
            p.muted { "Webhook bodies that were signed but not a WhatsApp envelope. Replay one after the cause is fixed: its messages are processed once, however often it is replayed." }
            @match events {
                Err(_) => (unreadable()),
                Ok(page) if page.items.is_empty() => p.muted data-testid="no-quarantined" { "No quarantined webhook." },
                Ok(page) => {
                    div.table-scroll role="region" aria-labelledby="quarantined-heading" tabindex="0" {
                        table {
                            thead { tr { th scope="col" { "Event" } th scope="col" { "Received" } th scope="col" { "Reason" } th scope="col" { "Bytes" } th scope="col" { "Last replayed" } th scope="col" { "Action" } } }
                            tbody {
                                @for event in &page.items {
                                    tr data-event-id=(event.id) {
                                        td.id { (event.id) }
                                        td { (when_ms(event.received_at)) }
                                        td.wrap { (event.reason.as_deref().unwrap_or("")) }
                                        td { (event.bytes) }
                                        td { @match event.replayed_at { Some(at) => (when_ms(at)), None => "never" } }
                                        td {
                                            form.inline method="post" action=(format!("/console/admin/events/{}/replay", url_escape(&event.id)))
                                                data-confirm=(format!("Replay event {}?", event.id)) {
                                                input type="hidden" name="csrf" value=(who.csrf);
                                                button type="submit" aria-label=(format!("Replay event {}", event.id)) { "Replay" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    (more(page.next.is_some(), "GET /api/v1/webhook-events?status=quarantined"))
                }
            }
        }
    }
}

fn deliveries(deliveries: &Result<Page<DeliveryView>, StoreError>) -> Markup {
    html! {
        section #deliveries aria-labelledby="deliveries-heading" {
            h2 #deliveries-heading { "Deliveries" }
            @match deliveries {
                Err(_) => (unreadable()),
                Ok(page) if page.items.is_empty() => p.muted { "No delivery yet." },
                Ok(page) => {
                    div.table-scroll role="region" aria-labelledby="deliveries-heading" tabindex="0" {
                        table {
                            thead { tr { th scope="col" { "Created" } th scope="col" { "State" } th scope="col" { "Route" } th scope="col" { "To" } th scope="col" { "Last error" } th scope="col" { "Attempts" } } }
                            tbody {
                                @for delivery in &page.items {
                                    tr data-delivery-id=(delivery.id) {
                                        td { (when(delivery.created_at)) }
                                        td { span class=(format!("state state-{}", delivery.state.as_str())) { (delivery.state.as_str()) } }
                                        td { (delivery.route.as_str()) }
                                        td { (masked_recipient(&delivery.recipient)) }
                                        td.wrap { (delivery.last_error.as_deref().unwrap_or("")) }
                                        td {
                                            @if delivery.attempts.is_empty() {
                                                "0"
                                            } @else {
                                                details {
                                                    summary { (delivery.attempts.len()) @if delivery.attempts.len() == 1 { " attempt" } @else { " attempts" } }
                                                    ol.attempts {
                                                        @for attempt in &delivery.attempts {
                                                            li { (when(attempt.at)) " " (attempt.channel) ": " strong { (attempt.outcome) }
                                                                @if let Some(detail) = &attempt.detail { " — " (detail) } }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    (more(page.next.is_some(), "GET /api/v1/deliveries"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_results_are_shown_and_they_name_what_was_done() {
        assert_eq!(flash("requeued-42").unwrap(), "Job 42 is queued again.");
        assert!(flash("email-priority-on").unwrap().starts_with("Email priority is on"));
        assert!(flash("still-quarantined-evt-1").unwrap().contains("evt-1"));
        assert_eq!(flash("<script>alert(1)</script>"), None);
        assert_eq!(flash("requeued-42 failed, call us on +44 7700 900123"), None);
        assert_eq!(flash("replayed-evt 1"), None);
    }

    #[test]
    fn recipients_are_masked_but_for_what_an_operator_may_see() {
        assert_eq!(masked_recipient("+447700900123"), "+********0123");
        assert_eq!(masked_recipient("bsuid:US.123"), "bsuid:US.123");
        assert_eq!(masked_recipient("ana@example.com"), "a***@example.com");
        assert_eq!(masked_recipient("garbage"), "***");
    }

    #[test]
    fn a_result_goes_back_in_the_query_escaped() {
        let response = back("replayed-evt 1/&x");

        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers().get(header::LOCATION).unwrap(), "/console/admin?done=replayed-evt%201%2F%26x");
    }
}
