//! Log lines written by one thread, as many as have gathered in one `write`.
//!
//! Each log line used to be one `write(2)` on stdout, made by the thread that logged it:
//! at saturation 3.3 % of the service's CPU samples went to those calls on the request and
//! worker threads (docs/performance.md, ADR 0042). Here the finished line (already
//! redacted) is copied into a shared buffer, and a thread of its own writes whatever has
//! gathered there in one call.
//!
//! - Nothing is dropped: when the buffer is full (the output cannot keep up), the
//!   logging thread waits, as it waited for the `write` before.
//! - Lines keep the order in which they were handed over, and are never cut into each
//!   other.
//! - No allocation per line: the buffer and its spare keep their capacity. (A first
//!   version sent each line as a `Vec` over a channel; the lines, allocated on one thread
//!   and freed on another, lifted the peak RSS of some bench rounds from about 60 MB to
//!   86-100 MB.)
//! - [`BatchedWriter::flush`] returns once every line handed over before it is written;
//!   the binary calls it before it prints its last words and exits, and on a panic.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Bytes that may gather before a logging thread has to wait for the writer thread.
const FULL: usize = 4 * 1024 * 1024;
/// How long the thread lets lines gather after the first one: a line reaches stdout at
/// most this late (a flush too), and a busy service wakes the thread about 200 times a
/// second, not once a line.
const LINGER: Duration = Duration::from_millis(5);

#[derive(Default)]
struct Pending {
    /// Lines handed over and not yet taken by the writer thread.
    lines: Vec<u8>,
    /// Bytes handed over since the start, and bytes written: a flush waits until
    /// `written` reaches what `handed` was when it began.
    handed: u64,
    written: u64,
    /// Set when the last handle is gone: the thread writes what is left and ends.
    closing: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Rung when lines arrive in an empty buffer, and when the handles are gone.
    arrived: Condvar,
    /// Rung after each write: for flushes, and for loggers waiting on a full buffer.
    wrote: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handing-over side: a [`MakeWriter`] for the log layers; cheap to clone. The thread
/// writes what is left and ends when the last clone is dropped.
#[derive(Clone)]
pub struct BatchedWriter {
    handle: Arc<Handle>,
}

/// Shared by the clones of one [`BatchedWriter`]; its drop tells the thread to end.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.arrived.notify_one();
    }
}

impl BatchedWriter {
    /// Starts the thread that writes to `out`.
    pub fn start<W: Write + Send + 'static>(out: W) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            arrived: Condvar::new(),
            wrote: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        std::thread::Builder::new().name(String::from("log-writer")).spawn(move || write_batches(&theirs, out))?;
        Ok(Self { handle: Arc::new(Handle { shared }) })
    }

    /// Waits until every line handed over before this call is written, for at most
    /// `within`; answers whether that happened.
    pub fn flush(&self, within: Duration) -> bool {
        let shared = &self.handle.shared;
        let deadline = Instant::now() + within;
        let mut pending = shared.lock();
        let target = pending.handed;
        shared.arrived.notify_one();
        while pending.written < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            pending = shared.wrote.wait_timeout(pending, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }
}

/// One line's writer, as [`MakeWriter`] hands it to a layer for one event.
pub struct Line<'a> {
    shared: &'a Shared,
}

impl Write for Line<'_> {
    /// Copies `buf` whole into the buffer: the layers write a line in one call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut pending = self.shared.lock();
        while pending.lines.len() >= FULL {
            pending = self.shared.wrote.wait(pending).unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = pending.lines.is_empty();
        pending.lines.extend_from_slice(buf);
        pending.handed += buf.len() as u64;
        drop(pending);
        if was_empty {
            self.shared.arrived.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line { shared: &self.handle.shared }
    }
}

