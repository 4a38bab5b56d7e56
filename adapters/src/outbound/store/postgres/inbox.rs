//! The PostgreSQL side of [`Inbox`]: a webhook's event, messages, statuses and jobs in
//! one transaction, run again whole when it collides with another replica's.

use async_trait::async_trait;
use switchboard_application::ports::{EventDisposition, Inbox, IngestBatch, IngestReceipt};
use tracing::Instrument;
use uuid::Uuid;

use super::super::handoff::Handed;
use super::super::records::{json, millis as ms, unavailable};
use super::*;

#[async_trait]
impl Inbox for PgStore {
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestReceipt, StoreError> {
        let span =
            tracing::debug_span!("postgres.ingest", messages = batch.messages.len(), statuses = batch.statuses.len());
        async {
            let mut tries = 1;
            loop {
                match self.ingest_once(&batch).await {
                    // Another replica stored the same contact or message first: now that
                    // its transaction committed, this one sees it and counts a duplicate.
                    Err(e) if is_transient_conflict(&e) && tries < CONFLICT_TRIES => {
                        tracing::debug!(tries, "ingest collided with a concurrent one; trying again");
                        tries += 1;
                    }
                    other => return other.map_err(classify),
                }
            }
        }
        .instrument(span)
        .await
    }
}

impl PgStore {
    async fn ingest_once(&self, batch: &IngestBatch) -> Result<IngestReceipt, StoreError> {
        {
            let now = ms(batch.event.received_at);
            let event_id = batch.event.id.to_string();
            let trace_id = batch.event.trace.trace_id.to_string();
            let (status, reason) = match &batch.event.disposition {
                EventDisposition::Accepted => ("accepted", None),
                EventDisposition::Quarantined { reason } => ("quarantined", Some(reason.as_str())),
            };
            let mut tx = self.begin().await?;
            let lease = self.handoff.lease();
            if lease.is_some() && !batch.messages.is_empty() {
                lock_ordering_keys(&mut tx, batch).await?;
            }
            let mut handed: Vec<Handed> = Vec::new();
            sqlx::query(
                "INSERT INTO webhook_events (id, received_at, trace_id, trace_context, status, reason, summary, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&event_id)
            .bind(now)
            .bind(&trace_id)
            .bind(batch.event.trace.to_traceparent())
            .bind(status)
            .bind(reason)
            .bind(json(&batch.event.summary)?)
            .bind(&batch.event.body)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;

            for error in &batch.errors {
                sqlx::query(
                    "INSERT INTO webhook_errors (event_id, code, title, message, details, received_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&event_id)
                .bind(error.code)
                .bind(&error.title)
                .bind(&error.message)
                .bind(&error.details)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            }

            let mut receipt = IngestReceipt::default();
            for item in &batch.messages {
                let message = &item.message;
                let known: Option<i64> = sqlx::query_scalar("SELECT 1::BIGINT FROM messages WHERE wamid = $1")
                    .bind(message.wamid.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                if known.is_some() {
                    receipt.duplicate_messages += 1;
                    continue;
                }
                let contact_id = resolve_contact(&mut tx, &message.from, message.profile_name.as_deref(), now).await?;
                let conversation_id = resolve_conversation(&mut tx, &contact_id, message, now).await?;
                let inserted = sqlx::query(
                    "INSERT INTO messages (id, conversation_id, direction, wamid, event_id, kind, content, raw, sent_ts, trace_id, created_at)
                     VALUES ($1, $2, 'inbound', $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (wamid) DO NOTHING",
                )
                .bind(Uuid::now_v7().to_string())
                .bind(&conversation_id)
                .bind(message.wamid.as_str())
                .bind(&event_id)
                .bind(message.content.kind_name())
                .bind(json(message)?)
                .bind(json(&item.raw)?)
                .bind(message.sent_at.unix_timestamp())
                .bind(&trace_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
                if inserted == 0 {
                    // Stored by a concurrent ingest on another replica since the check above.
                    receipt.duplicate_messages += 1;
                    continue;
                }
                handed.extend(insert_job_leased_if_first(&mut tx, &item.job, now, lease).await?);
                receipt.new_messages += 1;
            }

            for item in &batch.statuses {
                let status = &item.status;
                let inserted = sqlx::query(
                    "INSERT INTO message_statuses (wamid, status, occurred_ts, recipient, errors, raw, event_id, trace_id, received_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (wamid, status) DO NOTHING",
                )
                .bind(status.wamid.as_str())
                .bind(&status.status)
                .bind(status.occurred_at.unix_timestamp())
                .bind(&status.recipient)
                .bind(json(&status.errors)?)
                .bind(json(&item.raw)?)
                .bind(&event_id)
                .bind(&trace_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
                if inserted == 0 {
                    receipt.duplicate_statuses += 1;
                    continue;
                }
                insert_job(&mut tx, &item.job, now).await?;
                receipt.new_statuses += 1;
            }

            tx.commit().await.map_err(unavailable)?;
            // Committed: this process's workers may run the new messages without a claim.
            self.handoff.push(handed);
            if receipt.new_messages + receipt.new_statuses > 0 {
                self.notify_workers();
            }
            Ok(receipt)
        }
    }
}

/// Holds the advisory lock of each ordering key the batch's messages belong to, until the
/// transaction ends, taken in one order so two ingests cannot wait on each other. A claim
/// on any replica skips a key held here (`pg_try_advisory_xact_lock`), and a second ingest
/// of the same key waits for this one to commit: so "no other job of the key waits",
/// which the hand-off decides on (ADR 0021), cannot be judged by two ingests at once.
async fn lock_ordering_keys(tx: &mut Transaction<'static, Postgres>, batch: &IngestBatch) -> Result<(), StoreError> {
    let keys: Vec<&str> = batch.messages.iter().map(|m| m.job.ordering_key.as_str()).collect();
    sqlx::query(
        "SELECT pg_advisory_xact_lock($1, h)
         FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY 1) AS keys",
    )
    .bind(super::jobs::ORDERING_KEY_LOCKS)
    .bind(keys)
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}
