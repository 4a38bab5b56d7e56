//! The inbox: conversations waiting for a person first (longest wait first), then the
//! bot's and the closed ones by latest activity, [`SHOWN`] a page, with a link to the
//! next page (the management API's inbox cursor). The list refreshes itself when
//! anything changes (server-sent events from `/console/events`), with no reload.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use switchboard_application::ports::{ConversationHandling, InboxFilter, StoreError};
use switchboard_application::usecases::PeopleError;
use switchboard_domain::{Handler, ServiceWindow};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ConsoleError, SignedIn, html_response, layout};
use crate::inbound::errors::ErrorCode;
use crate::inbound::management::{ManagementState, inbox_cursor, inbox_page};

/// The fragment the inbox page reloads on a change.
pub const ROWS_PATH: &str = "/console/inbox/rows";

/// How many conversations an inbox page shows.
pub const SHOWN: u32 = 200;

/// `?cursor=`: where the page starts (the "Older conversations" link's); the first page
/// without one.
#[derive(Debug, Deserialize)]
pub struct InboxPageQuery {
    cursor: Option<String>,
}

/// `GET /console`.
pub async fn page(
    who: SignedIn,
    state: web::Data<ManagementState>,
    query: web::Query<InboxPageQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let cursor = query.cursor.as_deref().filter(|c| !c.is_empty());
    // Read before the rows: a change after it is newer than the page, and is pushed.
    let since = state.people.activity().await.ok();
    let rows = rows(&who, &state, cursor).await?;
    // The live refresh reloads this page of the list, not the first.
    let live = cursor.map_or_else(|| ROWS_PATH.to_owned(), |c| format!("{ROWS_PATH}?cursor={c}"));
    let body = html! {
        h1 { "Inbox" }
        p.muted { "Conversations waiting for a person come first, longest wait first. The list updates by itself." }
        section aria-labelledby="inbox-title" {
            h2 #inbox-title .visually-hidden { "Conversations" }
            // The list is replaced on each change; screen readers hear only its summary.
            p #inbox-announce .visually-hidden aria-live="polite" {}
            div #inbox data-live=(live) data-since=[since] data-announce="inbox-announce" { (rows) }
        }
    };
    Ok(html_response(StatusCode::OK, &layout::page("Inbox", &who, body)))
}

/// `GET /console/inbox/rows?cursor=`: one page of the list alone, for the live refresh.
pub async fn fragment(
    who: SignedIn,
    state: web::Data<ManagementState>,
    query: web::Query<InboxPageQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let cursor = query.cursor.as_deref().filter(|c| !c.is_empty());
    Ok(html_response(StatusCode::OK, &rows(&who, &state, cursor).await?))
}

async fn rows(who: &SignedIn, state: &ManagementState, cursor: Option<&str>) -> Result<Markup, ConsoleError> {
    let now = state.clock.now();
    let limit = SHOWN.to_string();
    let page = inbox_page(Some(&limit), cursor).map_err(|e| ConsoleError::new(e.code, e.message, who.json))?;
    let store = |e: StoreError| ConsoleError::store(&e, who.json);
    let found = state.people.inbox(InboxFilter::default(), page).await.map_err(store)?;
    // Everyone waiting, not only on this page.
    let waiting = state.people.waiting().await.map_err(store)?.count;
    let next = found.next.as_ref().map(|c| format!("/console?cursor={}", inbox_cursor(c)));
    let found = found.items;
    Ok(html! {
        p #inbox-summary data-waiting=(waiting) data-summary {
            @match waiting {
                0 => "Nobody is waiting for a person.",
                1 => strong { "1 conversation waits for a person." },
                n => strong { (n) " conversations wait for a person." },
            }
        }
        @if found.is_empty() {
            p.muted { "No conversations yet." }
        } @else {
            // Scrolls sideways on a phone; focusable, so the keyboard can scroll it too.
            div.table-scroll role="region" aria-labelledby="inbox-title" tabindex="0" {
                table.inbox {
                    caption.visually-hidden { "Conversations, those waiting for a person first" }
                    thead { tr {
                        th scope="col" { "Who" }
                        th scope="col" { "Handled by" }
                        th scope="col" { "Why" }
                        th scope="col" { "Waiting" }
                        th scope="col" { "Operator" }
                        th scope="col" { "Last activity" }
                    } }
                    tbody {
                        @for c in &found { (row(c, now)) }
                    }
                }
            }
        }
        @if next.is_some() || cursor.is_some() {
            nav.pager aria-label="Inbox pages" {
                @if cursor.is_some() { a href="/console" { "Newest conversations" } }
                @if let Some(next) = &next { a href=(next) rel="next" { "Older conversations" } }
            }
        }
    })
}

