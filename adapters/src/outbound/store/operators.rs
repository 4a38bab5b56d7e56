//! Operator accounts, console sessions and failed sign-ins, written once for both
//! databases over the [`Engine`]. A session is found by the SHA-256 of its id (the clear
//! id is only ever in the cookie), joined with its operator so a removed operator's
//! session opens nothing even before the cascade has run. Failed sign-ins are one row per
//! key, counted by a single upsert, so replicas counting the same key at once lose none.

use async_trait::async_trait;
use switchboard_application::ports::{
    NewSession, OperatorAccount, OperatorCredentials, OperatorSession, Operators, PasswordHash, SignInFailures,
    StoreError,
};
use switchboard_domain::{OperatorName, Role};
use time::OffsetDateTime;

use super::engine::{Arg, Engine, SqlStore, args, in_list};
use super::records::{Columns, corrupt, from_ms, millis, time_ms};

fn name_of(row: &impl Columns, column: &str) -> Result<OperatorName, StoreError> {
    OperatorName::parse(&row.text(column)).map_err(|e| corrupt("operator name", e))
}

fn role_of(row: &impl Columns) -> Result<Role, StoreError> {
    Role::parse(&row.text("role")).map_err(|e| corrupt("operator role", e))
}

#[async_trait]
impl<E: Engine> Operators for SqlStore<E> {
    #[tracing::instrument(name = "store.add_operator", skip_all)]
    async fn add_operator(
        &self,
        name: &OperatorName,
        role: Role,
        password_hash: &PasswordHash,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let added = self
            .engine
            .write(
                "INSERT INTO operators (name, role, password_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (name) DO NOTHING",
                args![name.as_str(), role.as_str(), password_hash.as_str(), millis(at)],
            )
            .await?;
        Ok(added == 1)
    }

    #[tracing::instrument(name = "store.list_operators", skip_all)]
    async fn list_operators(&self) -> Result<Vec<OperatorAccount>, StoreError> {
        let rows =
            self.engine.scan("SELECT name, role, created_at, updated_at FROM operators ORDER BY name", args![]).await?;
        rows.iter()
            .map(|row| {
                Ok(OperatorAccount {
                    name: name_of(row, "name")?,
                    role: role_of(row)?,
                    created_at: time_ms(row, "created_at"),
                    updated_at: time_ms(row, "updated_at"),
                })
            })
            .collect()
    }

    #[tracing::instrument(name = "store.remove_operator", skip_all)]
    async fn remove_operator(&self, name: &OperatorName) -> Result<bool, StoreError> {
        // The cascade ends the sessions too; saying it here keeps that true on a database
        // whose foreign keys are off.
        self.engine.write("DELETE FROM operator_sessions WHERE operator = $1", args![name.as_str()]).await?;
        let removed = self.engine.write("DELETE FROM operators WHERE name = $1", args![name.as_str()]).await?;
        Ok(removed == 1)
    }

    #[tracing::instrument(name = "store.find_operator", skip_all)]
    async fn find_operator(&self, name: &OperatorName) -> Result<Option<OperatorCredentials>, StoreError> {
        let rows = self
            .engine
            .scan("SELECT name, role, password_hash FROM operators WHERE name = $1", args![name.as_str()])
            .await?;
        rows.first()
            .map(|row| {
                Ok(OperatorCredentials {
                    name: name_of(row, "name")?,
                    role: role_of(row)?,
                    password_hash: PasswordHash::new(row.text("password_hash")),
                })
            })
            .transpose()
    }

    #[tracing::instrument(name = "store.create_session", skip_all)]
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        // From the operator's row, so a session of an operator removed meanwhile is not
        // stored (and no foreign-key error is raised for it).
        self.engine
            .write(
                "INSERT INTO operator_sessions (id_hash, operator, csrf_token, created_at, expires_at)
                 SELECT $1, name, $3, $4, $5 FROM operators WHERE name = $2",
                args![
                    session.id_hash.as_str(),
                    session.operator.as_str(),
                    session.csrf_token.as_str(),
                    millis(session.created_at),
                    millis(session.expires_at),
                ],
            )
            .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.find_session", skip_all)]
    async fn find_session(&self, id_hash: &str, now: OffsetDateTime) -> Result<Option<OperatorSession>, StoreError> {
        let rows = self
            .engine
            .scan(
                "SELECT s.operator, o.role, s.csrf_token, s.expires_at
                 FROM operator_sessions s JOIN operators o ON o.name = s.operator
                 WHERE s.id_hash = $1 AND s.expires_at > $2",
                args![id_hash, millis(now)],
            )
            .await?;
        rows.first()
            .map(|row| {
                Ok(OperatorSession {
                    operator: name_of(row, "operator")?,
                    role: role_of(row)?,
                    csrf_token: row.text("csrf_token"),
                    expires_at: time_ms(row, "expires_at"),
                })
            })
            .transpose()
    }

