//! The PostgreSQL side of [`ManagementReads`], the same SQL as SQLite's: what operators
//! list and look at. Every list is keyset-paginated on (time, id) with static SQL (`$N IS NULL OR ...` for the
//! optional filters), so a page costs an index range scan, not an offset.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use switchboard_application::ports::{
    AttemptRecord, ContactRecord, ConversationFilter, ConversationRecord, ConversationState, DeadJob, DeliveryFilter,
    DeliveryView, EventFilter, EventSummary, ManagementReads, MessageRecord, OperationalCounters, Page, PageCursor,
    PageRequest, Route, StoreError, TimeRange,
};
use switchboard_domain::OutboundMessage;
use uuid::Uuid;

use super::postgres::PgStore;
use super::records::{
    CONTACT_SELECT, CONVERSATION_SELECT, DELIVERY_VIEW_SELECT, after, bounds, contact, conversation, corrupt, message,
    millis, overfetch, time_ms, unavailable,
};

/// Delivery rows with their attempts, read in one more query.
pub(super) async fn delivery_views(store: &PgStore, rows: Vec<PgRow>) -> Result<Vec<DeliveryView>, StoreError> {
    let ids: Vec<String> = rows.iter().map(|r| r.get::<String, _>("id")).collect();
    let attempt_rows = sqlx::query(
        "SELECT delivery_id, channel, outcome, detail, at FROM delivery_attempts
         WHERE delivery_id = ANY($1) ORDER BY delivery_id, id",
    )
    .bind(&ids)
    .fetch_all(store.pool())
    .await
    .map_err(unavailable)?;
    let mut attempts: std::collections::HashMap<String, Vec<AttemptRecord>> = std::collections::HashMap::new();
    for r in &attempt_rows {
        attempts.entry(r.get("delivery_id")).or_default().push(AttemptRecord {
            channel: r.get("channel"),
            outcome: r.get("outcome"),
            detail: r.get("detail"),
            at: time_ms(r, "at"),
        });
    }
    rows.iter()
        .map(|row| {
            let id: String = row.get("id");
            let state: String = row.get("state");
            let route: String = row.get("route");
            let content: String = row.get("content");
            let message: OutboundMessage =
                serde_json::from_str(&content).map_err(|e| corrupt("outbound message", e))?;
            Ok(DeliveryView {
                id: Uuid::parse_str(&id).map_err(|e| corrupt("delivery id", e))?,
                state: state.parse().map_err(|e| corrupt("delivery state", e))?,
                route: Route::parse(&route).ok_or_else(|| corrupt("delivery route", &route))?,
                recipient: message.to.key().as_storage_key(),
                provider_id: row.get("provider_id"),
                last_error: row.get("last_error"),
                trace_id: row.get("trace_id"),
                attempts: attempts.remove(&id).unwrap_or_default(),
                created_at: time_ms(row, "created_at"),
                updated_at: time_ms(row, "updated_at"),
            })
        })
        .collect()
}

impl PgStore {
    /// One delivery with its attempts (`GET /api/v1/messages/{id}`).
    pub(super) async fn delivery_view(&self, id: Uuid) -> Result<Option<DeliveryView>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{DELIVERY_VIEW_SELECT} WHERE d.id = $1"));
        let rows = sqlx::query(sql).bind(id.to_string()).fetch_all(self.pool()).await.map_err(unavailable)?;
        Ok(delivery_views(self, rows).await?.pop())
    }
}

