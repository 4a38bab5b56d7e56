//! Operators' use cases, shared by the management API and the command line: replaying
//! stored webhook events, and listing and requeueing dead jobs.

use std::sync::Arc;

use serde::Serialize;
use switchboard_shared::TraceContext;

use super::{IngestError, IngestWebhook, WebhookContent};
use crate::ports::{Clock, DeadJob, DeadJobs, EventArchive, EventFilter, ManagementReads, PageRequest, StoreError};

/// How a stored body is read again: the inbound adapter's envelope parser.
pub type ParseWebhook = fn(&[u8]) -> WebhookContent;

/// What one replayed event gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayOutcome {
    pub event_id: String,
    pub new_messages: usize,
    pub duplicate_messages: usize,
    pub new_statuses: usize,
    /// Still not a WhatsApp envelope: nothing ingested, the reason why.
    pub still_quarantined: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Replays stored webhook events: Meta has no replay API, so after a bug that quarantined
/// bodies (or lost their processing) is fixed, the stored raw bodies are parsed again and
/// ingested. Messages are deduplicated on their wamid, so a replay processes each message
/// exactly once however often it runs.
pub struct ReplayEvents {
    archive: Arc<dyn EventArchive>,
    reads: Arc<dyn ManagementReads>,
    ingest: Arc<IngestWebhook>,
    parse: ParseWebhook,
    clock: Arc<dyn Clock>,
}

/// Events read per page when replaying every match.
const REPLAY_PAGE: u32 = 500;

impl ReplayEvents {
    pub fn new(
        archive: Arc<dyn EventArchive>,
        reads: Arc<dyn ManagementReads>,
        ingest: Arc<IngestWebhook>,
        parse: ParseWebhook,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { archive, reads, ingest, parse, clock }
    }

    /// Replays one stored event; `None` when no event has this id.
    ///
    /// Errors: the store's, or the ingest's when the messages cannot be stored.
    #[tracing::instrument(name = "usecase.replay_event", skip_all, fields(event_id = id))]
    pub async fn one(&self, id: &str, trace: TraceContext) -> Result<Option<ReplayOutcome>, ReplayError> {
        let Some(body) = self.archive.event_body(id).await? else { return Ok(None) };
        let content = (self.parse)(&body);
        if let WebhookContent::Quarantine { reason } = &content {
            tracing::warn!(event_id = id, %reason, "replayed event is still not a WhatsApp envelope");
            return Ok(Some(ReplayOutcome {
                event_id: id.to_owned(),
                new_messages: 0,
                duplicate_messages: 0,
                new_statuses: 0,
                still_quarantined: Some(reason.clone()),
            }));
        }
        let receipt = self.ingest.execute(trace, body, content).await?;
        self.archive.mark_replayed(id, self.clock.now()).await?;
        tracing::info!(
            event_id = id,
            new_messages = receipt.new_messages,
            duplicates = receipt.duplicate_messages,
            "event replayed"
        );
        Ok(Some(ReplayOutcome {
            event_id: id.to_owned(),
            new_messages: receipt.new_messages,
            duplicate_messages: receipt.duplicate_messages,
            new_statuses: receipt.new_statuses,
            still_quarantined: None,
        }))
    }

    /// Replays the newest `limit` events matching `filter` (every one when `None`),
    /// oldest first, as Meta sent them.
    ///
    /// Errors: as [`Self::one`]; the events replayed before the error stay replayed.
    #[tracing::instrument(name = "usecase.replay_events", skip_all)]
    pub async fn matching(
        &self,
        filter: EventFilter,
        limit: Option<u32>,
        trace: TraceContext,
    ) -> Result<Vec<ReplayOutcome>, ReplayError> {
        let mut ids = Vec::new();
        let mut page = PageRequest { limit: limit.unwrap_or(REPLAY_PAGE).min(REPLAY_PAGE), after: None };
        loop {
            let found = self.reads.webhook_events(filter.clone(), page.clone()).await?;
            ids.extend(found.items.into_iter().map(|e| e.id));
            let room = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX).saturating_sub(ids.len()));
            match (found.next, room) {
                (None, _) | (_, Some(0)) => break,
                (Some(next), room) => {
                    page.after = Some(next);
                    if let Some(room) = room {
                        page.limit = page.limit.min(u32::try_from(room).unwrap_or(REPLAY_PAGE));
                    }
                }
            }
        }
        let mut outcomes = Vec::with_capacity(ids.len());
        for id in ids.iter().rev() {
            if let Some(outcome) = self.one(id, trace).await? {
                outcomes.push(outcome);
            }
        }
        Ok(outcomes)
    }
}

