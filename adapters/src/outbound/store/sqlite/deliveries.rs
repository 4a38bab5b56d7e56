//! The SQLite side of [`Deliveries`]: a delivery read in place, its state changes and
//! attempts written through the writer.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};
use switchboard_application::jobs::JobLease;
use switchboard_application::ports::{AttemptOutcome, Deliveries, Delivery, DeliveryView, NewOutbound, Route};
use switchboard_domain::{DeliveryState, EmailAddress, OutboundMessage, Wamid};
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::engine::numbered;
use super::super::people;
use super::super::records::{corrupt, from_ms, json, millis as ms, parse_trace};
use super::writer::failed;
use super::*;

/// A delivery with what sending it needs, in [`DeliveryRow`]'s column order.
macro_rules! delivery_select {
    ($clause:literal) => {
        concat!(
            "SELECT d.id, d.state, d.route, d.fallback_allowed, d.provider_id, d.attempts,
                    d.uncertain_since, d.paced, d.held, d.last_error, d.trace_context, m.content,
                    c.email, c.profile_name, v.last_inbound_ts, d.in_flight_by
             FROM deliveries d
             JOIN messages m ON m.id = d.message_id
             JOIN conversations v ON v.id = d.conversation_id
             JOIN contacts c ON c.id = v.contact_id
             WHERE ",
            $clause
        )
    };
}
const DELIVERY_BY_ID: &str = delivery_select!("d.id = ?1");
const DELIVERY_BY_PROVIDER_ID: &str = delivery_select!("d.provider_id = ?1");

/// A delivery's columns as read by [`DELIVERY_SELECT`], before parsing.
struct DeliveryRow {
    id: String,
    state: String,
    route: String,
    fallback_allowed: bool,
    provider_id: Option<String>,
    attempts: i64,
    uncertain_since: Option<i64>,
    paced: i64,
    held: i64,
    last_error: Option<String>,
    trace_context: String,
    content: String,
    email: Option<String>,
    profile_name: Option<String>,
    last_inbound_ts: Option<i64>,
    in_flight_by: Option<String>,
}

impl DeliveryRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            state: row.get(1)?,
            route: row.get(2)?,
            fallback_allowed: row.get(3)?,
            provider_id: row.get(4)?,
            attempts: row.get(5)?,
            uncertain_since: row.get(6)?,
            paced: row.get(7)?,
            held: row.get(8)?,
            last_error: row.get(9)?,
            trace_context: row.get(10)?,
            content: row.get(11)?,
            email: row.get(12)?,
            profile_name: row.get(13)?,
            last_inbound_ts: row.get(14)?,
            in_flight_by: row.get(15)?,
        })
    }

    fn parse(self) -> Result<Delivery, StoreError> {
        let count = |n: i64| u32::try_from(n).unwrap_or(0);
        Ok(Delivery {
            id: Uuid::parse_str(&self.id).map_err(|e| corrupt("delivery id", e))?,
            message: serde_json::from_str::<OutboundMessage>(&self.content)
                .map_err(|e| corrupt("outbound message", e))?,
            state: self.state.parse().map_err(|e| corrupt("delivery state", e))?,
            route: Route::parse(&self.route).ok_or_else(|| corrupt("delivery route", &self.route))?,
            fallback_allowed: self.fallback_allowed,
            // An address stored before validation existed is skipped, not fatal.
            email: self.email.and_then(|e| EmailAddress::parse(&e).ok()),
            profile_name: self.profile_name,
            last_inbound_at: self.last_inbound_ts.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
            provider_id: self
                .provider_id
                .map(|p| Wamid::parse(&p))
                .transpose()
                .map_err(|e| corrupt("provider id", e))?,
            attempts: count(self.attempts),
            uncertain_since: self.uncertain_since.and_then(from_ms),
            // Not a lease of ours (written by hand, say): no lease matches it.
            in_flight_by: self.in_flight_by.and_then(|token| Uuid::parse_str(&token).ok()),
            paced: count(self.paced),
            held: count(self.held),
            last_error: self.last_error,
            trace: parse_trace(&self.trace_context),
        })
    }
}

impl SqliteStore {
    fn delivery_where(&self, sql: &'static str, value: &str) -> Result<Option<Delivery>, StoreError> {
        let row = self.engine.readers.read(|conn| {
            conn.prepare_cached(sql)
                .and_then(|mut find| find.query_row([value], DeliveryRow::read).optional())
                .map_err(failed)
        })?;
        row.map(DeliveryRow::parse).transpose()
    }
}