#[async_trait]
impl ManagementReads for PgStore {
    #[tracing::instrument(skip_all, fields(limit = page.limit))]
    async fn contacts(&self, created: TimeRange, page: PageRequest) -> Result<Page<ContactRecord>, StoreError> {
        let (since, until) = bounds(created);
        let (at, id) = after(&page);
        let sql = sqlx::AssertSqlSafe(format!(
            "{CONTACT_SELECT}
             WHERE ($1 IS NULL OR c.created_at >= $1) AND ($2 IS NULL OR c.created_at <= $2)
               AND ($3 IS NULL OR c.created_at < $3 OR (c.created_at = $3 AND c.id < $4))
             ORDER BY c.created_at DESC, c.id DESC LIMIT $5"
        ));
        let rows = sqlx::query(sql)
            .bind(since)
            .bind(until)
            .bind(at)
            .bind(id)
            .bind(overfetch(&page))
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)?;
        let items = rows.iter().map(contact).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |c| PageCursor { at: millis(c.created_at), id: c.id.to_string() }))
    }

    #[tracing::instrument(skip_all, fields(contact_id = %id))]
    async fn contact(&self, id: Uuid) -> Result<Option<ContactRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{CONTACT_SELECT} WHERE c.id = $1"));
        let row = sqlx::query(sql).bind(id.to_string()).fetch_optional(self.pool()).await.map_err(unavailable)?;
        row.as_ref().map(contact).transpose()
    }

    #[tracing::instrument(skip_all, fields(limit = page.limit))]
    async fn conversations(
        &self,
        filter: ConversationFilter,
        page: PageRequest,
    ) -> Result<Page<ConversationRecord>, StoreError> {
        let (since, until) = bounds(filter.created);
        let (at, id) = after(&page);
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT * FROM ({CONVERSATION_SELECT}) AS v
             WHERE ($1 IS NULL OR v.created_at >= $1) AND ($2 IS NULL OR v.created_at <= $2)
               AND ($3 IS NULL OR ($3 = 'input_required') = (v.open_task_id IS NOT NULL))
               AND ($4 IS NULL OR v.assigned_agent = $4)
               AND ($5 IS NULL OR v.contact_id = $5)
               AND ($6 IS NULL OR v.created_at < $6 OR (v.created_at = $6 AND v.id < $7))
             ORDER BY v.created_at DESC, v.id DESC LIMIT $8"
        ));
        let rows = sqlx::query(sql)
            .bind(since)
            .bind(until)
            .bind(filter.state.map(ConversationState::as_str))
            .bind(filter.agent)
            .bind(filter.contact_id.map(|c| c.to_string()))
            .bind(at)
            .bind(id)
            .bind(overfetch(&page))
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)?;
        let items = rows.iter().map(conversation).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit, |c| PageCursor { at: millis(c.created_at), id: c.id.to_string() }))
    }

    #[tracing::instrument(skip_all, fields(conversation_id = %id))]
    async fn conversation(&self, id: Uuid) -> Result<Option<ConversationRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{CONVERSATION_SELECT} WHERE v.id = $1"));
        let row = sqlx::query(sql).bind(id.to_string()).fetch_optional(self.pool()).await.map_err(unavailable)?;
        row.as_ref().map(conversation).transpose()
    }

    #[tracing::instrument(skip_all, fields(conversation_id = %conversation_id, limit = page.limit))]
    async fn conversation_messages(
        &self,
        conversation_id: Uuid,
        page: PageRequest,
    ) -> Result<Option<Page<MessageRecord>>, StoreError> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1::BIGINT FROM conversations WHERE id = $1")
            .bind(conversation_id.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        if exists.is_none() {
            return Ok(None);
        }
        let (at, id) = after(&page);
        let rows = sqlx::query(
            "SELECT m.id, m.direction, COALESCE(m.wamid, d.provider_id) AS wamid, m.kind, m.processed_at,
                    m.throttled_at, m.in_reply_to, m.intent, m.agent, d.id AS delivery_id, d.state AS delivery_state, m.trace_id,
                    m.sent_ts, m.created_at, m.content
             FROM messages m LEFT JOIN deliveries d ON d.message_id = m.id
             WHERE m.conversation_id = $1
               AND ($2 IS NULL OR m.created_at > $2 OR (m.created_at = $2 AND m.id > $3))
             ORDER BY m.created_at, m.id LIMIT $4",
        )
        .bind(conversation_id.to_string())
        .bind(at)
        .bind(id)
        .bind(overfetch(&page))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        let items = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Page::from_overfetch(items, page.limit, |m| PageCursor {
            at: millis(m.created_at),
            id: m.id.to_string(),
        })))
    }

    #[tracing::instrument(skip_all, fields(limit = page.limit))]
    async fn deliveries(&self, filter: DeliveryFilter, page: PageRequest) -> Result<Page<DeliveryView>, StoreError> {
        let (since, until) = bounds(filter.created);
        let (at, id) = after(&page);
        let sql = sqlx::AssertSqlSafe(format!(
            "{DELIVERY_VIEW_SELECT}
             WHERE ($1 IS NULL OR d.created_at >= $1) AND ($2 IS NULL OR d.created_at <= $2)
               AND ($3 IS NULL OR d.state = $3)
               AND ($4 IS NULL OR d.route = $4)
               AND ($5 IS NULL OR (CASE d.route WHEN 'email' THEN 'email' ELSE 'whatsapp' END) = $5)
               AND ($6 IS NULL OR d.conversation_id = $6)
               AND ($7 IS NULL OR d.created_at < $7 OR (d.created_at = $7 AND d.id < $8))
             ORDER BY d.created_at DESC, d.id DESC LIMIT $9"
        ));
        let rows = sqlx::query(sql)
            .bind(since)
            .bind(until)
            .bind(filter.state.map(|s| s.as_str()))
            .bind(filter.route.map(Route::as_str))
            .bind(filter.channel)
            .bind(filter.conversation_id.map(|c| c.to_string()))
            .bind(at)
            .bind(id)
            .bind(overfetch(&page))
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)?;
        let items = delivery_views(self, rows).await?;
        Ok(Page::from_overfetch(items, page.limit, |d| PageCursor { at: millis(d.created_at), id: d.id.to_string() }))
    }

    #[tracing::instrument(skip_all, fields(limit = page.limit))]
    async fn webhook_events(&self, filter: EventFilter, page: PageRequest) -> Result<Page<EventSummary>, StoreError> {
        let (since, until) = bounds(filter.received);
        let (at, id) = after(&page);
        let rows = sqlx::query(
            "SELECT id, received_at, status, reason, trace_id, summary, octet_length(body)::BIGINT AS bytes, replayed_at
             FROM webhook_events
             WHERE ($1 IS NULL OR status = $1)
               AND ($2 IS NULL OR received_at >= $2) AND ($3 IS NULL OR received_at <= $3)
               AND ($4 IS NULL OR received_at < $4 OR (received_at = $4 AND id < $5))
             ORDER BY received_at DESC, id DESC LIMIT $6",
        )
        .bind(filter.status)
        .bind(since)
        .bind(until)
        .bind(at)
        .bind(id)
        .bind(overfetch(&page))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        let items = rows
            .iter()
            .map(|r| {
                let summary: String = r.get("summary");
                Ok(EventSummary {
                    id: r.get("id"),
                    received_at: r.get("received_at"),
                    status: r.get("status"),
                    reason: r.get("reason"),
                    trace_id: r.get("trace_id"),
                    summary: serde_json::from_str(&summary).map_err(|e| corrupt("event summary", e))?,
                    bytes: r.get("bytes"),
                    replayed_at: r.get("replayed_at"),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_overfetch(items, page.limit, |e| PageCursor { at: e.received_at, id: e.id.clone() }))
    }

    #[tracing::instrument(skip_all, fields(limit = page.limit))]
    async fn dead_jobs(&self, page: PageRequest) -> Result<Page<DeadJob>, StoreError> {
        let (at, id) = after(&page);
        // Job ids are numbers: a cursor id that is not one starts nowhere (an empty page).
        let id = id.map(|i| i.parse::<i64>().unwrap_or(i64::MIN));
        let rows = sqlx::query(
            "SELECT id, kind, attempts, last_error, trace_id, updated_at FROM jobs
             WHERE state = 'dead' AND ($1 IS NULL OR updated_at < $1 OR (updated_at = $1 AND id < $2))
             ORDER BY updated_at DESC, id DESC LIMIT $3",
        )
        .bind(at)
        .bind(id)
        .bind(overfetch(&page))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        let items = rows
            .iter()
            .map(|r| DeadJob {
                id: r.get("id"),
                kind: r.get("kind"),
                attempts: r.get("attempts"),
                last_error: r.get("last_error"),
                trace_id: r.get("trace_id"),
                updated_at: r.get("updated_at"),
            })
            .collect();
        Ok(Page::from_overfetch(items, page.limit, |j| PageCursor { at: j.updated_at, id: j.id.to_string() }))
    }

    #[tracing::instrument(skip_all)]
    async fn counters(&self) -> Result<OperationalCounters, StoreError> {
        let snapshot = self.operational_snapshot().await?;
        let (received, processed): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(processed_at) FROM messages WHERE direction = 'inbound'")
                .fetch_one(self.pool())
                .await
                .map_err(unavailable)?;
        let quarantined: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE status = 'quarantined'")
            .fetch_one(self.pool())
            .await
            .map_err(unavailable)?;
        Ok(OperationalCounters {
            messages_received: received,
            messages_processed: processed,
            deliveries: snapshot.deliveries,
            queue_depth: snapshot.queued,
            oldest_job_age_seconds: snapshot.oldest_age_seconds,
            dead_jobs: snapshot.dead,
            quarantined_events: quarantined,
        })
    }
}
