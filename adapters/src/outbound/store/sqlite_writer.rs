//! Group commit for SQLite (ADR 0010, ADR 0011). Every commit in `synchronous = FULL`
//! costs an fsync of the WAL, and SQLite has one writer at a time: one transaction per
//! write caps the whole process at a few hundred writes a second.
//!
//! So every write of this process goes to one writer thread that owns a plain SQLite
//! connection (rusqlite, with prepared statements cached). It takes every write waiting
//! when it is free, runs them in one `BEGIN IMMEDIATE .. COMMIT`, each inside its own
//! savepoint (a write that fails is rolled back alone; the others still commit), and
//! answers each caller only after the commit: an acknowledged write is as durable as
//! before, and concurrent writers share one fsync. Writes run in the order they were sent,
//! so one caller's writes keep their order.
//!
//! The thread is the only writer in the process, so writes never wait in SQLite's busy
//! handler for each other; reads go through the sqlx pool on other connections (WAL lets
//! them run beside the writer). A statement runs here without the hand-off to another
//! thread that an async driver makes per statement, which was the limit before (see
//! docs/performance.md).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::Connection;
use switchboard_application::ports::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Writes waiting beyond this many make their callers wait to send (backpressure).
const QUEUE: usize = 4096;
/// The most writes one transaction carries: bounds the time the write lock is held.
const MAX_BATCH: usize = 512;
/// Distinct statements the writer keeps prepared.
const STATEMENT_CACHE: usize = 128;

/// Hands a write's result to its caller once the transaction it ran in has committed.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs a write on the writer's connection inside the open transaction; answers whether
/// it failed and how to finish it.
type Run = Box<dyn FnOnce(&Connection) -> (bool, Finish) + Send>;

/// The sending side of the writer thread; cheap to clone. The thread ends, closing its
/// connection, when the last clone is dropped.
#[derive(Clone)]
pub(super) struct GroupCommit {
    writes: mpsc::Sender<Run>,
}

/// A failed SQLite call of the writer.
pub(super) fn failed(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(anyhow::Error::new(e))
}

impl GroupCommit {
    /// Opens the writer's connection to the database file at `path` (already created and
    /// in WAL mode) and starts the writer thread.
    pub(super) fn start(path: &Path, full_sync: bool, busy_timeout: Duration) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the SQLite database {} for writing", path.display()))?;
        conn.busy_timeout(busy_timeout).context("cannot set the SQLite busy timeout")?;
        conn.execute_batch(if full_sync {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
        } else {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        })
        .context("cannot configure the SQLite writer connection")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let (writes, receiver) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name(String::from("sqlite-writer"))
            .spawn(move || writer(&conn, receiver))
            .context("cannot start the SQLite writer thread")?;
        Ok(Self { writes })
    }

    /// Runs `write` in the next group transaction, inside its own savepoint; answers its
    /// result once that transaction has committed. A failed commit fails every write it
    /// carried. `write` runs on the writer thread, in the caller's tracing span.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, StoreError>>();
        let span = tracing::Span::current();
        let run: Run = Box::new(move |conn| {
            let result = span.in_scope(|| write(conn));
            let failed = result.is_err();
            let finish: Finish = Box::new(move |committed| {
                let _ = answer.send(match committed {
                    Ok(()) => result,
                    Err(reason) => Err(StoreError::Unavailable(anyhow::anyhow!("commit failed: {reason}"))),
                });
            });
            (failed, finish)
        });
        self.writes.send(run).await.map_err(|_| gone())?;
        // Dropped unanswered when its transaction could not even start.
        answered.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("the database writer stopped or its transaction could not start"))
}

fn writer(conn: &Connection, mut writes: mpsc::Receiver<Run>) {
    let mut batch: Vec<Run> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = writes.blocking_recv() {
        batch.push(first);
        // Everything that queued meanwhile (during the last commit's fsync) rides along.
        while batch.len() < MAX_BATCH {
            match writes.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let span = tracing::debug_span!("sqlite.group_commit", writes = batch.len());
        span.in_scope(|| commit(conn, &mut batch));
        batch.clear();
    }
}

/// Runs one cached statement without parameters.
fn step(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `batch` in one transaction and finishes each write. When the transaction itself
/// fails, every write is finished with the error (or dropped, if it never started).
fn commit(conn: &Connection, batch: &mut Vec<Run>) {
    if let Err(e) = step(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, writes = batch.len(), "group commit: cannot begin");
        let _ = conn.execute_batch("ROLLBACK");
        return;
    }
    let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    for run in batch.drain(..) {
        if let Err(e) = step(conn, "SAVEPOINT one_write") {
            broken = Some(e.to_string());
            break;
        }
        let (write_failed, finish) = run(conn);
        finishes.push(finish);
        let closed = if write_failed {
            step(conn, "ROLLBACK TO one_write").and_then(|()| step(conn, "RELEASE one_write"))
        } else {
            step(conn, "RELEASE one_write")
        };
        if let Err(e) = closed {
            broken = Some(e.to_string());
            break;
        }
    }
    let outcome = match broken {
        Some(reason) => Err(reason),
        None => step(conn, "COMMIT").map_err(|e| e.to_string()),
    };
    if let Err(reason) = &outcome {
        tracing::error!(error = %reason, writes = finishes.len(), "group commit failed; rolling back");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for finish in finishes {
        finish(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(conn: &Connection, x: i64) -> Result<(), StoreError> {
        conn.prepare_cached("INSERT INTO t (x) VALUES (?1)")
            .and_then(|mut s| s.execute([x]))
            .map(|_| ())
            .map_err(failed)
    }

    #[tokio::test]
    async fn a_failed_write_is_rolled_back_alone_and_the_others_of_its_commit_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x INTEGER UNIQUE)").unwrap();
        let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();

        // Sent together, so they share one transaction; the middle one breaks the unique key
        // after an insert of its own that must be rolled back with it.
        let (first, duplicate, third) = tokio::join!(
            group.write(|conn| insert(conn, 1)),
            group.write(|conn| {
                insert(conn, 3)?;
                insert(conn, 1)
            }),
            group.write(|conn| insert(conn, 2)),
        );
        let reader = Connection::open(&path).unwrap();
        let stored: Vec<i64> = reader
            .prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();

        assert!(first.is_ok());
        assert!(duplicate.is_err());
        assert!(third.is_ok());
        assert_eq!(stored, [1, 2], "the failed write's first insert was rolled back with it");
    }

    #[tokio::test]
    async fn a_write_is_answered_only_once_its_transaction_has_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x INTEGER UNIQUE)").unwrap();
        let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();

        group.write(|conn| insert(conn, 7)).await.unwrap();
        // Another connection sees it at once: the answer came after COMMIT, not before.
        let seen: i64 = Connection::open(&path).unwrap().query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();

        assert_eq!(seen, 7);
    }
}