/// The writer thread: waits for a line, lets more gather for [`LINGER`] (unless the
/// buffer is already large or a flush waits), takes the whole buffer (leaving its spare
/// in its place) and writes it in one call. While it sleeps, handing a line over wakes
/// nobody: a wake-up for each line cost more than the `write` it saved.
fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch: Vec<u8> = Vec::new();
    loop {
        let mut pending = shared.lock();
        while pending.lines.is_empty() && !pending.closing {
            pending = shared.arrived.wait(pending).unwrap_or_else(PoisonError::into_inner);
        }
        if pending.lines.is_empty() {
            return;
        }
        if pending.lines.len() < FULL / 4 && !pending.closing {
            drop(pending);
            std::thread::sleep(LINGER);
            pending = shared.lock();
        }
        std::mem::swap(&mut pending.lines, &mut batch);
        let taken = pending.handed;
        drop(pending);
        // A line that cannot be written (stdout closed) is lost, as it was before.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        shared.lock().written = taken;
        shared.wrote.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Records each `write` it gets.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_handed_over_before_a_flush_is_written_in_order() {
        let writes = Writes::default();
        let logs = BatchedWriter::start(writes.clone()).unwrap();

        for n in 0..1_000 {
            logs.make_writer().write_all(format!("line {n}\n").as_bytes()).unwrap();
        }
        let flushed = logs.flush(Duration::from_secs(5));

        let text: Vec<u8> = writes.0.lock().unwrap().concat();
        let expected: String = (0..1_000).map(|n| format!("line {n}\n")).collect();
        assert!(flushed);
        assert_eq!(String::from_utf8(text).unwrap(), expected);
    }

    /// Holds its first `write` until the test opens it, so that lines queue behind it.
    struct Gate {
        writes: Writes,
        entered: mpsc::Sender<()>,
        open: Option<mpsc::Receiver<()>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(open) = self.open.take() {
                self.entered.send(()).unwrap();
                open.recv().unwrap();
            }
            self.writes.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A writer thread held inside the write of its first line, "first\n"; it goes on
    /// once the test sends on the answered channel.
    fn held_in_its_first_write() -> (Writes, BatchedWriter, mpsc::Sender<()>) {
        let writes = Writes::default();
        let (open, opened) = mpsc::channel();
        let (entered, held) = mpsc::channel();
        let logs = BatchedWriter::start(Gate { writes: writes.clone(), entered, open: Some(opened) }).unwrap();
        logs.make_writer().write_all(b"first\n").unwrap();
        held.recv().unwrap();
        (writes, logs, open)
    }

    #[test]
    fn lines_that_queue_while_a_write_is_under_way_go_out_in_one_write() {
        let (writes, logs, open) = held_in_its_first_write();

        for n in 0..7 {
            logs.make_writer().write_all(format!("queued {n}\n").as_bytes()).unwrap();
        }
        open.send(()).unwrap();
        logs.flush(Duration::from_secs(5));

        let writes = writes.0.lock().unwrap();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!(writes[0], b"first\n");
        assert_eq!(String::from_utf8(writes[1].clone()).unwrap().lines().count(), 7);
    }

    #[test]
    fn a_logger_waits_while_the_buffer_is_full_and_nothing_is_dropped() {
        let (writes, logs, open) = held_in_its_first_write();

        let logger = {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    logs.make_writer().write_all(&vec![b'x'; 1024 * 1024]).unwrap();
                }
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let waited = !logger.is_finished();
        open.send(()).unwrap();
        logger.join().unwrap();
        logs.flush(Duration::from_secs(5));

        assert!(waited, "5 MB went into a 4 MB buffer while nothing was written");
        let written: usize = writes.0.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(written, 6 + 5 * 1024 * 1024);
    }

    #[test]
    fn lines_from_many_threads_are_never_cut_into_each_other() {
        let writes = Writes::default();
        let logs = BatchedWriter::start(writes.clone()).unwrap();

        std::thread::scope(|scope| {
            for t in 0..4 {
                let logs = logs.clone();
                scope.spawn(move || {
                    for n in 0..500 {
                        logs.make_writer().write_all(format!("thread {t} line {n}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        logs.flush(Duration::from_secs(5));

        let text = String::from_utf8(writes.0.lock().unwrap().concat()).unwrap();
        assert_eq!(text.lines().count(), 2_000);
        for t in 0..4 {
            let mine: Vec<&str> = text.lines().filter(|l| l.starts_with(&format!("thread {t} "))).collect();
            let expected: Vec<String> = (0..500).map(|n| format!("thread {t} line {n}")).collect();
            assert_eq!(mine, expected, "thread {t}'s lines whole and in order");
        }
    }

    #[test]
    fn the_thread_writes_what_it_was_handed_when_the_last_handle_goes() {
        let writes = Writes::default();
        let logs = BatchedWriter::start(writes.clone()).unwrap();
        logs.make_writer().write_all(b"last words\n").unwrap();

        drop(logs);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while writes.0.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }

        assert_eq!(writes.0.lock().unwrap().concat(), b"last words\n");
    }
}
