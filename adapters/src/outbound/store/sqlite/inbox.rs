//! The SQLite side of [`Inbox`]: a webhook's event, messages, statuses and jobs, written
//! in one group commit.

use async_trait::async_trait;
use rusqlite::{Connection, params};
use std::time::Duration;
use switchboard_application::ports::{EventDisposition, Inbox, IngestBatch, IngestReceipt};
use tracing::Instrument;

use uuid::Uuid;

use super::super::handoff::Handed;

use super::super::records::{json, millis as ms};
use super::writer::failed;
use super::*;

#[async_trait]
impl Inbox for SqliteStore {
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestReceipt, StoreError> {
        let span =
            tracing::debug_span!("sqlite.ingest", messages = batch.messages.len(), statuses = batch.statuses.len());
        async {
            // Committed with whatever other writes are waiting; answered after the commit.
            let lease = self.handoff.lease();
            let (receipt, handed) = self.engine.group.write_urgent(move |conn| ingest_in(conn, &batch, lease)).await?;
            // Committed: this process's workers may run the new messages without a claim.
            self.handoff.push(handed);
            if receipt.new_messages + receipt.new_statuses > 0 {
                self.notify_workers();
            }
            Ok(receipt)
        }
        .instrument(span)
        .await
    }
}

/// Stores one webhook's event, messages, statuses and their jobs; answers the messages'
/// jobs leased to this process for the hand-off (with `lease`).
fn ingest_in(
    conn: &Connection,
    batch: &IngestBatch,
    lease: Option<Duration>,
) -> Result<(IngestReceipt, Vec<Handed>), StoreError> {
    let now = ms(batch.event.received_at);
    let event_id = batch.event.id.to_string();
    let trace_id = batch.event.trace.trace_id.to_string();
    let (status, reason) = match &batch.event.disposition {
        EventDisposition::Accepted => ("accepted", None),
        EventDisposition::Quarantined { reason } => ("quarantined", Some(reason.as_str())),
    };
    run(
        conn,
        "INSERT INTO webhook_events (id, received_at, trace_id, trace_context, status, reason, summary, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            event_id,
            now,
            trace_id,
            batch.event.trace.to_traceparent(),
            status,
            reason,
            json(&batch.event.summary)?,
            batch.event.body
        ],
    )?;

    for error in &batch.errors {
        run(
            conn,
            "INSERT INTO webhook_errors (event_id, code, title, message, details, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![event_id, error.code, error.title, error.message, error.details, now],
        )?;
    }

    let mut receipt = IngestReceipt::default();
    let mut handed = Vec::new();
    for item in &batch.messages {
        match ingest_message(conn, item, &event_id, &trace_id, now, lease)? {
            None => receipt.duplicate_messages += 1,
            Some(job) => {
                receipt.new_messages += 1;
                handed.extend(job);
            }
        }
    }

    for item in &batch.statuses {
        let status = &item.status;
        let inserted = run(
            conn,
            "INSERT INTO message_statuses (wamid, status, occurred_ts, recipient, errors, raw, event_id, trace_id, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (wamid, status) DO NOTHING",
            params![
                status.wamid.as_str(),
                status.status,
                status.occurred_at.unix_timestamp(),
                status.recipient,
                json(&status.errors)?,
                json(&item.raw)?,
                event_id,
                trace_id,
                now
            ],
        )?;
        if inserted == 0 {
            receipt.duplicate_statuses += 1;
            continue;
        }
        insert_job(conn, &item.job, now)?;
        receipt.new_statuses += 1;
    }
    Ok((receipt, handed))
}

/// Stores one inbound message with its contact, conversation and job. Answers `None` for
/// a duplicate, which writes nothing, else the job when it was leased for the hand-off.
fn ingest_message(
    conn: &Connection,
    item: &switchboard_application::ports::NewInbound,
    event_id: &str,
    trace_id: &str,
    now: i64,
    lease: Option<Duration>,
) -> Result<Option<Option<Handed>>, StoreError> {
    let message = &item.message;
    let known = conn
        .prepare_cached("SELECT 1 FROM messages WHERE wamid = ?1")
        .and_then(|mut find| find.exists([message.wamid.as_str()]))
        .map_err(failed)?;
    if known {
        return Ok(None);
    }
    let contact_id = resolve_contact(conn, &message.from, message.profile_name.as_deref(), now)?;
    run(
        conn,
        "INSERT INTO conversations (id, contact_id, business_number_id, last_inbound_ts, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (contact_id, business_number_id) DO UPDATE SET
             last_inbound_ts = MAX(COALESCE(conversations.last_inbound_ts, 0), excluded.last_inbound_ts),
             updated_at = excluded.updated_at",
        params![
            Uuid::now_v7().to_string(),
            contact_id,
            message.business_number_id,
            message.sent_at.unix_timestamp(),
            now
        ],
    )?;
    run(
        conn,
        "INSERT INTO messages (id, conversation_id, direction, wamid, event_id, kind, content, raw, sent_ts, trace_id, created_at)
         VALUES (?1, (SELECT id FROM conversations WHERE contact_id = ?2 AND business_number_id = ?3), 'inbound',
                 ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            Uuid::now_v7().to_string(),
            contact_id,
            message.business_number_id,
            message.wamid.as_str(),
            event_id,
            message.content.kind_name(),
            json(message)?,
            json(&item.raw)?,
            message.sent_at.unix_timestamp(),
            trace_id,
            now
        ],
    )?;
    Ok(Some(insert_job_leased_if_first(conn, &item.job, now, lease)?))
}
