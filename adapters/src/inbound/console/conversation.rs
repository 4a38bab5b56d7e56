//! One conversation: its messages both ways in order with delivery ticks, who handles it
//! and why, the agent and its task, the trace id, the 24-hour window with the time left,
//! the history of who did what, and the operator's actions (take over, reply, hand back,
//! close). The messages and the status refresh by themselves (`/console/events`).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use switchboard_application::ports::{
    ConversationHandling, ConversationRecord, MessageRecord, PageRequest, StoreError,
};
use switchboard_domain::a2a::TaskState;
use switchboard_domain::{DeliveryState, Handler, InboundMessage, MediaKind, OutboundContent, OutboundMessage};
use uuid::Uuid;

use super::inbox::{ago, handler_badge, when, who as who_is, window_left};
use super::{ConsoleError, SignedIn, html_response, layout, templates};
use crate::inbound::api::ApiState;
use crate::inbound::errors::ErrorCode;
use crate::inbound::management::ManagementState;
use crate::inbound::trace::request_trace;
use switchboard_application::usecases::{ChangeConsentError, MessageFile};

/// At most this many of the latest messages are shown.
const SHOWN: usize = 200;

fn parse_id(id: &str, json: bool) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(id).map_err(|_| ConsoleError::new(ErrorCode::NotFound, "no such conversation", json))
}

struct Loaded {
    handling: ConversationHandling,
    record: Option<ConversationRecord>,
    messages: Vec<MessageRecord>,
    /// Each message's stored file, in the same order.
    files: Vec<Option<MessageFile>>,
    consent: switchboard_domain::Consent,
}

