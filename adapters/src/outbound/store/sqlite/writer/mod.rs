//! Group commit for SQLite (ADR 0010, ADR 0011). Every commit in `synchronous = FULL`
//! costs an fsync of the WAL, and SQLite has one writer at a time: one transaction per
//! write caps the whole process at a few hundred writes a second.
//!
//! So every write of this process goes to one writer thread that owns a plain SQLite
//! connection (rusqlite, with prepared statements cached). It takes every write waiting
//! when it is free, runs them in one `BEGIN IMMEDIATE .. COMMIT`, and answers each caller
//! only after the commit: an acknowledged write is as durable as before, and concurrent
//! writers share one fsync. Writes run in the order they were sent, so one caller's
//! writes keep their order. A write that fails is rolled back alone and the others still
//! commit: the batch then runs over, each write in its own savepoint (ADR 0039; a
//! savepoint for every write would copy every page it touches).
//!
//! A commit that would carry only a few writes waits a little for company (ADR 0037):
//! at a moderate rate each write would otherwise pay a whole commit (its own `fsync`, and
//! every page it touched written whole to the WAL, pages that the next write rewrites).
//! Such a commit begins no sooner than the commit wait (2 ms by default) after the one
//! before it began, and carries what arrived meanwhile; it starts as soon as [`COMPANY`]
//! writes are waiting. A write after a quiet spell, and every commit under load, starts
//! at once.
//!
//! A webhook's ingest is sent as urgent: it goes into the next commit ahead of the
//! workers' writes, and a commit that carries urgent writes takes only a few of those, so
//! a backlog of worker writes cannot stretch the commit an acknowledgement waits for.
//! `PRAGMA temp_store = MEMORY` keeps the savepoints' sub-journals off the disk.
//!
//! The thread is the only writer in the process, so writes never wait in SQLite's busy
//! handler for each other; reads go through the sqlx pool on other connections (WAL lets
//! them run beside the writer). A statement runs here without the hand-off to another
//! thread that an async driver makes per statement, which was the limit before (see
//! docs/performance.md).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rusqlite::Connection;
use switchboard_application::ports::StoreError;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{Checkpointer, WAL_PAGES, count_wal_pages};

/// Writes waiting beyond this many make their callers wait to send (backpressure).
const QUEUE: usize = 4096;
/// The most writes one transaction carries: bounds the time the write lock is held.
const MAX_BATCH: usize = 512;
/// At most this many background writes ride in a commit that carries urgent ones, so a
/// backlog of worker writes cannot stretch the commit a webhook waits for.
const BACKGROUND_WITH_URGENT: usize = 64;
/// A commit that would carry fewer writes than this begins no sooner than the commit wait
/// after the one before it.
const COMPANY: usize = 16;
/// After a commit that had to run over because a write failed, this many commits give
/// each write its own savepoint from the start: writes that keep failing cost the writer
/// savepoints, never a second run of every commit.
const CAREFUL_AFTER_FAILURE: u32 = 64;
/// Distinct statements the writer keeps prepared.
const STATEMENT_CACHE: usize = 128;

