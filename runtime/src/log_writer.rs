//! Log lines written by one thread, as many as have queued in one `write`.
//!
//! Each log line used to be one `write(2)` on stdout, made by the thread that logged it:
//! at saturation 3.3 % of the service's CPU samples went to those calls on the request and
//! worker threads (docs/performance.md, ADR 0042). Here the finished line (already
//! redacted) goes over a bounded channel to a thread of its own, which writes whatever
//! has queued meanwhile in one call.
//!
//! - Nothing is dropped: when the channel is full (the output cannot keep up), the
//!   logging thread waits, as it waited for the `write` before.
//! - Lines keep the order in which they were handed over.
//! - [`BatchedWriter::flush`] returns once every line handed over before it is written;
//!   the binary calls it before it prints its last words and exits, and on a panic.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the writer thread before a logging thread has to wait.
const QUEUE: usize = 16_384;
/// A `write` carries at most about this many bytes (lines are never split).
const BATCH_BYTES: usize = 64 * 1024;
/// How long the thread lets lines gather after the first one: a line reaches stdout at
/// most this late (a flush too), and a busy service wakes the thread about 200 times a
/// second, not once a line.
const LINGER: Duration = Duration::from_millis(5);

enum Item {
    Line(Vec<u8>),
    /// Answered once every line before it is written.
    Flush(SyncSender<()>),
}

/// The handing-over side: a [`MakeWriter`] for the log layers; cheap to clone.
#[derive(Clone)]
pub struct BatchedWriter {
    items: SyncSender<Item>,
}

impl BatchedWriter {
    /// Starts the thread that writes to `out`. It ends when the last clone is dropped,
    /// after writing what was handed over.
    pub fn start<W: Write + Send + 'static>(out: W) -> io::Result<Self> {
        let (items, queued) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new().name(String::from("log-writer")).spawn(move || write_batches(&queued, out))?;
        Ok(Self { items })
    }

    /// Waits until every line handed over before this call is written, for at most
    /// `within`; answers whether that happened.
    pub fn flush(&self, within: Duration) -> bool {
        let (done, written) = mpsc::sync_channel(1);
        self.items.send(Item::Flush(done)).is_ok() && written.recv_timeout(within).is_ok()
    }
}

/// One line's writer, as [`MakeWriter`] hands it to a layer for one event.
pub struct Line<'a> {
    items: &'a SyncSender<Item>,
}

impl Write for Line<'_> {
    /// Hands `buf` over whole: the layers write a line in one call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.items
            .send(Item::Line(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the log writer thread stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line { items: &self.items }
    }
}

/// The writer thread: waits for a line, lets more gather for [`LINGER`], takes every one
/// queued (up to [`BATCH_BYTES`]), writes them in one call, then answers the flushes
/// among them. While it sleeps, a logging thread's hand-over wakes nobody: that wake-up
/// for each line cost more than the `write` it saved.
fn write_batches<W: Write>(queued: &Receiver<Item>, mut out: W) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut flushes = Vec::new();
    // Whether the last batch took everything queued: if it filled up instead, the next
    // one starts at once.
    let mut caught_up = true;
    while let Ok(first) = queued.recv() {
        if caught_up {
            std::thread::sleep(LINGER);
        }
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Item::Line(line) => batch.extend_from_slice(&line),
                Item::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH_BYTES {
                next = queued.try_recv().ok();
            }
        }
        caught_up = batch.len() < BATCH_BYTES;
        // A line that cannot be written (stdout closed) is lost, as it was before.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

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

    #[test]
    fn lines_that_queue_while_a_write_is_under_way_go_out_in_one_write() {
        let writes = Writes::default();
        let (open, opened) = mpsc::channel();
        let (entered, held) = mpsc::channel();
        let logs = BatchedWriter::start(Gate { writes: writes.clone(), entered, open: Some(opened) }).unwrap();
        logs.make_writer().write_all(b"first\n").unwrap();
        held.recv().unwrap();

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
