//! `GET /console/events`: server-sent events for the console's live views. Once a second
//! the stream looks at the store's activity mark (`People::activity`: three index
//! look-ups); when it moved, it sends `event: change`, and the page reloads its live
//! regions (`data-live`). Every 15 s without a change it sends a comment, so proxies keep
//! the connection open. Another replica's changes show too: the mark is the database's.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::SignedIn;
use crate::inbound::management::ManagementState;

const POLL: Duration = Duration::from_secs(1);
const KEEP_ALIVE_EVERY: u32 = 15;

struct Watch {
    state: web::Data<ManagementState>,
    last: Option<String>,
    quiet: u32,
}

/// `GET /console/events`.
pub async fn stream(_who: SignedIn, state: web::Data<ManagementState>) -> HttpResponse {
    let watch = Watch { state, last: None, quiet: 0 };
    let events = futures_util::stream::unfold(watch, |mut watch| async move {
        loop {
            let mark = watch.state.people.activity().await.ok();
            let first = watch.last.is_none();
            if mark.is_some() && mark != watch.last {
                watch.last = mark.clone();
                watch.quiet = 0;
                // The first mark only sets where the page stands; it was rendered with it.
                if !first {
                    let event = format!("event: change\ndata: {}\n\n", mark.unwrap_or_default());
                    return Some((Ok::<_, actix_web::Error>(web::Bytes::from(event)), watch));
                }
                return Some((Ok(web::Bytes::from_static(b": ready\n\n")), watch));
            }
            watch.quiet += 1;
            if watch.quiet >= KEEP_ALIVE_EVERY {
                watch.quiet = 0;
                return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), watch));
            }
            tokio::time::sleep(POLL).await;
        }
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(events)
}
