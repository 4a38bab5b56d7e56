//! People in the loop, written once for both databases: a conversation's handling, the
//! operators' changes to it with its history, and the SQL the engines' reply and send
//! transactions share (the turn's handling, a history entry).

use async_trait::async_trait;
use switchboard_application::ports::{
    ConversationEvent, ConversationHandling, HandlingChange, InboxFilter, NewReply, Page, PageCursor, PageRequest,
    People, StoreError, WaitingSummary,
};
use switchboard_domain::{Handler, HandoffReason, WhatsAppUser};
use time::OffsetDateTime;
use uuid::Uuid;

use super::engine::{Arg, Engine, SqlStore, args, in_list};
use super::records::{Columns, corrupt, from_ms, json, millis};

/// The conversation's handling after a turn of the bot ($1 conversation, $2 open task
/// id, $3 its agent, $4 now, $5 the handoff reason as JSON or NULL, $6 the fallback
/// streak, $7 the id of the task the agent answered with or NULL, $8 its state, $9 its
/// agent): a handoff goes to people and waits; else the bot keeps it (a closed one
/// opens again). The hand-back note was passed on: it is cleared. A task answer becomes
/// the conversation's latest task; a plain message leaves the latest task as it was.
///
/// A turn that changes none of these (the bot answers again, with no task open before or
/// after: most turns) writes nothing, so `updated_at` says when the handling last changed
/// or a message last came in. Rewriting the row on every turn cost a page of the
/// conversations and a move in `conversations_by_update` per message (docs/performance.md).
pub(super) const HANDLING_AFTER_TURN: &str = "UPDATE conversations SET
        open_task_id = $2, open_task_agent = $3, updated_at = $4, fallback_streak = $6, handback_note = NULL,
        task_id = COALESCE(CAST($7 AS TEXT), task_id),
        task_state = CASE WHEN CAST($7 AS TEXT) IS NULL THEN task_state ELSE $8 END,
        task_agent = CASE WHEN CAST($7 AS TEXT) IS NULL THEN task_agent ELSE $9 END,
        handler = CASE WHEN CAST($5 AS TEXT) IS NULL THEN 'bot' ELSE 'people' END,
        handoff_reason = COALESCE(CAST($5 AS TEXT), handoff_reason),
        handoff_at = CASE WHEN CAST($5 AS TEXT) IS NULL THEN handoff_at ELSE $4 END,
        operator = CASE WHEN CAST($5 AS TEXT) IS NULL THEN operator ELSE NULL END,
        taken_at = CASE WHEN CAST($5 AS TEXT) IS NULL THEN taken_at ELSE NULL END,
        first_human_reply_at = CASE WHEN CAST($5 AS TEXT) IS NULL THEN first_human_reply_at ELSE NULL END
    WHERE id = $1
      AND (CAST($5 AS TEXT) IS NOT NULL OR CAST($7 AS TEXT) IS NOT NULL OR handler <> 'bot'
           OR handback_note IS NOT NULL OR open_task_id IS DISTINCT FROM CAST($2 AS TEXT)
           OR open_task_agent IS DISTINCT FROM CAST($3 AS TEXT) OR fallback_streak <> $6)";

/// One history entry ($1 conversation, $2 at, $3 actor, $4 action, $5 detail).
pub(super) const INSERT_EVENT: &str =
    "INSERT INTO conversation_events (conversation_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)";

/// An operator's reply ends the wait ($1 conversation, $2 at).
pub(super) const OPERATOR_REPLIED: &str = "UPDATE conversations SET
        first_human_reply_at = COALESCE(first_human_reply_at, $2), updated_at = $2
    WHERE id = $1";

/// Who started a handoff, for its history entry.
pub(super) fn handoff_actor(reason: &HandoffReason) -> String {
    match reason {
        HandoffReason::UserAsked => String::from("user"),
        HandoffReason::AgentAsked { agent, .. } => format!("agent:{agent}"),
        HandoffReason::RepeatedFallback { .. } => String::from("bot"),
        HandoffReason::Operator { name } => name.clone(),
    }
}

/// The values of [`HANDLING_AFTER_TURN`] for `reply`, stored at `now`.
pub(super) fn handling_after_turn(reply: &NewReply, now: i64) -> Result<Vec<Arg>, StoreError> {
    let reason = reply.handoff.as_ref().map(|h| json(&h.reason)).transpose()?;
    let open_task = reply.open_task.as_ref();
    let task = reply.task.as_ref();
    Ok(args![
        reply.conversation_id.to_string(),
        open_task.map(|t| t.task_id.clone()),
        open_task.map(|t| t.agent.to_string()),
        now,
        reason,
        i64::from(reply.fallback_streak),
        task.map(|t| t.id.clone()),
        task.map(|t| t.state.as_str()),
        task.map(|_| reply.agent.to_string())
    ])
}

