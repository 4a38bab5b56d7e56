//! The SQLite side of [`Messages`]: the workers' reads of an inbound message (in place)
//! and the reply with its delivery and job (one write).

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};
use switchboard_application::jobs::LeasedJob;
use switchboard_application::ports::{Handling, InboundRecord, Messages, NewReply, OpenTask, ReplyRecorded};
use switchboard_domain::{AgentName, Handler, InboundMessage, OutboundMessage, Wamid};
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::engine::numbered;
use super::super::people;
use super::super::records::{corrupt, json, millis as ms};
use super::writer::failed;
use super::*;

#[async_trait]
impl Messages for SqliteStore {
    async fn inbound(&self, wamid: &Wamid) -> Result<Option<InboundRecord>, StoreError> {
        let row = self.engine.readers.read(|conn| {
            conn.prepare_cached(
                "SELECT m.content, m.conversation_id, m.processed_at IS NOT NULL, v.open_task_id, v.open_task_agent,
                        m.throttled_at IS NOT NULL, v.handler, v.fallback_streak, v.handback_note
                 FROM messages m JOIN conversations v ON v.id = m.conversation_id
                 WHERE m.wamid = ?1 AND m.direction = 'inbound'",
            )
            .and_then(|mut find| {
                find.query_row([wamid.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, bool>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, bool>(5)?,
                        (row.get::<_, String>(6)?, row.get::<_, i64>(7)?, row.get::<_, Option<String>>(8)?),
                    ))
                })
                .optional()
            })
            .map_err(failed)
        })?;
        let Some((content, conversation_id, processed, task_id, agent, throttled, (handler, streak, note))) = row
        else {
            return Ok(None);
        };
        Ok(Some(InboundRecord {
            message: serde_json::from_str(&content).map_err(|e| corrupt("inbound message", e))?,
            conversation_id: Uuid::parse_str(&conversation_id).map_err(|e| corrupt("conversation id", e))?,
            processed,
            throttled,
            open_task: task_id.zip(agent).map(|(task_id, agent)| OpenTask { agent: AgentName::new(agent), task_id }),
            handling: Handling {
                handler: Handler::parse(&handler).map_err(|e| corrupt("handler", e))?,
                fallback_streak: u32::try_from(streak).unwrap_or(u32::MAX),
                handback_note: note,
            },
        }))
    }

    async fn unanswered(&self, conversation_id: Uuid) -> Result<Vec<InboundMessage>, StoreError> {
        let rows: Vec<String> = self.engine.readers.read(|conn| {
            conn.prepare_cached(
                "SELECT content FROM messages
                 WHERE conversation_id = ?1 AND direction = 'inbound' AND processed_at IS NULL
                 ORDER BY sent_ts, created_at, rowid",
            )
            .and_then(|mut find| find.query_map([conversation_id.to_string()], |row| row.get(0))?.collect())
            .map_err(failed)
        })?;
        rows.iter().map(|c| serde_json::from_str(c).map_err(|e| corrupt("inbound message", e))).collect()
    }

    async fn mark_throttled(&self, conversation_id: Uuid, at: OffsetDateTime) -> Result<u64, StoreError> {
        let (conversation_id, at) = (conversation_id.to_string(), ms(at));
        let marked = self
            .engine
            .group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE messages SET throttled_at = ?2
                     WHERE conversation_id = ?1 AND direction = 'inbound'
                       AND processed_at IS NULL AND throttled_at IS NULL",
                    params![conversation_id, at],
                )
            })
            .await?;
        Ok(u64::try_from(marked).unwrap_or(0))
    }

    async fn record_reply(&self, reply: NewReply) -> Result<ReplyRecorded, StoreError> {
        let now = self.now_ms();
        let announces = reply.handoff.as_ref().is_some_and(|h| !h.notify.is_empty());
        let follows = !reply.follow_ups.is_empty();
        let ends = reply.ends.is_some();
        let recorded = self.engine.group.write(move |conn| record_reply_in(conn, &reply, now)).await?;
        // A delivery job leased to the caller needs no worker; announcements do, and so
        // may the next job of the key of the job this reply ended.
        if recorded == ReplyRecorded::Recorded(None)
            || ((follows || announces || ends) && matches!(recorded, ReplyRecorded::Recorded(_)))
        {
            self.notify_workers();
        }
        Ok(recorded)
    }
}

