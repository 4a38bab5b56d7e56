//! The SQLite store: WAL journal, `synchronous = FULL` by default (an acknowledged
//! webhook survives a power cut; `SWITCHBOARD_SQLITE_SYNCHRONOUS=normal` trades that for
//! speed), `BEGIN IMMEDIATE` for every write transaction (no lock upgrades that fail
//! under contention), migrations embedded in the binary.
//!
//! Three access paths, each a field of [`SqliteEngine`] (ADR 0011): every write goes to
//! the one writer thread, which commits concurrent writes together (`writer.rs`); the
//! workers' hot point reads run in place on rusqlite connections (`readers.rs`); scans
//! and migrations use the sqlx pool. One file per port: `inbox.rs`, `messages.rs`,
//! `deliveries.rs`, `jobs.rs`, `settings.rs`, `sandbox.rs`; what both databases share is
//! in `../management.rs` and `../operations.rs`.

mod checkpoint;
mod deliveries;
mod inbox;
mod jobs;
mod messages;
mod readers;
mod sandbox;
mod settings;
#[cfg(test)]
mod tests;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, params};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use switchboard_application::jobs::NewJob;
use switchboard_application::ports::StoreError;
use switchboard_domain::WhatsAppUser;
use uuid::Uuid;

use super::engine::{Arg, Engine, SqlStore, Statement, numbered};
use super::handoff::Handed;
use super::records::{json, lease_until, leased_at_insert, millis as ms, unavailable};
use readers::Readers;
use writer::{GroupCommit, failed};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store: every port over one [`SqliteEngine`].
pub type SqliteStore = SqlStore<SqliteEngine>;

/// How SQL reaches SQLite: the one writer, the point readers and the scan pool.
#[derive(Clone)]
pub struct SqliteEngine {
    /// Scans (management lists, gauges, A2A tasks) and migrations; never a write.
    pool: SqlitePool,
    /// The one writer of this process: a thread that commits concurrent writes together
    /// (ADR 0010, 0011).
    group: GroupCommit,
    /// The workers' hot point reads, run in place.
    readers: Arc<Readers>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        busy_timeout: Duration,
        full_sync: bool,
    ) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| "DATABASE_URL is not a valid sqlite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if full_sync { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
            .foreign_keys(true)
            .busy_timeout(busy_timeout);
        // The writer and the readers open the file by name beside the pool: an in-memory
        // database would be a different, empty one on each connection.
        let filename = options.get_filename();
        let named = filename.to_string_lossy();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory") || named.contains("in-memory");
        if in_memory || named.is_empty() {
            anyhow::bail!(
                "DATABASE_URL names an in-memory SQLite database; Switchboard keeps its data in a file: use sqlite://PATH (the default is sqlite://<SWITCHBOARD_DATA_DIR>/switchboard.db)"
            );
        }
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the database directory {}", parent.display()))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(busy_timeout.max(Duration::from_secs(1)))
            .connect_with(options.clone())
            .await
            .with_context(|| "cannot open the SQLite database")?;
        // The pool has created the file and set WAL mode; the writer opens its own connection.
        let group = GroupCommit::start(options.get_filename(), full_sync, busy_timeout)?;
        let readers = Arc::new(Readers::new(options.get_filename(), busy_timeout));
        Ok(Self::over(SqliteEngine { pool, group, readers }))
    }

    /// From now on a commit that would carry only a few writes begins no sooner than
    /// `wait` after the one before it (ADR 0037); `Duration::ZERO` (the default of
    /// [`SqliteStore::connect`]) begins each at once.
    #[must_use]
    pub fn with_commit_wait(self, wait: Duration) -> Self {
        self.engine.group.wait_for_company(wait);
        self
    }

    /// The scan pool, for tests that set up rows by hand.
    pub fn pool(&self) -> &SqlitePool {
        &self.engine.pool
    }
}

