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

    /// Stores the task and enqueues the job that runs it, in one transaction: a task
    /// stored is a task that will run, whatever happens to this process.
    ///
    /// Errors: [`StoreError::Unavailable`]; nothing is stored then.
    async fn save_with_job(&self, task: &StoredTask, job: &NewJob) -> Result<(), StoreError>;

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
}