/// The reply, its delivery and job, and the inbound messages it answers marked processed.
/// The claim of the inbound message decides whether anything is stored.
fn record_reply_in(conn: &Connection, reply: &NewReply, now: i64) -> Result<ReplyRecorded, StoreError> {
    let conversation_id = reply.conversation_id.to_string();
    // The claim holds only while the bot has the conversation; when it fails, one more
    // look tells a take-over from a job that ran twice.
    let claimed = run(
        conn,
        "UPDATE messages SET processed_at = ?2
         WHERE wamid = ?1 AND direction = 'inbound' AND processed_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM conversations WHERE id = ?3 AND handler = 'people')",
        params![reply.inbound.as_str(), now, conversation_id],
    )?;
    if claimed == 0 {
        let handler: Option<String> = conn
            .prepare_cached("SELECT handler FROM conversations WHERE id = ?1")
            .and_then(|mut find| find.query_row([&conversation_id], |row| row.get(0)).optional())
            .map_err(failed)?;
        let processed: bool = conn
            .prepare_cached("SELECT processed_at IS NOT NULL FROM messages WHERE wamid = ?1 AND direction = 'inbound'")
            .and_then(|mut find| find.query_row([reply.inbound.as_str()], |row| row.get(0)).optional())
            .map_err(failed)?
            .unwrap_or(true);
        if handler.as_deref() == Some(Handler::People.as_str()) && !processed {
            return Ok(ReplyRecorded::TakenOver);
        }
        return Ok(ReplyRecorded::AlreadyProcessed);
    }
    if !reply.also_answers.is_empty() {
        let also_answers: Vec<&str> = reply.also_answers.iter().map(Wamid::as_str).collect();
        run(
            conn,
            "UPDATE messages SET processed_at = ?2
             WHERE wamid IN (SELECT value FROM json_each(?1)) AND direction = 'inbound' AND processed_at IS NULL",
            params![json(&also_answers)?, now],
        )?;
    }
    let values = people::handling_after_turn(reply, now)?;
    conn.prepare_cached(&numbered(people::HANDLING_AFTER_TURN))
        .and_then(|mut update| {
            bind_all(&mut update, &values)?;
            update.raw_execute()
        })
        .map_err(failed)?;
    if let Some(handoff) = &reply.handoff {
        let actor = people::handoff_actor(&handoff.reason);
        run(
            conn,
            &numbered(people::INSERT_EVENT),
            params![conversation_id, now, actor, "handoff", handoff.reason.describe()],
        )?;
        for job in &handoff.notify {
            insert_job(conn, job, now)?;
        }
    }
    let leased = insert_delivery_job(conn, &reply.job, now, reply.lease_delivery)?;
    // A delivery leased to the worker that planned it is sent next under that lease:
    // stored in flight already, so no write of its own precedes the send (ADR 0034).
    let in_flight_by = leased.as_ref().map(|job| job.lease_token);
    insert_reply_message(conn, reply, &reply.message, reply.delivery_id, in_flight_by, now)?;
    for follow_up in &reply.follow_ups {
        insert_reply_message(conn, reply, &follow_up.message, follow_up.delivery_id, None, now)?;
        insert_job(conn, &follow_up.job, now)?;
    }
    if let Some(lease) = reply.ends {
        super::jobs::end_job(conn, lease)?;
    }
    Ok(ReplyRecorded::Recorded(leased))
}

/// One outbound message of a reply and its pending delivery, in flight for the lease
/// `in_flight_by` when one is given.
fn insert_reply_message(
    conn: &Connection,
    reply: &NewReply,
    message: &OutboundMessage,
    delivery_id: Uuid,
    in_flight_by: Option<Uuid>,
    now: i64,
) -> Result<(), StoreError> {
    let message_id = Uuid::now_v7().to_string();
    let trace_id = reply.trace.trace_id.to_string();
    let conversation_id = reply.conversation_id.to_string();
    run(
        conn,
        "INSERT INTO messages (id, conversation_id, direction, kind, content, sent_ts, trace_id, in_reply_to, intent, confidence, agent, created_at)
         VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            message_id,
            conversation_id,
            message.content.kind_name(),
            json(message)?,
            now / 1000,
            trace_id,
            reply.inbound.as_str(),
            reply.intent.as_str(),
            f64::from(reply.confidence),
            reply.agent.as_str(),
            now
        ],
    )?;
    run(
        conn,
        "INSERT INTO deliveries (id, message_id, conversation_id, state, trace_id, trace_context, created_at, updated_at,
                                 uncertain_since, in_flight_by)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?6, ?7, ?8)",
        params![
            delivery_id.to_string(),
            message_id,
            conversation_id,
            trace_id,
            reply.trace.to_traceparent(),
            now,
            in_flight_by.map(|_| now),
            in_flight_by.map(|token| token.to_string())
        ],
    )?;
    Ok(())
}

/// A reply's delivery job: leased to the caller for `lease` when no other job of its
/// ordering key waits (it runs it at once), else queued for the workers.
fn insert_delivery_job(
    conn: &Connection,
    job: &NewJob,
    now: i64,
    lease: Option<Duration>,
) -> Result<Option<LeasedJob>, StoreError> {
    Ok(insert_job_leased_if_first(conn, job, now, lease)?.map(|handed| handed.job))
}