/// Binds [`Arg`]s to a rusqlite statement, `?1` first.
fn bind_all(statement: &mut rusqlite::CachedStatement<'_>, args: &[Arg]) -> rusqlite::Result<()> {
    for (i, arg) in args.iter().enumerate() {
        let at = i + 1;
        match arg {
            Arg::Int(v) => statement.raw_bind_parameter(at, v)?,
            Arg::Text(v) => statement.raw_bind_parameter(at, v)?,
            Arg::Bool(v) => statement.raw_bind_parameter(at, v)?,
        }
    }
    Ok(())
}

#[async_trait]
impl Engine for SqliteEngine {
    type Row = SqliteRow;

    async fn scan(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<SqliteRow>, StoreError> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for arg in args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bool(v) => query.bind(v),
            };
        }
        query.fetch_all(&self.pool).await.map_err(unavailable)
    }

    async fn write(&self, sql: &'static str, args: Vec<Arg>) -> Result<u64, StoreError> {
        let changed = self
            .group
            .write(move |conn| {
                conn.prepare_cached(&numbered(sql))
                    .and_then(|mut statement| {
                        bind_all(&mut statement, &args)?;
                        statement.raw_execute()
                    })
                    .map_err(failed)
            })
            .await?;
        Ok(u64::try_from(changed).unwrap_or(0))
    }

    async fn transact(&self, guard: Statement, then: Vec<Statement>) -> Result<bool, StoreError> {
        let execute = |conn: &Connection, (sql, args): &Statement| {
            conn.prepare_cached(&numbered(sql))
                .and_then(|mut statement| {
                    bind_all(&mut statement, args)?;
                    statement.raw_execute()
                })
                .map_err(failed)
        };
        // The guard writes first: when it changes nothing, nothing was written.
        self.group
            .write(move |conn| {
                if execute(conn, &guard)? == 0 {
                    return Ok(false);
                }
                for statement in &then {
                    execute(conn, statement)?;
                }
                Ok(true)
            })
            .await
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.context("database migration failed")?;
        Ok(())
    }

    fn migrations(&self) -> usize {
        MIGRATOR.iter().count()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

fn insert_job(conn: &Connection, job: &NewJob, now: i64) -> Result<(), StoreError> {
    insert_job_leased(conn, job, now, None)
}

/// Inserts a job queued, or leased to the caller with this token until this time.
fn insert_job_leased(conn: &Connection, job: &NewJob, now: i64, lease: Option<(Uuid, i64)>) -> Result<(), StoreError> {
    let payload = json(&job.kind)?;
    let (state, attempts, token, until) = match lease {
        Some((token, until)) => ("leased", 1, Some(token.to_string()), Some(until)),
        None => ("queued", 0, None, None),
    };
    conn.prepare_cached(
        "INSERT INTO jobs (kind, payload, ordering_key, order_at, run_at, state, attempts, lease_token, lease_until,
                           trace_id, trace_context, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            job.kind.name(),
            payload,
            job.ordering_key,
            ms(job.order_at),
            ms(job.run_at),
            state,
            attempts,
            token,
            until,
            job.trace.trace_id.to_string(),
            job.trace.to_traceparent(),
            now
        ])
    })
    .map_err(failed)?;
    Ok(())
}

/// A job leased at its insert to the caller, until its due time plus `lease`, when no
/// other job of its ordering key waits (so it is the next of its key, and runs without a
/// claim); else queued for a claim. `None` also when `lease` is.
fn insert_job_leased_if_first(
    conn: &Connection,
    job: &NewJob,
    now: i64,
    lease: Option<Duration>,
) -> Result<Option<Handed>, StoreError> {
    let Some(lease) = lease else {
        insert_job(conn, job, now)?;
        return Ok(None);
    };
    let waiting = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM jobs WHERE ordering_key = ?1 AND state IN ('queued', 'leased'))")
        .and_then(|mut find| find.query_row([&job.ordering_key], |row| row.get::<_, bool>(0)))
        .map_err(failed)?;
    if waiting {
        insert_job(conn, job, now)?;
        return Ok(None);
    }
    let token = Uuid::new_v4();
    let run_at = ms(job.run_at);
    let until = lease_until(run_at.max(now), lease);
    insert_job_leased(conn, job, now, Some((token, until)))?;
    Ok(Some(Handed { job: leased_at_insert(conn.last_insert_rowid(), job, token), run_at, lease_until: until }))
}

