//! [`ManagementReads`], written once for both databases over the [`Engine`]: what
//! operators list and look at. Every list is keyset-paginated on (time, id) with static
//! SQL (`$N IS NULL OR ...` for the optional filters), so a page costs an index range
//! scan, not an offset.

use async_trait::async_trait;
use switchboard_application::ports::{
    AttemptRecord, ContactRecord, ConversationFilter, ConversationRecord, ConversationState, DeadJob, DeliveryFilter,
    DeliveryView, EventFilter, EventSummary, ManagementReads, MessageRecord, OperationalCounters, Page, PageCursor,
    PageRequest, Route, StoreError, TimeRange,
};
use switchboard_domain::OutboundMessage;
use uuid::Uuid;

use super::engine::{Engine, SqlStore, args, in_list};
use super::records::Columns;
use super::records::{
    CONTACT_SELECT, CONVERSATION_SELECT, DELIVERY_VIEW_SELECT, after, bounds, contact, conversation, corrupt, message,
    millis, overfetch, time_ms,
};
use switchboard_application::ports::Gauges;

/// Delivery rows with their attempts, read in one more query.
async fn delivery_views<E: Engine>(engine: &E, rows: Vec<E::Row>) -> Result<Vec<DeliveryView>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.text("id")).collect();
    let sql = format!(
        "SELECT delivery_id, channel, outcome, detail, at FROM delivery_attempts
         WHERE delivery_id IN {} ORDER BY delivery_id, id",
        in_list(1, ids.len())
    );
    let attempt_rows = engine.scan(&sql, ids.into_iter().map(Into::into).collect()).await?;
    let mut attempts: std::collections::HashMap<String, Vec<AttemptRecord>> = std::collections::HashMap::new();
    for r in &attempt_rows {
        attempts.entry(r.text("delivery_id")).or_default().push(AttemptRecord {
            channel: r.text("channel"),
            outcome: r.text("outcome"),
            detail: r.opt_text("detail"),
            at: time_ms(r, "at"),
        });
    }
    rows.iter()
        .map(|row| {
            let id = row.text("id");
            let route = row.text("route");
            let message: OutboundMessage =
                serde_json::from_str(&row.text("content")).map_err(|e| corrupt("outbound message", e))?;
            Ok(DeliveryView {
                id: Uuid::parse_str(&id).map_err(|e| corrupt("delivery id", e))?,
                state: row.text("state").parse().map_err(|e| corrupt("delivery state", e))?,
                route: Route::parse(&route).ok_or_else(|| corrupt("delivery route", &route))?,
                recipient: message.to.key().as_storage_key(),
                provider_id: row.opt_text("provider_id"),
                last_error: row.opt_text("last_error"),
                trace_id: row.text("trace_id"),
                attempts: attempts.remove(&id).unwrap_or_default(),
                created_at: time_ms(row, "created_at"),
                updated_at: time_ms(row, "updated_at"),
            })
        })
        .collect()
}

impl<E: Engine> SqlStore<E> {
    /// One delivery with its attempts (`GET /api/v1/messages/{id}`).
    pub(super) async fn delivery_view(&self, id: Uuid) -> Result<Option<DeliveryView>, StoreError> {
        let sql = format!("{DELIVERY_VIEW_SELECT} WHERE d.id = $1");
        let rows = self.engine.scan(&sql, args![id.to_string()]).await?;
        Ok(delivery_views(&self.engine, rows).await?.pop())
    }
}

/// A page of dead jobs, newest first, after the cursor ($1, $2); reads the partial index
/// `jobs_dead_newest_first` (migration 0018), which holds dead jobs only.
pub(super) const DEAD_JOBS: &str = "SELECT id, kind, attempts, last_error, trace_id, updated_at FROM jobs
     WHERE state = 'dead' AND ($1 IS NULL OR updated_at < $1 OR (updated_at = $1 AND id < $2))
     ORDER BY updated_at DESC, id DESC LIMIT $3";