/// Dead jobs: what operators list and put back in the queue.
pub struct DeadLetters {
    jobs: Arc<dyn DeadJobs>,
    reads: Arc<dyn ManagementReads>,
    clock: Arc<dyn Clock>,
}

impl DeadLetters {
    pub fn new(jobs: Arc<dyn DeadJobs>, reads: Arc<dyn ManagementReads>, clock: Arc<dyn Clock>) -> Self {
        Self { jobs, reads, clock }
    }

    /// Every dead job, most recently dead first.
    ///
    /// Errors: [`StoreError::Unavailable`].
    #[tracing::instrument(name = "usecase.dead_jobs", skip_all)]
    pub async fn all(&self) -> Result<Vec<DeadJob>, StoreError> {
        let mut jobs = Vec::new();
        let mut page = PageRequest { limit: REPLAY_PAGE, after: None };
        loop {
            let found = self.reads.dead_jobs(page.clone()).await?;
            jobs.extend(found.items);
            match found.next {
                Some(next) => page.after = Some(next),
                None => return Ok(jobs),
            }
        }
    }

    /// Puts a dead job back in the queue with fresh attempts, due now; answers whether
    /// there was such a dead job.
    ///
    /// Errors: [`StoreError::Unavailable`].
    #[tracing::instrument(name = "usecase.requeue", skip_all, fields(job_id = id))]
    pub async fn requeue(&self, id: i64) -> Result<bool, StoreError> {
        let requeued = self.jobs.requeue(id, self.clock.now()).await?;
        if requeued {
            tracing::warn!(job_id = id, "dead job requeued by an operator");
        }
        Ok(requeued)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::macros::datetime;

    use super::*;
    use crate::ports::{
        EventSummary, IngestReceipt, MockClock, MockDeadJobs, MockEventArchive, MockInbox, MockManagementReads, Page,
        PageCursor,
    };

    const NOW: time::OffsetDateTime = datetime!(2026-12-06 12:00 UTC);

    fn clock() -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        Arc::new(clock)
    }

    fn parse_as_envelope(_: &[u8]) -> WebhookContent {
        WebhookContent::Envelope(super::super::ParsedWebhook::default())
    }

    fn parse_as_garbage(_: &[u8]) -> WebhookContent {
        WebhookContent::Quarantine { reason: String::from("not JSON") }
    }

    fn event(id: &str) -> EventSummary {
        EventSummary {
            id: id.into(),
            received_at: 1,
            status: "quarantined".into(),
            reason: None,
            trace_id: "t".into(),
            summary: serde_json::json!({}),
            bytes: 2,
            replayed_at: None,
        }
    }

    fn replay(
        archive: MockEventArchive,
        reads: MockManagementReads,
        inbox: MockInbox,
        parse: ParseWebhook,
    ) -> ReplayEvents {
        let ingest = Arc::new(IngestWebhook::new(Arc::new(inbox), clock(), Duration::ZERO));
        ReplayEvents::new(Arc::new(archive), Arc::new(reads), ingest, parse, clock())
    }

    #[tokio::test]
    async fn a_replayed_event_is_ingested_again_and_marked_replayed_now() {
        let mut archive = MockEventArchive::new();
        archive.expect_event_body().returning(|_| Ok(Some(b"{}".to_vec())));
        archive.expect_mark_replayed().withf(|id, at| id == "e1" && *at == NOW).times(1).returning(|_, _| Ok(()));
        let mut inbox = MockInbox::new();
        inbox.expect_ingest().times(1).returning(|_| Ok(IngestReceipt { duplicate_messages: 2, ..Default::default() }));

        let outcome = replay(archive, MockManagementReads::new(), inbox, parse_as_envelope)
            .one("e1", TraceContext::new_root())
            .await
            .unwrap()
            .unwrap();

        assert_eq!(outcome.duplicate_messages, 2);
        assert_eq!(outcome.still_quarantined, None);
    }

    #[tokio::test]
    async fn an_event_that_still_does_not_parse_is_reported_and_nothing_is_ingested_or_marked() {
        let mut archive = MockEventArchive::new();
        archive.expect_event_body().returning(|_| Ok(Some(b"garbage".to_vec())));
        archive.expect_mark_replayed().never();
        let mut inbox = MockInbox::new();
        inbox.expect_ingest().never();

        let outcome = replay(archive, MockManagementReads::new(), inbox, parse_as_garbage)
            .one("e1", TraceContext::new_root())
            .await
            .unwrap()
            .unwrap();

        assert_eq!(outcome.still_quarantined.as_deref(), Some("not JSON"));
    }