/// One row of a delivery's history.
fn insert_attempt(
    conn: &Connection,
    delivery_id: Uuid,
    outcome: &str,
    detail: &str,
    at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO delivery_attempts (delivery_id, channel, outcome, detail, at)
         SELECT ?1, CASE route WHEN 'email' THEN 'email' ELSE 'whatsapp' END, ?2, ?3, ?4 FROM deliveries WHERE id = ?1",
    )
    .and_then(|mut insert| insert.execute(params![delivery_id.to_string(), outcome, detail, at]))
    .map_err(failed)?;
    Ok(())
}

/// Runs one cached statement; answers the rows it changed.
fn run(conn: &Connection, sql: &str, values: impl rusqlite::Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql).and_then(|mut statement| statement.execute(values)).map_err(failed)
}

/// The contact this user is known by: by scoped id, else a contact known by phone alone
/// (which then learns its scoped id).
fn find_contact(conn: &Connection, scoped: Option<&str>, phone: Option<&str>) -> Result<Option<String>, StoreError> {
    conn.prepare_cached(
        "SELECT COALESCE((SELECT id FROM contacts WHERE scoped_id = ?1),
                         (SELECT id FROM contacts WHERE phone = ?2 AND (scoped_id IS NULL OR ?1 IS NULL)))",
    )
    .and_then(|mut find| find.query_row(params![scoped, phone], |row| row.get::<_, Option<String>>(0)))
    .map_err(failed)
}

/// Finds the contact for this user, creating it or completing its ids as needed.
fn resolve_contact(
    conn: &Connection,
    user: &WhatsAppUser,
    profile_name: Option<&str>,
    now: i64,
) -> Result<String, StoreError> {
    let scoped = user.scoped_id().map(|s| s.as_str().to_owned());
    let phone = user.phone().map(|p| p.as_e164().to_owned());
    let found = find_contact(conn, scoped.as_deref(), phone.as_deref())?;
    let id = match found {
        Some(id) => {
            run(conn, UPDATE_CONTACT, params![id, scoped, phone, profile_name, now])?;
            id
        }
        None => {
            let id = Uuid::now_v7().to_string();
            run(conn, INSERT_CONTACT, params![id, scoped, phone, profile_name, now])?;
            id
        }
    };
    Ok(id)
}

/// The update of a known contact (?1 contact id, ?2 scoped id, ?3 phone, ?4 profile name,
/// ?5 now): it learns the ids it lacked; a phone already held by another contact stays there.
/// A contact with nothing new is not written at all (its `updated_at` is when it last
/// changed): most messages come from someone already known as they are.
const UPDATE_CONTACT: &str = "UPDATE contacts SET scoped_id = COALESCE(scoped_id, ?2),
        phone = COALESCE(phone, (SELECT ?3 WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE phone = ?3))),
        profile_name = COALESCE(?4, profile_name), updated_at = ?5
    WHERE id = ?1 AND ((scoped_id IS NULL AND ?2 IS NOT NULL) OR (phone IS NULL AND ?3 IS NOT NULL)
        OR (?4 IS NOT NULL AND profile_name IS DISTINCT FROM ?4))";

/// The insert of a new contact, with the same parameters; a phone already held by a
/// contact with another scoped id stays with it.
const INSERT_CONTACT: &str = "INSERT INTO contacts (id, scoped_id, phone, profile_name, created_at, updated_at)
    VALUES (?1, ?2, (SELECT ?3 WHERE NOT EXISTS (SELECT 1 FROM contacts WHERE phone = ?3)), ?4, ?5, ?5)";
