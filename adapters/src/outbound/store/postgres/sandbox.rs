//! The sandbox gateway's record of what it would have sent.

use async_trait::async_trait;
use switchboard_application::jobs::NewJob;
use switchboard_application::ports::StoreError;
use switchboard_domain::{OutboundMessage, Wamid};
use switchboard_shared::TraceContext;
use uuid::Uuid;

use super::super::SandboxRecorder;
use super::super::records::{json, unavailable};
use super::{PgStore, insert_job, integrity};

#[async_trait]
impl SandboxRecorder for PgStore {
    async fn record_sandbox_send(
        &self,
        delivery_id: Option<Uuid>,
        provider_id: &str,
        message: &OutboundMessage,
        statuses: Vec<NewJob>,
        trace: &TraceContext,
    ) -> Result<String, StoreError> {
        let now = self.now_ms();
        let delivery_id = delivery_id.map(|id| id.to_string());
        let kind = message.content.kind_name();
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO sandbox_outbox (id, provider_id, from_number_id, recipient, reply_to, kind, message, trace_id,
                                         created_at, delivery_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (delivery_id, kind) DO NOTHING",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(provider_id)
        .bind(&message.from_number_id)
        .bind(message.to.key().as_storage_key())
        .bind(message.reply_to.as_ref().map(Wamid::as_str))
        .bind(kind)
        .bind(json(message)?)
        .bind(trace.trace_id.to_string())
        .bind(now)
        .bind(&delivery_id)
        .execute(&mut *tx)
        .await
        .map_err(integrity)?
        .rows_affected();
        if inserted == 0 {
            let earlier: String =
                sqlx::query_scalar("SELECT provider_id FROM sandbox_outbox WHERE delivery_id = $1 AND kind = $2")
                    .bind(&delivery_id)
                    .bind(kind)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            return Ok(earlier);
        }
        for job in &statuses {
            insert_job(&mut tx, job, now).await?;
        }
        tx.commit().await.map_err(unavailable)?;
        if !statuses.is_empty() {
            self.notify_workers();
        }
        Ok(provider_id.to_owned())
    }
}
