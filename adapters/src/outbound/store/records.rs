//! What both databases' stores share: error mapping, time and JSON helpers, the
//! management row-to-record mappings, the dialect-free SELECTs and the paging helpers.
//! Each engine only says how to read a column ([`Columns`]), so the records operators see
//! cannot drift between SQLite and PostgreSQL.

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use switchboard_application::jobs::{JobKind, LeasedJob};
use switchboard_application::ports::{
    ContactRecord, ConversationRecord, ConversationState, LatestTask, MessageRecord, OpenTask, PageRequest, StoreError,
    TimeRange,
};
use switchboard_domain::{AgentName, DeliveryState};
use switchboard_shared::TraceContext;
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(anyhow::Error::new(e))
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt("serialise", e))
}

/// A claimed job's row as a leased job, or the reason to bury it when its payload no
/// longer parses (a job no version of the code can run).
pub(super) fn leased_job(
    id: i64,
    payload: &str,
    trace: &str,
    attempts: i64,
    lease_token: Uuid,
) -> Result<LeasedJob, String> {
    match serde_json::from_str::<JobKind>(payload) {
        Ok(kind) => Ok(LeasedJob {
            id,
            kind,
            trace: parse_trace(trace),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            lease_token,
        }),
        Err(e) => {
            tracing::error!(job_id = id, error = %e, "job payload does not parse; burying it");
            Err(format!("payload does not parse: {e}"))
        }
    }
}

/// A reply's delivery job inserted leased to the worker that wrote the reply
/// ([`switchboard_application::ports::NewReply::lease_delivery`]): its first attempt.
pub(super) fn leased_at_insert(id: i64, job: &switchboard_application::jobs::NewJob, lease_token: Uuid) -> LeasedJob {
    LeasedJob { id, kind: job.kind.clone(), trace: job.trace, attempts: 1, lease_token }
}

/// When a lease of `lease` taken at `now` (unix ms) ends.
pub(super) fn lease_until(now: i64, lease: std::time::Duration) -> i64 {
    now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2))
}

pub(super) fn parse_trace(text: &str) -> TraceContext {
    // A stored context that no longer parses must not stop the work: start a new trace.
    TraceContext::from_traceparent(text).unwrap_or_else(|_| TraceContext::new_root())
}

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Unix milliseconds to a time, `None` when out of range.
pub(super) fn from_ms(value: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000_000).ok()
}

/// The columns a management record is read from: text and 64-bit integers, either of
/// them nullable. Like `Row::get`, a column of another type is a programming error.
pub trait Columns {
    fn text(&self, column: &str) -> String;
    fn opt_text(&self, column: &str) -> Option<String>;
    fn int(&self, column: &str) -> i64;
    fn opt_int(&self, column: &str) -> Option<i64>;
    fn bytes(&self, column: &str) -> Vec<u8>;
}

macro_rules! columns_of {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> String {
                self.get(column)
            }
            fn opt_text(&self, column: &str) -> Option<String> {
                self.get(column)
            }
            fn int(&self, column: &str) -> i64 {
                self.get(column)
            }
            fn opt_int(&self, column: &str) -> Option<i64> {
                self.get(column)
            }
            fn bytes(&self, column: &str) -> Vec<u8> {
                self.get(column)
            }
        }
    };
}
columns_of!(SqliteRow);
columns_of!(PgRow);

fn uuid(row: &impl Columns, column: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(&row.text(column)).map_err(|e| corrupt(column, e))
}

