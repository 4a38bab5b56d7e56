//! Store adapters: the SQL behind the `Inbox`, `Messages`, `Deliveries` and `JobQueue`
//! ports. SQLite is the embedded default; the SQL is kept portable for PostgreSQL.

pub mod sqlite;

pub use sqlite::{DeadJob, EventSummary, SandboxRecord, SqliteSettings, SqliteStore};