async fn load(state: &ManagementState, id: Uuid, json: bool) -> Result<Loaded, ConsoleError> {
    let store = |e: StoreError| ConsoleError::store(&e, json);
    let Some(handling) = state.people.handling(id).await.map_err(store)? else {
        return Err(ConsoleError::new(ErrorCode::NotFound, format!("no conversation {id}"), json));
    };
    let record = state.reads.conversation(id).await.map_err(store)?;
    let consent = match &record {
        Some(r) => state.reads.contact(r.contact_id).await.map_err(store)?.map(|c| c.consent).unwrap_or_default(),
        None => switchboard_domain::Consent::default(),
    };
    let mut messages = Vec::new();
    let mut after = None;
    // Oldest first, a page at a time; the latest SHOWN are kept.
    loop {
        let page = state.reads.conversation_messages(id, PageRequest { limit: 500, after }).await.map_err(store)?;
        let Some(page) = page else { break };
        messages.extend(page.items);
        if messages.len() > SHOWN {
            messages.drain(..messages.len() - SHOWN);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let now = state.clock.now();
    let mut files = Vec::with_capacity(messages.len());
    for m in &messages {
        files.push(state.media.file_of(m, now).await);
    }
    Ok(Loaded { handling, record, messages, files, consent })
}

/// `GET /console/conversations/{id}`.
pub async fn page(
    who: SignedIn,
    id: web::Path<String>,
    state: web::Data<ManagementState>,
    api: web::Data<ApiState>,
    query: web::Query<Done>,
) -> Result<HttpResponse, ConsoleError> {
    let id = parse_id(&id, who.json)?;
    // Read before the conversation: a change after it is newer than the page, and is pushed.
    let since = state.people.activity().await.ok();
    let loaded = load(&state, id, who.json).await?;
    let history = state.people.history(id).await.map_err(|e| ConsoleError::store(&e, who.json))?;
    let now = state.clock.now();
    let c = &loaded.handling;
    let title = who_is(c);
    let live = format!("/console/conversations/{id}/live");
    let action = |what: &str| format!("/console/conversations/{id}/{what}");
    // Meta is asked for the templates only when the form offers them.
    let offer =
        if may_reply(&who, c) && window_left(c, now).is_none() { Some(state.templates.offer().await) } else { None };
    let reply_templates = offer.as_ref().map(|offer| {
        let page = format!("/console/conversations/{id}");
        templates::reply_form(offer, &page, &action("reply"), &who.csrf, query.template.as_deref())
    });
    let body = html! {
        p { a href="/console" { "← Inbox" } }
        h1 { (title) }
        @if let Some(done) = query.done.as_deref() {
            p.flash role="status" { (done_text(done)) }
        }
        p #conversation-announce .visually-hidden aria-live="polite" {}
        div #conversation-live data-live=(live) data-since=[since] data-announce="conversation-announce" {
            (live_part(&loaded, &api, now).await)
        }
        section aria-labelledby="actions-title" {
            h2 #actions-title { "Actions" }
            (actions(&who, c, &action, now, reply_templates))
            (consent_form(&who, &action, loaded.consent.business_initiated.is_some()))
        }
        section aria-labelledby="history-title" {
            h2 #history-title { "History" }
            @if history.is_empty() {
                p.muted { "Nobody has stepped in yet." }
            } @else {
                ol.history {
                    @for event in &history {
                        li { (when(event.at)) " · " strong { (event.actor) } " " (action_text(&event.action))
                            @if let Some(detail) = &event.detail { ": " (detail) } }
                    }
                }
            }
        }
        details {
            summary { "Show the whole number" }
            p { "Only to reach the user another way; the console masks it everywhere else: "
                code data-testid="whole-number" { (c.user.send_address()) } }
        }
    };
    Ok(html_response(StatusCode::OK, &layout::page(&title, &who, body)))
}

/// `GET /console/conversations/{id}/live`: the status and messages alone.
pub async fn live(
    who: SignedIn,
    id: web::Path<String>,
    state: web::Data<ManagementState>,
    api: web::Data<ApiState>,
) -> Result<HttpResponse, ConsoleError> {
    let id = parse_id(&id, who.json)?;
    let loaded = load(&state, id, who.json).await?;
    Ok(html_response(StatusCode::OK, &live_part(&loaded, &api, state.clock.now()).await))
}

async fn live_part(loaded: &Loaded, api: &ApiState, now: time::OffsetDateTime) -> Markup {
    let c = &loaded.handling;
    let waiting = c.waits_for_a_person();
    let trace = loaded.messages.last().map(|m| m.trace_id.clone()).unwrap_or_default();
    let mut failures = Vec::new();
    for m in loaded.messages.iter().filter(|m| m.delivery_state == Some(DeliveryState::Failed)) {
        if let Some(id) = m.delivery_id
            && let Ok(Some(view)) = api.deliveries.view(id).await
        {
            failures.push((id, view.last_error.unwrap_or_default()));
        }
    }
    html! {
        section aria-labelledby="status-title" {
            h2 #status-title { "Status" }
            dl.status {
                dt { "Handled by" } dd data-testid="handler" { (handler_badge(c.handler, waiting)) }
                @if let Some(reason) = &c.reason { dt { "Why" } dd { (reason.describe()) } }
                @if let (true, Some(since)) = (waiting, c.handoff_at) { dt { "Waiting for" } dd { (ago(now - since)) } }
                @if let Some(operator) = &c.operator { dt { "Operator" } dd data-testid="operator" { (operator) } }
                dt { "Agent" } dd data-testid="agent" {
                    @match loaded.record.as_ref().and_then(|r| r.agent.as_deref()) {
                        Some(agent) => (agent),
                        None => span.muted { "none yet" },
                    }
                }
                dt { "A2A task" } dd data-testid="task" { (task(loaded.record.as_ref())) }
                dt { "Consent" } dd data-testid="consent" {
                    @match (loaded.consent.business_initiated, loaded.consent.marketing) {
                        (Some(o), _) => { "opted out (" (o.source) ", " (ago(now - o.at)) " ago): no template or proactive message; your replies inside the 24-hour window still go" }
                        (None, Some(o)) => { "opted out of marketing (" (o.source) "): no template" }
                        (None, None) => "subscribed",
                    }
                }
                dt { "24-hour window" } dd data-testid="window" {
                    @match window_left(c, now) {
                        Some(left) => { "open, " (ago(left)) " left" }
                        None => "closed: only an approved template can be sent",
                    }
                }
                dt { "Trace id" } dd { code { (trace) } }
            }
        }
        section aria-labelledby="messages-title" {
            h2 #messages-title { "Messages" }
            p.visually-hidden data-summary {
                (loaded.messages.len()) " messages; the latest: "
                (loaded.messages.last().map(|m| if m.direction == "inbound" { "from the user" } else { "to the user" }).unwrap_or("none"))
            }
            ol.messages {
                @for (m, file) in loaded.messages.iter().zip(&loaded.files) {
                    (message(m, file.as_ref(), &failures))
                }
            }
        }
    }
}

/// The conversation's latest A2A task: its id, its state in words, and whether the
/// user's next message goes to it.
fn task(record: Option<&ConversationRecord>) -> Markup {
    let Some(record) = record else { return html! { span.muted { "none" } } };
    let open = record.open_task.as_ref();
    let latest = match (&record.latest_task, open) {
        (Some(latest), _) => Some((latest.id.as_str(), latest.state, latest.agent.as_str())),
        // Stored before the latest task was: only a task waiting for the user was known.
        (None, Some(open)) => Some((open.task_id.as_str(), TaskState::InputRequired, open.agent.as_str())),
        (None, None) => None,
    };
    let Some((id, state, agent)) = latest else {
        return html! { span.muted { "none: the agents answered with plain messages" } };
    };
    let waits = open.is_some_and(|o| o.task_id == id);
    let (name, meaning) = task_state_words(state);
    html! {
        code { (id) } " · "
        strong.task-state data-state=(name) { (name) }
        ": " (meaning)
        @if record.agent.as_deref() != Some(agent) { " (" (agent) "'s task)" }
        @if state == TaskState::InputRequired {
            @if waits { "; the user's next message goes to it" } @else { "; no longer continued: the next message is routed afresh" }
        }
    }
}

/// A task state as the console names it (the A2A state in lower case) and what it means.
fn task_state_words(state: TaskState) -> (&'static str, &'static str) {
    match state {
        TaskState::Submitted => ("submitted", "the agent has not started it"),
        TaskState::Working => ("working", "the agent is still working on it"),
        TaskState::InputRequired => ("input-required", "the agent asked the user a question"),
        TaskState::AuthRequired => ("auth-required", "the agent wanted the user to sign in; the user got an apology"),
        TaskState::Completed => ("completed", "the agent finished it"),
        TaskState::Failed => ("failed", "the agent could not do it; the user got an apology"),
        TaskState::Canceled => ("canceled", "it was canceled before it ended; the user got an apology"),
        TaskState::Rejected => ("rejected", "the agent refused it; the user got an apology"),
        TaskState::Unspecified => ("unknown", "the agent reported a state Switchboard does not know"),
    }
}

fn message(m: &MessageRecord, file: Option<&MessageFile>, failures: &[(Uuid, String)]) -> Markup {
    let inbound = m.direction == "inbound";
    let (author, text) = if inbound {
        let text = serde_json::from_value::<InboundMessage>(m.content.clone())
            .map(|i| i.content.as_agent_text())
            .unwrap_or_else(|_| format!("[{}]", m.kind));
        (String::from("User"), text)
    } else {
        let text = serde_json::from_value::<OutboundMessage>(m.content.clone())
            .map(|o| describe(&o.content))
            .unwrap_or_else(|_| format!("[{}]", m.kind));
        let author = match m.agent.as_deref() {
            Some(agent) => match agent.strip_prefix("operator:") {
                Some(operator) => format!("{operator} (operator)"),
                None => format!("{agent} (agent)"),
            },
            None => String::from("Switchboard"),
        };
        (author, text)
    };
    let failure = m.delivery_id.and_then(|id| failures.iter().find(|(f, _)| *f == id)).map(|(_, why)| why.as_str());
    html! {
        li class=(if inbound { "message inbound" } else { "message outbound" }) {
            div.meta { strong { (author) } " · " (when(m.sent_at))
                @if !inbound { " " (ticks(m.delivery_state, failure)) } }
            p.text { (text) }
            @if let Some(file) = file { (attachment(file, inbound)) }
        }
    }
}

/// A message's file: an image shown, audio and video playable, a document to open; each
/// with its name, type and size, by a signed link from the console's own origin.
fn attachment(file: &MessageFile, inbound: bool) -> Markup {
    let whose = if inbound { "from the user" } else { "sent" };
    let name = file.filename.clone().unwrap_or_else(|| format!("{} {whose}", file.kind.as_str()));
    let facts = format!("{}, {}", file.mime_type, size_text(file.size));
    html! {
        figure.file data-testid="file" data-kind=(file.kind.as_str()) {
            @match file.kind {
                MediaKind::Image | MediaKind::Sticker => {
                    a href=(file.path) target="_blank" rel="noopener" {
                        img.thumb src=(file.path) alt=(format!("{} {whose}: {name}", file.kind.as_str())) loading="lazy";
                    }
                }
                MediaKind::Audio => { audio controls preload="none" src=(file.path) aria-label=(format!("voice note or audio {whose}")) {} }
                MediaKind::Video => { video.thumb controls preload="metadata" src=(file.path) aria-label=(format!("video {whose}")) {} }
                MediaKind::Document => {}
            }
            figcaption { a href=(file.path) target="_blank" rel="noopener" download=(name) { (name) } " · " (facts) }
        }
    }
}

fn size_text(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

fn describe(content: &OutboundContent) -> String {
    match content {
        OutboundContent::Text { body, .. } => body.clone(),
        OutboundContent::Template { name, language, .. } => format!("[template {name} ({language})]"),
        OutboundContent::Buttons { body, .. } | OutboundContent::List { body, .. } => body.clone(),
        OutboundContent::Media { media, caption, .. } => {
            format!("[{}]{}", media.as_str(), caption.as_deref().map(|c| format!(" {c}")).unwrap_or_default())
        }
        OutboundContent::Reaction { emoji, .. } => format!("[reaction {emoji}]"),
    }
}

/// WhatsApp's ticks: one for sent, two for delivered, two blue for read; a cross with
/// Meta's reason for failed.
fn ticks(state: Option<DeliveryState>, failure: Option<&str>) -> Markup {
    let (class, mark, label) = match state {
        None | Some(DeliveryState::Pending) => ("tick pending", "🕓", String::from("Pending")),
        Some(DeliveryState::Sent) => ("tick sent", "✓", String::from("Sent")),
        Some(DeliveryState::Delivered) => ("tick delivered", "✓✓", String::from("Delivered")),
        Some(DeliveryState::Read) => ("tick read", "✓✓", String::from("Read")),
        Some(DeliveryState::Failed) => (
            "tick failed",
            "✗",
            format!("Failed{}", failure.filter(|f| !f.is_empty()).map(|f| format!(": {f}")).unwrap_or_default()),
        ),
    };
    html! { span class=(class) role="img" aria-label=(label) title=(label) data-state=(state.map_or("pending", DeliveryState::as_str)) { (mark) }
    @if state == Some(DeliveryState::Failed) { " " span.failure { (label) } } }
}

/// Whether this operator may answer: people handle it, and nobody else holds it.
fn may_reply(who: &SignedIn, c: &ConversationHandling) -> bool {
    c.handler == Handler::People && !held_by_other(who, c)
}

fn held_by_other(who: &SignedIn, c: &ConversationHandling) -> bool {
    c.handler == Handler::People && c.operator.as_deref().is_some_and(|o| o != who.name.as_str())
}

/// `templates`: the closed window's reply form ([`templates::reply_form`]).
fn actions(
    who: &SignedIn,
    c: &ConversationHandling,
    action: &dyn Fn(&str) -> String,
    now: time::OffsetDateTime,
    templates: Option<Markup>,
) -> Markup {
    let held_by_other = held_by_other(who, c);
    html! {
        @if held_by_other {
            p { "Handled by " strong { (c.operator.as_deref().unwrap_or("")) } "." }
        }
        div.actions {
            @if c.handler != Handler::People || c.operator.is_none() {
                form method="post" action=(action("take-over")) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    button type="submit" { "Take over" }
                }
            }
            @if c.handler != Handler::Bot {
                form method="post" action=(action("hand-back")) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    label for="note" { "Note for the agent (optional)" }
                    input #note type="text" name="note" maxlength="1000" autocomplete="off";
                    button type="submit" { "Hand back to the bot" }
                }
            }
            @if c.handler != Handler::Closed {
                form method="post" action=(action("close")) data-confirm="Close this conversation?" {
                    input type="hidden" name="csrf" value=(who.csrf);
                    button.quiet type="submit" { "Close" }
                }
            }
        }
        @if may_reply(who, c) {
            @if window_left(c, now).is_some() {
                form.reply method="post" action=(action("reply")) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    label for="reply-text" { "Reply to the user" }
                    textarea #reply-text name="text" rows="3" required maxlength="4096" {}
                    button type="submit" { "Send" }
                }
            } @else if let Some(templates) = templates {
                (templates)
            }
        }
    }
}