#[async_trait]
impl Deliveries for SqliteStore {
    async fn get(&self, id: Uuid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_where(DELIVERY_BY_ID, &id.to_string())
    }

    async fn find_by_provider_id(&self, wamid: &Wamid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_where(DELIVERY_BY_PROVIDER_ID, wamid.as_str())
    }

    async fn view(&self, id: Uuid) -> Result<Option<DeliveryView>, StoreError> {
        self.delivery_view(id).await
    }

    async fn mark_sent(
        &self,
        id: Uuid,
        route: Route,
        provider_id: Option<Wamid>,
        detail: &str,
        at: OffsetDateTime,
        ends: Option<JobLease>,
    ) -> Result<bool, StoreError> {
        let at = ms(at);
        let detail = detail.to_owned();
        let moved = self
            .engine
            .group
            .write(move |conn| {
                let moved = run(
                    conn,
                    "UPDATE deliveries SET state = 'sent', route = ?2, channel = ?3, provider_id = COALESCE(?4, provider_id),
                            attempts = attempts + 1, uncertain_since = NULL, sent_at = ?5, updated_at = ?5
                     WHERE id = ?1 AND state = 'pending'",
                    params![id.to_string(), route.as_str(), route.channel(), provider_id.as_ref().map(Wamid::as_str), at],
                )?;
                if moved == 1 {
                    insert_attempt(conn, id, "accepted", &detail, at)?;
                }
                if let Some(lease) = ends {
                    super::jobs::end_job(conn, lease)?;
                }
                Ok(moved == 1)
            })
            .await?;
        if ends.is_some() {
            // The job ended may have held back the next one of its ordering key.
            self.notify_workers();
        }
        Ok(moved)
    }

    async fn mark_in_flight(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        let at = ms(at);
        self.engine
            .group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE deliveries SET uncertain_since = ?2, in_flight_by = NULL, updated_at = ?2
                     WHERE id = ?1 AND state = 'pending'",
                    params![id.to_string(), at],
                )
            })
            .await?;
        Ok(())
    }

    async fn clear_in_flight(&self, id: Uuid) -> Result<(), StoreError> {
        self.engine
            .group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE deliveries SET uncertain_since = NULL, in_flight_by = NULL WHERE id = ?1 AND state = 'pending'",
                    params![id.to_string()],
                )
            })
            .await?;
        Ok(())
    }

    async fn record_failure(
        &self,
        id: Uuid,
        reason: &str,
        is_final: bool,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = ms(at);
        let reason = reason.to_owned();
        self.engine.group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2, updated_at = ?3, uncertain_since = NULL,
                            state = CASE WHEN ?4 THEN 'failed' ELSE state END,
                            failed_at = CASE WHEN ?4 THEN ?3 ELSE failed_at END
                     WHERE id = ?1",
                    params![id.to_string(), reason, at, is_final],
                )?;
                insert_attempt(conn, id, if is_final { "failed" } else { "retrying" }, &reason, at)
            })
            .await
    }

    async fn record_attempt(
        &self,
        id: Uuid,
        outcome: AttemptOutcome,
        detail: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = ms(at);
        let detail = detail.to_owned();
        self.engine
            .group
            .write(move |conn| {
                run(
                    conn,
                    "UPDATE deliveries SET updated_at = ?3, last_error = ?4,
                            paced = paced + (?2 = 'paced'),
                            held = held + (?2 = 'held'),
                            attempts = attempts + (?2 = 'uncertain'),
                            uncertain_since = CASE WHEN ?2 = 'uncertain' THEN ?3 ELSE NULL END
                     WHERE id = ?1",
                    params![id.to_string(), outcome.as_str(), at, detail],
                )?;
                insert_attempt(conn, id, outcome.as_str(), &detail, at)
            })
            .await
    }

    async fn transition(
        &self,
        id: Uuid,
        from: DeliveryState,
        to: DeliveryState,
        reason: Option<String>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let at = ms(at);
        self.engine
            .group
            .write(move |conn| {
                let moved = run(
                    conn,
                    "UPDATE deliveries SET state = ?3, updated_at = ?4, last_error = COALESCE(?5, last_error),
                            delivered_at = CASE WHEN ?3 = 'delivered' THEN ?4 ELSE delivered_at END,
                            read_at = CASE WHEN ?3 = 'read' THEN ?4 ELSE read_at END,
                            failed_at = CASE WHEN ?3 = 'failed' THEN ?4 ELSE failed_at END
                     WHERE id = ?1 AND state = ?2",
                    params![id.to_string(), from.as_str(), to.as_str(), at, reason],
                )?;
                Ok(moved == 1)
            })
            .await
    }

    async fn reroute(
        &self,
        id: Uuid,
        from: DeliveryState,
        route: Route,
        reason: &str,
        job: NewJob,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let at = ms(at);
        let reason = reason.to_owned();
        let moved = self
            .engine
            .group
            .write(move |conn| {
                let still = conn
                    .prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1 AND state = ?2")
                    .and_then(|mut find| find.exists(params![id.to_string(), from.as_str()]))
                    .map_err(failed)?;
                if !still {
                    return Ok(false);
                }
                // The failure is recorded on the channel that failed, before the route changes.
                insert_attempt(conn, id, "failed", &reason, at)?;
                run(
                    conn,
                    "UPDATE deliveries SET state = 'pending', route = ?3, provider_id = NULL, uncertain_since = NULL,
                            last_error = ?4, updated_at = ?5
                     WHERE id = ?1 AND state = ?2",
                    params![id.to_string(), from.as_str(), route.as_str(), reason, at],
                )?;
                insert_job(conn, &job, at)?;
                Ok(true)
            })
            .await?;
        if moved {
            self.notify_workers();
        }
        Ok(moved)
    }

    async fn create(&self, outbound: NewOutbound) -> Result<(), StoreError> {
        let now = self.now_ms();
        self.engine.group.write(move |conn| create_in(conn, &outbound, now)).await?;
        self.notify_workers();
        Ok(())
    }
}

