//! The sandbox gateway's record of what it would have sent.

use async_trait::async_trait;
use rusqlite::params;
use switchboard_application::jobs::NewJob;
use switchboard_application::ports::StoreError;
use switchboard_domain::OutboundMessage;
use switchboard_shared::TraceContext;
use uuid::Uuid;

use super::super::SandboxRecorder;
use super::super::records::json;
use super::writer::failed;
use super::{SqliteStore, insert_job};

/// Whether a sandbox send was recorded now or before (then with the wamid it got).
enum Recorded {
    Now { jobs: bool, provider_id: String },
    Before(String),
}

#[async_trait]
impl SandboxRecorder for SqliteStore {
    async fn record_sandbox_send(
        &self,
        delivery_id: Option<Uuid>,
        provider_id: &str,
        message: &OutboundMessage,
        statuses: Vec<NewJob>,
        trace: &TraceContext,
    ) -> Result<String, StoreError> {
        let row = (
            Uuid::now_v7().to_string(),
            provider_id.to_owned(),
            message.from_number_id.clone(),
            message.to.key().as_storage_key(),
            message.reply_to.as_ref().map(|w| w.as_str().to_owned()),
            message.content.kind_name(),
            json(message)?,
            trace.trace_id.to_string(),
            delivery_id.map(|id| id.to_string()),
        );
        let now = self.now_ms();
        let recorded = self
            .engine
            .group
            .write(move |conn| {
                let (id, provider_id, from_number_id, recipient, reply_to, kind, message, trace_id, delivery_id) = &row;
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO sandbox_outbox (id, provider_id, from_number_id, recipient, reply_to, kind, message,
                                                     trace_id, created_at, delivery_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT (delivery_id, kind) DO NOTHING",
                    )
                    .and_then(|mut insert| {
                        insert.execute(params![
                            id,
                            provider_id,
                            from_number_id,
                            recipient,
                            reply_to,
                            kind,
                            message,
                            trace_id,
                            now,
                            delivery_id
                        ])
                    })
                    .map_err(failed)?;
                if inserted == 0 {
                    let earlier: String = conn
                        .prepare_cached("SELECT provider_id FROM sandbox_outbox WHERE delivery_id = ?1 AND kind = ?2")
                        .and_then(|mut select| select.query_row(params![delivery_id, kind], |r| r.get(0)))
                        .map_err(failed)?;
                    return Ok(Recorded::Before(earlier));
                }
                for job in &statuses {
                    insert_job(conn, job, now)?;
                }
                Ok(Recorded::Now { jobs: !statuses.is_empty(), provider_id: provider_id.clone() })
            })
            .await?;
        Ok(match recorded {
            Recorded::Now { jobs, provider_id } => {
                if jobs {
                    self.notify_workers();
                }
                provider_id
            }
            Recorded::Before(provider_id) => provider_id,
        })
    }
}