/// Opts the contact out of business-initiated messages, or in again (source `operator`).
fn consent_form(who: &SignedIn, action: &dyn Fn(&str) -> String, opted_out: bool) -> Markup {
    html! {
        form.consent method="post" action=(action("consent"))
            data-confirm=(if opted_out { "Opt this contact in to business-initiated messages again?" } else { "Opt this contact out of business-initiated messages?" }) {
            input type="hidden" name="csrf" value=(who.csrf);
            input type="hidden" name="opted_out" value=(if opted_out { "false" } else { "true" });
            button.quiet type="submit" data-testid="consent-toggle" {
                @if opted_out { "Opt in to business messages again" } @else { "Opt out of business messages" }
            }
        }
    }
}

fn action_text(action: &str) -> &str {
    match action {
        "handoff" => "called people",
        "take_over" => "took the conversation over",
        "reply" => "answered",
        "hand_back" => "handed it back to the bot",
        "close" => "closed it",
        other => other,
    }
}

fn done_text(done: &str) -> &'static str {
    match done {
        "taken" => "You handle this conversation now.",
        "sent" => "Your reply is on its way.",
        "handed-back" => "The bot answers this conversation again.",
        "closed" => "The conversation is closed.",
        "opted-out" => "The contact is opted out of business-initiated messages.",
        "opted-in" => "The contact is opted in to business-initiated messages again.",
        _ => "Done.",
    }
}