/// A write waiting for its commit. It runs inside the open transaction, and runs again
/// when the transaction is rolled back and run over (see [`commit`]); its caller is
/// answered once the transaction has ended.
trait Pending: Send {
    /// Runs the write; answers whether it failed. A run replaces the result of any
    /// earlier one.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller: the last run's result if the transaction committed, else
    /// the reason it did not.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

/// A caller's write, its tracing span, and where its answer goes.
struct Call<T, F> {
    write: F,
    span: tracing::Span,
    result: Option<Result<T, StoreError>>,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending for Call<T, F>
where
    T: Send,
    F: Fn(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = self.span.in_scope(|| (self.write)(conn));
        let failed = result.is_err();
        self.result = Some(result);
        failed
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let Self { result, answer, .. } = *self;
        let _ = answer.send(match (committed, result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(gone()),
            (Err(reason), _) => Err(StoreError::Unavailable(anyhow::anyhow!("commit failed: {reason}"))),
        });
    }
}

/// One write, and whether someone outside waits for it right now.
struct Write {
    pending: Box<dyn Pending>,
    urgent: bool,
}

/// The sending side of the writer thread; cheap to clone. The thread ends, closing its
/// connection, when the last clone is dropped.
#[derive(Clone)]
pub(super) struct GroupCommit {
    writes: mpsc::Sender<Write>,
    /// How long after a commit began the next one with fewer than [`COMPANY`] writes may
    /// begin, in microseconds (0: at once); read by the writer before each commit.
    wait_us: Arc<AtomicU64>,
    /// Rung after each write is sent: wakes a writer waiting for company at once.
    bell: std::sync::mpsc::SyncSender<()>,
    /// Commits begun so far (the metric counts them for operators; this, for the tests).
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tests"))]
    commits: Arc<AtomicU64>,
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
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
        } else {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
        })
        .context("cannot configure the SQLite writer connection")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let checkpoints = Checkpointer::start(path, full_sync, busy_timeout)?;
        // Replaces SQLite's automatic checkpoint: the writer only counts the WAL's pages.
        conn.wal_hook(Some(count_wal_pages));
        let (writes, receiver) = mpsc::channel(QUEUE);
        let wait_us = Arc::new(AtomicU64::new(0));
        let commits = Arc::new(AtomicU64::new(0));
        let (bell, rung) = std::sync::mpsc::sync_channel(1);
        let thread = Thread { writes: receiver, rung, wait_us: Arc::clone(&wait_us), commits: Arc::clone(&commits) };
        std::thread::Builder::new()
            .name(String::from("sqlite-writer"))
            .spawn(move || writer(&conn, thread, &checkpoints))
            .context("cannot start the SQLite writer thread")?;
        Ok(Self { writes, wait_us, bell, commits })
    }

    /// From now on a commit that would carry fewer than [`COMPANY`] writes begins no
    /// sooner than `wait` after the one before it began (`Duration::ZERO`: at once).
    pub(super) fn wait_for_company(&self, wait: Duration) {
        self.wait_us.store(u64::try_from(wait.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Commits begun so far.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `write` in the next group transaction; answers its result once that
    /// transaction has committed. A failed commit fails every write it carried. `write`
    /// runs on the writer thread, in the caller's tracing span, and may run more than
    /// once: when a write of its commit fails, the transaction is rolled back and runs
    /// over (ADR 0039), and the caller gets the result of the run that committed. So
    /// `write` changes nothing but the database.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.send(write, false).await
    }

    /// [`GroupCommit::write`] for a write someone outside is waiting for (a webhook's
    /// acknowledgement): it goes into the next commit ahead of background writes,
    /// and that commit carries only a few of those.
    pub(super) async fn write_urgent<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.send(write, true).await
    }

    async fn send<T, F>(&self, write: F, urgent: bool) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, StoreError>>();
        let pending = Box::new(Call { write, span: tracing::Span::current(), result: None, answer });
        self.writes.send(Write { pending, urgent }).await.map_err(|_| gone())?;
        // Full when it was rung already and not yet heard: one ring is enough.
        let _ = self.bell.try_send(());
        // Dropped unanswered only when the writer thread has ended.
        answered.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("the database writer stopped"))
}

/// The writer thread's side of [`GroupCommit`].
struct Thread {
    writes: mpsc::Receiver<Write>,
    rung: std::sync::mpsc::Receiver<()>,
    wait_us: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
}

fn writer(conn: &Connection, thread: Thread, checkpoints: &Checkpointer) {
    let Thread { mut writes, rung, wait_us, commits } = thread;
    let mut urgent: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    // Background writes taken from the channel but not yet run, oldest first. Bounded:
    // the channel is read only while this holds fewer than MAX_BATCH.
    let mut background: VecDeque<Write> = VecDeque::with_capacity(MAX_BATCH);
    let mut batch: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    let mut wal_pages = 0;
    let mut last_began: Option<Instant> = None;
    // Commits left that give each write its own savepoint from the start.
    let mut careful_commits: u32 = 0;
    loop {
        if background.is_empty() {
            match writes.blocking_recv() {
                Some(write) => take(write, &mut urgent, &mut background),
                None => return,
            }
        }
        // Everything that queued meanwhile (during the last commit's fsync) rides along.
        gather(&mut writes, &mut urgent, &mut background);
        // Too few to share a commit, and the last one began less than the commit wait ago:
        // wait for company until the wait has passed since then (ADR 0037), woken by each
        // write sent meanwhile. Commits are spaced by the wait at most; one that took
        // longer than the wait is followed at once. Rings heard before the writes they
        // announce were taken are dropped first; a write sent after this gather rings again.
        let wait = Duration::from_micros(wait_us.load(Ordering::Relaxed));
        if let Some(until) = last_began.map(|began| began + wait)
            && urgent.len() + background.len() < COMPANY
            && until > Instant::now()
        {
            while rung.try_recv().is_ok() {}
            gather(&mut writes, &mut urgent, &mut background);
            while urgent.len() + background.len() < COMPANY {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() || matches!(rung.recv_timeout(left), Err(RecvTimeoutError::Disconnected)) {
                    break;
                }
                gather(&mut writes, &mut urgent, &mut background);
            }
        }
        let background_share = if urgent.is_empty() { MAX_BATCH } else { BACKGROUND_WITH_URGENT };
        // Urgent writes first; the order among each kind is kept. An urgent write never
        // depends on a background one sent before it (webhook ingest reads nothing the
        // workers write but the message rows, which only ingest inserts).
        batch.append(&mut urgent);
        let share = background_share.min(background.len());
        batch.extend(background.drain(..share));
        let span = tracing::debug_span!("sqlite.group_commit", writes = batch.len());
        let began = Instant::now();
        last_began = Some(began);
        // Counted before the callers are answered, so that they see their own commit.
        commits.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchboard_sqlite_writes_total").increment(batch.len() as u64);
        if span.in_scope(|| commit(conn, &mut batch, careful_commits > 0)) {
            careful_commits = CAREFUL_AFTER_FAILURE;
        } else {
            careful_commits = careful_commits.saturating_sub(1);
        }
        metrics::histogram!("switchboard_sqlite_commit_seconds").record(began.elapsed());
        batch.clear();
        // The pages this commit appended to the WAL (after a checkpoint started it over,
        // all of them): every dirty page of a commit is written whole, and synced.
        let pages = WAL_PAGES.get();
        let appended = if pages >= wal_pages { pages - wal_pages } else { pages };
        wal_pages = pages;
        metrics::counter!("switchboard_sqlite_wal_pages_total").increment(u64::try_from(appended).unwrap_or(0));
        checkpoints.after_commit(conn);
    }
}

