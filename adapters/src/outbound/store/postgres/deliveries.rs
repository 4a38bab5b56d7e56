//! The PostgreSQL side of [`Deliveries`].

use async_trait::async_trait;
use sqlx::Row;
use switchboard_application::jobs::JobLease;
use switchboard_application::ports::{AttemptOutcome, Deliveries, Delivery, DeliveryView, NewOutbound, Route};
use switchboard_domain::{DeliveryState, EmailAddress, OutboundMessage, Wamid};
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::people;
use super::super::records::{corrupt, from_ms, json, millis as ms, parse_trace, unavailable};
use super::*;

const DELIVERY_SELECT: &str = "SELECT d.id, d.state, d.route, d.fallback_allowed, d.provider_id, d.attempts,
            d.uncertain_since, d.paced, d.held, d.last_error, d.trace_context, m.content,
            c.email, c.profile_name, v.last_inbound_ts, d.in_flight_by
     FROM deliveries d
     JOIN messages m ON m.id = d.message_id
     JOIN conversations v ON v.id = d.conversation_id
     JOIN contacts c ON c.id = v.contact_id";

fn delivery_from_row(row: &sqlx::postgres::PgRow) -> Result<Delivery, StoreError> {
    let id: String = row.get("id");
    let state: String = row.get("state");
    let route: String = row.get("route");
    let provider_id: Option<String> = row.get("provider_id");
    let content: String = row.get("content");
    let email: Option<String> = row.get("email");
    let last_inbound: Option<i64> = row.get("last_inbound_ts");
    let uncertain: Option<i64> = row.get("uncertain_since");
    let count = |name: &str| u32::try_from(row.get::<i64, _>(name)).unwrap_or(0);
    let trace: String = row.get("trace_context");
    let in_flight_by: Option<String> = row.get("in_flight_by");
    Ok(Delivery {
        id: Uuid::parse_str(&id).map_err(|e| corrupt("delivery id", e))?,
        message: serde_json::from_str::<OutboundMessage>(&content).map_err(|e| corrupt("outbound message", e))?,
        state: state.parse().map_err(|e| corrupt("delivery state", e))?,
        route: Route::parse(&route).ok_or_else(|| corrupt("delivery route", &route))?,
        fallback_allowed: row.get::<bool, _>("fallback_allowed"),
        // An address stored before validation existed is skipped, not fatal.
        email: email.and_then(|e| EmailAddress::parse(&e).ok()),
        profile_name: row.get("profile_name"),
        last_inbound_at: last_inbound.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()),
        provider_id: provider_id.map(|p| Wamid::parse(&p)).transpose().map_err(|e| corrupt("provider id", e))?,
        attempts: count("attempts"),
        uncertain_since: uncertain.and_then(from_ms),
        // Not a lease of ours (written by hand, say): no lease matches it.
        in_flight_by: in_flight_by.and_then(|token| Uuid::parse_str(&token).ok()),
        paced: count("paced"),
        held: count("held"),
        last_error: row.get("last_error"),
        trace: parse_trace(&trace),
    })
}

impl PgStore {
    async fn delivery_where(&self, clause: &'static str, value: String) -> Result<Option<Delivery>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{DELIVERY_SELECT} WHERE {clause}"));
        let row = sqlx::query(sql).bind(value).fetch_optional(&self.engine.pool).await.map_err(unavailable)?;
        row.as_ref().map(delivery_from_row).transpose()
    }
}

#[async_trait]
impl Deliveries for PgStore {
    async fn get(&self, id: Uuid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_where("d.id = $1", id.to_string()).await
    }

