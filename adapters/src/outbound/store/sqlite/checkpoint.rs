//! The WAL's checkpoints beside the single writer (ADR 0013), and the count of the WAL's
//! pages the writer reports.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::Connection;

/// WAL pages past which a checkpoint is asked for: four times SQLite's own automatic
/// threshold (16 MB of 4 KiB pages). A page rewritten by many commits meanwhile is copied
/// into the database once, and the database file is synced a quarter as often: the
/// checkpoint thread spent about 28 % less CPU per message than at 1,000 pages in every
/// one of four pairs (docs/performance.md, "What remains": checkpoints every 4,000 pages).
pub(super) const CHECKPOINT_PAGES: i32 = 4000;
/// WAL pages past which the writer checkpoints itself although the checkpoint thread has
/// not finished: bounds the WAL at about 80 MB of 4 KiB pages.
const WRITER_CHECKPOINT_PAGES: i32 = 20_000;

thread_local! {
    /// Pages in the WAL after the writer's last commit; each writer thread has its own.
    pub(super) static WAL_PAGES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// The writer's WAL hook (a plain `fn`: SQLite's callback cannot carry a closure here).
#[allow(clippy::unnecessary_wraps)] // the hook's signature
pub(super) fn count_wal_pages(_wal: &rusqlite::hooks::Wal, pages: std::os::raw::c_int) -> rusqlite::Result<()> {
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
pub(super) struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    phase: std::sync::Arc<std::sync::atomic::AtomicU8>,
    /// The WAL's pages when the writer last checkpointed without the thread.
    forced_at: std::cell::Cell<i32>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path, full_sync: bool, busy_timeout: Duration) -> anyhow::Result<Self> {
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
    pub(super) fn after_commit(&self, conn: &Connection) {
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