/// A conversation waits for a person ([`ConversationHandling::waits_for_a_person`]).
const WAITING: &str = "v.handler = 'people' AND v.handoff_at IS NOT NULL AND v.first_human_reply_at IS NULL";

const HANDLING_COLUMNS: &str = "v.id, v.business_number_id, v.handler, v.handoff_reason, v.handoff_at, v.operator,
        v.taken_at, v.first_human_reply_at, v.last_inbound_ts, v.updated_at,
        c.phone, c.scoped_id, c.profile_name";
const HANDLING_FROM: &str = "FROM conversations v JOIN contacts c ON c.id = v.contact_id";

/// Sorts every conversation that does not wait after every one that does (wait starts
/// are unix milliseconds, far below it).
const AFTER_EVERY_WAIT: i64 = 1 << 62;

/// The inbox's order as one integer, so that it and the id make a keyset cursor: a
/// waiting conversation's wait start (oldest first), else [`AFTER_EVERY_WAIT`] minus its
/// latest activity (latest first).
fn inbox_key() -> String {
    format!("CASE WHEN {WAITING} THEN v.handoff_at ELSE {AFTER_EVERY_WAIT} - COALESCE(v.updated_at, 0) END")
}

fn handling(row: &impl Columns) -> Result<ConversationHandling, StoreError> {
    let id = row.text("id");
    let user = WhatsAppUser::from_webhook(row.opt_text("scoped_id").as_deref(), row.opt_text("phone").as_deref())
        .map_err(|e| corrupt("contact", e))?;
    let reason = row
        .opt_text("handoff_reason")
        .map(|r| serde_json::from_str::<HandoffReason>(&r))
        .transpose()
        .map_err(|e| corrupt("handoff reason", e))?;
    Ok(ConversationHandling {
        conversation_id: Uuid::parse_str(&id).map_err(|e| corrupt("conversation id", e))?,
        user,
        profile_name: row.opt_text("profile_name"),
        business_number_id: row.text("business_number_id"),
        handler: Handler::parse(&row.text("handler")).map_err(|e| corrupt("handler", e))?,
        reason,
        handoff_at: row.opt_int("handoff_at").and_then(from_ms),
        operator: row.opt_text("operator"),
        taken_at: row.opt_int("taken_at").and_then(from_ms),
        first_human_reply_at: row.opt_int("first_human_reply_at").and_then(from_ms),
        last_inbound_at: row.opt_int("last_inbound_ts").and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
        updated_at: row.opt_int("updated_at").and_then(from_ms).unwrap_or(OffsetDateTime::UNIX_EPOCH),
    })
}

/// The guard of each change: the conversation is handled by one of `from` (the list is
/// $4...), and a take-over finds no other operator holding it.
///
/// A take-over of a conversation people already have keeps its handoff (the user still
/// waits until an operator answers); from the bot or closed nobody waited, so it has no
/// handoff time and neither the waiting gauges nor the first-reply histogram count it.
const TAKE_OVER: &str = "UPDATE conversations SET handler = 'people', operator = $2, taken_at = $3, updated_at = $3,
        handoff_reason = CASE WHEN handler = 'people' THEN handoff_reason ELSE $5 END,
        handoff_at = CASE WHEN handler = 'people' THEN handoff_at ELSE NULL END,
        first_human_reply_at = CASE WHEN handler = 'people' THEN first_human_reply_at ELSE NULL END,
        open_task_id = NULL, open_task_agent = NULL
    WHERE id = $1 AND (handler <> 'people' OR operator IS NULL OR operator = $2) AND handler IN ($4, $6, $7)";
const HAND_BACK: &str =
    "UPDATE conversations SET handler = 'bot', handback_note = $5, fallback_streak = 0, updated_at = $3
    WHERE id = $1 AND $2 = $2 AND handler IN ($4, $6, $7)";
const CLOSE: &str = "UPDATE conversations SET handler = 'closed', open_task_id = NULL, open_task_agent = NULL,
        fallback_streak = 0, handback_note = CAST($5 AS TEXT), updated_at = $3
    WHERE id = $1 AND $2 = $2 AND handler IN ($4, $6, $7)";

#[async_trait]
impl<E: Engine> People for SqlStore<E> {
    #[tracing::instrument(name = "store.handling", skip_all)]
    async fn handling(&self, conversation_id: Uuid) -> Result<Option<ConversationHandling>, StoreError> {
        let sql = format!("SELECT {HANDLING_COLUMNS} {HANDLING_FROM} WHERE v.id = $1");
        let rows = self.engine.scan(&sql, args![conversation_id.to_string()]).await?;
        rows.first().map(handling).transpose()
    }