    async fn find_by_provider_id(&self, wamid: &Wamid) -> Result<Option<Delivery>, StoreError> {
        self.delivery_where("d.provider_id = $1", wamid.as_str().to_owned()).await
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
        let mut tx = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE deliveries SET state = 'sent', route = $2, channel = $3, provider_id = COALESCE($4, provider_id),
                    attempts = attempts + 1, uncertain_since = NULL, sent_at = $5, updated_at = $5
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.to_string())
        .bind(route.as_str())
        .bind(route.channel())
        .bind(provider_id.as_ref().map(Wamid::as_str))
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if moved == 1 {
            insert_attempt(&mut tx, id, "accepted", detail, at).await?;
        }
        if let Some(lease) = ends {
            super::jobs::end_job(&mut *tx, lease).await?;
        }
        tx.commit().await.map_err(unavailable)?;
        if ends.is_some() {
            // The job ended may have held back the next one of its ordering key.
            self.notify_workers();
        }
        Ok(moved == 1)
    }

    async fn mark_in_flight(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET uncertain_since = $2, in_flight_by = NULL, updated_at = $2
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.to_string())
        .bind(ms(at))
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn clear_in_flight(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET uncertain_since = NULL, in_flight_by = NULL WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.to_string())
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?;
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
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = $2, updated_at = $3, uncertain_since = NULL,
                    state = CASE WHEN $4 THEN 'failed' ELSE state END,
                    failed_at = CASE WHEN $4 THEN $3 ELSE failed_at END
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(reason)
        .bind(at)
        .bind(is_final)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_attempt(&mut tx, id, if is_final { "failed" } else { "retrying" }, reason, at).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn record_attempt(
        &self,
        id: Uuid,
        outcome: AttemptOutcome,
        detail: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = ms(at);
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE deliveries SET updated_at = $3, last_error = $4,
                    paced = paced + CASE WHEN $2 = 'paced' THEN 1 ELSE 0 END,
                    held = held + CASE WHEN $2 = 'held' THEN 1 ELSE 0 END,
                    attempts = attempts + CASE WHEN $2 = 'uncertain' THEN 1 ELSE 0 END,
                    uncertain_since = CASE WHEN $2 = 'uncertain' THEN $3 ELSE NULL END
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(outcome.as_str())
        .bind(at)
        .bind(detail)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_attempt(&mut tx, id, outcome.as_str(), detail, at).await?;
        tx.commit().await.map_err(unavailable)
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
        let moved = sqlx::query(
            "UPDATE deliveries SET state = $3, updated_at = $4, last_error = COALESCE($5, last_error),
                    delivered_at = CASE WHEN $3 = 'delivered' THEN $4 ELSE delivered_at END,
                    read_at = CASE WHEN $3 = 'read' THEN $4 ELSE read_at END,
                    failed_at = CASE WHEN $3 = 'failed' THEN $4 ELSE failed_at END
             WHERE id = $1 AND state = $2",
        )
        .bind(id.to_string())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(at)
        .bind(reason)
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(moved == 1)
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
        let mut tx = self.begin().await?;
        // The failure is recorded on the channel that failed, before the route changes.
        insert_attempt(&mut tx, id, "failed", reason, at).await?;
        let moved = sqlx::query(
            "UPDATE deliveries SET state = 'pending', route = $3, provider_id = NULL, uncertain_since = NULL,
                    last_error = $4, updated_at = $5
             WHERE id = $1 AND state = $2",
        )
        .bind(id.to_string())
        .bind(from.as_str())
        .bind(route.as_str())
        .bind(reason)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        insert_job(&mut tx, &job, at).await?;
        tx.commit().await.map_err(unavailable)?;
        self.notify_workers();
        Ok(true)
    }

    async fn create(&self, outbound: NewOutbound) -> Result<(), StoreError> {
        let mut tries = 1;
        loop {
            match self.create_once(&outbound).await {
                // Another replica created this new contact or conversation first.
                Err(e) if is_transient_conflict(&e) && tries < CONFLICT_TRIES => tries += 1,
                other => return other.map_err(classify),
            }
        }
    }
}

impl PgStore {
    async fn create_once(&self, outbound: &NewOutbound) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut tx = self.begin().await?;
        let contact_id = resolve_contact(&mut tx, &outbound.message.to, None, now).await?;
        if let Some(email) = &outbound.email {
            sqlx::query("UPDATE contacts SET email = $2, updated_at = $3 WHERE id = $1")
                .bind(&contact_id)
                .bind(email.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let conversation_id: String = sqlx::query_scalar(
            "INSERT INTO conversations (id, contact_id, business_number_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (contact_id, business_number_id) DO UPDATE SET updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(&contact_id)
        .bind(&outbound.message.from_number_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        let message_id = Uuid::now_v7().to_string();
        let trace_id = outbound.trace.trace_id.to_string();
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, direction, kind, content, sent_ts, trace_id, created_at)
             VALUES ($1, $2, 'outbound', $3, $4, $5, $6, $7)",
        )
        .bind(&message_id)
        .bind(&conversation_id)
        .bind(outbound.message.content.kind_name())
        .bind(json(&outbound.message)?)
        .bind(now / 1000)
        .bind(&trace_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO deliveries (id, message_id, conversation_id, channel, route, fallback_allowed, state, trace_id, trace_context, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $9)",
        )
        .bind(outbound.delivery_id.to_string())
        .bind(&message_id)
        .bind(&conversation_id)
        .bind(outbound.route.channel())
        .bind(outbound.route.as_str())
        .bind(outbound.fallback_allowed)
        .bind(&trace_id)
        .bind(outbound.trace.to_traceparent())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if let Some(operator) = &outbound.operator {
            sqlx::query("UPDATE messages SET agent = $2 WHERE id = $1")
                .bind(&message_id)
                .bind(format!("operator:{operator}"))
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            bind_all(sqlx::query(people::OPERATOR_REPLIED), vec![Arg::from(conversation_id.as_str()), Arg::from(now)])
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            sqlx::query(people::INSERT_EVENT)
                .bind(&conversation_id)
                .bind(now)
                .bind(operator)
                .bind("reply")
                .bind(Option::<String>::None)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        insert_job(&mut tx, &outbound.job, now).await?;
        tx.commit().await.map_err(unavailable)?;
        self.notify_workers();
        Ok(())
    }
}
