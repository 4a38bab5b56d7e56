//! Store adapters: the SQL behind the `Inbox`, `Messages`, `Deliveries`, `JobQueue` and
//! `ManagementReads` ports. SQLite is the embedded default; the SQL is kept portable for PostgreSQL.

pub mod sqlite;
mod sqlite_reads;
mod sqlite_writer;

pub use sqlite::{SandboxRecord, SqliteSettings, SqliteStore};
/// The operators' views moved to the `ManagementReads` port; kept reachable here.
pub use switchboard_application::ports::{DeadJob, EventSummary};