    #[tracing::instrument(name = "store.inbox", skip_all)]
    async fn inbox(&self, filter: InboxFilter, page: PageRequest) -> Result<Page<ConversationHandling>, StoreError> {
        let handlers: Vec<Handler> = filter.handler.map_or_else(|| Handler::ALL.to_vec(), |h| vec![h]);
        let key = inbox_key();
        let mut values: Vec<Arg> = handlers.iter().map(|h| Arg::from(h.as_str())).collect();
        let mut sql = format!(
            "SELECT {key} AS inbox_key, {HANDLING_COLUMNS} {HANDLING_FROM} WHERE v.handler IN {}",
            in_list(1, handlers.len())
        );
        if let Some(since) = filter.waiting_since_or_before {
            values.push(Arg::from(millis(since)));
            sql.push_str(&format!(" AND {WAITING} AND v.handoff_at <= ${}", values.len()));
        }
        if let Some(after) = &page.after {
            values.push(Arg::from(after.at));
            values.push(Arg::from(after.id.as_str()));
            let (at, id) = (values.len() - 1, values.len());
            sql.push_str(&format!(" AND ({key} > ${at} OR ({key} = ${at} AND v.id > ${id}))"));
        }
        sql.push_str(&format!(" ORDER BY inbox_key, v.id LIMIT {}", page.limit.saturating_add(1)));
        let fetched = self
            .engine
            .scan(&sql, values)
            .await?
            .iter()
            .map(|row| Ok((row.int("inbox_key"), handling(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let found = Page::from_overfetch(fetched, page.limit, |(at, h)| PageCursor {
            at: *at,
            id: h.conversation_id.to_string(),
        });
        Ok(Page { items: found.items.into_iter().map(|(_, h)| h).collect(), next: found.next })
    }

    #[tracing::instrument(name = "store.change_handling", skip_all, fields(action = change.action()))]
    async fn change(
        &self,
        conversation_id: Uuid,
        change: &HandlingChange,
        from: &[Handler],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (id, at) = (conversation_id.to_string(), millis(at));
        // Three slots for the handlers it may change from; unused ones repeat the first.
        let slot = |i: usize| from.get(i).or(from.first()).map_or("none", |h| h.as_str());
        let operator = change.operator().to_owned();
        let (sql, fifth, detail) = match change {
            HandlingChange::TakeOver { operator } => {
                (TAKE_OVER, Some(json(&HandoffReason::Operator { name: operator.clone() })?), None)
            }
            HandlingChange::HandBack { note, .. } => (HAND_BACK, note.clone(), note.clone()),
            HandlingChange::Close { .. } => (CLOSE, None, None),
        };
        let guard = (sql, args![id.clone(), operator.clone(), at, slot(0), fifth, slot(1), slot(2)]);
        let event = (INSERT_EVENT, args![id, at, operator, change.action(), detail]);
        self.engine.transact(guard, vec![event]).await
    }

    #[tracing::instrument(name = "store.hold_for_people", skip_all)]
    async fn hold_for_people(&self, conversation_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError> {
        self.engine
            .write(
                "UPDATE messages SET processed_at = $2
                 WHERE conversation_id = $1 AND direction = 'inbound' AND processed_at IS NULL",
                args![conversation_id.to_string(), millis(at)],
            )
            .await
    }

    #[tracing::instrument(name = "store.history", skip_all)]
    async fn history(&self, conversation_id: Uuid) -> Result<Vec<ConversationEvent>, StoreError> {
        let rows = self
            .engine
            .scan(
                "SELECT at, actor, action, detail FROM conversation_events WHERE conversation_id = $1 ORDER BY id",
                args![conversation_id.to_string()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ConversationEvent {
                at: from_ms(row.int("at")).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                actor: row.text("actor"),
                action: row.text("action"),
                detail: row.opt_text("detail"),
            })
            .collect())
    }

    #[tracing::instrument(name = "store.activity", skip_all)]
    async fn activity(&self) -> Result<String, StoreError> {
        let rows = self
            .engine
            .scan(
                "SELECT (SELECT MAX(updated_at) FROM conversations) AS conversations,
                        (SELECT MAX(updated_at) FROM deliveries) AS deliveries,
                        (SELECT MAX(id) FROM messages) AS messages",
                args![],
            )
            .await?;
        Ok(rows.first().map_or_else(String::new, |row| {
            format!(
                "{}.{}.{}",
                row.opt_int("conversations").unwrap_or(0),
                row.opt_int("deliveries").unwrap_or(0),
                row.opt_text("messages").unwrap_or_default()
            )
        }))
    }

    #[tracing::instrument(name = "store.waiting", skip_all)]
    async fn waiting(&self) -> Result<WaitingSummary, StoreError> {
        let sql =
            format!("SELECT COUNT(*) AS waiting, MIN(v.handoff_at) AS oldest FROM conversations v WHERE {WAITING}");
        let rows = self.engine.scan(&sql, args![]).await?;
        Ok(rows.first().map_or_else(WaitingSummary::default, |row| WaitingSummary {
            count: u64::try_from(row.int("waiting")).unwrap_or(0),
            oldest_since: row.opt_int("oldest").and_then(from_ms),
        }))
    }
}
