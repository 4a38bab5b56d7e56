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
/// Distinct statements the writer keeps prepared.
const STATEMENT_CACHE: usize = 128;

/// Hands a write's result to its caller once the transaction it ran in has committed.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs a write on the writer's connection inside the open transaction; answers whether
/// it failed and how to finish it.
type Run = Box<dyn FnOnce(&Connection) -> (bool, Finish) + Send>;

/// One write, and whether someone outside waits for it right now.
struct Write {
    run: Run,
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

    /// Runs `write` in the next group transaction, inside its own savepoint; answers its
    /// result once that transaction has committed. A failed commit fails every write it
    /// carried. `write` runs on the writer thread, in the caller's tracing span.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.send(write, false).await
    }

    /// [`GroupCommit::write`] for a write someone outside is waiting for (a webhook's
    /// acknowledgement): it goes into the next commit ahead of background writes,
    /// and that commit carries only a few of those.
    pub(super) async fn write_urgent<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.send(write, true).await
    }

    async fn send<T, F>(&self, write: F, urgent: bool) -> Result<T, StoreError>
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
        self.writes.send(Write { run, urgent }).await.map_err(|_| gone())?;
        // Full when it was rung already and not yet heard: one ring is enough.
        let _ = self.bell.try_send(());
        // Dropped unanswered when its transaction could not even start.
        answered.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("the database writer stopped or its transaction could not start"))
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
        span.in_scope(|| commit(conn, &mut batch));
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

/// WAL pages past which a checkpoint is asked for: SQLite's own automatic threshold.
const CHECKPOINT_PAGES: i32 = 1000;
/// WAL pages past which the writer checkpoints itself although the checkpoint thread has
/// not finished: bounds the WAL at about 80 MB of 4 KiB pages.
const WRITER_CHECKPOINT_PAGES: i32 = 20_000;

thread_local! {
    /// Pages in the WAL after the writer's last commit; each writer thread has its own.
    static WAL_PAGES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// The writer's WAL hook (a plain `fn`: SQLite's callback cannot carry a closure here).
#[allow(clippy::unnecessary_wraps)] // the hook's signature
fn count_wal_pages(_wal: &rusqlite::hooks::Wal, pages: std::os::raw::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// No checkpoint asked for.
const IDLE: u8 = 0;
/// The checkpoint thread is asked for one, or is running it.
const ASKED: u8 = 1;
/// The checkpoint thread has copied the WAL it saw; the writer finishes the job.
const COPIED: u8 = 2;

/// Copies the WAL back into the database on its own thread and connection, so that the
/// writer does not spend a commit doing it (ADR 0013). With SQLite's automatic checkpoint,
/// one commit in some forty also copied about a thousand pages into the database and
/// synced it, and every write in it and queued behind it waited, 5 ms usually and up to
/// a quarter of a second.
///
/// A checkpoint beside the writer never catches up with a busy writer, and SQLite starts
/// the WAL over only when a transaction begins with every page of it copied. So once the
/// thread has copied what it saw, the writer copies the few commits made meanwhile itself
/// (a millisecond or two), and its next transaction starts the WAL from the beginning.
struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    phase: std::sync::Arc<std::sync::atomic::AtomicU8>,
    /// The WAL's pages when the writer last checkpointed without the thread.
    forced_at: std::cell::Cell<i32>,
}

impl Checkpointer {
    fn start(path: &Path, full_sync: bool, busy_timeout: Duration) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the SQLite database {} for checkpoints", path.display()))?;
        conn.busy_timeout(busy_timeout).context("cannot set the SQLite busy timeout")?;
        conn.execute_batch(if full_sync { "PRAGMA synchronous = FULL;" } else { "PRAGMA synchronous = NORMAL;" })
            .context("cannot configure the SQLite checkpoint connection")?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let phase = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(IDLE));
        let copied = std::sync::Arc::clone(&phase);
        std::thread::Builder::new()
            .name(String::from("sqlite-checkpoint"))
            .spawn(move || {
                // Ends with the writer, which holds the sending side.
                while woken.recv().is_ok() {
                    let span = tracing::debug_span!("sqlite.checkpoint");
                    span.in_scope(|| checkpoint(&conn, "checkpoint_thread"));
                    copied.store(COPIED, std::sync::atomic::Ordering::Release);
                }
            })
            .context("cannot start the SQLite checkpoint thread")?;
        Ok(Self { wake, phase, forced_at: std::cell::Cell::new(0) })
    }

    /// Runs on the writer after each commit.
    fn after_commit(&self, conn: &Connection) {
        let pages = WAL_PAGES.get();
        match self.phase.load(Ordering::Acquire) {
            IDLE if pages >= CHECKPOINT_PAGES => {
                self.phase.store(ASKED, Ordering::Release);
                // The channel holds one wake-up and the thread takes it before running.
                let _ = self.wake.try_send(());
            }
            ASKED if pages >= WRITER_CHECKPOINT_PAGES && pages >= self.forced_at.get() + CHECKPOINT_PAGES => {
                tracing::warn!(pages, "the SQLite WAL outgrew the checkpoint thread; the writer checkpoints");
                checkpoint(conn, "writer");
                self.forced_at.set(pages);
            }
            COPIED => {
                checkpoint(conn, "writer");
                self.forced_at.set(0);
                self.phase.store(IDLE, Ordering::Release);
            }
            _ => {}
        }
    }
}