#[async_trait]
impl<E: Engine> ManagementReads for SqlStore<E> {
    #[tracing::instrument(name = "store.contacts", skip_all, fields(limit = page.limit))]
    async fn contacts(&self, created: TimeRange, page: PageRequest) -> Result<Page<ContactRecord>, StoreError> {
        let (since, until) = bounds(created);
        let (at, id) = after(&page);
        let sql = format!(
            "{CONTACT_SELECT}
             WHERE ($1 IS NULL OR c.created_at >= $1) AND ($2 IS NULL OR c.created_at <= $2)
               AND ($3 IS NULL OR c.created_at < $3 OR (c.created_at = $3 AND c.id < $4))
             ORDER BY c.created_at DESC, c.id DESC LIMIT $5"
        );
        let rows = self.engine.scan(&sql, args![since, until, at, id, overfetch(&page)]).await?;
        let items = rows.iter().map(contact).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |c| PageCursor { at: millis(c.created_at), id: c.id.to_string() }))
    }

    #[tracing::instrument(name = "store.contact", skip_all, fields(contact_id = %id))]
    async fn contact(&self, id: Uuid) -> Result<Option<ContactRecord>, StoreError> {
        let sql = format!("{CONTACT_SELECT} WHERE c.id = $1");
        let rows = self.engine.scan(&sql, args![id.to_string()]).await?;
        rows.first().map(contact).transpose()
    }

    #[tracing::instrument(name = "store.conversations", skip_all, fields(limit = page.limit))]
    async fn conversations(
        &self,
        filter: ConversationFilter,
        page: PageRequest,
    ) -> Result<Page<ConversationRecord>, StoreError> {
        let (since, until) = bounds(filter.created);
        let (at, id) = after(&page);
        let sql = format!(
            "SELECT * FROM ({CONVERSATION_SELECT}) AS v
             WHERE ($1 IS NULL OR v.created_at >= $1) AND ($2 IS NULL OR v.created_at <= $2)
               AND ($3 IS NULL OR ($3 = 'input_required') = (v.open_task_id IS NOT NULL))
               AND ($4 IS NULL OR v.assigned_agent = $4)
               AND ($5 IS NULL OR v.contact_id = $5)
               AND ($6 IS NULL OR v.created_at < $6 OR (v.created_at = $6 AND v.id < $7))
             ORDER BY v.created_at DESC, v.id DESC LIMIT $8"
        );
        let values = args![
            since,
            until,
            filter.state.map(ConversationState::as_str),
            filter.agent,
            filter.contact_id.map(|c| c.to_string()),
            at,
            id,
            overfetch(&page)
        ];
        let rows = self.engine.scan(&sql, values).await?;
        let items = rows.iter().map(conversation).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |c| PageCursor { at: millis(c.created_at), id: c.id.to_string() }))
    }

    #[tracing::instrument(name = "store.conversation", skip_all, fields(conversation_id = %id))]
    async fn conversation(&self, id: Uuid) -> Result<Option<ConversationRecord>, StoreError> {
        let sql = format!("{CONVERSATION_SELECT} WHERE v.id = $1");
        let rows = self.engine.scan(&sql, args![id.to_string()]).await?;
        rows.first().map(conversation).transpose()
    }

    #[tracing::instrument(name = "store.conversation_messages", skip_all, fields(conversation_id = %conversation_id, limit = page.limit))]
    async fn conversation_messages(
        &self,
        conversation_id: Uuid,
        page: PageRequest,
    ) -> Result<Option<Page<MessageRecord>>, StoreError> {
        let exists = self
            .engine
            .scan(
                "SELECT CAST(1 AS BIGINT) AS found FROM conversations WHERE id = $1",
                args![conversation_id.to_string()],
            )
            .await?;
        if exists.is_empty() {
            return Ok(None);
        }
        let (at, id) = after(&page);
        let rows = self
            .engine
            .scan(
                "SELECT m.id, m.direction, COALESCE(m.wamid, d.provider_id) AS wamid, m.kind, m.processed_at,
                        m.throttled_at, m.in_reply_to, m.intent, m.agent, d.id AS delivery_id, d.state AS delivery_state,
                        m.trace_id, m.sent_ts, m.created_at, m.content
                 FROM messages m LEFT JOIN deliveries d ON d.message_id = m.id
                 WHERE m.conversation_id = $1
                   AND ($2 IS NULL OR m.created_at > $2 OR (m.created_at = $2 AND m.id > $3))
                 ORDER BY m.created_at, m.id LIMIT $4",
                args![conversation_id.to_string(), at, id, overfetch(&page)],
            )
            .await?;
        let items = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Page::from_overfetch(items, page.limit, |m| PageCursor {
            at: millis(m.created_at),
            id: m.id.to_string(),
        })))
    }

    #[tracing::instrument(name = "store.deliveries", skip_all, fields(limit = page.limit))]
    async fn deliveries(&self, filter: DeliveryFilter, page: PageRequest) -> Result<Page<DeliveryView>, StoreError> {
        let (since, until) = bounds(filter.created);
        let (at, id) = after(&page);
        let sql = format!(
            "{DELIVERY_VIEW_SELECT}
             WHERE ($1 IS NULL OR d.created_at >= $1) AND ($2 IS NULL OR d.created_at <= $2)
               AND ($3 IS NULL OR d.state = $3)
               AND ($4 IS NULL OR d.route = $4)
               AND ($5 IS NULL OR (CASE d.route WHEN 'email' THEN 'email' ELSE 'whatsapp' END) = $5)
               AND ($6 IS NULL OR d.conversation_id = $6)
               AND ($7 IS NULL OR d.created_at < $7 OR (d.created_at = $7 AND d.id < $8))
             ORDER BY d.created_at DESC, d.id DESC LIMIT $9"
        );
        let values = args![
            since,
            until,
            filter.state.map(|s| s.as_str()),
            filter.route.map(Route::as_str),
            filter.channel,
            filter.conversation_id.map(|c| c.to_string()),
            at,
            id,
            overfetch(&page)
        ];
        let rows = self.engine.scan(&sql, values).await?;
        let items = delivery_views(&self.engine, rows).await?;
        Ok(Page::from_overfetch(items, page.limit, |d| PageCursor { at: millis(d.created_at), id: d.id.to_string() }))
    }

    #[tracing::instrument(name = "store.webhook_events", skip_all, fields(limit = page.limit))]
    async fn webhook_events(&self, filter: EventFilter, page: PageRequest) -> Result<Page<EventSummary>, StoreError> {
        let (since, until) = bounds(filter.received);
        let (at, id) = after(&page);
        let rows = self
            .engine
            .scan(
                "SELECT id, received_at, status, reason, trace_id, summary, CAST(octet_length(body) AS BIGINT) AS bytes,
                        replayed_at
                 FROM webhook_events
                 WHERE ($1 IS NULL OR status = $1)
                   AND ($2 IS NULL OR received_at >= $2) AND ($3 IS NULL OR received_at <= $3)
                   AND ($4 IS NULL OR received_at < $4 OR (received_at = $4 AND id < $5))
                 ORDER BY received_at DESC, id DESC LIMIT $6",
                args![filter.status, since, until, at, id, overfetch(&page)],
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(EventSummary {
                    id: r.text("id"),
                    received_at: r.int("received_at"),
                    status: r.text("status"),
                    reason: r.opt_text("reason"),
                    trace_id: r.text("trace_id"),
                    summary: serde_json::from_str(&r.text("summary")).map_err(|e| corrupt("event summary", e))?,
                    bytes: r.int("bytes"),
                    replayed_at: r.opt_int("replayed_at"),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_overfetch(items, page.limit, |e| PageCursor { at: e.received_at, id: e.id.clone() }))
    }

    #[tracing::instrument(name = "store.dead_jobs", skip_all, fields(limit = page.limit))]
    async fn dead_jobs(&self, page: PageRequest) -> Result<Page<DeadJob>, StoreError> {
        let (at, id) = after(&page);
        // Job ids are numbers: a cursor id that is not one starts nowhere (an empty page).
        let id = id.map(|i| i.parse::<i64>().unwrap_or(i64::MIN));
        let rows = self.engine.scan(DEAD_JOBS, args![at, id, overfetch(&page)]).await?;
        let items = rows
            .iter()
            .map(|r| DeadJob {
                id: r.int("id"),
                kind: r.text("kind"),
                attempts: r.int("attempts"),
                last_error: r.opt_text("last_error"),
                trace_id: r.text("trace_id"),
                updated_at: r.int("updated_at"),
            })
            .collect();
        Ok(Page::from_overfetch(items, page.limit, |j| PageCursor { at: j.updated_at, id: j.id.to_string() }))
    }

    #[tracing::instrument(name = "store.counters", skip_all)]
    async fn counters(&self) -> Result<OperationalCounters, StoreError> {
        let gauges = self.gauges(self.clock.now()).await?;
        let rows = self
            .engine
            .scan(
                "SELECT COUNT(*) AS received, COUNT(processed_at) AS processed FROM messages WHERE direction = 'inbound'",
                args![],
            )
            .await?;
        let (received, processed) = rows.first().map_or((0, 0), |r| (r.int("received"), r.int("processed")));
        let rows =
            self.engine.scan("SELECT COUNT(*) AS n FROM webhook_events WHERE status = 'quarantined'", args![]).await?;
        Ok(OperationalCounters {
            messages_received: received,
            messages_processed: processed,
            deliveries: gauges.deliveries,
            queue_depth: gauges.queued,
            oldest_job_age_seconds: gauges.oldest_age_seconds,
            dead_jobs: gauges.dead,
            quarantined_events: rows.first().map_or(0, |r| r.int("n")),
        })
    }
}
