//! The operators' ports and Switchboard's own A2A tasks, written once for both
//! databases over the [`Engine`]: the event archive, dead jobs, the sandbox outbox, the
//! queue gauges, readiness and the A2A task store.

use async_trait::async_trait;
use switchboard_application::jobs::NewJob;
use switchboard_application::ports::{
    A2aTasks, DeadJobs, EventArchive, Gauges, PushConfigs, QueueGauges, RegisteredAgents, SandboxOutbox, SandboxRecord,
    StoreError, StoreHealth, StoredTask,
};
use switchboard_domain::a2a::{PushAuthentication, PushConfig};
use time::OffsetDateTime;

use super::engine::{Engine, SqlStore, args};
use super::records::{Columns, corrupt, json, millis};

#[async_trait]
impl<E: Engine> EventArchive for SqlStore<E> {
    #[tracing::instrument(name = "store.event_body", skip_all)]
    async fn event_body(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.engine.scan("SELECT body FROM webhook_events WHERE id = $1", args![id]).await?;
        Ok(rows.first().map(|row| row.bytes("body")))
    }

    #[tracing::instrument(name = "store.mark_replayed", skip_all)]
    async fn mark_replayed(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.engine.write("UPDATE webhook_events SET replayed_at = $2 WHERE id = $1", args![id, millis(at)]).await?;
        Ok(())
    }
}

#[async_trait]
impl<E: Engine> DeadJobs for SqlStore<E> {
    #[tracing::instrument(name = "store.requeue", skip_all, fields(job_id = id))]
    async fn requeue(&self, id: i64, at: OffsetDateTime) -> Result<bool, StoreError> {
        let moved = self
            .engine
            .write(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2, updated_at = $2
                 WHERE id = $1 AND state = 'dead'",
                args![id, millis(at)],
            )
            .await?;
        if moved == 1 {
            self.notify_workers();
        }
        Ok(moved == 1)
    }
}

#[async_trait]
impl<E: Engine> SandboxOutbox for SqlStore<E> {
    #[tracing::instrument(name = "store.sandbox_outbox", skip_all, fields(limit))]
    async fn sandbox_outbox(&self, reply_to: Option<String>, limit: i64) -> Result<Vec<SandboxRecord>, StoreError> {
        let rows = self
            .engine
            .scan(
                "SELECT provider_id, delivery_id, recipient, reply_to, message, trace_id, created_at FROM sandbox_outbox
                 WHERE ($1 IS NULL OR reply_to = $1) ORDER BY created_at, id LIMIT $2",
                args![reply_to, limit],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SandboxRecord {
                    provider_id: row.text("provider_id"),
                    delivery_id: row.opt_text("delivery_id"),
                    recipient: row.text("recipient"),
                    reply_to: row.opt_text("reply_to"),
                    message: serde_json::from_str(&row.text("message")).map_err(|e| corrupt("sandbox message", e))?,
                    trace_id: row.text("trace_id"),
                    created_at: row.int("created_at"),
                })
            })
            .collect()
    }
}

#[async_trait]
impl<E: Engine> Gauges for SqlStore<E> {
    #[tracing::instrument(name = "store.gauges", skip_all)]
    async fn gauges(&self, now: OffsetDateTime) -> Result<QueueGauges, StoreError> {
        let jobs = self
            .engine
            .scan(
                "SELECT COUNT(CASE WHEN state IN ('queued', 'leased') THEN 1 END) AS queued,
                        MIN(CASE WHEN state IN ('queued', 'leased') THEN created_at END) AS oldest,
                        COUNT(CASE WHEN state = 'dead' THEN 1 END) AS dead
                 FROM jobs",
                args![],
            )
            .await?;
        let deliveries = self
            .engine
            .scan("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state ORDER BY state", args![])
            .await?;
        let (queued, oldest, dead) =
            jobs.first().map_or((0, None, 0), |r| (r.int("queued"), r.opt_int("oldest"), r.int("dead")));
        #[expect(clippy::cast_precision_loss, reason = "an age in seconds needs no more than f64")]
        let oldest_age_seconds = oldest.map_or(0.0, |at| (millis(now) - at).max(0) as f64 / 1000.0);
        Ok(QueueGauges {
            queued,
            oldest_age_seconds,
            dead,
            deliveries: deliveries.iter().map(|r| (r.text("state"), r.int("n"))).collect(),
        })
    }
}