    #[tracing::instrument(name = "store.delete_session", skip_all)]
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let deleted = self.engine.write("DELETE FROM operator_sessions WHERE id_hash = $1", args![id_hash]).await?;
        Ok(deleted == 1)
    }

    #[tracing::instrument(name = "store.delete_expired_sessions", skip_all)]
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.engine.write("DELETE FROM operator_sessions WHERE expires_at <= $1", args![millis(now)]).await
    }
}

/// One failure of a key ($1 key, $2 now, $3 window, $4 failures that lock; times in ms).
/// Within the window of the key's first failure the count goes up, else it starts over
/// at one; reaching $4 locks the key for a window from now. The whole rule is this one
/// statement, so two replicas counting the same key at once both count.
const COUNT_FAILURE: &str = "INSERT INTO sign_in_failures (key_hash, failures, first_failed_at, locked_until)
    VALUES ($1, 1, $2, CASE WHEN $4 <= 1 THEN $2 + $3 ELSE NULL END)
    ON CONFLICT (key_hash) DO UPDATE SET
        failures = CASE WHEN sign_in_failures.first_failed_at > $2 - $3
            THEN sign_in_failures.failures + 1 ELSE 1 END,
        first_failed_at = CASE WHEN sign_in_failures.first_failed_at > $2 - $3
            THEN sign_in_failures.first_failed_at ELSE $2 END,
        locked_until = CASE WHEN (CASE WHEN sign_in_failures.first_failed_at > $2 - $3
            THEN sign_in_failures.failures + 1 ELSE 1 END) >= $4
            THEN $2 + $3 ELSE sign_in_failures.locked_until END";

/// Keys with nothing left to count ($1 now minus the window, $2 now).
const FORGET_OLD_FAILURES: &str = "DELETE FROM sign_in_failures
    WHERE first_failed_at <= $1 AND (locked_until IS NULL OR locked_until <= $2)";

#[async_trait]
impl<E: Engine> SignInFailures for SqlStore<E> {
    #[tracing::instrument(name = "store.sign_in_locked_until", skip_all)]
    async fn sign_in_locked_until(
        &self,
        keys: &[String],
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        if keys.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT MAX(locked_until) AS locked_until FROM sign_in_failures
             WHERE locked_until > $1 AND key_hash IN {}",
            in_list(2, keys.len())
        );
        let values = std::iter::once(Arg::from(millis(now))).chain(keys.iter().map(|k| Arg::from(k.as_str())));
        let rows = self.engine.scan(&sql, values.collect()).await?;
        Ok(rows.first().and_then(|row| row.opt_int("locked_until")).and_then(from_ms))
    }

    #[tracing::instrument(name = "store.count_sign_in_failure", skip_all)]
    async fn count_sign_in_failure(
        &self,
        keys: &[String],
        now: OffsetDateTime,
        window: std::time::Duration,
        max_failures: u32,
    ) -> Result<(), StoreError> {
        let (now, window) = (millis(now), i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 4));
        // One statement per key, each its own transaction: a transaction holding two
        // keys' rows could deadlock with another replica's sweep taking them the other
        // way round.
        for key in keys {
            self.engine.write(COUNT_FAILURE, args![key.as_str(), now, window, i64::from(max_failures)]).await?;
        }
        self.engine.write(FORGET_OLD_FAILURES, args![now.saturating_sub(window), now]).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.clear_sign_in_failures", skip_all)]
    async fn clear_sign_in_failures(&self, key: &str) -> Result<(), StoreError> {
        self.engine.write("DELETE FROM sign_in_failures WHERE key_hash = $1", args![key]).await?;
        Ok(())
    }
}
