//! Switchboard's own A2A server's tasks.

use super::*;

/// A task of Switchboard's own A2A server, with the agent task behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTask {
    pub task: switchboard_domain::a2a::Task,
    /// The specialist agent and its task, while that task waits for input.
    pub agent: Option<String>,
    pub agent_task_id: Option<String>,
    pub trace_id: String,
    /// Unix milliseconds; tasks list newest first.
    pub created_at: i64,
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait A2aTasks: Send + Sync {
    /// Stores the task (new or updated).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn save(&self, task: &StoredTask) -> Result<(), StoreError>;

    /// Stores the task and enqueues jobs about it (the one that runs it, its push
    /// notifications), in one transaction: what is stored is what will happen, whatever
    /// happens to this process.
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is stored then.
    async fn save_with_jobs(&self, task: &StoredTask, jobs: &[NewJob]) -> Result<(), StoreError>;

    /// The task, or `None`.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn get(&self, id: &str) -> Result<Option<StoredTask>, StoreError>;

    /// Up to `limit` tasks, newest first, older than the `after` cursor, of one context
    /// when given.
    ///
    /// Errors: [`StoreError::Unavailable`]; [`StoreError::Corrupt`].
    async fn list(
        &self,
        context_id: Option<String>,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<StoredTask>, StoreError>;

    /// How many tasks there are, of one context when given (ListTasks' `totalSize`).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn count(&self, context_id: Option<String>) -> Result<u64, StoreError>;
}

/// Where clients want a task's updates posted (push notifications).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PushConfigs: Send + Sync {
    /// Stores the config (a new one, or one of the same task and id replaced).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn put_push_config(&self, config: &switchboard_domain::a2a::PushConfig) -> Result<(), StoreError>;

    /// The task's config `id`, or `None`.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn push_config(
        &self,
        task_id: &str,
        id: &str,
    ) -> Result<Option<switchboard_domain::a2a::PushConfig>, StoreError>;

    /// Every config of the task, oldest first.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn push_configs(&self, task_id: &str) -> Result<Vec<switchboard_domain::a2a::PushConfig>, StoreError>;

    /// Deletes the config; answers whether there was one.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn delete_push_config(&self, task_id: &str, id: &str) -> Result<bool, StoreError>;
}

/// Why a push notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The URL may not be posted to (an internal address, a bad scheme): trying again
    /// will not help.
    #[error("push URL refused: {0}")]
    Refused(String),
    /// The client's endpoint could not be reached or did not answer 2xx: retried.
    #[error("push notification not delivered: {0}")]
    Failed(String),
}

/// Posts task updates to clients' push URLs.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PushNotifier: Send + Sync {
    /// Whether `url` may be posted to: http(s), and no internal address unless
    /// configuration allows them.
    ///
    /// Errors: why not, in words for the client.
    async fn check(&self, url: &str) -> Result<(), String>;

    /// Posts `event` (a `StreamResponse`) to the config's URL with its token and
    /// authentication.
    ///
    /// Errors: [`PushError`].
    async fn post(
        &self,
        config: &switchboard_domain::a2a::PushConfig,
        event: &str,
        trace: &TraceContext,
    ) -> Result<(), PushError>;
}