#[async_trait]
impl<E: Engine> StoreHealth for SqlStore<E> {
    async fn ready(&self) -> Result<(), String> {
        let rows = self
            .engine
            .scan("SELECT COUNT(*) AS applied FROM _sqlx_migrations WHERE success = TRUE", args![])
            .await
            .map_err(|e| match e {
                StoreError::Unavailable(cause) => format!("database unreachable: {cause}"),
                other => other.to_string(),
            })?;
        let applied = rows.first().map_or(0, |r| r.int("applied"));
        let expected = i64::try_from(self.engine.migrations()).unwrap_or(i64::MAX);
        if applied < expected {
            return Err(format!("{applied} of {expected} migrations applied; run `switchboard migrate`"));
        }
        Ok(())
    }
}

const TASK_COLUMNS: &str = "SELECT task, agent, agent_task_id, trace_id, created_at FROM a2a_tasks";

fn stored_task(row: &impl Columns) -> Result<StoredTask, StoreError> {
    Ok(StoredTask {
        task: serde_json::from_str(&row.text("task")).map_err(|e| corrupt("a2a task", e))?,
        agent: row.opt_text("agent"),
        agent_task_id: row.opt_text("agent_task_id"),
        trace_id: row.text("trace_id"),
        created_at: row.int("created_at"),
    })
}

impl<E: Engine> SqlStore<E> {
    /// The statement that stores a task, new or updated.
    fn task_upsert(&self, task: &StoredTask) -> Result<super::engine::Statement, StoreError> {
        Ok((
            "INSERT INTO a2a_tasks (id, context_id, state, task, agent, agent_task_id, trace_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, task = excluded.task, agent = excluded.agent,
                 agent_task_id = excluded.agent_task_id, updated_at = excluded.updated_at",
            args![
                task.task.id.clone(),
                task.task.context_id.clone().unwrap_or_default(),
                task.task.status.state.as_str(),
                json(&task.task)?,
                task.agent.clone(),
                task.agent_task_id.clone(),
                task.trace_id.clone(),
                task.created_at,
                self.now_ms()
            ],
        ))
    }
}

