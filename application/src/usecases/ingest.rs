use std::sync::Arc;
use std::time::Duration;

use switchboard_domain::{ChannelError, InboundMessage, StatusUpdate};
use switchboard_domain::{SendAction, SendFailure};
use switchboard_shared::TraceContext;
use tracing::Instrument;
use uuid::Uuid;

use crate::jobs::{JobKind, NewJob};
use crate::ports::{
    Clock, EventDisposition, Inbox, IngestBatch, IngestReceipt, NewInbound, NewStatus, RawEvent, StoreError,
};

/// An inbound message extracted from a webhook, with its raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedInbound {
    pub message: InboundMessage,
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStatus {
    pub status: StatusUpdate,
    pub raw: serde_json::Value,
}

/// What the tolerant parser made of an authentic WhatsApp envelope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedWebhook {
    pub messages: Vec<ParsedInbound>,
    pub statuses: Vec<ParsedStatus>,
    pub errors: Vec<ChannelError>,
    /// `field`s other than `messages` (template status updates and so on): stored with
    /// the raw event and acknowledged.
    pub other_fields: Vec<String>,
    /// Items that could not be read (no id, bad sender…), each with the reason. The
    /// raw event keeps them; the rest of the batch goes on.
    pub issues: Vec<String>,
}

/// An authentic webhook body, parsed or not.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookContent {
    Envelope(ParsedWebhook),
    /// Not JSON, or not a WhatsApp envelope.
    Quarantine {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Nothing was stored; the webhook must be answered so that Meta delivers again.
    #[error("the webhook could not be stored")]
    StoreUnavailable(#[source] StoreError),
}

/// Stores an authentic webhook and enqueues its work, in one transaction.
pub struct IngestWebhook {
    inbox: Arc<dyn Inbox>,
    clock: Arc<dyn Clock>,
    /// New inbound messages wait this long before processing, so a message Meta
    /// delivers late can still take its place in the conversation's order.
    reorder_window: Duration,
}

impl IngestWebhook {
    pub fn new(inbox: Arc<dyn Inbox>, clock: Arc<dyn Clock>, reorder_window: Duration) -> Self {
        Self { inbox, clock, reorder_window }
    }

    /// Stores the raw body and, for an envelope, every message and status with a job
    /// each. Duplicates (known wamid, known wamid+status) add nothing.
    pub async fn execute(
        &self,
        trace: TraceContext,
        body: Vec<u8>,
        content: WebhookContent,
    ) -> Result<IngestReceipt, IngestError> {
        let span = tracing::info_span!("ingest_webhook", trace_id = %trace.trace_id, bytes = body.len());
        self.run(trace, body, content).instrument(span).await
    }

    async fn run(
        &self,
        trace: TraceContext,
        body: Vec<u8>,
        content: WebhookContent,
    ) -> Result<IngestReceipt, IngestError> {
        let now = self.clock.now();
        let event_id = Uuid::now_v7();
        let (disposition, summary, messages, statuses, errors) = match content {
            WebhookContent::Quarantine { reason } => {
                tracing::warn!(%event_id, %reason, "authentic webhook quarantined");
                let disposition = EventDisposition::Quarantined { reason };
                (disposition, serde_json::json!({}), Vec::new(), Vec::new(), Vec::new())
            }
            WebhookContent::Envelope(parsed) => {
                for issue in &parsed.issues {
                    tracing::warn!(%event_id, %issue, "webhook item could not be read; kept in the raw event");
                }
                for error in &parsed.errors {
                    // Value-level errors belong to no message: the shared policy says how
                    // grave they are; an account-level one needs an operator.
                    let failure = SendFailure::from_code(error.code);
                    let title = error.title.as_deref().unwrap_or("");
                    if failure.action() == SendAction::StopAndAlert {
                        tracing::error!(%event_id, code = error.code, class = failure.label(), title, "WhatsApp reports an account-level error: sends will be held until it is fixed");
                    } else {
                        tracing::warn!(%event_id, code = error.code, class = failure.label(), title, "webhook reports an error");
                    }
                }
                let run_at = now + self.reorder_window;
                let messages: Vec<NewInbound> = parsed
                    .messages
                    .into_iter()
                    .map(|p| NewInbound {
                        job: NewJob {
                            kind: JobKind::ProcessInbound { wamid: p.message.wamid.clone() },
                            ordering_key: p.message.conversation_key(),
                            order_at: p.message.sent_at,
                            run_at,
                            trace,
                        },
                        message: p.message,
                        raw: p.raw,
                    })
                    .collect();
                let statuses: Vec<NewStatus> = parsed
                    .statuses
                    .into_iter()
                    .map(|p| NewStatus {
                        job: NewJob {
                            kind: JobKind::RecordStatus {
                                wamid: p.status.wamid.clone(),
                                status: p.status.status.clone(),
                                error: p.status.errors.first().map(|e| {
                                    let title = e.title.as_deref().or(e.message.as_deref());
                                    format!("{}: {}", e.code, title.unwrap_or("error"))
                                }),
                                error_code: p.status.errors.first().map(|e| e.code),
                                callback: p.status.callback_data.clone(),
                            },
                            ordering_key: format!("status:{}", p.status.wamid),
                            order_at: p.status.occurred_at,
                            run_at: now,
                            trace,
                        },
                        status: p.status,
                        raw: p.raw,
                    })
                    .collect();
                let summary = serde_json::json!({
                    "messages": messages.len(),
                    "statuses": statuses.len(),
                    "errors": parsed.errors.len(),
                    "other_fields": parsed.other_fields,
                    "issues": parsed.issues,
                });
                (EventDisposition::Accepted, summary, messages, statuses, parsed.errors)
            }
        };
        let batch = IngestBatch {
            event: RawEvent { id: event_id, received_at: now, trace, body, disposition, summary },
            messages,
            statuses,
            errors,
        };
        let receipt = self.inbox.ingest(batch).await.map_err(|e| {
            tracing::error!(error = %e, "webhook not stored; answering 503 so Meta delivers it again");
            IngestError::StoreUnavailable(e)
        })?;
        tracing::info!(
            %event_id,
            new_messages = receipt.new_messages,
            duplicate_messages = receipt.duplicate_messages,
            new_statuses = receipt.new_statuses,
            duplicate_statuses = receipt.duplicate_statuses,
            "webhook stored"
        );
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockInbox};
    use switchboard_domain::{InboundContent, Wamid, WhatsAppUser};
    use time::macros::datetime;

    fn clock() -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(datetime!(2026-11-22 10:00 UTC));
        Arc::new(clock)
    }

    fn text(wamid: &str, at: i64) -> ParsedInbound {
        ParsedInbound {
            message: InboundMessage {
                wamid: Wamid::parse(wamid).unwrap(),
                from: WhatsAppUser::from_webhook(None, Some("447700900123")).unwrap(),
                profile_name: None,
                business_number_id: "109876543210987".into(),
                sent_at: time::OffsetDateTime::from_unix_timestamp(at).unwrap(),
                content: InboundContent::Text { body: "hi".into() },
                context: None,
                errors: vec![],
            },
            raw: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn each_message_gets_a_process_job_ordered_by_its_conversation_and_meta_timestamp() {
        let mut inbox = MockInbox::new();
        inbox
            .expect_ingest()
            .withf(|batch| {
                let jobs: Vec<_> = batch.messages.iter().map(|m| &m.job).collect();
                batch.event.disposition == EventDisposition::Accepted
                    && jobs.len() == 2
                    && jobs[0].ordering_key == "109876543210987:+447700900123"
                    && jobs[0].order_at.unix_timestamp() == 1_795_600_071
                    && jobs[1].order_at.unix_timestamp() == 1_795_600_070
                    && jobs.iter().all(|j| j.run_at == datetime!(2026-11-22 10:00:00.3 UTC))
            })
            .times(1)
            .returning(|_| Ok(IngestReceipt { new_messages: 2, ..Default::default() }));
        let ingest = IngestWebhook::new(Arc::new(inbox), clock(), Duration::from_millis(300));
        let parsed = ParsedWebhook {
            messages: vec![text("wamid.B", 1_795_600_071), text("wamid.A", 1_795_600_070)],
            ..Default::default()
        };

        let receipt =
            ingest.execute(TraceContext::new_root(), b"{}".to_vec(), WebhookContent::Envelope(parsed)).await.unwrap();

        assert_eq!(receipt.new_messages, 2);
    }

    #[tokio::test]
    async fn a_quarantined_body_is_stored_raw_with_its_reason_and_no_jobs() {
        let mut inbox = MockInbox::new();
        inbox
            .expect_ingest()
            .withf(|batch| {
                batch.messages.is_empty()
                    && batch.event.body == b"{not json"
                    && matches!(&batch.event.disposition, EventDisposition::Quarantined { reason } if reason == "invalid JSON")
            })
            .times(1)
            .returning(|_| Ok(IngestReceipt::default()));
        let ingest = IngestWebhook::new(Arc::new(inbox), clock(), Duration::ZERO);

        let result = ingest
            .execute(
                TraceContext::new_root(),
                b"{not json".to_vec(),
                WebhookContent::Quarantine { reason: "invalid JSON".into() },
            )
            .await;

        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn a_store_failure_is_reported_so_the_webhook_is_not_acknowledged() {
        let mut inbox = MockInbox::new();
        inbox.expect_ingest().returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("database is locked"))));
        let ingest = IngestWebhook::new(Arc::new(inbox), clock(), Duration::ZERO);

        let result = ingest
            .execute(TraceContext::new_root(), b"{}".to_vec(), WebhookContent::Envelope(ParsedWebhook::default()))
            .await;

        assert!(matches!(result, Err(IngestError::StoreUnavailable(_))));
    }

    #[tokio::test]
    async fn a_failed_status_carries_metas_error_into_its_job() {
        let mut inbox = MockInbox::new();
        inbox
            .expect_ingest()
            .withf(|batch| {
                matches!(&batch.statuses[0].job.kind, JobKind::RecordStatus { error: Some(e), .. } if e == "131047: Re-engagement message")
            })
            .returning(|_| Ok(IngestReceipt::default()));
        let ingest = IngestWebhook::new(Arc::new(inbox), clock(), Duration::ZERO);
        let status = ParsedStatus {
            status: StatusUpdate {
                wamid: Wamid::parse("wamid.X").unwrap(),
                status: "failed".into(),
                occurred_at: datetime!(2026-11-22 09:00 UTC),
                recipient: None,
                errors: vec![ChannelError {
                    code: 131047,
                    title: Some("Re-engagement message".into()),
                    message: None,
                    details: None,
                }],
                callback_data: None,
            },
            raw: serde_json::json!({}),
        };

        let parsed = ParsedWebhook { statuses: vec![status], ..Default::default() };
        ingest.execute(TraceContext::new_root(), vec![], WebhookContent::Envelope(parsed)).await.unwrap();
    }
}
