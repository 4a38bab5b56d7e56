//! The SQLite side of [`ChannelSettings`].

use async_trait::async_trait;
use rusqlite::{OptionalExtension as _, params};
use switchboard_application::ports::ChannelSettings;

use super::writer::failed;
use super::*;

const EMAIL_PRIORITY: &str = "channels.gmail.priority";

#[async_trait]
impl ChannelSettings for SqliteStore {
    async fn email_priority(&self) -> Result<bool, StoreError> {
        let value: Option<String> = self.engine.readers.read(|conn| {
            conn.prepare_cached("SELECT value FROM settings WHERE key = ?1")
                .and_then(|mut find| find.query_row([EMAIL_PRIORITY], |row| row.get(0)).optional())
                .map_err(failed)
        })?;
        Ok(value.map_or(self.email_priority_default, |v| v == "true"))
    }

    async fn set_email_priority(&self, on: bool) -> Result<(), StoreError> {
        let now = self.now_ms();
        self.engine
            .group
            .write(move |conn| {
                run(
                    conn,
                    "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    params![EMAIL_PRIORITY, if on { "true" } else { "false" }, now],
                )
            })
            .await?;
        Ok(())
    }
}