fn row(c: &ConversationHandling, now: OffsetDateTime) -> Markup {
    let link = format!("/console/conversations/{}", c.conversation_id);
    let waiting = c.waits_for_a_person();
    html! {
        tr.waiting[waiting] data-conversation=(c.conversation_id) {
            td { a href=(link) { (who(c)) } }
            td { (handler_badge(c.handler, waiting)) }
            td { (c.reason.as_ref().map(|r| r.describe()).unwrap_or_default()) }
            td { @if let (true, Some(since)) = (waiting, c.handoff_at) { (ago(now - since)) } }
            td { (c.operator.as_deref().unwrap_or("")) }
            td { (when(c.updated_at)) }
        }
    }
}

/// The user's name and masked number.
pub fn who(c: &ConversationHandling) -> String {
    match &c.profile_name {
        Some(name) => format!("{name} ({})", c.user.key().masked()),
        None => c.user.key().masked(),
    }
}

pub fn handler_badge(handler: Handler, waiting: bool) -> Markup {
    let (class, text) = match (handler, waiting) {
        (Handler::People, true) => ("badge waiting", "people: waiting"),
        (Handler::People, false) => ("badge people", "people"),
        (Handler::Bot, _) => ("badge bot", "bot"),
        (Handler::Closed, _) => ("badge closed", "closed"),
    };
    html! { span class=(class) { (text) } }
}

/// A time the browser shows in the reader's own zone.
pub fn when(t: OffsetDateTime) -> Markup {
    let iso = t.format(&Rfc3339).unwrap_or_default();
    let shown =
        format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute());
    html! { time datetime=(iso) { (shown) } }
}

/// "4 min", "2 h 5 min", "3 d".
pub fn ago(d: time::Duration) -> String {
    let minutes = d.whole_minutes().max(0);
    match minutes {
        0 => String::from("under a minute"),
        1..=59 => format!("{minutes} min"),
        60..=1439 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} d", minutes / 1440),
    }
}

/// What is left of the 24-hour window, for the reply box.
pub fn window_left(c: &ConversationHandling, now: OffsetDateTime) -> Option<time::Duration> {
    let window = ServiceWindow::new(c.last_inbound_at);
    window.is_open(now).then(|| window.closes_at().map(|t| t - now)).flatten()
}

impl From<(PeopleError, bool)> for ConsoleError {
    fn from((e, json): (PeopleError, bool)) -> Self {
        match e {
            PeopleError::NotFound(id) => ConsoleError::new(ErrorCode::NotFound, format!("no conversation {id}"), json),
            PeopleError::Conflict(why) => ConsoleError::new(ErrorCode::Conflict, why, json),
            PeopleError::OptedOut(refusal) => ConsoleError::new(ErrorCode::OptedOut, refusal.to_string(), json),
            PeopleError::Invalid(e) => ConsoleError::new(ErrorCode::InvalidRequest, format!("text: {e}"), json),
            PeopleError::Template(e) => ConsoleError::new(ErrorCode::InvalidRequest, e.to_string(), json),
            PeopleError::Store(e) => ConsoleError::store(&e, json),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_minutes_hours_or_days() {
        assert_eq!(ago(time::Duration::seconds(30)), "under a minute");
        assert_eq!(ago(time::Duration::minutes(4)), "4 min");
        assert_eq!(ago(time::Duration::minutes(125)), "2 h 5 min");
        assert_eq!(ago(time::Duration::days(3)), "3 d");
    }
}