pub(super) fn time_ms(row: &impl Columns, column: &str) -> OffsetDateTime {
    from_ms(row.int(column)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn time_secs(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(super) fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The cursor's (at, id), or (None, None) for the first page.
pub(super) fn after(page: &PageRequest) -> (Option<i64>, Option<String>) {
    page.after.as_ref().map_or((None, None), |c| (Some(c.at), Some(c.id.clone())))
}

/// One more row than the page holds, to know whether there is a next page.
pub(super) fn overfetch(page: &PageRequest) -> i64 {
    i64::from(page.limit) + 1
}

pub(super) fn bounds(range: TimeRange) -> (Option<i64>, Option<i64>) {
    (range.since, range.until)
}

pub(super) const CONTACT_SELECT: &str =
    "SELECT c.id, c.phone, c.scoped_id, c.profile_name, c.email, c.created_at, c.updated_at,
        c.opted_out_at, c.opted_out_source, c.marketing_opted_out_at, c.marketing_opted_out_source,
        (SELECT COUNT(*) FROM conversations v WHERE v.contact_id = c.id) AS conversations
 FROM contacts c";

pub(super) fn contact(row: &impl Columns) -> Result<ContactRecord, StoreError> {
    Ok(ContactRecord {
        id: uuid(row, "id")?,
        phone: row.opt_text("phone"),
        scoped_id: row.opt_text("scoped_id"),
        profile_name: row.opt_text("profile_name"),
        email: row.opt_text("email"),
        conversations: row.int("conversations"),
        consent: super::consent::consent(row)?,
        created_at: time_ms(row, "created_at"),
        updated_at: time_ms(row, "updated_at"),
    })
}

/// Conversations with their assigned agent (the open task's, else the latest reply's),
/// their agent (the same, leaving out operators' replies) and their latest task.
pub(super) const CONVERSATION_SELECT: &str =
    "SELECT v.id, v.contact_id, v.business_number_id, v.channel, v.open_task_id,
        v.open_task_agent, v.last_inbound_ts, v.created_at, v.updated_at,
        v.task_id, v.task_state, v.task_agent,
        (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = v.id) AS messages,
        COALESCE(v.open_task_agent,
                 (SELECT m.agent FROM messages m
                  WHERE m.conversation_id = v.id AND m.direction = 'outbound' AND m.agent IS NOT NULL
                  ORDER BY m.created_at DESC, m.id DESC LIMIT 1)) AS assigned_agent,
        COALESCE(v.open_task_agent,
                 (SELECT m.agent FROM messages m
                  WHERE m.conversation_id = v.id AND m.direction = 'outbound' AND m.agent IS NOT NULL
                    AND m.agent NOT LIKE 'operator:%'
                  ORDER BY m.created_at DESC, m.id DESC LIMIT 1)) AS agent
 FROM conversations v";

pub(super) fn conversation(row: &impl Columns) -> Result<ConversationRecord, StoreError> {
    let task_id: Option<String> = row.opt_text("open_task_id");
    let task_agent: Option<String> = row.opt_text("open_task_agent");
    let open_task = task_id.zip(task_agent).map(|(task_id, agent)| OpenTask { agent: AgentName::new(agent), task_id });
    let latest_task = match (row.opt_text("task_id"), row.opt_text("task_state"), row.opt_text("task_agent")) {
        (Some(id), Some(state), Some(agent)) => Some(LatestTask {
            agent,
            id,
            // A state this version does not know reads as unspecified rather than failing the page.
            state: serde_json::from_value(serde_json::Value::String(state)).map_err(|e| corrupt("task state", e))?,
        }),
        _ => None,
    };
    let last_inbound: Option<i64> = row.opt_int("last_inbound_ts");
    Ok(ConversationRecord {
        id: uuid(row, "id")?,
        contact_id: uuid(row, "contact_id")?,
        business_number_id: row.text("business_number_id"),
        channel: row.text("channel"),
        assigned_agent: row.opt_text("assigned_agent"),
        agent: row.opt_text("agent"),
        state: if open_task.is_some() { ConversationState::InputRequired } else { ConversationState::Idle },
        open_task,
        latest_task,
        messages: row.int("messages"),
        last_inbound_at: last_inbound.map(time_secs),
        created_at: time_ms(row, "created_at"),
        updated_at: time_ms(row, "updated_at"),
    })
}

pub(super) fn message(row: &impl Columns) -> Result<MessageRecord, StoreError> {
    let direction: String = row.text("direction");
    let processed_at: Option<i64> = row.opt_int("processed_at");
    let delivery_id: Option<String> = row.opt_text("delivery_id");
    let delivery_state: Option<String> = row.opt_text("delivery_state");
    let content: String = row.text("content");
    Ok(MessageRecord {
        id: uuid(row, "id")?,
        processed: direction == "outbound" || processed_at.is_some(),
        direction,
        wamid: row.opt_text("wamid"),
        kind: row.text("kind"),
        processed_at: processed_at.and_then(from_ms),
        throttled_at: row.opt_int("throttled_at").and_then(from_ms),
        in_reply_to: row.opt_text("in_reply_to"),
        intent: row.opt_text("intent"),
        agent: row.opt_text("agent"),
        delivery_id: delivery_id.map(|d| Uuid::parse_str(&d)).transpose().map_err(|e| corrupt("delivery id", e))?,
        delivery_state: delivery_state
            .map(|s| s.parse::<DeliveryState>())
            .transpose()
            .map_err(|e| corrupt("delivery state", e))?,
        trace_id: row.text("trace_id"),
        sent_at: time_secs(row.int("sent_ts")),
        created_at: time_ms(row, "created_at"),
        content: serde_json::from_str(&content).map_err(|e| corrupt("message content", e))?,
    })
}

/// Ends a job under its lease (`$1` id, `$2` token): deletes it, or nothing when the
/// lease was lost (the job was taken over).
pub(super) const END_JOB: &str = "DELETE FROM jobs WHERE id = $1 AND lease_token = $2";

/// Notes a job whose lease was lost before it ended (`ended` rows: none).
pub(super) fn note_lost_lease(ended: u64, job_id: i64) {
    if ended == 0 {
        tracing::warn!(job_id, "lease was lost before the job completed; its new holder finishes it");
    }
}

pub(super) const DELIVERY_VIEW_SELECT: &str = "SELECT d.id, d.state, d.route, d.provider_id, d.last_error, d.trace_id,
        d.created_at, d.updated_at, m.content
 FROM deliveries d JOIN messages m ON m.id = d.message_id";