/// An outbound message sent through the API: its contact, conversation, message, delivery
/// and job.
fn create_in(conn: &Connection, outbound: &NewOutbound, now: i64) -> Result<(), StoreError> {
    let contact_id = resolve_contact(conn, &outbound.message.to, None, now)?;
    if let Some(email) = &outbound.email {
        run(
            conn,
            "UPDATE contacts SET email = ?2, updated_at = ?3 WHERE id = ?1",
            params![contact_id, email.as_str(), now],
        )?;
    }
    let conversation_id: String = conn
        .prepare_cached(
            "INSERT INTO conversations (id, contact_id, business_number_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (contact_id, business_number_id) DO UPDATE SET updated_at = excluded.updated_at
             RETURNING id",
        )
        .and_then(|mut upsert| {
            upsert.query_row(
                params![Uuid::now_v7().to_string(), contact_id, outbound.message.from_number_id, now],
                |row| row.get(0),
            )
        })
        .map_err(failed)?;
    let message_id = Uuid::now_v7().to_string();
    let trace_id = outbound.trace.trace_id.to_string();
    run(
        conn,
        "INSERT INTO messages (id, conversation_id, direction, kind, content, sent_ts, trace_id, created_at)
         VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, ?6, ?7)",
        params![
            message_id,
            conversation_id,
            outbound.message.content.kind_name(),
            json(&outbound.message)?,
            now / 1000,
            trace_id,
            now
        ],
    )?;
    run(
        conn,
        "INSERT INTO deliveries (id, message_id, conversation_id, channel, route, fallback_allowed, state, trace_id, trace_context, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?9)",
        params![
            outbound.delivery_id.to_string(),
            message_id,
            conversation_id,
            outbound.route.channel(),
            outbound.route.as_str(),
            outbound.fallback_allowed,
            trace_id,
            outbound.trace.to_traceparent(),
            now
        ],
    )?;
    if let Some(operator) = &outbound.operator {
        run(conn, "UPDATE messages SET agent = ?2 WHERE id = ?1", params![message_id, format!("operator:{operator}")])?;
        run(conn, &numbered(people::OPERATOR_REPLIED), params![conversation_id, now])?;
        run(
            conn,
            &numbered(people::INSERT_EVENT),
            params![conversation_id, now, operator, "reply", Option::<&str>::None],
        )?;
    }
    insert_job(conn, &outbound.job, now)
}