/// Takes every write waiting on the channel, as far as the batch limits allow.
fn gather(writes: &mut mpsc::Receiver<Write>, urgent: &mut Vec<Write>, background: &mut VecDeque<Write>) {
    while urgent.len() < MAX_BATCH && background.len() < MAX_BATCH {
        match writes.try_recv() {
            Ok(write) => take(write, urgent, background),
            Err(_) => break,
        }
    }
}

fn take(write: Write, urgent: &mut Vec<Write>, background: &mut VecDeque<Write>) {
    if write.urgent {
        urgent.push(write);
    } else {
        background.push_back(write);
    }
}

/// Runs one cached statement without parameters.
fn step(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `batch` in one transaction and answers each write; answers whether a write
/// failed and the batch had to run over.
///
/// Unless `careful`, the writes first run one after another with no savepoint of their
/// own: a savepoint copies every page its write touches into a sub-journal in memory
/// (4 % of the service's CPU at saturation, docs/performance.md). If one of them fails
/// there is nothing to undo it alone, so the transaction is rolled back and the whole
/// batch runs over, each write in its own savepoint, as a careful commit does at once:
/// a failed write is rolled back alone and the others still commit. A write is answered
/// with the result of its last run. When the transaction itself fails, every write is
/// answered with the reason.
fn commit(conn: &Connection, batch: &mut Vec<Write>, careful: bool) -> bool {
    let mut ran_over = false;
    let mut ran = step(conn, "BEGIN IMMEDIATE").map_err(|e| e.to_string()).and_then(|()| run(conn, batch, careful));
    if matches!(ran, Ok(true)) && !careful {
        ran_over = true;
        ran = step(conn, "ROLLBACK")
            .and_then(|()| step(conn, "BEGIN IMMEDIATE"))
            .map_err(|e| e.to_string())
            .and_then(|()| run(conn, batch, true));
    }
    let outcome = ran.and_then(|_| step(conn, "COMMIT").map_err(|e| e.to_string()));
    if let Err(reason) = &outcome {
        tracing::error!(error = %reason, writes = batch.len(), "group commit failed; rolling back");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for write in batch.drain(..) {
        write.pending.finish(outcome.clone());
    }
    ran_over
}

/// Runs each write of `batch` in the open transaction, each in its own savepoint when
/// `savepoints` (a failed one is then rolled back alone), else stopping at the first that
/// fails. Answers whether one failed; an error when the transaction broke.
fn run(conn: &Connection, batch: &mut [Write], savepoints: bool) -> Result<bool, String> {
    let mut failed = false;
    for write in batch {
        if savepoints {
            step(conn, "SAVEPOINT one_write").map_err(|e| e.to_string())?;
        }
        let write_failed = write.pending.run(conn);
        failed |= write_failed;
        if savepoints {
            if write_failed {
                step(conn, "ROLLBACK TO one_write").map_err(|e| e.to_string())?;
            }
            step(conn, "RELEASE one_write").map_err(|e| e.to_string())?;
        } else if write_failed {
            break;
        }
    }
    Ok(failed)
}

/// A new WAL database in a temporary directory with one table `t (x INTEGER UNIQUE)`,
/// for the tests of the writer and the readers.
#[cfg(test)]
pub(super) fn database_with_table_t() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER UNIQUE)")
        .unwrap();
    (dir, path)
}

#[cfg(test)]
mod tests;