#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
    /// The template whose fields the closed window's form shows (`name:language`).
    template: Option<String>,
}

/// Every action's form: the CSRF token, and what the action takes.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    text: Option<String>,
    note: Option<String>,
    /// The chosen approved template, `name:language`.
    template: Option<String>,
    /// The consent form: `true` opts the contact out, `false` in.
    opted_out: Option<String>,
    /// The template's body parameters, `param_1`, `param_2`...
    #[serde(flatten)]
    parameters: BTreeMap<String, String>,
}

fn back(id: Uuid, done: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/console/conversations/{id}?done={done}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `POST /console/conversations/{id}/{action}`: take-over, reply, hand-back, close.
pub async fn act(
    req: actix_web::HttpRequest,
    who: SignedIn,
    path: web::Path<(String, String)>,
    state: web::Data<ManagementState>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    who.check_csrf(&form.csrf)?;
    let (id, action) = path.into_inner();
    let id = parse_id(&id, who.json)?;
    let operator = who.name.as_str();
    let json = who.json;
    let form = form.into_inner();
    match action.as_str() {
        "take-over" => {
            state.handoff.take_over(id, operator).await.map_err(|e| ConsoleError::from((e, json)))?;
            Ok(back(id, "taken"))
        }
        "hand-back" => {
            state.handoff.hand_back(id, operator, form.note).await.map_err(|e| ConsoleError::from((e, json)))?;
            Ok(back(id, "handed-back"))
        }
        "close" => {
            state.handoff.close(id, operator).await.map_err(|e| ConsoleError::from((e, json)))?;
            Ok(back(id, "closed"))
        }
        "reply" => {
            let content = match (form.text.filter(|t| !t.trim().is_empty()), form.template.as_deref()) {
                (Some(body), _) => OutboundContent::Text { body, preview_url: false },
                (None, Some(key)) => {
                    let Some((name, language)) = templates::parse_key(key) else {
                        return Err(ConsoleError::new(ErrorCode::InvalidRequest, "template: choose one", json));
                    };
                    state.templates.compose(name, language, templates::values(&form.parameters)).await
                }
                _ => return Err(ConsoleError::new(ErrorCode::InvalidRequest, "text: write a reply first", json)),
            };
            let trace = request_trace(&req);
            state.handoff.reply(id, operator, content, trace).await.map_err(|e| ConsoleError::from((e, json)))?;
            Ok(back(id, "sent"))
        }
        "consent" => {
            let opted_out = match form.opted_out.as_deref() {
                Some("true") => true,
                Some("false") => false,
                _ => return Err(ConsoleError::new(ErrorCode::InvalidRequest, "opted_out: true or false", json)),
            };
            let store = |e: StoreError| ConsoleError::store(&e, json);
            let Some(record) = state.reads.conversation(id).await.map_err(store)? else {
                return Err(ConsoleError::new(ErrorCode::NotFound, format!("no conversation {id}"), json));
            };
            state.consent.execute(record.contact_id, opted_out, Some(operator)).await.map_err(|e| match e {
                ChangeConsentError::NotFound(contact) => {
                    ConsoleError::new(ErrorCode::NotFound, format!("no contact {contact}"), json)
                }
                ChangeConsentError::Store(e) => ConsoleError::store(&e, json),
            })?;
            Ok(back(id, if opted_out { "opted-out" } else { "opted-in" }))
        }
        _ => Err(ConsoleError::new(ErrorCode::NotFound, "no such action", json)),
    }
}
