//! The hot reads of the job workers (an inbound message, its conversation's unanswered
//! messages, a delivery, a setting) on plain SQLite connections, run in place.
//!
//! Through sqlx every query is sent to the connection's own thread and its answer sent
//! back: two thread hand-offs per query, against a few microseconds for SQLite to read an
//! indexed row from its cache. So these point reads run right on the calling task's
//! thread, on a connection taken from a small pool. In WAL mode a reader never waits for
//! the writer; only a checkpoint that resets the WAL can make it wait (bounded by the busy
//! timeout). Scans (management lists, metrics) stay on the sqlx pool.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use switchboard_application::ports::StoreError;

use super::writer::failed;

/// Idle connections kept; more may be open at once (one per thread reading).
const KEEP_IDLE: usize = 8;
/// Distinct statements each reader keeps prepared.
const STATEMENT_CACHE: usize = 32;

pub(super) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: &Path, busy_timeout: Duration) -> Self {
        Self { path: path.to_path_buf(), busy_timeout, idle: Mutex::new(Vec::new()) }
    }

    /// Runs `read` on an idle connection (opening one when none is idle) on this thread.
    pub(super) fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP_IDLE
        {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(failed)?;
        conn.busy_timeout(self.busy_timeout).map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::store::sqlite::writer::{GroupCommit, database_with_table_t};

    fn count(conn: &Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).map_err(failed)
    }

    /// `depth + 1` reads, each inside the one before.
    fn nested(readers: &Readers, depth: usize) -> Result<i64, StoreError> {
        readers.read(|conn| if depth == 0 { count(conn) } else { nested(readers, depth - 1) })
    }

    #[tokio::test]
    async fn a_reader_sees_each_committed_write_at_once_and_can_never_write() {
        let (_dir, path) = database_with_table_t();
        let group = GroupCommit::start(&path, true, Duration::from_secs(1)).unwrap();
        let readers = Readers::new(&path, Duration::from_secs(1));

        let before = readers.read(count).unwrap();
        group.write(|conn| conn.execute("INSERT INTO t (x) VALUES (1)", []).map(|_| ()).map_err(failed)).await.unwrap();
        let after = readers.read(count).unwrap();
        let write = readers.read(|conn| conn.execute("INSERT INTO t (x) VALUES (2)", []).map_err(failed));

        assert_eq!((before, after), (0, 1));
        assert!(write.is_err(), "a reader's connection is read-only");
    }

    #[test]
    fn a_connection_is_kept_for_the_next_read_and_no_more_than_the_idle_limit_are_kept() {
        let (_dir, path) = database_with_table_t();
        let readers = Readers::new(&path, Duration::from_secs(1));

        readers.read(count).unwrap();
        readers.read(count).unwrap();
        let kept_after_two_reads = readers.idle.lock().unwrap().len();
        // Reads nested inside each other each need a connection of their own.
        nested(&readers, KEEP_IDLE + 3).unwrap();
        let kept_after_many = readers.idle.lock().unwrap().len();

        assert_eq!(kept_after_two_reads, 1);
        assert_eq!(kept_after_many, KEEP_IDLE);
    }
}
