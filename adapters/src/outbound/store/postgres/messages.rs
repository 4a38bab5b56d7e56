//! The PostgreSQL side of [`Messages`].

use async_trait::async_trait;
use sqlx::Row;
use switchboard_application::ports::{Handling, InboundRecord, Messages, NewReply, OpenTask, ReplyRecorded};
use switchboard_domain::{AgentName, Handler, InboundMessage, OutboundMessage, Wamid};
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::people;
use super::super::records::{corrupt, json, millis as ms, unavailable};
use super::*;

#[async_trait]
impl Messages for PgStore {
    async fn inbound(&self, wamid: &Wamid) -> Result<Option<InboundRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT m.content, m.conversation_id, m.processed_at, v.open_task_id, v.open_task_agent, m.throttled_at,
                    v.handler, v.fallback_streak, v.handback_note
             FROM messages m JOIN conversations v ON v.id = m.conversation_id
             WHERE m.wamid = $1 AND m.direction = 'inbound'",
        )
        .bind(wamid.as_str())
        .fetch_optional(&self.engine.pool)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else { return Ok(None) };
        let content: String = row.get("content");
        let conversation_id: String = row.get("conversation_id");
        let processed_at: Option<i64> = row.get("processed_at");
        let task_id: Option<String> = row.get("open_task_id");
        let agent: Option<String> = row.get("open_task_agent");
        let throttled_at: Option<i64> = row.get("throttled_at");
        let handler: String = row.get("handler");
        let streak: i64 = row.get("fallback_streak");
        Ok(Some(InboundRecord {
            message: serde_json::from_str(&content).map_err(|e| corrupt("inbound message", e))?,
            conversation_id: Uuid::parse_str(&conversation_id).map_err(|e| corrupt("conversation id", e))?,
            processed: processed_at.is_some(),
            throttled: throttled_at.is_some(),
            open_task: task_id.zip(agent).map(|(task_id, agent)| OpenTask { agent: AgentName::new(agent), task_id }),
            handling: Handling {
                handler: Handler::parse(&handler).map_err(|e| corrupt("handler", e))?,
                fallback_streak: u32::try_from(streak).unwrap_or(u32::MAX),
                handback_note: row.get("handback_note"),
            },
        }))
    }

    async fn unanswered(&self, conversation_id: Uuid) -> Result<Vec<InboundMessage>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT content FROM messages
             WHERE conversation_id = $1 AND direction = 'inbound' AND processed_at IS NULL
             ORDER BY sent_ts, created_at, id",
        )
        .bind(conversation_id.to_string())
        .fetch_all(&self.engine.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(|c| serde_json::from_str(c).map_err(|e| corrupt("inbound message", e))).collect()
    }

    async fn mark_throttled(&self, conversation_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError> {
        let marked = sqlx::query(
            "UPDATE messages SET throttled_at = $2
             WHERE conversation_id = $1 AND direction = 'inbound'
               AND processed_at IS NULL AND throttled_at IS NULL",
        )
        .bind(conversation_id.to_string())
        .bind(ms(at))
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(marked)
    }

    async fn record_reply(&self, reply: NewReply) -> Result<ReplyRecorded, StoreError> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
        // The conversation's row is locked until commit: an operator's take-over waits for
        // this reply, or this reply sees the take-over and stores nothing.
        let handler: Option<String> = sqlx::query_scalar("SELECT handler FROM conversations WHERE id = $1 FOR UPDATE")
            .bind(reply.conversation_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(integrity)?;
        if handler.as_deref() == Some(Handler::People.as_str()) {
            tx.rollback().await.map_err(integrity)?;
            return Ok(ReplyRecorded::TakenOver);
        }
        let claimed = sqlx::query(
            "UPDATE messages SET processed_at = $2 WHERE wamid = $1 AND direction = 'inbound' AND processed_at IS NULL",
        )
        .bind(reply.inbound.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(integrity)?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await.map_err(integrity)?;
            return Ok(ReplyRecorded::AlreadyProcessed);
        }
        for other in &reply.also_answers {
            sqlx::query(
                "UPDATE messages SET processed_at = $2 WHERE wamid = $1 AND direction = 'inbound' AND processed_at IS NULL",
            )
            .bind(other.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(integrity)?;
        }
        let conversation_id = reply.conversation_id.to_string();
        let values = people::handling_after_turn(&reply, now)?;
        bind_all(sqlx::query(people::HANDLING_AFTER_TURN), values).execute(&mut *tx).await.map_err(integrity)?;
        if let Some(handoff) = &reply.handoff {
            let actor = people::handoff_actor(&handoff.reason);
            sqlx::query(people::INSERT_EVENT)
                .bind(&conversation_id)
                .bind(now)
                .bind(actor)
                .bind("handoff")
                .bind(handoff.reason.describe())
                .execute(&mut *tx)
                .await
                .map_err(integrity)?;
            for job in &handoff.notify {
                insert_job(&mut tx, job, now).await?;
            }
        }
        let leased = insert_delivery_job(&mut tx, &reply.job, now, reply.lease_delivery).await?;
        // A delivery leased to the worker that planned it is sent next under that lease:
        // stored in flight already, so no commit of its own precedes the send (ADR 0034).
        let in_flight_by = leased.as_ref().map(|job| job.lease_token);
        insert_reply_message(&mut tx, &reply, &reply.message, reply.delivery_id, in_flight_by, now).await?;
        for follow_up in &reply.follow_ups {
            insert_reply_message(&mut tx, &reply, &follow_up.message, follow_up.delivery_id, None, now).await?;
            insert_job(&mut tx, &follow_up.job, now).await?;
        }
        if let Some(lease) = reply.ends {
            super::jobs::end_job(&mut *tx, lease).await?;
        }
        tx.commit().await.map_err(integrity)?;
        // A delivery job leased to the caller needs no worker; announcements do, and so
        // may the next job of the key of the job this reply ended.
        if leased.is_none()
            || !reply.follow_ups.is_empty()
            || reply.ends.is_some()
            || reply.handoff.as_ref().is_some_and(|h| !h.notify.is_empty())
        {
            self.notify_workers();
        }
        Ok(ReplyRecorded::Recorded(leased))
    }
}

/// One outbound message of a reply and its pending delivery, in flight for the lease
/// `in_flight_by` when one is given.
async fn insert_reply_message(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    reply: &NewReply,
    message: &OutboundMessage,
    delivery_id: Uuid,
    in_flight_by: Option<Uuid>,
    now: i64,
) -> Result<(), StoreError> {
    let message_id = Uuid::now_v7().to_string();
    let conversation_id = reply.conversation_id.to_string();
    let trace_id = reply.trace.trace_id.to_string();
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, direction, kind, content, sent_ts, trace_id, in_reply_to, intent, confidence, agent, created_at)
         VALUES ($1, $2, 'outbound', $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&message_id)
    .bind(&conversation_id)
    .bind(message.content.kind_name())
    .bind(json(message)?)
    .bind(now / 1000)
    .bind(&trace_id)
    .bind(reply.inbound.as_str())
    .bind(reply.intent.as_str())
    .bind(f64::from(reply.confidence))
    .bind(reply.agent.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(integrity)?;
    sqlx::query(
        "INSERT INTO deliveries (id, message_id, conversation_id, state, trace_id, trace_context, created_at, updated_at,
                                 uncertain_since, in_flight_by)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6, $7, $8)",
    )
    .bind(delivery_id.to_string())
    .bind(&message_id)
    .bind(&conversation_id)
    .bind(&trace_id)
    .bind(reply.trace.to_traceparent())
    .bind(now)
    .bind(in_flight_by.map(|_| now))
    .bind(in_flight_by.map(|token| token.to_string()))
    .execute(&mut **tx)
    .await
    .map_err(integrity)?;
    Ok(())
}
