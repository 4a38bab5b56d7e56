//! The PostgreSQL side of [`ChannelSettings`].

use async_trait::async_trait;
use switchboard_application::ports::ChannelSettings;

use super::super::records::unavailable;
use super::*;

const EMAIL_PRIORITY: &str = "channels.gmail.priority";

#[async_trait]
impl ChannelSettings for PgStore {
    async fn email_priority(&self) -> Result<bool, StoreError> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(EMAIL_PRIORITY)
            .fetch_optional(&self.engine.pool)
            .await
            .map_err(unavailable)?;
        Ok(value.map_or(self.email_priority_default, |v| v == "true"))
    }

    async fn set_email_priority(&self, on: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(EMAIL_PRIORITY)
        .bind(if on { "true" } else { "false" })
        .bind(self.now_ms())
        .execute(&self.engine.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}
