//! Structured logs: one JSON object per line on stdout (tracing + tracing-subscriber's JSON
//! formatter), handed to a writer thread through a bounded queue so that no request waits for a
//! `write(2)` to the terminal or a pipe. When the reader falls behind, lines are dropped and
//! counted (`credrisk_log_lines_dropped_total`), never the requests.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the writer thread.
const QUEUE_LINES: usize = 16_384;

enum Message {
    Line(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

/// The sending side, shared by every thread that logs.
#[derive(Clone)]
pub struct LogSink {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

/// One event's writer: collects the formatted line and queues it when dropped.
pub struct LineWriter<'a> {
    sink: &'a LogSink,
    line: Vec<u8>,
}

impl LogSink {
    /// Starts the writer thread over `out`.
    pub fn spawn(out: Box<dyn Write + Send>) -> LogSink {
        let (tx, rx) = mpsc::sync_channel(QUEUE_LINES);
        std::thread::Builder::new()
            .name("credrisk-log".into())
            .spawn(move || write_lines(rx, out))
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("credrisk: cannot start the log writer: {e}"));
        LogSink { tx, dropped: Arc::new(AtomicU64::new(0)) }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Waits (at most `timeout`) until every queued line is written and flushed.
    pub fn flush(&self, timeout: Duration) {
        let (ack, done) = mpsc::channel();
        if self.tx.send(Message::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(timeout);
        }
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter { sink: self, line: Vec::new() }
    }
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        match self.sink.tx.try_send(Message::Line(std::mem::take(&mut self.line))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.sink.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Writes lines as they come, flushing whenever the queue runs empty; write errors (a closed
/// pipe) are ignored: logging must never stop the service.
fn write_lines(rx: Receiver<Message>, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Message::Flush(ack) => {
                    let _ = out.flush();
                    let _ = ack.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
}

static SINK: OnceLock<LogSink> = OnceLock::new();

/// Installs the JSON subscriber on stdout (once per process) and returns its sink.
pub fn init() -> &'static LogSink {
    SINK.get_or_init(|| {
        let sink = LogSink::spawn(Box::new(std::io::stdout()));
        let installed = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(sink.clone())
            .try_init();
        if let Err(e) = installed {
            eprintln!("credrisk: structured logging not installed: {e}");
        }
        sink
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_whole_and_in_order_after_a_flush() {
        let out = Shared::default();
        let sink = LogSink::spawn(Box::new(out.clone()));
        for i in 0..1000 {
            let mut w = sink.make_writer();
            write!(w, "{{\"n\":{i}}}\n").unwrap();
        }
        sink.flush(Duration::from_secs(10));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        assert_eq!(text, expected);
        assert_eq!(sink.dropped(), 0);
    }
}
