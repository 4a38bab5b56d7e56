//! Paging: limits, opaque cursors (the hex of `list:time:id`) and the page body.

use super::*;

pub(super) const DEFAULT_LIMIT: u32 = 50;
pub(super) const MAX_LIMIT: u32 = 500;

/// The lists a cursor can belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    Contacts,
    Conversations,
    Messages,
    Deliveries,
    WebhookEvents,
    DeadJobs,
    /// The operators' inbox: its cursor's time is its order key, not a time.
    Inbox,
}

impl List {
    fn as_str(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Conversations => "conversations",
            Self::Messages => "messages",
            Self::Deliveries => "deliveries",
            Self::WebhookEvents => "webhook_events",
            Self::DeadJobs => "dead_jobs",
            Self::Inbox => "inbox",
        }
    }
}

pub(super) fn encode_cursor(list: List, cursor: &PageCursor) -> String {
    hex::encode(format!("{}:{}:{}", list.as_str(), cursor.at, cursor.id))
}

pub(super) fn decode_cursor(list: List, text: &str) -> Result<PageCursor, ApiError> {
    let refused = || {
        ApiError::new(
            ErrorCode::InvalidCursor,
            format!("cursor: not one this list gave; start again without it ({})", list.as_str()),
        )
    };
    let bytes = hex::decode(text).map_err(|_| refused())?;
    let decoded = String::from_utf8(bytes).map_err(|_| refused())?;
    let mut parts = decoded.splitn(3, ':');
    let (Some(name), Some(at), Some(id)) = (parts.next(), parts.next(), parts.next()) else { return Err(refused()) };
    let at = at.parse::<i64>().map_err(|_| refused())?;
    if name != list.as_str() || id.is_empty() || (list == List::DeadJobs && id.parse::<i64>().is_err()) {
        return Err(refused());
    }
    Ok(PageCursor { at, id: id.to_owned() })
}

pub(super) fn page_request(list: List, limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u64>() {
            Ok(0) | Err(_) => {
                return Err(ApiError::invalid(
                    "limit",
                    format!("{text:?} is not a whole number from 1 to {MAX_LIMIT}"),
                ));
            }
            Ok(n) => u32::try_from(n.min(u64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT),
        },
    };
    let after = cursor.filter(|c| !c.is_empty()).map(|c| decode_cursor(list, c)).transpose()?;
    Ok(PageRequest { limit, after })
}

/// A page of the inbox: `limit` and `cursor` as every list takes them. The console's
/// inbox pages with the same cursors.
pub fn inbox_page(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    page_request(List::Inbox, limit, cursor)
}

/// The text form of an inbox page's `next` cursor.
pub fn inbox_cursor(next: &PageCursor) -> String {
    encode_cursor(List::Inbox, next)
}

pub(super) fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339)
                .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
                .map_err(|_| ApiError::invalid(name, format!("{text:?} is not an RFC 3339 time")))
        })
        .transpose()
}

pub(super) fn time_range(since: Option<&str>, until: Option<&str>) -> Result<TimeRange, ApiError> {
    let range = TimeRange { since: time_param("since", since)?, until: time_param("until", until)? };
    if let (Some(since), Some(until)) = (range.since, range.until)
        && since > until
    {
        return Err(ApiError::invalid("until", "is before since"));
    }
    Ok(range)
}

pub(super) fn path_id(what: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::invalid("id", format!("not a {what} id")))
}

pub(super) fn page_body<T, U: From<T>>(list: List, page: Page<T>) -> PageBody<U> {
    PageBody {
        items: page.items.into_iter().map(U::from).collect(),
        next_cursor: page.next.map(|c| encode_cursor(list, &c)),
    }
}

/// Shared by every list: `limit` and `cursor`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 500 (default 50; more is cut to 500).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A time filter: RFC 3339, both ends inclusive.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeQuery {
    /// Created (received) at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Created (received) at or before this RFC 3339 time.
    pub until: Option<String>,
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    /// Give it as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Declares the documented page type of one list (utoipa names each schema).
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[derive(utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Give it as `cursor` for the next page; `null` on the last page.
            pub next_cursor: Option<String>,
        }
    };
}

page_schema!(ContactPage, ContactBody);
page_schema!(ConversationPage, ConversationBody);
page_schema!(MessagePage, MessageBody);
page_schema!(DeliveryPage, DeliveryBody);
page_schema!(WebhookEventPage, WebhookEventBody);
page_schema!(DeadJobPage, DeadJobBody);