#[async_trait]
impl<E: Engine> A2aTasks for SqlStore<E> {
    #[tracing::instrument(name = "store.a2a_task_save", skip_all)]
    async fn save(&self, task: &StoredTask) -> Result<(), StoreError> {
        let (sql, args) = self.task_upsert(task)?;
        self.engine.write(sql, args).await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.a2a_task_save_with_jobs", skip_all, fields(jobs = jobs.len()))]
    async fn save_with_jobs(&self, task: &StoredTask, jobs: &[NewJob]) -> Result<(), StoreError> {
        let now = self.now_ms();
        let inserts = jobs
            .iter()
            .map(|job| {
                Ok((
                    "INSERT INTO jobs (kind, payload, ordering_key, order_at, run_at, state, attempts, lease_token,
                                       lease_until, trace_id, trace_context, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, 'queued', 0, NULL, NULL, $6, $7, $8, $8)",
                    args![
                        job.kind.name(),
                        json(&job.kind)?,
                        job.ordering_key.clone(),
                        millis(job.order_at),
                        millis(job.run_at),
                        job.trace.trace_id.to_string(),
                        job.trace.to_traceparent(),
                        now
                    ],
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // The upsert always changes its row, so the jobs always follow it.
        self.engine.transact(self.task_upsert(task)?, inserts).await?;
        self.notify_workers();
        Ok(())
    }

    #[tracing::instrument(name = "store.a2a_task_get", skip_all)]
    async fn get(&self, id: &str) -> Result<Option<StoredTask>, StoreError> {
        let sql = format!("{TASK_COLUMNS} WHERE id = $1");
        let rows = self.engine.scan(&sql, args![id]).await?;
        rows.first().map(stored_task).transpose()
    }

    #[tracing::instrument(name = "store.a2a_task_list", skip_all, fields(limit))]
    async fn list(
        &self,
        context_id: Option<String>,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<StoredTask>, StoreError> {
        let (at, id) = after.unwrap_or((i64::MAX, String::new()));
        let sql = format!(
            "{TASK_COLUMNS}
             WHERE ($1 IS NULL OR context_id = $1)
               AND (created_at < $2 OR (created_at = $2 AND id < $3))
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        let rows = self.engine.scan(&sql, args![context_id, at, id, i64::from(limit)]).await?;
        rows.iter().map(stored_task).collect()
    }

    #[tracing::instrument(name = "store.a2a_task_count", skip_all)]
    async fn count(&self, context_id: Option<String>) -> Result<u64, StoreError> {
        let rows = self
            .engine
            .scan("SELECT COUNT(*) AS n FROM a2a_tasks WHERE ($1 IS NULL OR context_id = $1)", args![context_id])
            .await?;
        Ok(rows.first().map_or(0, |r| u64::try_from(r.int("n")).unwrap_or(0)))
    }
}

const PUSH_COLUMNS: &str = "SELECT task_id, id, url, token, auth_scheme, auth_credentials FROM a2a_push_configs";

fn push_config(row: &impl Columns) -> PushConfig {
    PushConfig {
        id: row.text("id"),
        task_id: row.text("task_id"),
        url: row.text("url"),
        token: row.opt_text("token"),
        authentication: row.opt_text("auth_scheme").map(|scheme| PushAuthentication {
            scheme,
            credentials: row.opt_text("auth_credentials").unwrap_or_default(),
        }),
    }
}

#[async_trait]
impl<E: Engine> PushConfigs for SqlStore<E> {
    #[tracing::instrument(name = "store.push_config_put", skip_all)]
    async fn put_push_config(&self, config: &PushConfig) -> Result<(), StoreError> {
        let auth = config.authentication.as_ref();
        self.engine
            .write(
                "INSERT INTO a2a_push_configs (task_id, id, url, token, auth_scheme, auth_credentials, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (task_id, id) DO UPDATE SET url = excluded.url, token = excluded.token,
                     auth_scheme = excluded.auth_scheme, auth_credentials = excluded.auth_credentials",
                args![
                    config.task_id.clone(),
                    config.id.clone(),
                    config.url.clone(),
                    config.token.clone(),
                    auth.map(|a| a.scheme.clone()),
                    auth.map(|a| a.credentials.clone()),
                    self.now_ms()
                ],
            )
            .await?;
        Ok(())
    }

    #[tracing::instrument(name = "store.push_config_get", skip_all)]
    async fn push_config(&self, task_id: &str, id: &str) -> Result<Option<PushConfig>, StoreError> {
        let sql = format!("{PUSH_COLUMNS} WHERE task_id = $1 AND id = $2");
        Ok(self.engine.scan(&sql, args![task_id, id]).await?.first().map(push_config))
    }

    #[tracing::instrument(name = "store.push_configs", skip_all)]
    async fn push_configs(&self, task_id: &str) -> Result<Vec<PushConfig>, StoreError> {
        let sql = format!("{PUSH_COLUMNS} WHERE task_id = $1 ORDER BY created_at, id");
        Ok(self.engine.scan(&sql, args![task_id]).await?.iter().map(push_config).collect())
    }

    #[tracing::instrument(name = "store.push_config_delete", skip_all)]
    async fn delete_push_config(&self, task_id: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = self
            .engine
            .write("DELETE FROM a2a_push_configs WHERE task_id = $1 AND id = $2", args![task_id, id])
            .await?;
        Ok(deleted > 0)
    }
}

#[async_trait]
impl<E: Engine> RegisteredAgents for SqlStore<E> {
    #[tracing::instrument(name = "store.register_agent", skip_all)]
    async fn register_agent(&self, name: &str, url: &str) -> Result<bool, StoreError> {
        let added = self
            .engine
            .write(
                "INSERT INTO registered_agents (name, url, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                args![name, url, self.now_ms()],
            )
            .await?;
        Ok(added > 0)
    }

    #[tracing::instrument(name = "store.unregister_agent", skip_all)]
    async fn unregister_agent(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.engine.write("DELETE FROM registered_agents WHERE name = $1", args![name]).await? > 0)
    }

    #[tracing::instrument(name = "store.registered_agents", skip_all)]
    async fn registered_agents(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows =
            self.engine.scan("SELECT name, url FROM registered_agents ORDER BY created_at, name", args![]).await?;
        Ok(rows.iter().map(|r| (r.text("name"), r.text("url"))).collect())
    }
}
