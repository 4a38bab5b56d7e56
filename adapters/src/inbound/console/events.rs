//! `GET /console/events?since=MARK`: server-sent events for the console's live views.
//! Once a second the stream looks at the store's activity mark (`People::activity`:
//! three index look-ups); when it differs from the last one the page has, it sends
//! `event: change`, and the page reloads its live regions (`data-live`). Every 15 s
//! without a change it sends a comment, so proxies keep the connection open. Another
//! replica's changes show too: the mark is the database's.
//!
//! `since` is the mark the page was rendered at (its `data-since`), so a change between
//! rendering the page and the script connecting is pushed at once rather than taken as
//! where the page stands. A missing or malformed `since` means the page's mark is
//! unknown: the first mark read is pushed as a change, and the page refreshes.

use std::future::Future;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use futures_util::Stream;
use serde::Deserialize;

use super::SignedIn;
use crate::inbound::management::ManagementState;

const POLL: Duration = Duration::from_secs(1);
const KEEP_ALIVE_EVERY: u32 = 15;
/// Longer than any mark the store makes (two millisecond times and a message id).
const MARK_MAX_LEN: usize = 100;

/// `?since=`: the activity mark the page was rendered at.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    since: Option<String>,
}

/// Whether `mark` looks like an activity mark (`MILLIS.MILLIS.MESSAGE-ID`, the id may be
/// empty): anything else is not compared with the store's marks.
fn is_mark(mark: &str) -> bool {
    let mut parts = mark.splitn(3, '.');
    let digits = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    mark.len() <= MARK_MAX_LEN
        && digits(parts.next())
        && digits(parts.next())
        && parts.next().is_some_and(|id| id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Where the page stands: its mark when it sent one that looks like a mark, else unknown.
fn baseline(since: Option<String>) -> Option<String> {
    since.filter(|s| is_mark(s))
}

/// `GET /console/events`.
pub async fn stream(_who: SignedIn, query: web::Query<EventsQuery>, state: web::Data<ManagementState>) -> HttpResponse {
    let since = baseline(query.into_inner().since);
    let read = move || {
        let state = state.clone();
        async move { state.people.activity().await.ok() }
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(changes(read, since, POLL))
}

struct Watch<R> {
    read: R,
    /// The mark the page stands at; `None`: unknown.
    last: Option<String>,
    opened: bool,
    quiet: u32,
}

/// The event stream: a `: ready` comment at once (the page's `EventSource` opens), then
/// `event: change` whenever the mark `read` answers differs from the page's, polled
/// every `poll`. A mark that cannot be read is skipped.
fn changes<R, F>(
    read: R,
    since: Option<String>,
    poll: Duration,
) -> impl Stream<Item = Result<web::Bytes, actix_web::Error>>
where
    R: Fn() -> F + 'static,
    F: Future<Output = Option<String>> + 'static,
{
    let watch = Watch { read, last: since, opened: false, quiet: 0 };
    futures_util::stream::unfold(watch, move |mut watch| async move {
        if !watch.opened {
            watch.opened = true;
            return Some((Ok(web::Bytes::from_static(b": ready\n\n")), watch));
        }
        loop {
            if let Some(mark) = (watch.read)().await
                && watch.last.as_ref() != Some(&mark)
            {
                let event = format!("event: change\ndata: {mark}\n\n");
                watch.last = Some(mark);
                watch.quiet = 0;
                return Some((Ok(web::Bytes::from(event)), watch));
            }
            watch.quiet += 1;
            if watch.quiet >= KEEP_ALIVE_EVERY {
                watch.quiet = 0;
                return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), watch));
            }
            tokio::time::sleep(poll).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    /// The stream over a store whose mark is `now`, as text, item by item.
    fn over(now: &str, since: Option<String>) -> impl Stream<Item = String> + use<> {
        let mark = now.to_owned();
        let read = move || {
            let mark = mark.clone();
            async move { Some(mark) }
        };
        changes(read, since, Duration::from_millis(20)).map(|item| String::from_utf8(item.unwrap().to_vec()).unwrap())
    }

    async fn within(stream: &mut (impl Stream<Item = String> + Unpin), wait: Duration) -> Option<String> {
        tokio::time::timeout(wait, stream.next()).await.ok().flatten()
    }

    #[tokio::test]
    async fn a_page_rendered_before_a_change_is_told_of_it_as_soon_as_it_connects() {
        let mut stream = Box::pin(over("20.10.0195b", Some(String::from("10.10.0195a"))));

        let opened = within(&mut stream, Duration::from_millis(500)).await;
        let change = within(&mut stream, Duration::from_millis(500)).await;

        assert_eq!(opened.as_deref(), Some(": ready\n\n"));
        assert_eq!(change.as_deref(), Some("event: change\ndata: 20.10.0195b\n\n"));
    }

    #[tokio::test]
    async fn a_page_at_the_current_mark_is_not_refreshed() {
        let mut stream = Box::pin(over("20.10.0195b", Some(String::from("20.10.0195b"))));

        let opened = within(&mut stream, Duration::from_millis(500)).await;
        let next = within(&mut stream, Duration::from_millis(200)).await;

        assert_eq!(opened.as_deref(), Some(": ready\n\n"));
        assert_eq!(next, None, "nothing changed: nothing is pushed");
    }

    #[tokio::test]
    async fn a_missing_or_malformed_mark_is_unknown_and_the_page_is_refreshed_at_once() {
        let long = "9".repeat(200);
        for since in [None, Some("<script>"), Some("1.2"), Some("a.b.c"), Some(long.as_str())] {
            let mut stream = Box::pin(over("20.10.0195b", baseline(since.map(str::to_owned))));

            within(&mut stream, Duration::from_millis(500)).await;
            let change = within(&mut stream, Duration::from_millis(500)).await;

            assert_eq!(change.as_deref(), Some("event: change\ndata: 20.10.0195b\n\n"), "{since:?}");
        }
    }

    #[test]
    fn marks_are_two_times_and_a_message_id_which_may_be_empty() {
        assert!(is_mark("1765000000000.1765000000001.0195a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b"));
        assert!(is_mark("0.0."));
        assert!(!is_mark(""));
        assert!(!is_mark("1.2"));
        assert!(!is_mark(".1.x"));
        assert!(!is_mark("1.2.x y"));
        assert!(!is_mark("1.2.3.4"));
    }
}
