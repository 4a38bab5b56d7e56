//! Group commit for SQLite (ADR 0010). Every commit in `synchronous = FULL` costs an
//! fsync of the WAL, a few milliseconds on ordinary disks, and SQLite has one writer at a
//! time: one transaction per write caps the whole process at a few hundred writes a second.
//!
//! So writes go to one writer task. It takes every write waiting when it is free, runs them
//! in one `BEGIN IMMEDIATE .. COMMIT`, each inside its own savepoint (a write that fails is
//! rolled back alone; the others still commit), and answers each caller only after the
//! commit: an acknowledged write is as durable as before, and concurrent writers share
//! one fsync. Writes run in the order they were sent, so one caller's writes keep their order.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use switchboard_application::ports::StoreError;
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::Instrument;

/// Writes waiting beyond this many make their callers wait to send (backpressure).
const QUEUE: usize = 4096;
/// The most writes one transaction carries: bounds the time the write lock is held.
const MAX_BATCH: usize = 512;

/// Hands a write's result to its caller once the transaction it ran in has committed.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs a write on the writer's connection inside the open transaction; answers whether
/// it failed and how to finish it.
type Run = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Finish)> + Send>;

/// One write.
struct Write {
    run: Run,
    /// A single statement: SQLite backs out a failed statement by itself, so it needs no
    /// savepoint of its own (one round trip less).
    single: bool,
}

/// The sending side of the writer task; cheap to clone.
#[derive(Clone)]
pub(super) struct GroupCommit {
    writes: mpsc::Sender<Write>,
}

impl GroupCommit {
    /// Starts the writer task. `turn` is the process's write turn, which the writer holds
    /// for each transaction, so writes not sent here still never interleave with it.
    pub(super) fn start(pool: SqlitePool, turn: Arc<Mutex<()>>) -> Self {
        let (writes, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(writer(pool, turn, receiver));
        Self { writes }
    }

    /// Runs `write` in the next group transaction; answers its result once that
    /// transaction has committed. A failed commit fails every write it carried.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        self.send(write, false).await
    }

    /// [`GroupCommit::write`] for a write of exactly one SQL statement. Should it fail,
    /// the whole transaction is given up (its failure is then an I/O or locking one).
    pub(super) async fn write_single<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        self.send(write, true).await
    }

    async fn send<T, F>(&self, write: F, single: bool) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, StoreError>>();
        let run: Run = Box::new(move |conn| {
            Box::pin(async move {
                let result = write(conn).await;
                let failed = result.is_err();
                let finish: Finish = Box::new(move |committed| {
                    let _ = answer.send(match committed {
                        Ok(()) => result,
                        Err(reason) => Err(StoreError::Unavailable(anyhow::anyhow!("commit failed: {reason}"))),
                    });
                });
                (failed, finish)
            })
        });
        self.writes.send(Write { run, single }).await.map_err(|_| gone())?;
        // Dropped unanswered when its transaction could not even start or was rolled back.
        answered.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("the database writer stopped or its transaction was rolled back"))
}

async fn writer(pool: SqlitePool, turn: Arc<Mutex<()>>, mut writes: mpsc::Receiver<Write>) {
    let mut batch: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = writes.recv().await {
        batch.push(first);
        let _turn = turn.lock().await;
        // Everything that queued meanwhile (during the last commit's fsync) rides along.
        while batch.len() < MAX_BATCH {
            match writes.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let span = tracing::debug_span!("sqlite.group_commit", writes = batch.len());
        commit(&pool, &mut batch).instrument(span).await;
        batch.clear();
    }
}

/// Runs `batch` in one transaction and finishes each write. On any failure of the
/// transaction itself the writes are dropped or finished with the error.
async fn commit(pool: &SqlitePool, batch: &mut Vec<Write>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!(error = %e, writes = batch.len(), "group commit: no connection");
            return;
        }
    };
    // Statements travel to SQLite's thread one call at a time, so savepoint steps are
    // spent only where needed. `one_write` marks the state after the last write that
    // succeeded; it is moved forward (one call: `RELEASE; SAVEPOINT`) only before a write
    // of several statements, whose failure rolls back to it (`ROLLBACK TO` keeps it open).
    // A single statement needs no savepoint; `COMMIT` releases whatever is open.
    if let Err(e) = sqlx::raw_sql("BEGIN IMMEDIATE; SAVEPOINT one_write").execute(&mut *conn).await {
        tracing::error!(error = %e, writes = batch.len(), "group commit: cannot begin");
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
        return;
    }
    let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    let mut mark_behind = false;
    for write in batch.drain(..) {
        if !write.single && mark_behind {
            if let Err(e) = sqlx::raw_sql("RELEASE one_write; SAVEPOINT one_write").execute(&mut *conn).await {
                broken = Some(e.to_string());
                break;
            }
            mark_behind = false;
        }
        let (failed, finish) = (write.run)(&mut conn).await;
        finishes.push(finish);
        if !failed {
            mark_behind = true;
            continue;
        }
        if write.single {
            broken = Some(String::from("a single-statement write failed; the transaction is given up"));
            break;
        }
        if let Err(e) = sqlx::raw_sql("ROLLBACK TO one_write").execute(&mut *conn).await {
            broken = Some(e.to_string());
            break;
        }
    }
    let outcome = match broken {
        Some(reason) => Err(reason),
        None => sqlx::query("COMMIT").execute(&mut *conn).await.map(|_| ()).map_err(|e| e.to_string()),
    };
    if let Err(reason) = &outcome {
        tracing::error!(error = %reason, writes = finishes.len(), "group commit failed; rolling back");
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    drop(conn);
    for finish in finishes {
        finish(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    fn insert(conn: &mut SqliteConnection, x: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO t (x) VALUES (?1)")
                .bind(x)
                .execute(&mut *conn)
                .await
                .map(|_| ())
                .map_err(super::super::records::unavailable)
        })
    }

    #[tokio::test]
    async fn a_failed_write_is_rolled_back_alone_and_the_others_of_its_commit_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new().filename(dir.path().join("t.db")).create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER UNIQUE)").execute(&pool).await.unwrap();
        let group = GroupCommit::start(pool.clone(), Arc::new(Mutex::new(())));

        // Sent together, so they share one transaction; the middle one breaks the unique key
        // after a single-statement write that must survive its rollback.
        let (first, duplicate, third) = tokio::join!(
            group.write_single(|conn| Box::pin(async move { insert(conn, 1).await })),
            group.write(|conn| Box::pin(async move {
                insert(&mut *conn, 3).await?;
                insert(conn, 1).await
            })),
            group.write(|conn| Box::pin(async move { insert(conn, 2).await })),
        );
        let stored: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x").fetch_all(&pool).await.unwrap();

        assert!(first.is_ok());
        assert!(duplicate.is_err());
        assert!(third.is_ok());
        assert_eq!(stored, [1, 2], "the failed write's first insert was rolled back with it");
    }
}