/// Copies what it can of the WAL into the database without waiting for anyone; a
/// failure is logged and the next checkpoint copies what this one did not. `on` names the
/// thread for the duration metric.
fn checkpoint(conn: &Connection, on: &'static str) {
    let began = std::time::Instant::now();
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
        tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
    }
    metrics::histogram!("switchboard_sqlite_checkpoint_seconds", "on" => on).record(began.elapsed());
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

/// Runs `batch` in one transaction and finishes each write. When the transaction itself
/// fails, every write is finished with the error (or dropped, if it never started).
fn commit(conn: &Connection, batch: &mut Vec<Write>) {
    if let Err(e) = step(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, writes = batch.len(), "group commit: cannot begin");
        let _ = conn.execute_batch("ROLLBACK");
        return;
    }
    let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    for Write { run, .. } in batch.drain(..) {
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
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_webhook_write_is_committed_ahead_of_a_backlog_of_background_writes() {
        let (_dir, path) = database_with_table_t();
        let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();
        // Hold the writer busy so that everything below queues up behind it.
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let (started, writer_busy) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let group = group.clone();
            async move {
                group
                    .write(move |_| {
                        started.send(()).ok();
                        held.recv().ok();
                        Ok(())
                    })
                    .await
            }
        });
        while writer_busy.try_recv().is_err() {
            tokio::task::yield_now().await;
        }
        let background: Vec<_> = (0..300_i64)
            .map(|x| {
                let group = group.clone();
                tokio::spawn(async move { group.write(move |conn| insert(conn, x)).await })
            })
            .collect();
        let urgent = tokio::spawn({
            let group = group.clone();
            async move {
                group
                    .write_urgent(|conn| {
                        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)).map_err(failed)
                    })
                    .await
            }
        });
        // The writer took the blocker; wait until the 301 writes behind it are queued.
        while QUEUE - group.writes.capacity() < 301 {
            tokio::task::yield_now().await;
        }
        hold.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let rows_before_it = urgent.await.unwrap().unwrap();
        for write in background {
            write.await.unwrap().unwrap();
        }
        let all: i64 = Connection::open(&path).unwrap().query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();

        assert_eq!(rows_before_it, 0, "the urgent write ran before the 300 background writes sent earlier");
        assert_eq!(all, 300, "every background write still committed");
    }

    fn insert(conn: &Connection, x: i64) -> Result<(), StoreError> {
        conn.prepare_cached("INSERT INTO t (x) VALUES (?1)")
            .and_then(|mut s| s.execute([x]))
            .map(|_| ())
            .map_err(failed)
    }

    #[tokio::test]
    async fn a_failed_write_is_rolled_back_alone_and_the_others_of_its_commit_are_kept() {
        let (_dir, path) = database_with_table_t();
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
        let (_dir, path) = database_with_table_t();
        let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();

        group.write(|conn| insert(conn, 7)).await.unwrap();
        // Another connection sees it at once: the answer came after COMMIT, not before.
        let seen: i64 = Connection::open(&path).unwrap().query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();

        assert_eq!(seen, 7);
    }

    /// A writer on a new database whose commits wait for company up to `wait`.
    fn waiting_for_company(wait: Duration) -> (tempfile::TempDir, GroupCommit) {
        let (dir, path) = database_with_table_t();
        let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();
        group.wait_for_company(wait);
        (dir, group)
    }

    #[tokio::test]
    async fn writes_sent_one_after_another_within_the_commit_wait_share_one_commit() {
        // Far longer than the gaps below, so that the test does not depend on timing.
        let (_dir, group) = waiting_for_company(Duration::from_secs(2));
        group.write(|conn| insert(conn, 100)).await.unwrap();

        let writes: Vec<_> = (0..3_i64)
            .map(|x| {
                let group = group.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20 * u64::try_from(x).unwrap())).await;
                    group.write(move |conn| insert(conn, x)).await
                })
            })
            .collect();
        for write in writes {
            write.await.unwrap().unwrap();
        }

        assert_eq!(group.commits(), 2, "the three writes after the first commit shared the next one");
    }

    #[tokio::test]
    async fn a_write_with_no_commit_begun_within_the_wait_commits_at_once() {
        let (_dir, group) = waiting_for_company(Duration::from_secs(600));

        let first = tokio::time::timeout(Duration::from_secs(60), group.write(|conn| insert(conn, 1))).await;

        assert!(first.expect("the first write did not wait out the ten minutes").is_ok());
        assert_eq!(group.commits(), 1);
    }

    #[tokio::test]
    async fn a_commit_with_enough_company_does_not_wait_out_the_commit_wait() {
        let (_dir, group) = waiting_for_company(Duration::from_secs(600));
        group.write(|conn| insert(conn, 100)).await.unwrap();

        let writes = (0..i64::try_from(COMPANY).unwrap()).map(|x| group.write(move |conn| insert(conn, x)));
        let all = tokio::time::timeout(Duration::from_secs(60), futures_util::future::join_all(writes)).await;

        let all = all.expect("sixteen writes committed without waiting out the ten minutes");
        assert!(all.iter().all(Result::is_ok));
        assert_eq!(group.commits(), 2);
    }

    #[tokio::test]
    async fn without_a_commit_wait_each_write_sent_alone_commits_alone() {
        let (_dir, path) = database_with_table_t();
        let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();

        for x in 0..3 {
            group.write(move |conn| insert(conn, x)).await.unwrap();
        }

        assert_eq!(group.commits(), 3);
    }

    #[tokio::test]
    async fn the_wal_is_copied_back_and_started_over_while_writes_keep_coming() {
        let (_dir, path) = database_with_table_t();
        let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();
        group.write(|conn| conn.execute_batch("CREATE TABLE pages (b BLOB)").map_err(failed)).await.unwrap();

        // About 11,000 pages of 4 KiB, one write at a time, many commits: with no
        // checkpoint at all the WAL would hold every one of them.
        for _ in 0..1500 {
            group
                .write(|conn| {
                    for _ in 0..10 {
                        conn.execute("INSERT INTO pages (b) VALUES (zeroblob(2000))", []).map_err(failed)?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
        }

        // A passive checkpoint from outside copies nothing new; it reports the WAL's frames.
        let frames: i64 =
            Connection::open(&path).unwrap().query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1)).unwrap();
        assert!(frames < 5 * i64::from(CHECKPOINT_PAGES), "the WAL holds {frames} frames");
    }
}