    #[tokio::test]
    async fn an_unknown_event_is_none() {
        let mut archive = MockEventArchive::new();
        archive.expect_event_body().returning(|_| Ok(None));

        let outcome = replay(archive, MockManagementReads::new(), MockInbox::new(), parse_as_envelope)
            .one("nope", TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(outcome, None);
    }

    #[tokio::test]
    async fn every_matching_event_is_replayed_across_pages_oldest_first() {
        let mut reads = MockManagementReads::new();
        reads.expect_webhook_events().returning(|_, page| {
            Ok(match page.after {
                None => {
                    Page { items: vec![event("e3"), event("e2")], next: Some(PageCursor { at: 1, id: "e2".into() }) }
                }
                Some(_) => Page { items: vec![event("e1")], next: None },
            })
        });
        let replayed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut archive = MockEventArchive::new();
        archive.expect_event_body().returning(|_| Ok(Some(b"{}".to_vec())));
        let seen = replayed.clone();
        archive.expect_mark_replayed().returning(move |id, _| {
            seen.lock().unwrap().push(id.to_owned());
            Ok(())
        });
        let mut inbox = MockInbox::new();
        inbox.expect_ingest().returning(|_| Ok(IngestReceipt::default()));

        let outcomes = replay(archive, reads, inbox, parse_as_envelope)
            .matching(EventFilter::default(), None, TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(outcomes.len(), 3);
        assert_eq!(*replayed.lock().unwrap(), ["e1", "e2", "e3"]);
    }

    #[tokio::test]
    async fn a_limit_stops_the_replay_at_that_many_newest_events() {
        let mut reads = MockManagementReads::new();
        reads.expect_webhook_events().times(1).returning(|_, page| {
            assert_eq!(page.limit, 2);
            Ok(Page { items: vec![event("e3"), event("e2")], next: Some(PageCursor { at: 1, id: "e2".into() }) })
        });
        let mut archive = MockEventArchive::new();
        archive.expect_event_body().returning(|_| Ok(Some(b"{}".to_vec())));
        archive.expect_mark_replayed().times(2).returning(|_, _| Ok(()));
        let mut inbox = MockInbox::new();
        inbox.expect_ingest().returning(|_| Ok(IngestReceipt::default()));

        let outcomes = replay(archive, reads, inbox, parse_as_envelope)
            .matching(EventFilter::default(), Some(2), TraceContext::new_root())
            .await
            .unwrap();

        let ids: Vec<&str> = outcomes.iter().map(|o| o.event_id.as_str()).collect();
        assert_eq!(ids, ["e2", "e3"]);
    }

    #[tokio::test]
    async fn a_store_that_cannot_be_read_fails_the_replay() {
        let mut archive = MockEventArchive::new();
        archive.expect_event_body().returning(|_| Err(StoreError::Unavailable(anyhow::anyhow!("down"))));

        let failed = replay(archive, MockManagementReads::new(), MockInbox::new(), parse_as_envelope)
            .one("e1", TraceContext::new_root())
            .await;

        assert!(matches!(failed, Err(ReplayError::Store(_))));
    }

    fn dead(id: i64) -> DeadJob {
        DeadJob {
            id,
            kind: "deliver_message".into(),
            attempts: 8,
            last_error: Some("graph down".into()),
            trace_id: "t".into(),
            updated_at: 1,
        }
    }

    #[tokio::test]
    async fn every_dead_job_is_listed_across_pages() {
        let mut reads = MockManagementReads::new();
        reads.expect_dead_jobs().returning(|page| {
            Ok(match page.after {
                None => Page { items: vec![dead(2)], next: Some(PageCursor { at: 1, id: "2".into() }) },
                Some(_) => Page { items: vec![dead(1)], next: None },
            })
        });
        let letters = DeadLetters::new(Arc::new(MockDeadJobs::new()), Arc::new(reads), clock());

        let ids: Vec<i64> = letters.all().await.unwrap().iter().map(|j| j.id).collect();

        assert_eq!(ids, [2, 1]);
    }

    #[tokio::test]
    async fn a_requeued_job_is_due_now_and_an_unknown_one_is_reported_as_not_requeued() {
        let mut jobs = MockDeadJobs::new();
        jobs.expect_requeue().withf(|id, at| *id == 7 && *at == NOW).returning(|_, _| Ok(true));
        jobs.expect_requeue().withf(|id, _| *id == 8).returning(|_, _| Ok(false));
        let letters = DeadLetters::new(Arc::new(jobs), Arc::new(MockManagementReads::new()), clock());

        assert!(letters.requeue(7).await.unwrap());
        assert!(!letters.requeue(8).await.unwrap());
    }
}
