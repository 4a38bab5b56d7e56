//! The small dialect layer under both stores. A store is one [`SqlStore`] over an
//! [`Engine`]: the engine says how SQL reaches its database, and what both databases
//! understand alike is written once on top of it (`management.rs`, `operations.rs`).
//!
//! Queries written once use `$N` placeholders, which PostgreSQL takes as they are and
//! SQLite takes as `?N` (the engine rewrites them), and only SQL both dialects agree on:
//! `CAST(x AS BIGINT)`, `COUNT(CASE ... END)` instead of `SUM(bool)` or `FILTER`, an
//! `IN ($1, ...)` list instead of `json_each` or `ANY`. Values are bound as [`Arg`]s:
//! text and 64-bit integers (both nullable) and booleans; rows are read through
//! [`Columns`].
//!
//! The access paths are the engine's methods, so a reader sees which one a query takes:
//! [`Engine::scan`] (a pooled read of any size), [`Engine::write`] (one statement through
//! the engine's write path: SQLite's group-commit writer thread, ADR 0011; a PostgreSQL
//! pool connection). What only one database can do well (the hot transactions of
//! ingest, claim and reply, SQLite's point reads on the workers' threads) stays in that
//! engine's folder, one file per port.

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_application::ports::{Clock, StoreError, SystemClock};

use super::handoff::Handoff;
use super::records::Columns;
use super::wake::WorkSignal;

/// A value bound to a `$N` placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Self::Int(value)
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Self::Text(Some(value))
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(Some(value.to_owned()))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Self::Text(value)
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Self {
        Self::Text(value.map(str::to_owned))
    }
}

impl From<bool> for Arg {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

/// `args![a, b, c]`: the values for `$1`, `$2`, `$3`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::outbound::store::engine::Arg::from($value)),*]
    };
}
pub(crate) use args;

/// One statement and its values, for [`Engine::transact`].
pub type Statement = (&'static str, Vec<Arg>);

/// How SQL reaches one database.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    type Row: Columns + Send + Sync;

    /// A read on the pool, of any size: management lists, gauges, task look-ups.
    async fn scan(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<Self::Row>, StoreError>;

    /// One statement that writes, through this engine's write path; answers the rows it
    /// changed. `Unavailable` when it fails (nothing of it is stored).
    async fn write(&self, sql: &'static str, args: Vec<Arg>) -> Result<u64, StoreError>;

    /// In one transaction through the write path: `guard`, then, only when the guard
    /// changed a row, each of `then`. Answers whether the guard changed a row (when it
    /// did not, nothing is written). `Unavailable` when any fails (nothing is stored).
    async fn transact(&self, guard: Statement, then: Vec<Statement>) -> Result<bool, StoreError>;

    /// Applies the embedded migrations that are not applied yet.
    async fn migrate(&self) -> anyhow::Result<()>;

    /// How many migrations this build embeds.
    fn migrations(&self) -> usize;

    /// Closes the pools; calls after this fail with `Unavailable`.
    async fn close(&self);
}

/// `$N` placeholders as `?N`, for SQLite's own API (rusqlite numbers a `$N` parameter
/// by where it first appears, not by its digits).
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// `IN ($from, $from+1, ...)` for `count` values: a list both dialects take.
pub(crate) fn in_list(from: usize, count: usize) -> String {
    let list: Vec<String> = (from..from + count).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

/// One database's store: every port, over one engine.
#[derive(Clone)]
pub struct SqlStore<E> {
    pub(super) engine: E,
    /// The time every write stamps (a port, so tests can hold it still).
    pub(super) clock: Arc<dyn Clock>,
    /// Wakes idle workers in this process when a job is enqueued or finished.
    pub(super) wake: Arc<WorkSignal>,
    /// `channels.gmail.priority` until an operator sets it.
    pub(super) email_priority_default: bool,
    /// Jobs ingested by this process, handed to its workers after the commit (ADR 0021).
    pub(super) handoff: Arc<Handoff>,
}

impl<E> SqlStore<E> {
    pub(super) fn over(engine: E) -> Self {
        Self {
            engine,
            clock: Arc::new(SystemClock),
            wake: Arc::new(WorkSignal::default()),
            email_priority_default: false,
            handoff: Arc::new(Handoff::default()),
        }
    }

    /// The email priority [`switchboard_application::ports::ChannelSettings`] answers
    /// until an operator sets one.
    #[must_use]
    pub fn with_email_priority_default(mut self, on: bool) -> Self {
        self.email_priority_default = on;
        self
    }

    /// Stamps writes with this clock's time instead of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Hands the jobs this process ingests to its own workers after the commit, leased
    /// until their due time plus `lease` (the workers' lease), instead of leaving them to
    /// a claim (ADR 0021; the SQLite engine).
    #[must_use]
    pub fn with_handoff(mut self, lease: std::time::Duration) -> Self {
        self.handoff = Arc::new(Handoff::with_lease(lease));
        self
    }

    /// Now, in unix milliseconds.
    pub(super) fn now_ms(&self) -> i64 {
        super::records::millis(self.clock.now())
    }

    pub(super) fn notify_workers(&self) {
        self.wake.signal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_placeholders_become_numbered_ones_outside_quotes() {
        assert_eq!(numbered("SELECT $2, $1 WHERE a = '$1' AND b = $10"), "SELECT ?2, ?1 WHERE a = '$1' AND b = ?10");
    }

    #[test]
    fn an_in_list_numbers_its_placeholders_from_where_it_starts() {
        assert_eq!(in_list(3, 2), "($3, $4)");
    }
}
